"""Training in place, end to end on phantom cases: case list -> two readers' labels (one disagreement) -> export
with consensus -> fine-tune a bundle (tiny net, 2 epochs) -> test metrics -> new version in the user model folder."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from radtriage.annotations import BLINDED, case_list_from_csv, open_store
from radtriage.errors import InputError
from radtriage.export import export_cohort
from radtriage.io import write_volume
from radtriage.models import find_bundle, list_bundles, read_state_dict, register_network
from radtriage.phantoms import make_brain_case
from radtriage.training import train_from_args
from radtriage.training.finetune import PROVENANCE_FILE, finetune_bundle

NET = "test.finetune.TinyNet3d"
PATCH = (8, 8, 8)


class TinyNet3d(nn.Module):
    """Conv + global max pool + linear: small enough for a few CPU seconds."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, spatial_dims: int = 3, features: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, features, 3, padding=1)
        self.head = nn.Linear(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).amax(dim=(2, 3, 4)))


register_network(NET, TinyNet3d)


@pytest.fixture(autouse=True)
def _isolated_model_dirs(tmp_path, monkeypatch):
    """The user model folder and $RADTRIAGE_MODEL_DIR point into this test's folder; one torch thread."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("RADTRIAGE_MODEL_DIR", str(tmp_path / "site_models"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def phantom_export(tmp_path):
    """12 phantom brain cases (FLAIR only, 10 patients), labelled by two readers who disagree on one case,
    exported with majority consensus (ties decided by r1)."""
    rows = []
    for i in range(12):
        finding = "infarct" if i % 2 else "normal"
        case = make_brain_case(i, finding, shape=(12, 12, 8), spacing=(16.0, 16.0, 18.0), contrasts=["FLAIR"])
        path = write_volume(case.images["FLAIR"], tmp_path / "phantoms" / f"case{i:02d}.nii.gz")
        truth = "abnormal" if case.labels["abnormal"] else "normal"
        rows.append({"case_id": f"case{i:02d}", "patient_key": f"pt{min(i, 9)}", "image": path.name, "truth": truth})
    case_csv = tmp_path / "phantoms" / "cases.csv"
    with case_csv.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["case_id", "patient_key", "image"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("case_id", "patient_key", "image")} for r in rows)
    cases = case_list_from_csv(case_csv)
    store = open_store(tmp_path / "project")
    store.add_cases(cases)
    for reader in ("r1", "r2"):
        store.add_reader(reader)
    for row in rows:
        store.set_label(row["case_id"], "r1", "mri_normal_abnormal", row["truth"], model_version=BLINDED)
        other = row["truth"] if row["case_id"] != "case03" else "normal"  # r2 disagrees on case03 (abnormal)
        store.set_label(row["case_id"], "r2", "mri_normal_abnormal", other, model_version=BLINDED)
    result = export_cohort(
        store, "mri_normal_abnormal", tmp_path / "export", cases=cases, adjudicator="r1", seed=1,
        val_fraction=0.25, test_fraction=0.25,
    )  # fmt: skip
    store.close()
    return result


def _train_base(export, out_dir):
    return train_from_args(
        export.datalist, "mri_triage", NET, out_dir, kind="multiclass", class_names=["normal", "abnormal"],
        name="mri_triage-phantom", patch_size=PATCH, max_epochs=1, batch_size=4, demo=True, progress="none",
        n_bootstrap=20, device="cpu", augment_enabled=False,
    )  # fmt: skip


@pytest.mark.slow
def test_phantoms_to_a_new_registered_bundle_version(phantom_export, tmp_path):
    export = phantom_export
    c03 = next(r for r in export.rows if r["case_id"] == "case03")
    assert (c03["label"], c03["status"]) == ("abnormal", "adjudicated")
    base = _train_base(export, tmp_path / "site_models")
    assert find_bundle("mri_triage", "mri_triage-phantom").version == base.version == "0.1.0"

    result = finetune_bundle(
        export.folder, "mri_triage/mri_triage-phantom", max_epochs=2, learning_rate=1e-2, batch_size=4,
        device="cpu", n_bootstrap=20, augment={"enabled": False},
    )  # fmt: skip
    assert result.bundle.version == "0.1.1" and result.train.fit.epochs_run == 2
    assert result.bundle.path.parent == tmp_path / "xdg" / "radtriage" / "models"
    listed = {(b.name, b.version): b for b in list_bundles()}
    assert listed[("mri_triage-phantom", "0.1.1")].valid and ("mri_triage-phantom", "0.1.0") in listed
    assert find_bundle("mri_triage", "mri_triage-phantom").path == result.bundle.path  # newest is selected

    test_cases = sum(r["split"] == "test" for r in export.rows)
    metrics = json.loads((result.bundle.path / "docs" / "test_metrics.json").read_text())
    assert metrics["n"] == test_cases == result.test_metrics["n"]
    card = (result.bundle.path / "docs" / "README.md").read_text()
    assert "balanced" in card.lower() and str(test_cases) in card
    provenance = json.loads((result.bundle.path / PROVENANCE_FILE).read_text())
    assert provenance["base"]["version"] == "0.1.0" and provenance["export"]["consensus"]["rule"] == "majority"
    assert result.bundle.meta.demo  # a demo base stays a demo


def test_fine_tuning_starts_from_the_base_weights(phantom_export, tmp_path):
    base = _train_base(phantom_export, tmp_path / "site_models")
    result = finetune_bundle(
        phantom_export.folder, base.bundle_path, max_epochs=1, learning_rate=0.0, batch_size=4, device="cpu",
        n_bootstrap=10, augment={"enabled": False}, weight_decay=0.0,
    )  # fmt: skip
    before = read_state_dict(base.bundle_path / "models" / "model.pt", "pytorch")
    after = read_state_dict(result.bundle.path / "models" / "model.pt", "pytorch")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_an_export_that_does_not_fit_the_bundle_is_refused(phantom_export, tmp_path):
    base = _train_base(phantom_export, tmp_path / "site_models")
    sheet_path = phantom_export.folder / "datasheet.json"
    sheet = json.loads(sheet_path.read_text())
    sheet["class_names"] = ["negative", "positive"]
    sheet_path.write_text(json.dumps(sheet))
    with pytest.raises(InputError, match="classes"):
        finetune_bundle(phantom_export.folder, base.bundle_path, device="cpu")
    with pytest.raises(InputError, match="not a trainable"):
        finetune_bundle(tmp_path, base.bundle_path, device="cpu")


def test_the_finetune_command_registers_the_next_version(phantom_export, tmp_path, capsys):
    from radtriage.cli import main

    base = _train_base(phantom_export, tmp_path / "site_models")
    models = tmp_path / "new_models"
    assert main(["finetune", str(phantom_export.folder), "--base", str(base.bundle_path), "--model-dir", str(models),
                 "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--bootstrap", "10", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == "0.1.1" and printed["base"] == "mri_triage-phantom 0.1.0"
    assert (models / printed["bundle"].split("/")[-1] / PROVENANCE_FILE).is_file()
