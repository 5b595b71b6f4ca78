"""Per-slice body-region truth from segmentations, agreement scoring and cohort training input — on data the
tests make (a phantom structure map + image, hand-built label maps). The real TotalSegmentator examples are in
``tests/test_body_region_real_anatomy.py``."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from radtriage.errors import RadTriageError
from radtriage.image import Image
from radtriage.phantoms import make_body_case
from radtriage.tasks.body_region.evaluate import (
    PAPER_ACCURACY,
    RealCase,
    case_truth,
    format_table,
    slice_agreement,
)
from radtriage.tasks.body_region.from_segmentation import (
    RULES,
    TOTALSEGMENTATOR_CT,
    TOTALSEGMENTATOR_MR,
    region_of,
    regions_from_segmentation,
    regions_on_image,
)

CT_ID = {name: i for i, name in TOTALSEGMENTATOR_CT.items()}


def _label_map(slices: list[list[tuple[str, int]]], direction: np.ndarray | None = None) -> Image:
    """A 20 x 20 label map, one slice per entry: (TotalSegmentator CT name, pixel count) painted row by row."""
    arr = np.zeros((len(slices), 20, 20), dtype=np.uint8)
    for k, parts in enumerate(slices):
        flat = arr[k].reshape(-1)
        start = 0
        for name, count in parts:
            flat[start:start + count] = CT_ID[name]
            start += count
    return Image(arr, (2.0, 2.0, 5.0), (0.0, 0.0, 0.0), np.eye(3) if direction is None else direction)


def test_class_maps_match_totalsegmentator_ids():
    assert len(TOTALSEGMENTATOR_CT) == 117 and len(TOTALSEGMENTATOR_MR) == 50
    assert (TOTALSEGMENTATOR_CT[5], TOTALSEGMENTATOR_CT[25], TOTALSEGMENTATOR_CT[44], TOTALSEGMENTATOR_CT[50]) == (
        "liver", "sacrum", "vertebrae_C7", "vertebrae_C1")
    assert (TOTALSEGMENTATOR_CT[75], TOTALSEGMENTATOR_CT[77], TOTALSEGMENTATOR_CT[90], TOTALSEGMENTATOR_CT[117]) == (
        "femur_left", "hip_left", "brain", "costal_cartilages")
    assert (TOTALSEGMENTATOR_MR[11], TOTALSEGMENTATOR_MR[19], TOTALSEGMENTATOR_MR[38], TOTALSEGMENTATOR_MR[50]) == (
        "lung_right", "vertebrae", "hip_left", "brain")


@pytest.mark.parametrize(("parts", "region"), [
    ({"brain": 5, "skull": 9}, "head"),
    ({"skull": 9}, "face"),
    ({"cervical": 4}, "neck"),
    ({"shoulder_bones": 10, "lung": 12}, "shoulder"),
    ({"shoulder_bones": 10, "lung": 40, "heart": 5}, "chest"),
    ({"lung": 30, "upper_abdominal": 20, "abdominal": 20}, "chest"),
    ({"lung": 10, "upper_abdominal": 40, "abdominal": 40}, "abdomen"),
    ({"shoulder_bones": 3, "upper_abdominal": 40, "abdominal": 40}, "abdomen"),  # arms by the sides
    ({"hip_bone": 8, "abdominal": 30}, "pelvis"),  # iliac wings beside bowel
    ({"pelvic": 8}, "pelvis"),
    ({"hip_bone": 8, "femur": 6}, "hip"),
    ({"femur": 6}, "thigh"),
    ({}, None),
])
def test_rule_table(parts, region):
    assert region_of(parts) == region
    assert {r.region for r in RULES} >= {"head", "face", "neck", "shoulder", "chest", "abdomen", "pelvis", "hip",
                                         "thigh"}


def test_regions_from_a_label_map_and_on_a_flipped_image_grid():
    seg = _label_map([
        [("femur_left", 30)], [("femur_left", 30), ("hip_left", 20)], [("hip_left", 20), ("urinary_bladder", 40)],
        [("sacrum", 10), ("colon", 50)], [("liver", 100), ("lung_lower_lobe_left", 20)],
        [("liver", 20), ("lung_lower_lobe_left", 90), ("heart", 30)], [],
    ])
    expected = ["thigh", "hip", "pelvis", "pelvis", "abdomen", "chest", None]
    assert regions_from_segmentation(seg, "CT") == expected
    # An image whose k axis runs the other way (slice 0 most superior) and has a coarser in-plane grid: truth goes
    # by slice position, not index.
    flip = np.diag([1.0, 1.0, -1.0])
    image = Image(np.zeros((7, 8, 8), np.float32), (5.0, 5.0, 5.0), (0.0, 0.0, 30.0), flip)
    assert regions_on_image(image, seg, "CT") == expected[::-1]
    # an image reaching two slices beyond the label map gets no truth there
    longer = Image(np.zeros((9, 8, 8), np.float32), (5.0, 5.0, 5.0), (0.0, 0.0, -10.0), np.eye(3))
    assert regions_on_image(longer, seg, "CT") == [None, None, *expected]


def test_phantom_structure_map_gives_the_phantom_regions():
    """The phantom's bony landmarks (iliac wings, sacrum, bladder, femoral heads in the acetabula, ischia) tell
    abdomen, pelvis, hip and thigh apart by the same rules as a real segmentation."""
    case = make_body_case(1, "CT", start_region="chest", end_region="thigh", size=(48, 48))
    derived = regions_from_segmentation(case.structures, "CT", class_map=case.structure_names)
    truth = case.region_names
    scored = [(d, t) for d, t in zip(derived, truth, strict=True) if d is not None]
    assert len(scored) == len(truth)
    assert sum(d == t for d, t in scored) >= 0.93 * len(scored)
    for region in ("chest", "abdomen", "pelvis", "hip", "thigh"):  # every region is found where it should be
        k = [i for i, t in enumerate(truth) if t == region]
        assert sum(derived[i] == region for i in k) >= 0.8 * len(k), region


def test_slice_agreement_and_table():
    a = slice_agreement(["abdomen", "abdomen", "pelvis", "hip"], ["abdomen", "pelvis", "pelvis", None])
    assert (a["with_truth"], a["agree"], a["errors"]) == (3, 2, {"pelvis->abdomen": 1})
    assert a["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="predictions"):
        slice_agreement(["abdomen"], [])
    row = {"case": "x", "modality": "CT", **a}
    text = format_table([row, {"case": "y", "skipped": "not present"}])
    assert "2/3" in text and f"{PAPER_ACCURACY['CT']:.1%}" in text and "skipped" in text


def test_case_truth_combines_reading_and_segmentation():
    seg = _label_map([[("liver", 50)], [("liver", 50)]])
    image = Image(np.zeros((5, 8, 8), np.float32), (5.0, 5.0, 5.0), (0.0, 0.0, 0.0), np.eye(3))
    case = RealCase("x", "img", "seg", "CT", seg_offset=3, read_ranges=((0, 2, "pelvis"), (3, 3, "hip")))
    assert case_truth(case, image, seg) == ["pelvis", "pelvis", "pelvis", "abdomen", "abdomen"]


def test_phantom_agreement_with_an_untrained_and_the_installed_bundle(tmp_path):
    """The whole scoring path on a phantom image + its structure map (any bundle: counts must add up)."""
    from radtriage.tasks import run_task

    case = make_body_case(2, "CT", start_region="abdomen", end_region="thigh", size=(48, 48))
    truth = regions_on_image(case.image, case.structures, "CT", class_map=case.structure_names)
    result = run_task("body_region", inputs={"image": case.image}, device="cpu", modality="CT")
    scored = slice_agreement([s["region"] for s in result.outputs["slices"]], truth)
    assert scored["with_truth"] == sum(t is not None for t in truth) == len(truth)
    assert scored["agree"] + sum(scored["errors"].values()) == scored["with_truth"]


def test_cohort_pairs_and_datalist(tmp_path):
    from radtriage.errors import InputError
    from radtriage.io import write_volume
    from radtriage.tasks.body_region.bundle_meta import SLICE_SIZE
    from radtriage.tasks.body_region.cohort import cohort_datalist, pair_scans

    images, segs = tmp_path / "images", tmp_path / "segs"
    images.mkdir()
    segs.mkdir()
    for seed, name in ((3, "a"), (4, "b")):
        case = make_body_case(seed, "CT", start_region="abdomen", end_region="hip", size=(32, 32))
        write_volume(case.image, images / f"{name}.nii.gz")
        ids = {v: CT_ID[n] for v, n in case.structure_names.items()}  # the phantom's ids -> TotalSegmentator's
        lut = np.zeros(256, np.uint8)
        for v, i in ids.items():
            lut[v] = i
        write_volume(case.structures.with_array(lut[case.structures.array]), segs / f"{name}_seg.nii.gz")
    write_volume(case.image, images / "c.nii.gz")  # no segmentation: skipped
    pairs = pair_scans(images, segs)
    assert [(p.name, s.name) for p, s in pairs] == [("a.nii.gz", "a_seg.nii.gz"), ("b.nii.gz", "b_seg.nii.gz")]
    items = cohort_datalist(pairs, "CT")
    assert {i["patient_id"] for i in items} == {"a", "b"}
    assert all(i["image"].shape == (SLICE_SIZE, SLICE_SIZE) for i in items)
    from radtriage.labelsets import CT_BODY_REGIONS

    found = {CT_BODY_REGIONS.names[i["label"]] for i in items}
    assert {"abdomen", "pelvis", "hip"} <= found
    with pytest.raises(InputError, match="no scan"):
        pair_scans(segs, images)


def test_evaluate_command_on_own_pairs(tmp_path, capsys):
    from radtriage.commands.evaluate import body_region as evaluate_body_region
    from radtriage.io import write_volume

    case = make_body_case(5, "CT", start_region="pelvis", end_region="thigh", size=(48, 48))
    write_volume(case.image, tmp_path / "img.nii.gz")
    lut = np.zeros(256, np.uint8)
    for v, n in case.structure_names.items():
        lut[v] = CT_ID[n]
    write_volume(case.structures.with_array(lut[case.structures.array]), tmp_path / "seg.nii.gz")
    parser = evaluate_body_region.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--image", str(tmp_path / "img.nii.gz"), "--segmentation", str(tmp_path / "seg.nii.gz"),
                              "--json-out", str(tmp_path / "rows.json")])
    assert evaluate_body_region.run(args) == 0
    out = capsys.readouterr().out
    assert "img.nii.gz" in out and "91.9%" in out
    import json

    written = json.loads((tmp_path / "rows.json").read_text())
    rows = written["scans"]
    assert rows[0]["with_truth"] == case.image.size[2] == len(rows[0]["truth"]) == len(rows[0]["predicted"])
    ct = written["summary"]["CT"]
    assert ct["image_level"]["accuracy"]["of"] == case.image.size[2] and ct["patients"] == 1
    assert "seed 91.9% (90.2%-92.1%)" in out and "patient-level" in out
    with pytest.raises(RadTriageError, match="one --patient per --image"):
        evaluate_body_region.run(parser.parse_args(["--image", "a", "--segmentation", "b", "--patient", "x",
                                                    "--patient", "y"]))


def _row(case: str, patient: str, predicted: list, truth: list, counted: bool = True, **subgroups) -> dict:
    return {"case": case, "modality": "CT", "patient": patient, "counted": counted, "predicted": predicted,
            "truth": truth, "subgroups": subgroups}


def test_paper_metrics_pool_slices_patients_and_subgroups():
    """Image level pools every counted slice with truth; per region recall/precision; per patient the accuracy and
    the covered-region set; subgroups split the slices; a crop marked counted=False and skipped rows stay out."""
    from radtriage.tasks.body_region.paper_metrics import format_summary, summarise

    rows = [
        _row("a", "p1", ["abdomen"] * 4 + ["pelvis"] * 3 + ["hip"], ["abdomen"] * 4 + ["pelvis"] * 2 + ["hip"] * 2,
             vendor="Siemens", slice_thickness="1.5-3 mm"),
        _row("b", "p2", ["abdomen"] * 6, ["abdomen"] * 2 + ["pelvis"] * 3 + [None], vendor="GE",
             slice_thickness="3-5 mm"),
        _row("a-crop", "p1", ["chest"] * 5, ["abdomen"] * 5, counted=False),
        {"case": "c", "modality": "CT", "skipped": "not present"},
    ]
    s = summarise(rows)["CT"]
    acc = s["image_level"]["accuracy"]
    assert (acc["count"], acc["of"]) == (4 + 2 + 1 + 2, 8 + 5)
    assert s["scans"] == ["a", "b"] and s["patients"] == 2 and "patients_ci" not in acc  # too few patients
    region = {r["class"]: r for r in s["image_level"]["per_region"]}
    assert region["pelvis"]["recall"] == pytest.approx(2 / 5) and region["pelvis"]["precision"] == pytest.approx(2 / 3)
    assert region["abdomen"]["recall"] == 1.0 and region["abdomen"]["precision"] == pytest.approx(6 / 9)
    assert "chest" not in region
    p1, p2 = s["patient_level"]["per_patient"]
    assert p1["regions_truth"] == ["abdomen", "hip", "pelvis"] and p1["regions_predicted"] == ["abdomen", "pelvis"]
    assert not p1["regions_right"] and not p2["regions_right"] and p2["accuracy"] == pytest.approx(2 / 5)
    assert s["patient_level"]["mean_accuracy"] == pytest.approx((7 / 8 + 2 / 5) / 2)
    by_vendor = s["subgroups"]["vendor"]
    assert (by_vendor["Siemens"]["count"], by_vendor["GE"]["of"]) == (7, 5)
    assert s["subgroups"]["site"]["(not recorded)"]["of"] == 13
    assert s["seed_paper"]["intervals"]["accuracy"] == [0.902, 0.921]
    assert "69.2% (9/13" in format_summary({"CT": s})


def test_paper_metrics_patient_bootstrap_from_five_patients():
    """From five patients on, a bootstrap interval over patients is added; it is wider than the slice-level Wilson
    interval when patients differ."""
    from radtriage.tasks.body_region.paper_metrics import MIN_CLUSTER_PATIENTS, summarise

    rows = [_row(f"s{i}", f"p{i}", ["abdomen"] * 20, ["abdomen"] * (4 * i) + ["pelvis"] * (20 - 4 * i))
            for i in range(MIN_CLUSTER_PATIENTS)]
    acc = summarise(rows)["CT"]["image_level"]["accuracy"]
    lo, hi = acc["patients_ci"]["ci"]
    assert acc["patients_ci"]["n_patients"] == MIN_CLUSTER_PATIENTS
    assert lo <= acc["value"] <= hi and hi - lo > acc["ci_high"] - acc["ci_low"]


def _write_cohort(folder, seeds: tuple[int, ...]) -> tuple:
    from radtriage.io import write_volume

    images, segs = folder / "images", folder / "segs"
    images.mkdir()
    segs.mkdir()
    for seed in seeds:
        case = make_body_case(seed, "CT", start_region="abdomen", end_region="thigh", size=(40, 40))
        write_volume(case.image, images / f"p{seed}.nii.gz")
        lut = np.zeros(256, np.uint8)
        for v, n in case.structure_names.items():
            lut[v] = CT_ID[n]
        write_volume(case.structures.with_array(lut[case.structures.array]), segs / f"p{seed}.nii.gz")
    return images, segs


@pytest.mark.slow
def test_train_cohort_writes_a_usable_non_demo_bundle(tmp_path):
    """One command from scans + label maps to a bundle the task runs with (1 epoch: wiring, not accuracy)."""
    import torch

    from radtriage.models import read_metadata
    from radtriage.tasks import run_task
    from radtriage.tasks.body_region.cohort import train_cohort

    images, segs = _write_cohort(tmp_path, (11, 12, 13, 14))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = train_cohort(images, segs, "CT", tmp_path / "bundles", epochs=1)
    finally:
        torch.set_num_threads(before)
    meta = read_metadata(folder)
    assert not meta.demo and meta.raw["radtriage"]["metrics"]["cohort"]["scans"] == 4
    case = make_body_case(15, "CT", start_region="pelvis", end_region="hip", size=(40, 40))
    out = run_task("body_region", inputs={"image": case.image}, bundle=str(folder), device="cpu").outputs
    assert out["n_slices"] == case.image.size[2]


def test_paper_metrics_on_one_region_warn_nothing():
    """An MR scan that covers the abdomen only (one region in truth and prediction) is summarised without the
    library warning reaching the user's terminal."""
    import warnings

    from radtriage.tasks.body_region.paper_metrics import summarise

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = summarise([{**_row("mr", "p1", ["abdomen"] * 5, ["abdomen"] * 5), "modality": "MR"}])["MR"]
    (region,) = s["image_level"]["per_region"]
    assert (region["class"], region["recall"], region["precision"]) == ("abdomen", 1.0, 1.0)
