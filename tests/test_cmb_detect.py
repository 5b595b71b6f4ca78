"""CMBDetect: candidates, merging, FP reduction, native RAS mapping, location table, MRML round trip, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radtriage.image import Image
from radtriage.tasks.cmb_detect import (
    CmbPipeline,
    DetectSettings,
    count_by_location,
    extract_peaks,
    location_class,
    merge_close,
    prepare_working_volume,
)
from radtriage.tasks.cmb_detect.blobs import blob_radius_mm
from radtriage.tasks.cmb_detect.detector import extract_patches

# --------------------------------------------------------------------------- helpers


class _DarkCandidate(nn.Module):
    """A hand-made 'screener': high where the 3x3x3 mean of the normalised magnitude is dark."""

    def heatmap(self, x: torch.Tensor) -> torch.Tensor:
        return 12.0 * (0.55 - nn.functional.avg_pool3d(x[:, :1], 3, 1, 1, count_include_pad=False))


class _CentreDarkness(nn.Module):
    """A hand-made 'discriminator': logit from the darkness of the patch centre (or a constant)."""

    def __init__(self, constant: float | None = None) -> None:
        super().__init__()
        self.constant = constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.constant is not None:
            return torch.full((x.shape[0], 1), self.constant)
        c = x.shape[-1] // 2
        return 12.0 * (0.5 - x[:, :1, c, c, c])


class _Stub(nn.Module):
    def __init__(self, constant: float | None = None) -> None:
        super().__init__()
        self.candidate = _DarkCandidate()
        self.discriminator = _CentreDarkness(constant)


def _oblique_direction() -> np.ndarray:
    a, b = math.radians(20), math.radians(-12)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rz @ rx


def _dotted_volume(centres_lps: list[tuple[float, float, float]], radius: float = 2.0) -> Image:
    """Anisotropic (0.6 x 0.7 x 2.0 mm), oblique volume of bright tissue with dark spheres at ``centres_lps``."""
    size = (60, 50, 16)
    base = Image(np.zeros(size[::-1], np.float32), (0.6, 0.7, 2.0), (10.0, -20.0, 30.0), _oblique_direction())
    kji = np.indices(base.array.shape).reshape(3, -1).T
    lps = base.index_to_lps(kji[:, ::-1].astype(float))
    arr = np.full(len(lps), 800.0, dtype=np.float32)
    for c in centres_lps:
        d = np.linalg.norm(lps - np.asarray(c), axis=1)
        arr *= 1.0 - 0.9 * np.clip(radius + 0.5 - d, 0, 1)
    rng = np.random.default_rng(0)
    arr += rng.normal(0, 8.0, arr.shape).astype(np.float32)
    return base.with_array(arr.reshape(base.array.shape))


def _volume_centre_lps(image: Image) -> np.ndarray:
    return image.index_to_lps((np.asarray(image.size, float) - 1) / 2)[0]


# --------------------------------------------------------------------------- stage 1


def test_extract_peaks_finds_local_maxima_above_threshold_with_min_distance() -> None:
    h = np.zeros((20, 20, 20), np.float32)
    kk, jj, ii = np.indices(h.shape)
    for (k, j, i), amp in (((5, 5, 5), 0.9), ((14, 6, 12), 0.7), ((5, 5, 7), 0.6), ((15, 15, 15), 0.3)):
        h = np.maximum(h, amp * np.exp(-((kk - k) ** 2 + (jj - j) ** 2 + (ii - i) ** 2) / 2.0))
    h[10, 10:12, 10] = 0.8  # a two-voxel plateau gives one peak
    peaks = extract_peaks(h, threshold=0.5, min_distance=3)
    got = {tuple(v) for v in peaks.voxels}
    assert (5, 5, 5) in got and (14, 6, 12) in got
    assert (5, 5, 7) not in got, "a weaker maximum within min_distance is suppressed"
    assert (15, 15, 15) not in got, "below threshold"
    assert sum(1 for v in got if v[0] == 10) == 1
    assert list(peaks.scores) == sorted(peaks.scores, reverse=True)
    # sub-voxel refinement returns (i, j, k) near the integer peak
    first = peaks.ijk[list(map(tuple, peaks.voxels)).index((5, 5, 5))]
    assert np.allclose(first, (5, 5, 5), atol=0.3)
    assert len(extract_peaks(h, threshold=0.95)) == 0
    assert len(extract_peaks(h, threshold=0.1, max_peaks=2)) == 2


def test_candidate_net_centre_output_equals_dense_heatmap_and_sliding_window() -> None:
    from radtriage.nets.cmb import CmbCandidateNet
    from radtriage.tasks.cmb_detect import candidate_heatmap

    torch.manual_seed(0)
    net = CmbCandidateNet().eval()
    x = torch.randn(1, 1, 26, 24, 28)
    r = net.receptive_field
    with torch.no_grad():
        dense = net.heatmap(x)
        patch = x[..., 4 : 4 + r, 3 : 3 + r, 6 : 6 + r]
        centre = net(patch)
    assert dense.shape == x.shape
    assert float(centre) == pytest.approx(float(dense[0, 0, 4 + r // 2, 3 + r // 2, 6 + r // 2]), abs=1e-5)
    sw = candidate_heatmap(net, x[0].numpy(), "cpu", roi_size=(26, 24, 28), overlap=0.25)
    with torch.no_grad():
        full = torch.sigmoid(dense)[0, 0].numpy()
    assert sw.shape == full.shape
    assert np.allclose(sw, full, atol=1e-4)


# --------------------------------------------------------------------------- merging


def test_merge_close_keeps_strongest_and_absorbs_within_radius() -> None:
    pts = [(0, 0, 0), (1.5, 0, 0), (10, 0, 0), (13, 0, 0), (30, 0, 0)]
    scores = [0.6, 0.9, 0.5, 0.7, 0.1]
    keep, groups = merge_close(pts, scores, merge_mm=2.0)
    assert keep == [1, 3, 2, 4]
    assert groups[0] == [1, 0]
    keep_r, groups_r = merge_close(pts, scores, merge_mm=2.0, radii_mm=[0, 0, 0, 4.0, 0])
    assert keep_r == [1, 3, 4] and sorted(groups_r[1]) == [2, 3], "a kept focus absorbs others within its radius"
    with pytest.raises(ValueError):
        merge_close(pts, scores[:2], 2.0)


# --------------------------------------------------------------------------- geometry


def test_detections_map_back_to_native_ras_on_oblique_anisotropic_volume() -> None:
    probe = _dotted_volume([])
    c = _volume_centre_lps(probe)
    targets = [tuple(c + d) for d in (np.array([-6.0, 3.0, -4.0]), np.array([7.0, -5.0, 5.0]))]
    image = _dotted_volume(targets)
    work = prepare_working_volume(image)
    assert work.grid.spacing == (1.0, 1.0, 1.0)
    assert np.allclose(work.grid.direction, image.direction)
    assert np.allclose(work.grid.centre_lps(), _volume_centre_lps(image))
    assert float(np.median(work.magnitude[work.magnitude > 0.5])) == pytest.approx(1.0, abs=0.05)
    run = CmbPipeline(_Stub(), DetectSettings(candidate_threshold=0.5, detection_threshold=0.5)).detect(image)
    dets = run.detections
    assert len(dets) == 2
    for t in targets:
        ras_t = np.array([-t[0], -t[1], t[2]])
        dist = min(np.linalg.norm(np.array(d.center_ras) - ras_t) for d in dets)
        assert dist < 1.0, f"detection {dist:.2f} mm from the true centre"
    for d in dets:
        back = image.index_to_ras(np.array(d.center_native_ijk)[None])[0]
        assert np.allclose(back, d.center_ras, atol=1e-3)
        assert d.radius_mm == pytest.approx(2.4, abs=0.9)
        assert d.location == "unknown"
    assert [d.label for d in dets] == ["CMB-1", "CMB-2"]


def test_multi_echo_input_is_combined_and_bad_input_refused() -> None:
    from radtriage.errors import InputError
    from radtriage.tasks.cmb_detect.prep import combine_echoes, pick_inputs

    arr = np.stack([np.full((4, 5, 6), 3.0), np.full((4, 5, 6), 4.0)], axis=-1).astype(np.float32)
    rss, note = combine_echoes(Image(arr))
    assert np.allclose(rss.array, 5.0) and "root-sum-of-squares" in note
    assert np.allclose(combine_echoes(Image(arr), "last")[0].array, 4.0)
    with pytest.raises(InputError, match="no contrast"):
        prepare_working_volume(Image(np.ones((4, 5, 6), np.float32), metadata={"source_path": "flat.nii"}))
    key, _mag, phase = pick_inputs({"magnitude": Image(arr[..., 0]), "phase": Image(arr[..., 1])})
    assert key == "magnitude" and phase is not None
    m, p = Image(arr[..., 0]), Image(arr[..., 1])
    key, mag, phase = pick_inputs({"swi_phase": p, "swi_magnitude": m})  # ``radtriage phantom swi`` file names
    assert key == "swi_magnitude" and mag is m and phase is p
    with pytest.raises(InputError, match="name it MAGNITUDE=PATH"):
        pick_inputs({"echo_a": m, "echo_b": p, "extra": m})
    with pytest.raises(InputError):
        pick_inputs({})


def test_blob_radius_estimates_sphere_radius() -> None:
    kk, jj, ii = np.indices((30, 30, 30))
    d = np.sqrt((kk - 15.2) ** 2 + (jj - 14.7) ** 2 + (ii - 15.0) ** 2)
    for r in (1.5, 3.0, 4.5):
        mag = 1.0 - 0.9 * np.clip(r + 0.5 - d, 0, 1)
        assert blob_radius_mm(mag, (15, 15, 15), 1.0, half_width=9) == pytest.approx(r, rel=0.2)
    assert blob_radius_mm(np.ones((10, 10, 10)), (5, 5, 5), 1.0) == 0.0


# --------------------------------------------------------------------------- FP reduction


def test_fp_reduction_patches_and_discriminator_decide_what_is_reported() -> None:
    stack = np.arange(2 * 10 * 11 * 12, dtype=np.float32).reshape(2, 10, 11, 12)
    p = extract_patches(stack, np.array([[5, 5, 6], [0, 0, 0]]), 4)
    assert p.shape == (2, 2, 4, 4, 4)
    assert p[0, 0, 2, 2, 2] == stack[0, 5, 5, 6] and p[0, 1, 2, 2, 2] == stack[1, 5, 5, 6]
    assert p[1, 1, 0, 0, 0] == 0.0 and p[1, 0, 0, 0, 0] == stack[0, 0, 0, 0], "phase zero-padded, magnitude edge"
    c = _volume_centre_lps(_dotted_volume([]))
    image = _dotted_volume([tuple(c)])
    settings = DetectSettings(candidate_threshold=0.5, detection_threshold=0.5)
    assert len(CmbPipeline(_Stub(-10.0), settings).detect(image).detections) == 0
    run = CmbPipeline(_Stub(10.0), settings).detect(image)
    assert len(run.detections) == len(run.candidates) >= 1


# --------------------------------------------------------------------------- location


def test_location_count_table_and_unknown_without_registration() -> None:
    assert location_class((0.0, 0.0, 50.0), None) == "unknown"
    rows = count_by_location(["lobar", "lobar", "deep", "unknown"])
    assert {r["location"]: r["count"] for r in rows} == {"lobar": 2, "deep": 1, "infratentorial": 0,
                                                         "unknown": 1, "total": 4}


# --------------------------------------------------------------------------- runner, MRML, CLI


def _tiny_bundle(folder: Path, threshold: float = 0.0) -> Path:
    from radtriage.models import default_metadata, write_bundle
    from radtriage.nets.cmb import DETECTOR_NAME, CmbDetector

    torch.manual_seed(0)
    net = CmbDetector()
    meta = default_metadata("cmb-test", "cmb_detect", version="0.0.1", description="test only", class_names=["cmb"],
                            inputs={"contrasts": ["magnitude", "phase"], "modality": "MR", "spacing": [1.0] * 3,
                                    "patch_size": [16] * 3}, demo=True, thresholds={"cmb": {"operating": threshold}})
    settings = DetectSettings(candidate_threshold=0.0, max_candidates=5, detection_threshold=threshold)
    return write_bundle(folder, net, meta, {"_target_": DETECTOR_NAME},
                        extra_config={"cmb_detect": settings.bundle_config()})


def test_runner_without_bundle_refuses() -> None:
    from radtriage.models import BundleNotFoundError
    from radtriage.tasks import run_task

    with pytest.raises(BundleNotFoundError):
        run_task("cmb_detect", inputs={"image": _dotted_volume([])}, bundle="no-such-cmb-bundle", device="cpu")


def _nodes(scene, class_name: str) -> list:
    coll = scene.GetNodesByClass(class_name)
    return [coll.GetItemAsObject(i) for i in range(coll.GetNumberOfItems())]


def test_mrml_markups_and_table_round_trip_through_mrb(tmp_path: Path) -> None:
    pytest.importorskip("slicer")
    from radtriage.mrml import create_headless_scene, load_mrb, patient_and_study_of, rows_from_table, save_mrb
    from radtriage.tasks.cmb_detect import add_cmb_outputs, read_cmb_markups
    from radtriage.tasks.cmb_detect.runner import run

    c = _volume_centre_lps(_dotted_volume([]))
    image = _dotted_volume([tuple(c + np.array([-5.0, 2.0, 0.0])), tuple(c + np.array([6.0, -3.0, 4.0]))])
    pipe = CmbPipeline(_Stub(), DetectSettings(candidate_threshold=0.5), bundle_info={"name": "stub", "demo": True})
    result = run({"image": image}, pipeline=pipe)
    assert len(result.points) == 2 and "demo, not for clinical use" in result.notices
    assert any(n.startswith("location class unknown: not a whole-head scan") for n in result.notices)
    app = create_headless_scene(tmp_path / "cache")
    nodes = add_cmb_outputs(app.scene, result, "Anon", "SWI")
    assert patient_and_study_of(app.scene, nodes["markups"]) == ("Anon", "SWI")
    path = save_mrb(app.scene, tmp_path / "cmb.mrb")
    again = load_mrb(path, tmp_path / "cache2")
    fid = _nodes(again.scene, "vtkMRMLMarkupsFiducialNode")
    assert len(fid) == 1
    back = read_cmb_markups(fid[0])
    assert [b["label"] for b in back] == ["CMB-1", "CMB-2"]
    for b, p in zip(back, result.points, strict=True):
        assert np.allclose(b["center_ras"], p["ras"], atol=1e-3)
        assert b["confidence"] == pytest.approx(p["confidence"], abs=1e-6)
    tables = [t for t in _nodes(again.scene, "vtkMRMLTableNode") if t.GetAttribute("RadTriage.Task") == "cmb_detect"]
    counts = {r["location"]: r["count"] for r in rows_from_table(tables[0])}
    assert counts["unknown"] == 2 and counts["total"] == 2


def test_cli_infer_writes_detections_and_points(tmp_path: Path) -> None:
    from radtriage.cli import main
    from radtriage.io import write_volume

    bundle = _tiny_bundle(tmp_path / "cmb-test-0.0.1")
    src = write_volume(_dotted_volume([]), tmp_path / "swi.nii.gz")
    rc = main(["infer", "--task", "cmb_detect", "--input", f"MAGNITUDE={src}", "--output", str(tmp_path / "out"),
               "--bundle", str(bundle), "--device", "cpu"])
    assert rc in (0, None)
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    assert doc["task"] == "cmb_detect"
    dets = doc["outputs"]["detections"]
    assert len(dets) == len(doc["points"]) == doc["outputs"]["n_detections"] >= 1
    assert [p["label"] for p in doc["points"]] == [f"CMB-{n}" for n in range(1, len(dets) + 1)]
    assert doc["points"][0]["ras"] == dets[0]["center_ras"]
    assert (tmp_path / "out" / "cmb_heatmap.nii.gz").is_file()
    assert any("phase" in n for n in doc["notices"])
    assert doc["outputs"]["location_note"].startswith("not a whole-head scan: the field of view is")
    assert doc["outputs"]["mni_registration"] is None and all(d["location"] == "unknown" for d in dets)
    assert f"location class unknown: {doc['outputs']['location_note']}" in doc["notices"]


@pytest.mark.slow
def test_evaluate_detection_command_on_a_folder_of_phantom_scans(tmp_path: Path) -> None:
    import argparse

    from radtriage.commands.evaluate import detection as evaluate_detection
    from radtriage.tasks.cmb_detect.evaluate import write_phantom_scans

    bundle = _tiny_bundle(tmp_path / "cmb-test-0.0.1")
    write_phantom_scans(tmp_path / "scans", [1, 2])
    parser = evaluate_detection.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--bundle", str(bundle), "--scans", str(tmp_path / "scans"), "--output",
                              str(tmp_path / "eval"), "--device", "cpu"])
    assert evaluate_detection.run(args) == 0
    doc = json.loads((tmp_path / "eval" / "cmb_froc.json").read_text())
    assert doc["froc"]["n_scans"] == 2 and len(doc["sensitivity_at_fp"]) == 4
    assert doc["phase_used"] is True
    if doc["froc"]["n_lesions"]:
        assert (tmp_path / "eval" / "cmb_froc.png").is_file()


# --------------------------------------------------------------------------- demo bundle: FP reduction, real data


def _demo_pipeline() -> CmbPipeline:
    from radtriage.models import BundleNotFoundError

    try:
        return CmbPipeline.from_bundle(None, "cpu")
    except BundleNotFoundError as exc:
        pytest.skip(f"no cmb_detect bundle installed: {exc}")


def _found(run, truth_lps: np.ndarray, tol_mm: float = 2.5) -> int:
    got = np.array([d.center_lps for d in run.detections]).reshape(-1, 3)
    if not len(got):
        return 0
    return int(sum(np.min(np.linalg.norm(got - t, axis=1)) <= tol_mm for t in truth_lps))


def _insert_and_detect(pipe: CmbPipeline, image: Image, seed: int) -> tuple[int, int]:
    from radtriage.phantoms import insert_microbleeds

    work = prepare_working_volume(image)
    tissue = np.argwhere(work.magnitude > 0.6)
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    for v in tissue[rng.permutation(len(tissue))]:
        p = work.grid.index_to_lps(v[::-1][None].astype(float))[0]
        ijk = image.lps_to_index(p[None])[0]
        inside = np.all(ijk >= 4) and np.all(ijk <= np.asarray(image.size) - 5)
        if inside and all(np.linalg.norm(p - q) > 12 for q in centres):
            centres.append(p)
        if len(centres) == 3:
            break
    assert centres, "no tissue to insert microbleeds into"
    mag = image if image.n_components == 1 else Image(np.sqrt((np.asarray(image.array) ** 2).sum(-1)),
                                                        image.spacing, image.origin, image.direction.copy())
    synth, truth = insert_microbleeds(mag, centres, 2.0, seed=seed)
    run = pipe.detect(synth)
    return _found(run, np.array([f.centre_lps for f in truth])), len(truth)


@pytest.mark.slow
def test_demo_bundle_ranks_microbleeds_above_calcification_mimics() -> None:
    from radtriage.phantoms import make_swi_case

    pipe = _demo_pipeline()
    case = make_swi_case(777, n_microbleeds=4, n_mimics={"vessel": 2, "calcification": 3, "air_bone": 0})
    run = pipe.detect(case.magnitude, case.phase, threshold=0.0)
    truth = np.array([f.centre_lps for f in case.microbleeds])
    mimic = np.array([f.centre_lps for f in case.mimics if f.kind == "calcification"])

    def best(points: np.ndarray) -> list[tuple[float, float]]:
        out = []
        for p in points:
            near = [(c.confidence, c.candidate_score) for c in run.candidates
                    if np.linalg.norm(np.array(c.center_lps) - p) <= 2.5]
            out.append(max(near) if near else (0.0, 0.0))
        return out

    bleeds, calcs = best(truth), best(mimic)
    assert np.mean([b[0] for b in bleeds]) > np.mean([c[0] for c in calcs]), "microbleeds outrank calcifications"
    assert _found(run, truth) >= 3


@pytest.mark.slow
def test_semi_synthetic_microbleeds_in_pip_shipped_t2star_epi_are_found() -> None:
    import nibabel as nib

    from radtriage.io import read_image

    path = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    image = read_image(path)
    first = Image(np.ascontiguousarray(np.asarray(image.array)[..., 0]), image.spacing, image.origin,
                  image.direction.copy(), {"source_path": str(path)})
    found, n = _insert_and_detect(_demo_pipeline(), first, seed=5)
    assert found >= n - 1, f"found {found} of {n} inserted microbleeds"


@pytest.mark.slow
def test_real_gre_patch_and_neck_run_and_semi_synthetic_bleeds_are_found(shared_data: Path) -> None:
    from radtriage.io import read_image

    pipe = _demo_pipeline()
    romeo = read_image(shared_data / "ROMEO.jl" / "Mag.nii")
    run = pipe.detect(romeo)
    assert "3 echoes combined" in run.working.echo_note
    assert all(d.location == "unknown" for d in run.detections)
    neck = read_image(shared_data / "sct_testing_data" / "t2s_t2s_uncropped.nii.gz")
    neck_run = pipe.detect(neck)
    assert neck_run.registration is None and "not a whole-head scan" in neck_run.location_note
    found, n = _insert_and_detect(pipe, romeo, seed=3)
    assert found >= n - 1, f"found {found} of {n} inserted microbleeds in the real GRE patch"


def test_thick_slices_are_flagged_as_unreliable() -> None:
    from radtriage.tasks.cmb_detect.runner import THICK_SLICE_MM, thick_slice_notice

    fine = Image(np.zeros((8, 8, 8), np.float32), spacing=(0.5, 0.5, 2.0))
    thick = Image(np.zeros((8, 8, 8), np.float32), spacing=(0.5, 0.5, 7.5))
    assert thick_slice_notice(fine) is None
    text = thick_slice_notice(thick)
    assert text is not None and "7.5 mm" in text and "unreliable" in text
    assert thick_slice_notice(Image(np.zeros((2, 2, 2), np.float32), spacing=(1.0, 1.0, THICK_SLICE_MM))) is None
