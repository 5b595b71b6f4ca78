"""CMB location classes from the MNI region atlas: the map, registration to MNI with its QC, and the task output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mni_head_phantom import HeadPhantom, make_head_phantom
from torch import nn

from radtriage.anatomy.regions import REGION_MAP, region_map, region_of, region_of_mni
from radtriage.anatomy.registration import (
    SCALE_RANGE,
    MniRegistration,
    QualityCheck,
    register_to_mni,
    whole_head_problem,
)
from radtriage.image import Image
from radtriage.tasks.cmb_detect import locate_in_mni, location_class, prepare_working_volume

# Known MNI points (LPS mm: MNI RAS x and y negated), each at least 4 mm inside its class in the map.
KNOWN = {
    "frontal subcortical": ((-40.0, -20.0, 40.0), "lobar"),
    "occipital": ((-20.0, 90.0, 10.0), "lobar"),
    "precentral": ((35.0, 20.0, 60.0), "lobar"),
    "temporal": ((-55.0, 30.0, -20.0), "lobar"),
    "left thalamus": ((10.0, 18.0, 8.0), "deep"),
    "right putamen": ((-25.0, -2.0, 2.0), "deep"),
    "pons": ((0.0, 28.0, -35.0), "infratentorial"),
    "left cerebellar hemisphere": ((25.0, 65.0, -35.0), "infratentorial"),
    "right inferior cerebellum": ((-20.0, 60.0, -50.0), "infratentorial"),
    "vermis": ((0.0, 65.0, -25.0), "infratentorial"),
}
POINTS = np.array([p for p, _ in KNOWN.values()])
EXPECTED = [c for _, c in KNOWN.values()]


def test_region_map_puts_known_structures_in_their_mars_class() -> None:
    assert region_of_mni(POINTS) == EXPECTED
    extra = {(0.0, 25.0, -12.0): "infratentorial",  # midbrain (thalamoperforator territory below the thalamus)
             (28.0, 22.0, -14.0): "lobar",  # hippocampus (anterior choroidal territory, medial temporal lobe)
             (0.0, 10.0, 25.0): "deep",  # corpus callosum body, periventricular rim
             (0.0, 0.0, 120.0): "unknown", (90.0, 0.0, 0.0): "unknown"}  # above the head / beside the brain
    assert region_of_mni(np.array(list(extra))) == list(extra.values())
    counts = np.bincount(np.asarray(region_map().array).ravel(), minlength=4)
    assert counts[1] > counts[3] > counts[2] > 0  # lobar > infratentorial > deep (brain volumes)


def test_shipped_region_map_rebuilds_from_the_arterial_atlas(shared_data: Path) -> None:
    import importlib.util

    import SimpleITK as sitk

    spec = importlib.util.spec_from_file_location("make_region_atlas",
                                                  Path(__file__).parents[1] / "scripts" / "make_region_atlas.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    built = Image.from_sitk(script.build(shared_data))
    shipped = region_map()
    assert built.same_geometry(shipped)
    assert np.array_equal(built.array, shipped.array)
    notice = (REGION_MAP.parent / "REGIONS_LICENSE.md").read_text(encoding="utf-8")
    assert notice == script.notice(shared_data) and "Copyright (c) 2023, Chris Rorden" in notice
    assert sitk.ReadImage(str(REGION_MAP)).GetPixelID() == sitk.sitkUInt8


@pytest.fixture(scope="module")
def phantom() -> HeadPhantom:
    return make_head_phantom(7, POINTS)


def test_phantom_microbleeds_get_their_class_through_the_detector_path(phantom: HeadPhantom) -> None:
    ph = phantom
    assert not np.allclose(ph.pose, np.eye(4), atol=0.05)  # a real pose change
    work = prepare_working_volume(ph.image)
    registration, note = locate_in_mni(work.magnitude, work.grid, work.native)
    assert registration is not None and registration.qc.passed and note == "", note
    assert [location_class(p, registration) for p in ph.bleeds_lps] == EXPECTED
    error = np.linalg.norm(registration.native_to_mni(ph.bleeds_lps) - POINTS, axis=1)
    assert error.max() < 2.0, error
    qc = registration.qc.values
    assert qc["metric"] < -0.5 and qc["brain_in_fov"] > 0.99 and qc["brain_on_foreground"] > 0.99
    assert registration.seconds < 30


@pytest.mark.parametrize("seed", [23])
def test_registration_recovers_random_poses_with_noise_and_bias(seed: int) -> None:
    ph = make_head_phantom(seed, POINTS, spacing=(1.5, 1.5, 1.5), noise=0.05, bias=0.3)
    registration = register_to_mni(ph.image)
    assert registration.qc.passed, registration.qc.reason
    assert region_of(ph.bleeds_lps, registration) == EXPECTED
    recovered = registration.matrix[:3, :3]
    assert np.allclose(recovered, ph.pose[:3, :3], atol=0.04), (recovered, ph.pose[:3, :3])
    assert SCALE_RANGE[0] < registration.qc.values["scale_min"] <= registration.qc.values["scale_max"] < SCALE_RANGE[1]


def test_patch_is_unknown_with_the_reason(phantom: HeadPhantom) -> None:
    arr = np.asarray(phantom.image.array)
    patch = Image(np.ascontiguousarray(arr[30:60, 60:120, 40:120]), phantom.image.spacing, phantom.image.origin,
                  phantom.image.direction.copy())
    work = prepare_working_volume(patch)
    registration, note = locate_in_mni(work.magnitude, work.grid, work.native)
    assert registration is None and note.startswith("not a whole-head scan: the field of view is")
    assert location_class(phantom.bleeds_lps[0], registration) == "unknown"
    assert whole_head_problem(phantom.image) is None


class _NoCandidates(nn.Module):
    """A stage-1 stub with valid convolutions (exact tiles, no MONAI) that finds nothing."""

    margin = 0

    def valid(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x[:, :1], -10.0)


class _Silent(nn.Module):
    """A stub cascade that finds nothing (the task output is what is under test)."""

    def __init__(self) -> None:
        super().__init__()
        self.candidate = _NoCandidates()
        self.discriminator = lambda x: torch.full((x.shape[0], 1), -10.0)


def test_task_result_reports_registration_qc_and_counts(phantom: HeadPhantom) -> None:
    from radtriage.tasks.cmb_detect import CmbPipeline, DetectSettings
    from radtriage.tasks.cmb_detect.runner import run

    pipe = CmbPipeline(_Silent(), DetectSettings(working_spacing_mm=2.0), bundle_info={"name": "stub"})
    out = run({"image": phantom.image}, pipeline=pipe, heatmap=False)
    reg = out.outputs["mni_registration"]
    assert reg["qc_passed"] is True and reg["qc_reason"] == "" and reg["qc"]["metric"] < -0.5
    assert "quality check passed" in out.outputs["location_note"]
    assert not any(n.startswith("location class unknown") for n in out.notices)
    rows = {r["location"]: r["count"] for r in out.outputs["location_counts"]}
    assert set(rows) == {"lobar", "deep", "infratentorial", "unknown", "total"}

    # a head-sized volume of smooth random blobs: registered, but the quality check fails -> 'unknown' + reason
    from scipy import ndimage

    blobs = ndimage.gaussian_filter(np.random.default_rng(3).normal(size=(70, 80, 70)), 4).astype(np.float32)
    box = Image(np.clip(blobs * 40 + 1, 0, None), (3.0, 3.0, 3.0), (-105.0, -120.0, -100.0))
    bad = run({"image": box}, pipeline=pipe, heatmap=False)
    note = bad.outputs["location_note"]
    assert note.startswith("registration to MNI failed its quality check: ") and "mutual information" in note
    assert bad.outputs["mni_registration"]["qc_passed"] is False
    assert bad.outputs["mni_registration"]["qc_reason"] == note
    assert f"location class unknown: {note}" in bad.notices
    failed = MniRegistration(np.eye(4), float("nan"), QualityCheck(False, note), 0.0)
    assert region_of(POINTS, failed) == ["unknown"] * len(POINTS)  # even where identity would hit the brain
    assert region_of(POINTS, None) == ["unknown"] * len(POINTS)


@pytest.mark.slow
def test_real_heads_pass_the_quality_check_and_a_body_ct_fails(shared_data: Path) -> None:
    from radtriage.io import read_image

    head = register_to_mni(read_image(shared_data / "VolumeRenderingData" / "seg3D_MR.nii.gz"))  # clinical T1
    assert head.qc.passed, head.qc.reason
    assert 0.75 < head.qc.values["scale_min"] < head.qc.values["scale_max"] < 1.05
    assert head.qc.values["metric"] < -0.25 and head.qc.values["brain_on_foreground"] > 0.95
    thalamus = head.mni_to_native(np.array([[10.0, 18.0, 8.0]]))
    assert region_of(thalamus, head) == ["deep"]
    body = register_to_mni(read_image(shared_data / "TotalSegmentator" / "example_ct.nii.gz"))  # abdomen CT
    assert not body.qc.passed and "mutual information" in body.qc.reason
