"""LGE certainty learned from readers (Zaman et al. 2024): reader rule, simulated readers, slice datasets,
two-head training, certainty head at inference, PNG slices with pixel_mm, and the real EMIDEC layout."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radtriage.commands.evaluate import ratings as evaluate_ratings
from radtriage.errors import InputError
from radtriage.evaluation.classification import cluster_bootstrap_auc, roc_auc_with_ci
from radtriage.phantoms import make_lge_slice
from radtriage.phantoms.cardiac import AMBIGUOUS_PATTERNS, simulate_readers
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule, head_slice
from radtriage.tasks.lge_certainty.prep import SlicePrep
from radtriage.tasks.lge_certainty.ratings import RatingSheet
from radtriage.tasks.lge_certainty.slices import (
    SliceRecord,
    load_slice_csv,
    load_slice_folder,
    load_slices,
    patient_of,
    read_slice_png,
)
from radtriage.tasks.lge_certainty.train import (
    LgeTrainSettings,
    certainty_metrics,
    cross_validate,
    patient_split,
    train_lge_bundle,
)
from radtriage.tasks.options import validate_options

ROOT = Path(__file__).resolve().parents[1]
EMIDEC = ROOT.parent / "shared" / "data" / "EMIDEC"
TINY = SlicePrep(fov_mm=144.0, patch=32)


def test_reader_rule_band_and_disagreement():
    rule = ReaderCertaintyRule(30.0, 70.0, 30.0)
    assert rule.certainty([5.0, 10.0]) == "high" and rule.certainty([90.0, 95.0]) == "high"
    assert rule.certainty([30.0, 30.0]) == "low" and rule.certainty([70.0, 70.0]) == "low"  # edges inclusive
    assert rule.certainty([50.0, 55.0]) == "low"
    assert rule.certainty([10.0, 95.0]) == "low"  # mean 52.5 and disagreement
    assert rule.certainty([75.0, 100.0]) == "high"  # differ by 25 <= 30
    assert ReaderCertaintyRule(30, 70, 20).certainty([75.0, 100.0]) == "low"  # configurable margin
    assert rule.likelihood([20.0, 40.0]) == 30.0
    assert ReaderCertaintyRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(ValueError):
        rule.certainty([101.0])
    with pytest.raises(ValueError):
        ReaderCertaintyRule(70.0, 30.0)
    with pytest.raises(ValueError):
        ReaderCertaintyRule(max_disagreement=-1)


def test_head_slice_uses_certainty_probability():
    low = head_slice(90.0, 0.8)
    assert low.flag and low.certainty == "low" and low.reading == "uncertain"
    assert low.certainty_source == "certainty_head" and low.low_certainty_probability == 80.0
    high = head_slice(50.0, 0.2)
    assert not high.flag and high.reading == "positive"
    assert head_slice(49.0, 0.2).reading == "negative"


def test_simulated_readers_equipoise_on_ambiguous_slices():
    rule = ReaderCertaintyRule()
    rng = np.random.default_rng(0)
    amb = [rule.is_low(list(simulate_readers(60.0, p, rng).values())) for p in AMBIGUOUS_PATTERNS for _ in range(40)]
    clear = [rule.is_low(list(simulate_readers(v, p, rng).values()))
             for p, v in (("none", 3.0), ("transmural", 97.0)) for _ in range(100)]
    assert np.mean(amb) > 0.8
    assert np.mean(clear) < 0.05
    sl = make_lge_slice(3, "subtle", size=(48, 48), spacing=(3.0, 3.0))
    assert set(sl.reader_ratings) == {"R1", "R2"}
    assert sl.reader_ratings == make_lge_slice(3, "subtle", size=(48, 48), spacing=(3.0, 3.0)).reader_ratings


def test_domain_randomised_phantom_differs_but_keeps_truth():
    plain = make_lge_slice(7, "clear", size=(64, 64), spacing=(2.2, 2.2))
    rand = make_lge_slice(7, "clear", size=(64, 64), spacing=(2.2, 2.2), randomize=True)
    assert rand.pattern == plain.pattern and rand.has_enhancement == plain.has_enhancement
    assert np.array_equal(rand.enhancement_mask.array, plain.enhancement_mask.array)
    assert not np.allclose(rand.image.array, plain.image.array)
    assert np.isfinite(rand.image.array).all()
    enh, myo = rand.enhancement_mask.array.astype(bool), rand.myocardium_mask.array.astype(bool) & ~(
        rand.enhancement_mask.array.astype(bool))
    if enh.any() and myo.any():
        assert rand.image.array[enh].mean() > rand.image.array[myo].mean()  # scar brighter than nulled myocardium


def test_randomised_phantom_papillary_muscles_and_scar_brighter_than_blood():
    from scipy import ndimage

    from radtriage.phantoms.cardiac import MIN_CLEAR_AREA_MM2

    brighter, dark_spots = 0, 0
    for seed in range(40):
        sl = make_lge_slice(500 + seed, "clear", size=(100, 100), spacing=(1.5, 1.5), randomize=True)
        img = sl.image.array[0]
        enh = sl.enhancement_mask.array[0].astype(bool)
        if sl.pattern in ("subendocardial", "transmural", "midwall", "subepicardial"):
            assert enh.sum() * 1.5 * 1.5 >= MIN_CLEAR_AREA_MM2  # a clear call never rests on a sliver
        myo = sl.myocardium_mask.array[0].astype(bool)
        inside = ndimage.binary_fill_holes(myo | enh) & ~myo & ~enh  # the LV cavity
        cavity = ndimage.binary_erosion(inside, iterations=2)
        if cavity.sum() > 50:
            # papillary muscles (or their partial volume): the cavity's darkest pixels are far below its median
            dark_spots += np.percentile(img[cavity], 2) < 0.6 * np.median(img[cavity])
            if enh.sum() > 30:
                brighter += np.median(img[enh]) > 0.9 * np.median(img[cavity])
    assert dark_spots >= 25 and brighter >= 25  # 34 and 34 of 40 when written; the plain phantom has 0 spots


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array.astype(np.uint8)).save(path)


def _slice_folder(root: Path, n_patients: int = 4, per: int = 3) -> Path:
    rng = np.random.default_rng(1)
    for p in range(n_patients):
        for k in range(per):
            name = f"Case_{'P' if p % 2 else 'N'}{p:03d}_slice{k:03d}.png"
            mask = np.zeros((40, 40), np.uint8)
            mask[10:30, 10:30] = 2
            if p % 2 and k != 0:
                mask[12:15, 12:15] = 3 + (k % 2)  # infarct (3) or no-reflow (4)
            _write_png(root / "images" / name, rng.integers(0, 255, (40, 40)))
            _write_png(root / "masks" / name, mask)
    return root


def test_slice_folder_labels_and_patients(tmp_path):
    folder = _slice_folder(tmp_path / "ds")
    records = load_slice_folder(folder)
    assert len(records) == 12 and len({r.patient for r in records}) == 4
    for r in records:
        mask = np.asarray(PILImage.open(folder / "masks" / f"{r.key}.png"))
        assert r.label == int(np.isin(mask, (3, 4)).any())
        assert np.array_equal(r.enhancement, np.isin(mask, (3, 4)).astype(np.uint8))  # the mask supervises too
        assert r.patient == patient_of(r.key) and r.key.startswith(r.patient)
    assert sum(r.label for r in records) == 4
    assert [r.label for r in load_slice_folder(folder, lge_values=(4,))].count(1) == 2
    assert len(load_slices(folder)) == 12
    with pytest.raises(InputError, match="images/ and masks/"):
        load_slice_folder(tmp_path)


def test_slice_csv_with_ratings(tmp_path):
    _write_png(tmp_path / "a.png", np.full((20, 20), 100))
    _write_png(tmp_path / "b.png", np.full((20, 20), 150))
    path = tmp_path / "slices.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "patient", "label", "rating_R1", "rating_R2", "pixel_mm"])
        w.writerow(["a.png", "p1", "1", "40", "60", "1.4"])
        w.writerow(["b.png", "p2", "0", "", "", ""])
    recs = load_slices(path)
    rule = ReaderCertaintyRule()
    assert recs[0].ratings == {"R1": 40.0, "R2": 60.0} and recs[0].pixel_mm == 1.4
    assert recs[0].likelihood_target(rule) == 50.0 and recs[0].certainty_target(rule) == 1
    assert recs[1].likelihood_target(rule) == 0.0 and recs[1].certainty_target(rule) is None
    bad = tmp_path / "bad.csv"
    bad.write_text("image,patient,label\na.png,p1,7\n")
    with pytest.raises(InputError, match="row 2"):
        load_slice_csv(bad)


def test_patient_split_keeps_patients_together():
    patients = [f"p{i // 3}" for i in range(60)]
    split = patient_split(patients, seed=2)
    for p in set(patients):
        assert len({s for s, q in zip(split, patients, strict=True) if q == p}) == 1
    assert {"train", "val", "test"} == set(split)


def test_certainty_metrics_and_patient_bootstrap_match_sklearn():
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 80), 0, 1)
    m = certainty_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred)) and m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    patients = np.array([f"p{i // 4}" for i in range(80)])
    auc = cluster_bootstrap_auc(y, p, patients, n_bootstrap=200)
    assert auc["value"] == pytest.approx(roc_auc_score(y, p)) and auc["n_patients"] == 20
    assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]


def _phantom_records(n: int) -> list[SliceRecord]:
    out = []
    for s in range(n):
        sl = make_lge_slice(s, ("none", "clear", "subtle")[s % 3], size=(50, 50), spacing=(3.0, 3.0), randomize=True)
        out.append(SliceRecord(f"s{s}", f"ph{s}", sl.image.array[0], 3.0, int(sl.has_enhancement),
                               dict(sl.reader_ratings)))
    return out


@pytest.fixture(scope="module")
def two_head_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    settings = LgeTrainSettings(epochs=2, batch_size=8, threads=1, prep=TINY)
    folder, report = train_lge_bundle(_phantom_records(30), out, settings, name="lge-test", version="0.0.1",
                                      description="test bundle", demo=True, licence="CC BY-NC-SA 4.0 (test)",
                                      data_note="phantoms")
    return folder, report


def test_two_head_bundle_metadata_and_card(two_head_bundle):
    folder, report = two_head_bundle
    meta = json.loads((folder / "configs" / "metadata.json").read_text())
    head = meta["radtriage"]["outputs"]["certainty_head"]
    assert head["channel"] == 1 and ReaderCertaintyRule.from_dict(head["rule"]) == ReaderCertaintyRule()
    assert meta["radtriage"]["outputs"]["channels"] == 2 and meta["radtriage"]["data_licence"].startswith("CC BY")
    card = (folder / "docs" / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "Demo, not for clinical use" in card
    assert (folder / "models" / "model.pt").exists()  # where MONAI keeps weights
    assert report["n"]["train"] + report["n"]["val"] + report["n"]["test"] == 30
    assert set(report["test_certainty"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}


def test_scorer_uses_certainty_head_and_band_fallback(two_head_bundle):
    from radtriage.tasks.lge_certainty.scoring import LgeSliceScorer

    folder, _ = two_head_bundle
    scorer = LgeSliceScorer.from_bundle(folder, "cpu")
    assert scorer.certainty_source == "certainty_head"
    arr = make_lge_slice(99, "clear", size=(50, 50), spacing=(3.0, 3.0)).image.array[0]
    score = scorer.score_slice(arr, (3.0, 3.0))
    d = score.to_dict()
    assert d["certainty_source"] == "certainty_head" and 0 <= d["low_certainty_probability"] <= 100
    assert d["flag"] == (d["low_certainty_probability"] >= 50.0)
    banded = LgeSliceScorer.from_bundle(folder, "cpu", certainty_band=(0.0, 100.0))
    bd = banded.score_slice(arr, (3.0, 3.0)).to_dict()
    assert bd["certainty_source"] == "likelihood_band" and bd["flag"]  # the band covers everything


def test_infer_png_slice_with_pixel_mm(two_head_bundle, tmp_path):
    from radtriage.tasks.lge_certainty.runner import run

    folder, _ = two_head_bundle
    arr = make_lge_slice(5, "clear", size=(60, 60), spacing=(2.0, 2.0)).image.array[0]
    png = tmp_path / "slice.png"
    _write_png(png, 255 * (arr - arr.min()) / np.ptp(arr))
    image = read_slice_png(png)
    assert image.metadata["spacing_unknown"] and image.array.shape == (1, 60, 60)
    res = run({"lge": image}, bundle=str(folder), device="cpu", pixel_mm=2.0)
    assert res.outputs["certainty_source"] == "certainty_head"
    assert res.outputs["slices"][0]["certainty_source"] == "certainty_head"
    from radtriage.tasks.lge_certainty.mrml import table_rows

    p_low = res.outputs["slices"][0]["low_certainty_probability"]
    assert table_rows(res.outputs)[0]["certainty_by"] == f"certainty head (p low {p_low:.0f}%)"
    assert not any("no pixel size" in n for n in res.notices)
    res2 = run({"lge": image}, bundle=str(folder), device="cpu")
    assert any("no pixel size" in n for n in res2.notices)
    assert validate_options("lge_certainty", {"pixel_mm": 1.5}) is not None
    with pytest.raises(Exception, match="pixel_mm"):
        validate_options("lge_certainty", {"pixel_mm": -1})


def test_evaluate_ratings_reports_model_certainty(two_head_bundle, tmp_path):
    from radtriage.tasks.lge_certainty.runner import run

    folder, _ = two_head_bundle
    slices = [make_lge_slice(200 + s, ("none", "clear", "subtle")[s % 3], size=(50, 50), spacing=(3.0, 3.0))
              for s in range(6)]
    from radtriage.image import Image

    stack = Image(np.concatenate([s.image.array for s in slices]), (3.0, 3.0, 8.0),
                  direction=slices[0].image.direction)
    result = run({"lge": stack}, bundle=str(folder), device="cpu", reformat="never")
    (tmp_path / "result.json").write_text(json.dumps({"outputs": result.outputs}))
    a, b = RatingSheet("R1"), RatingSheet("R2")
    for k, s in enumerate(slices):
        a.rate(k, s.reader_ratings["R1"])
        b.rate(k, s.reader_ratings["R2"])
    args = argparse.Namespace(a=str(a.save(tmp_path / "a.json")), b=str(b.save(tmp_path / "b.json")),
                              out=str(tmp_path / "out"), band=None, model=str(tmp_path / "result.json"),
                              max_disagreement=30.0)
    assert evaluate_ratings.run(args) == 0
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert 0 <= report["inter_reader_certainty"]["accuracy"] <= 1
    mc = report["model_certainty"]
    assert mc["n"] == 6 and mc["certainty_source"] == ["certainty_head"]
    truth = [int(ReaderCertaintyRule().is_low(list(s.reader_ratings.values()))) for s in slices]
    pred = [int(s["flag"]) for s in result.outputs["slices"]]
    assert mc["accuracy"] == pytest.approx(np.mean(np.array(truth) == np.array(pred)))


def _masked_records(n: int, prep: SlicePrep) -> list[SliceRecord]:
    out = []
    for s in range(n):
        sl = make_lge_slice(900 + s, ("none", "clear")[s % 2], size=(64, 64), spacing=(2.25, 2.25), randomize=True)
        out.append(SliceRecord(f"s{s}", f"ph{s}", sl.image.array[0], 2.25, int(sl.has_enhancement),
                               dict(sl.reader_ratings), enhancement=sl.enhancement_mask.array[0]))
    return out


def test_mask_resampled_with_the_slice_geometry():
    from radtriage.tasks.lge_certainty.prep import prepare_slice, resample_slice

    prep = SlicePrep(fov_mm=100.0, patch=40)
    img = np.random.default_rng(0).uniform(0, 500, (70, 90)).astype(np.float32)
    raw = resample_slice(img, (1.4, 1.1), prep)
    lo, hi = np.percentile(raw, [prep.lower, prep.upper])
    assert np.allclose(prepare_slice(img, (1.4, 1.1), prep), np.clip((raw - lo) / (hi - lo), 0, 1), atol=1e-6)
    mask = np.zeros((70, 90), np.float32)
    mask[30:40, 40:50] = 1
    on_grid = resample_slice(mask, (1.4, 1.1), prep) >= 0.5
    j, i = np.nonzero(on_grid)
    assert on_grid.sum() > 0 and abs(j.mean() - 19.5) < 2 and abs(i.mean() - 19.5) < 2  # centre stays the centre


def test_evidence_map_learns_where_the_enhancement_is():
    import torch

    from radtriage.tasks.lge_certainty.train import build_network, evidence_loss, prepare_records

    torch.manual_seed(0)
    prep = SlicePrep(fov_mm=144.0, patch=64)
    data = prepare_records(_masked_records(16, prep), LgeTrainSettings(prep=prep))
    assert data.has_evidence and data.maps.shape == (16, 64, 64) and data.maps[data.truth == 1].sum() > 0
    net = build_network(True, evidence_map=True)
    x, maps = torch.from_numpy(data.x[:, None]), torch.from_numpy(data.maps[:, None])
    known = torch.from_numpy(data.has_map)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        _, evidence = net.forward_with_evidence(x)
        loss = evidence_loss(evidence, maps, known)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    with torch.no_grad():  # batch statistics, as in training (40 steps leave the running ones unsettled)
        _, evidence = net.forward_with_evidence(x)
    target = torch.nn.functional.adaptive_max_pool2d(maps, evidence.shape[2:]) > 0.5
    assert losses[-1] < 0.6 * losses[0]
    assert evidence[target].mean() > evidence[~target].mean() + 1.0
    assert float(evidence_loss(evidence, maps, torch.zeros(16, dtype=torch.bool))) == 0.0  # no mask: no term
    with pytest.raises(ValueError, match="evidence map"):
        build_network(True).forward_with_evidence(x)


def test_training_with_masks_writes_an_evidence_map_bundle(tmp_path):
    from radtriage.models.bundle import read_inference_config
    from radtriage.tasks.lge_certainty.scoring import LgeSliceScorer

    def read_network_def(folder):
        return read_inference_config(folder)["network_def"]

    prep = SlicePrep(fov_mm=144.0, patch=64)
    records = _masked_records(12, prep)
    folder, _ = train_lge_bundle(records, tmp_path, LgeTrainSettings(epochs=1, batch_size=4, threads=1, prep=prep),
                                 name="lge-dense", version="0.0.1", description="test", demo=True)
    assert read_network_def(folder)["evidence_map"] is True
    score = LgeSliceScorer.from_bundle(folder, "cpu").score_slice(records[1].array, (2.25, 2.25))
    assert 0 <= score.call.likelihood <= 100
    plain, _ = train_lge_bundle(_phantom_records(12), tmp_path, LgeTrainSettings(epochs=1, batch_size=4, threads=1,
                                                                                  prep=TINY),
                                name="lge-plain", version="0.0.1", description="test", demo=True)
    assert read_network_def(plain)["evidence_map"] is False


def test_cross_validate_is_patient_level(tmp_path):
    records = _phantom_records(24)
    cv = cross_validate(records, LgeTrainSettings(epochs=1, batch_size=8, threads=1, prep=TINY), folds=2)
    assert len(cv["oof_likelihood"]) == 24 and np.isfinite(cv["oof_likelihood"]).all()
    assert 0 <= cv["roc_auc"]["value"] <= 1 and cv["roc_auc"]["n_patients"] == 24


def test_recipe_refuses_licensed_bundle_in_package(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_lge_slices

    folder = _slice_folder(tmp_path / "ds")
    with pytest.raises(SystemExit):
        train_lge_slices.main(["--data", str(folder), "--out", str(ROOT / "radtriage" / "bundles"),
                               "--licence", "CC BY-NC-SA 4.0"])
    assert not (ROOT / "radtriage" / "bundles" / "lge-certainty-slices-0.1.0").exists()


@pytest.mark.skipif(not (EMIDEC / "images").is_dir(), reason="../shared/data/EMIDEC is not present")
def test_emidec_layout_loads():
    records = load_slice_folder(EMIDEC)
    assert len({r.patient for r in records}) == 65
    for r in records[::50]:
        mask = np.asarray(PILImage.open(EMIDEC / "masks" / f"{r.key}.png"))
        assert r.label == int(np.isin(mask, (3, 4)).any())
    assert all(r.label == 0 for r in records if r.patient.startswith("Case_N"))


def test_evaluate_bundle_on_slice_folder(two_head_bundle, tmp_path):
    from radtriage.tasks.lge_certainty.train import evaluate_bundle_on_slices

    folder, _ = two_head_bundle
    records = load_slice_folder(_slice_folder(tmp_path / "ds"))
    report = evaluate_bundle_on_slices(folder, records, pixel_mm=1.2, n_bootstrap=50)
    assert report["n"] == 12 and report["certainty_source"] == "certainty_head"
    assert report["roc_auc"]["n_patients"] == 4 and 0 <= report["roc_auc"]["value"] <= 1
    assert 0 <= report["fraction_low_certainty"] <= 1


def test_resampling_patients_widens_the_interval_when_a_patients_slices_repeat_each_other():
    """Four copies of each slice: a slice-level bootstrap counts them as independent and is too narrow; the
    patient bootstrap (scipy.stats.bootstrap over patients) is not fooled."""
    rng = np.random.default_rng(3)
    y1 = rng.integers(0, 2, 30)
    p1 = np.clip(0.25 * y1 + rng.uniform(0, 0.75, 30), 0, 1)
    y, p = np.repeat(y1, 4), np.repeat(p1, 4)
    patients = np.repeat([f"p{i}" for i in range(30)], 4)
    by_patient = cluster_bootstrap_auc(y, p, patients, n_bootstrap=500)
    by_slice = roc_auc_with_ci(y, p, n_bootstrap=500)
    assert by_patient["n_patients"] == 30 and by_patient["method"].startswith("percentile bootstrap over patients")
    assert by_patient["ci"][1] - by_patient["ci"][0] > 1.5 * (by_slice["ci_high"] - by_slice["ci_low"])
