"""Training machinery: datalists, patient splits, balanced sampling, training, resume, early stopping, bundles."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radtriage.commands import train as train_command
from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io import write_volume
from radtriage.labelsets import LGE_DEFAULT_CERTAINTY_BAND
from radtriage.models import load_bundle, read_metadata, read_state_dict, register_network
from radtriage.training import (
    CheckpointError,
    assign_splits,
    balanced_sampler,
    checkpoint_exists,
    read_checkpoint,
    read_datalist,
    train_from_args,
)

NET = "test.training.TinyBlobNet"
SIZE = 24


class TinyBlobNet(nn.Module):
    """Conv + global max pool: enough to tell 'bright blob somewhere' from noise; dropout exercises the RNG."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, spatial_dims: int = 2, features: int = 6) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, features, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.conv(x)).amax(dim=(2, 3))))


register_network(NET, TinyBlobNet)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blob_image(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Noise, plus a bright disc of ``strength`` at a random place (0: no disc)."""
    image = rng.normal(0.0, 1.0, (SIZE, SIZE)).astype(np.float32)
    cy, cx = rng.integers(5, SIZE - 5, 2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image[(yy - cy) ** 2 + (xx - cx) ** 2 < 9] += strength
    return image


def blob_items(n_patients: int = 24, per_patient: int = 2, seed: int = 0, positive_every: int = 2) -> list[dict]:
    """In-memory datalist: label 'blob' when the image has a disc; patients hold several cases."""
    rng = np.random.default_rng(seed)
    items = []
    for p in range(n_patients):
        for k in range(per_patient):
            positive = (p + k) % positive_every == 0
            items.append(
                {
                    "image": blob_image(rng, 4.0 if positive else 0.0),
                    "label": "blob" if positive else "empty",
                    "patient_id": f"patient{p:03d}",
                }
            )
    return items


FAST = {
    "kind": "multiclass",
    "class_names": ["empty", "blob"],
    "patch_size": [SIZE, SIZE],
    "n_bootstrap": 20,
    "progress": "none",
    "learning_rate": 0.02,
    "batch_size": 8,
    "device": "cpu",
    "augment": {"affine_prob": 0.3},
}


def train(items, out: Path, **opts):
    return train_from_args(items, "body_region", NET, out, **{**FAST, **opts})


# ------------------------------------------------------------------ datalists and splits
def _cases(n_patients: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    items = []
    for p in range(n_patients):
        label = int(p % 5 == 0)  # 20 % positive patients
        for _ in range(int(rng.integers(1, 4))):
            items.append({"image": np.zeros((4, 4)), "label": label, "patient_id": f"p{p}"})
    return read_datalist(items).cases


def test_splits_keep_patients_apart_are_seeded_and_stratified():
    cases = _cases(60)
    strata = [int(c.label) for c in cases]
    fractions = {"train": 0.6, "val": 0.2, "test": 0.2}
    splits = assign_splits(cases, strata, fractions, seed=1, where="x")
    by_patient: dict[str, set[str]] = {}
    for case, split in zip(cases, splits, strict=True):
        by_patient.setdefault(case.patient_id, set()).add(split)
    assert all(len(s) == 1 for s in by_patient.values())
    patients = Counter(next(iter(s)) for s in by_patient.values())
    assert patients == {"train": 36, "val": 12, "test": 12}
    # stratified: each split holds about the overall 20 % of positive patients (12 of 60)
    pos_patients = Counter(next(iter(s)) for pid, s in by_patient.items() if int(pid[1:]) % 5 == 0)
    for split in ("train", "val", "test"):
        assert abs(pos_patients[split] / patients[split] - 0.2) <= 0.09, pos_patients
    # reproducible, independent of the order of the datalist, and a different seed gives another split
    assert assign_splits(cases, strata, fractions, seed=1, where="x") == splits
    order = np.random.default_rng(5).permutation(len(cases))
    shuffled = assign_splits([cases[i] for i in order], [strata[i] for i in order], fractions, seed=1, where="x")
    assert [shuffled[list(order).index(i)] for i in range(len(cases))] == splits
    assert assign_splits(cases, strata, fractions, seed=2, where="x") != splits


def test_given_splits_are_honoured_and_missing_ones_drawn(tmp_path):
    rng = np.random.default_rng(0)

    def item(p: int) -> dict:
        path = tmp_path / f"case{p}.nii.gz"
        if not path.exists():
            write_volume(Image(rng.normal(size=(1, 8, 8)).astype(np.float32)), path)
        return {"image": path.name, "label": p % 2, "patient_id": f"p{p}"}

    data = {"training": [item(p) for p in range(20)], "test": [item(p) for p in range(20, 24)]}
    (tmp_path / "dl.json").write_text(json.dumps(data))
    dl = read_datalist(tmp_path / "dl.json")
    assert all(isinstance(c.images[0], Path) and c.images[0].is_file() for c in dl.cases)
    splits = assign_splits(dl.cases, [c.label for c in dl.cases], {"train": 0.7, "val": 0.15, "test": 0.15}, 0, "x")
    assert splits[20:] == ["test"] * 4  # the datalist's test cases stay test
    assert set(splits[:20]) == {"train", "val"}  # no test split drawn: the datalist gives one


def test_corrupt_datalists_name_the_file_and_row(tmp_path):
    good = tmp_path / "a.nii.gz"
    write_volume(Image(np.zeros((1, 8, 8), np.float32)), good)
    csv = tmp_path / "missing.csv"
    csv.write_text("image,label,patient_id\na.nii.gz,1,p1\nnot_there.nii.gz,0,p2\n")
    with pytest.raises(InputError) as err:
        read_datalist(csv)
    assert str(csv) in str(err.value) and "row 2" in str(err.value) and "not_there.nii.gz" in str(err.value)

    bad_label = tmp_path / "bad.csv"
    bad_label.write_text("image,label,patient_id\na.nii.gz,blob,p1\na.nii.gz,tumour,p2\n")
    with pytest.raises(InputError, match=r"bad\.csv: row 2 \(line 3\): bad label.*'tumour'"):
        train_from_args(bad_label, "body_region", NET, tmp_path / "out", **{**FAST, "class_names": ["empty", "blob"]})

    two_splits = tmp_path / "two.json"
    two_splits.write_text(
        json.dumps(
            {
                "training": [{"image": "a.nii.gz", "label": 1, "patient_id": "p1"}],
                "validation": [{"image": "a.nii.gz", "label": 0, "patient_id": "p2"}],
                "test": [{"image": "a.nii.gz", "label": 0, "patient_id": "p1"}],
            }
        )
    )
    with pytest.raises(InputError, match=r"two\.json: training\[0\] .* and test\[0\] \(test\) are the same patient"):
        train_from_args(two_splits, "body_region", NET, tmp_path / "out", **FAST)

    wrong_width = tmp_path / "ml.json"
    wrong_width.write_text(json.dumps({"training": [{"image": "a.nii.gz", "label": [1, 0, 0], "patient_id": "p1"}]}))
    with pytest.raises(InputError, match=r"ml\.json: training\[0\]: bad label.*expected 4"):
        train_from_args(
            wrong_width,
            "mri_triage",
            NET,
            tmp_path / "out",
            **{**FAST, "kind": "multilabel", "class_names": list("abcd")},
        )
    assert not (tmp_path / "out").exists()  # nothing written for a refused datalist


# ------------------------------------------------------------------ sampling
def test_balanced_sampler_draws_classes_equally():
    keys = [0] * 90 + [1] * 10
    sampler = balanced_sampler(keys, torch.Generator().manual_seed(0), num_samples=20000)
    drawn = Counter(keys[i] for i in sampler)
    assert abs(drawn[1] / 20000 - 0.5) < 0.02  # a plain shuffle would give 0.10
    again = list(balanced_sampler(keys, torch.Generator().manual_seed(0), num_samples=50))
    assert again == list(balanced_sampler(keys, torch.Generator().manual_seed(0), num_samples=50))


# ------------------------------------------------------------------ training, bundle, model card
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    torch.set_num_threads(1)
    result = train(blob_items(seed=0, positive_every=3), out, max_epochs=8, patience=20, name="blob", demo=True)
    return out, result


def test_training_reduces_loss_and_learns_the_easy_problem(trained):
    _, result = trained
    train_loss = [h["train_loss"] for h in result.fit.history]
    val_loss = [h["val_loss"] for h in result.fit.history]  # no dropout or augmentation noise here
    assert len(train_loss) == 8 and np.mean(train_loss[-4:]) < train_loss[0]
    assert val_loss[-1] < 0.6 * val_loss[0]
    assert result.test_metrics["n"] == result.data["test"]["cases"] > 0
    assert result.test_metrics["balanced_accuracy"] >= 0.8


def test_bundle_loads_and_model_card_reports_test_metrics(trained):
    out, result = trained
    assert result.bundle_path == out / "blob-0.1.0" and result.version == "0.1.0"
    bundle = load_bundle(result.bundle_path, "cpu", task="body_region")
    assert bundle.meta.class_names == ("empty", "blob") and bundle.meta.demo
    assert bundle.meta.outputs["activation"] == "softmax"
    inference = json.loads((result.bundle_path / "configs/inference.json").read_text())
    assert inference["preprocessing"] == {"_target_": "Compose", "transforms": [
        {"_target_": "Resize", "spatial_size": [SIZE, SIZE], "mode": "area"},
        {"_target_": "NormalizeIntensity", "channel_wise": True}]}
    # the bundle's network, fed through the bundle's own pipeline, classifies fresh images like the trained model
    from radtriage.models import bundle_preprocessing
    from radtriage.preprocess.patch import apply_to_channels

    pipeline = bundle_preprocessing(inference, result.bundle_path)
    rng = np.random.default_rng(99)
    x = np.stack([apply_to_channels([blob_image(rng, s)], pipeline) for s in (0, 4, 0, 4)])
    with torch.no_grad():
        pred = bundle.network(torch.from_numpy(x)).argmax(1).tolist()
    assert pred == [0, 1, 0, 1]

    card = (result.bundle_path / "docs/README.md").read_text()
    metrics = json.loads((result.bundle_path / "docs/test_metrics.json").read_text())
    assert metrics["kind"] == "multiclass" and metrics["n"] == result.data["test"]["cases"]
    assert "not for clinical use" in card and "Held-out test metrics" in card
    assert f"Accuracy: {metrics['accuracy']:.3f}" in card
    for split in ("train", "val", "test"):
        row = result.data[split]
        assert f"| {split} | {row['cases']} | {row['patients']} |" in card
    assert sum(result.data[s]["patients"] for s in ("train", "val", "test")) == 24
    import radtriage

    assert f"radtriage {radtriage.__version__}" in card and '"learning_rate": 0.02' in card
    assert (result.bundle_path / "docs/test_confusion_matrix.png").is_file()
    assert "patient0" not in card + json.dumps(read_metadata(result.bundle_path).raw)  # no patient IDs shipped


def test_second_run_writes_the_next_version_without_touching_the_first(trained):
    out, first = trained
    before = (first.bundle_path / "models/model.pt").read_bytes()
    second = train(
        blob_items(seed=0, positive_every=3), out, max_epochs=1, name="blob", checkpoint_dir=out / "second.ckpt"
    )
    assert second.version == "0.1.1" and second.bundle_path == out / "blob-0.1.1"
    assert (first.bundle_path / "models/model.pt").read_bytes() == before
    meta = read_metadata(second.bundle_path)
    assert meta.version == "0.1.1" and set(meta.raw["changelog"]) == {"0.1.0", "0.1.1"} and not meta.demo


# ------------------------------------------------------------------ checkpoints, resume, early stopping
class InterruptError(Exception):
    pass


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    items = blob_items(n_patients=16, seed=3)
    settings = {"max_epochs": 4, "patience": 0, "seed": 7}
    straight = train(items, tmp_path / "a", **settings)

    def stop_after_two(record):
        if record.epoch == 2:
            raise InterruptError

    with pytest.raises(InterruptError):
        train_from_args(items, "body_region", NET, tmp_path / "b", on_epoch_end=stop_after_two, **{**FAST, **settings})
    ckpt = tmp_path / "b" / "body_region-custom.checkpoints"
    assert checkpoint_exists(ckpt) and not (tmp_path / "b" / "body_region-custom-0.1.0").exists()
    tensors, record = read_checkpoint(ckpt)
    assert record["loop"]["epoch"] == 2 and "rng.torch" in tensors and any(k.startswith("optim.") for k in tensors)

    with pytest.raises(CheckpointError, match="different settings"):
        train(items, tmp_path / "b", resume=True, **{**settings, "learning_rate": 0.05})
    resumed = train(items, tmp_path / "b", resume=True, **settings)
    assert resumed.fit.resumed_from == 2 and resumed.fit.epochs_run == 4
    assert [h["train_loss"] for h in resumed.fit.history] == [h["train_loss"] for h in straight.fit.history]
    a = read_state_dict(straight.bundle_path / "models/model.pt", "pytorch")
    b = read_state_dict(resumed.bundle_path / "models/model.pt", "pytorch")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    last_a, _ = read_checkpoint(tmp_path / "a" / "body_region-custom.checkpoints")
    last_b, _ = read_checkpoint(ckpt)
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a if k.startswith(("model.", "optim.")))


def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path):
    # with a zero learning rate the validation metric never improves after epoch 1
    result = train(blob_items(n_patients=12, seed=4), tmp_path, max_epochs=20, patience=3, learning_rate=0.0)
    assert result.fit.stopped_early and result.fit.epochs_run == 4 and result.fit.best_epoch == 1
    assert [h["improved"] for h in result.fit.history] == [True, False, False, False]
    assert "stopped early" in (result.bundle_path / "docs/README.md").read_text()


# ------------------------------------------------------------------ other task kinds, CSV + NIfTI + CLI
def test_multilabel_with_given_splits_from_an_in_memory_decathlon_dict(tmp_path):
    rng = np.random.default_rng(5)

    def case(p: int) -> dict:
        a, b = p % 2, (p // 2) % 2
        return {"image": blob_image(rng, 4.0 if a else 0.0), "label": {"blob": a, "other": b}, "patient_id": f"p{p}"}

    data = {
        "training": [case(p) for p in range(16)],
        "validation": [case(p) for p in range(16, 20)],
        "test": [case(p) for p in range(20, 24)],
    }
    result = train_from_args(
        data, "mri_triage", NET, tmp_path, **{**FAST, "kind": "multilabel", "class_names": None, "max_epochs": 2}
    )
    assert result.spec.class_names == ("blob", "other")
    assert [result.data[s]["patients"] for s in ("train", "val", "test")] == [16, 4, 4]
    meta = read_metadata(result.bundle_path)
    assert meta.thresholds == {"blob": {"balanced": 0.5}, "other": {"balanced": 0.5}}
    assert set(result.test_metrics["per_class"]) == {"blob", "other"}
    assert "| blob | 2/4 |" in (result.bundle_path / "docs/README.md").read_text()


def test_cli_trains_a_score_task_from_csv_and_nifti_with_json_progress(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(6)
    rows = ["image,label,patient_id"]
    for p in range(14):
        score = [10, 90, 45, 70][p % 4]
        path = tmp_path / "img" / f"slice{p}.nii.gz"
        write_volume(Image(blob_image(rng, score / 20.0)[None], spacing=(1.5, 1.5, 8.0)), path)
        rows.append(f"img/{path.name},{score},case{p}")
    (tmp_path / "lge.csv").write_text("\n".join(rows) + "\n")
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args(
        [
            str(tmp_path / "lge.csv"),
            "--task",
            "lge_certainty",
            "--network",
            NET,
            "--out",
            str(tmp_path / "out"),
            "--patch-size",
            str(SIZE),
            str(SIZE),
            "--epochs",
            "2",
            "--bootstrap",
            "10",
            "--device",
            "cpu",
            "--class-names",
            "lge",
            "--contrasts",
            "LGE",
            "--progress",
            "json",
            "--name",
            "lge-test",
            "--augment",
            '{"affine_prob": 0.0}',
        ]
    )
    monkeypatch.delenv("RADTRIAGE_JOB_OUTPUT_DIR", raising=False)
    assert train_command.run(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    progress = [json.loads(x) for x in lines if x.startswith("{")]
    assert progress and all(e["event"] == "progress" for e in progress)
    assert progress[-1]["fraction"] == 1.0 and "epoch 2/2" in progress[-1]["message"]
    assert "lge-test-0.1.0" in lines[-1]
    meta = read_metadata(tmp_path / "out" / "lge-test-0.1.0")
    assert meta.task == "lge_certainty" and meta.certainty_band == LGE_DEFAULT_CERTAINTY_BAND == (30.0, 70.0)
    assert meta.outputs == {
        "kind": "score",
        "activation": "sigmoid",
        "channels": 1,
        "scale": 100.0,
        "positive_at": 50.0,
    }
    assert meta.inputs.contrasts == ("LGE",)
    metrics = json.loads((tmp_path / "out" / "lge-test-0.1.0" / "docs/test_metrics.json").read_text())
    assert metrics["task_kind"] == "score" and metrics["score_mae"] is not None


def test_a_json_datalist_read_by_monai_keeps_every_value_that_is_not_a_file_path(tmp_path):
    """MONAI's reader joins strings to the base folder when such a file exists; only the image channels may
    become paths: a split, a label or a patient named like a folder beside the datalist stay as written."""

    for folder in ("train", "abnormal", "p1"):
        (tmp_path / folder).mkdir()
    write_volume(Image(np.zeros((4, 4, 4), np.float32)), tmp_path / "a.nii.gz")
    item = {"image": "a.nii.gz", "label": "abnormal", "patient_id": "p1", "split": "train"}
    (tmp_path / "dl.json").write_text(json.dumps({"training": [item], "test": []}))
    case = read_datalist(tmp_path / "dl.json").cases[0]
    assert case.images == (tmp_path / "a.nii.gz",)
    assert (case.label, case.patient_id, case.split) == ("abnormal", "p1", "train")
