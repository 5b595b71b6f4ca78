"""BodyRegion against the real anatomy of the TotalSegmentator examples in ../shared/data (skipped without them).

Truth per slice comes from TotalSegmentator's own label maps by the rule table of
``radtriage.tasks.body_region.from_segmentation`` (and, for the lower 82 slices of example_ct that no label map
covers, from a reading of the bones recorded in ``radtriage.tasks.body_region.evaluate.SHARED_CASES``). The same
behaviour on data the tests make is in ``tests/test_body_region_segmentation.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radtriage.io import read_image
from radtriage.tasks.body_region.evaluate import PAPER_ACCURACY, SHARED_CASES, evaluate_case, format_table
from radtriage.tasks.body_region.from_segmentation import regions_from_segmentation

pytestmark = pytest.mark.slow

TS = "TotalSegmentator"
PLAUSIBLE = {  # what the body holds along each scan, head to feet
    "example_ct (abdomen-pelvis)": ("abdomen", "pelvis", "hip"),
    "example_ct_sm (abdomen)": ("chest", "abdomen"),
    "example_ct_dicom (upper abdomen)": ("chest", "abdomen"),
    "example_mr_sm (MR abdomen)": ("chest", "abdomen"),
}


def _need(root: Path, *relative: str) -> list[Path]:
    paths = [root / r for r in relative]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"not in this copy of the shared data: {', '.join(missing)}")
    return paths


def test_example_ct_sm_is_the_top_of_example_ct(shared_data: Path):
    """example_seg segments example_ct_sm, which holds example_ct's slices 82-111 (its header says 0-29): the
    offset SHARED_CASES uses for example_ct."""
    full, small = (read_image(p) for p in _need(shared_data, f"{TS}/example_ct.nii.gz", f"{TS}/example_ct_sm.nii.gz"))
    case = next(c for c in SHARED_CASES if c.image.endswith("example_ct.nii.gz"))
    top = full.array[case.seg_offset:case.seg_offset + small.size[2]].astype(float)
    assert np.abs(top - small.array).mean() < 5.0
    assert np.abs(full.array[: small.size[2]].astype(float) - small.array).mean() > 100.0


@pytest.mark.parametrize(("seg", "modality"), [("example_seg.nii.gz", "CT"), ("example_seg_mr.nii.gz", "MR"),
                                               ("example_seg_dicom.nii.gz", "CT")])
def test_every_segmented_slice_gets_a_plausible_region(shared_data: Path, seg: str, modality: str):
    (path,) = _need(shared_data, f"{TS}/{seg}")
    regions = regions_from_segmentation(read_image(path), modality)
    assert all(r in ("chest", "abdomen") for r in regions), regions  # upper abdomen scans, lung bases at the top
    assert regions.count("abdomen") >= 0.8 * len(regions)


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict]:
    """Every shared case scored with the installed bundles."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = [evaluate_case(c, shared_data) for c in SHARED_CASES]
    finally:
        torch.set_num_threads(before)
    print("\n" + format_table(out))
    return out


@pytest.mark.parametrize("name", list(PLAUSIBLE))
def test_installed_bundles_give_plausible_labels_on_real_scans(rows: list[dict], name: str):
    """Every slice gets a label that lies in the scanned part of the body, and at least 65 % of the slices agree
    with the truth: above the 0.1.0 demo bundles, which agreed on 67/112 slices of example_ct (none called pelvis)
    and 0/20 of example_mr_sm (all called breast)."""
    row = next(r for r in rows if r["case"] == name)
    if "skipped" in row:
        pytest.skip(row["skipped"])
    assert row["with_truth"] == row["slices"]
    wrong = set(k.split("->")[1] for k in row["errors"])
    assert wrong <= set(PLAUSIBLE[name]), row["errors"]
    assert row["accuracy"] >= 0.65, row
    assert 0.0 < PAPER_ACCURACY[row["modality"]] < 1.0
