"""CMBDetect: exact tiled stage-1 screening, the head mask, and stage 2 reducing false positives (held-out phantoms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radtriage.image import Image
from radtriage.tasks.cmb_detect import CmbPipeline, DetectSettings, candidate_heatmap
from radtriage.tasks.cmb_detect import runner as cmb_runner
from radtriage.tasks.cmb_detect.detector import THRESHOLD_FIELDS, foreground_box, head_mask
from radtriage.tasks.cmb_detect.evaluate import evaluate_runs, fp_per_scan_at, phantom_scans

# Seeds that scripts/train_demo_cmb_detect.py never uses (training 0..47, validation 20000+, model card 10000..10009).
HELD_OUT_SEEDS = tuple(range(10_100, 10_108))


def test_tiled_screening_equals_the_whole_volume_dense_map_and_skips_empty_tiles() -> None:
    from radtriage.nets.cmb import CmbCandidateNet

    torch.manual_seed(1)
    net = CmbCandidateNet().eval()
    x = torch.randn(1, 1, 40, 37, 45)
    with torch.no_grad():
        full = torch.sigmoid(net.heatmap(x))[0, 0].numpy()
    tiled = candidate_heatmap(net, x[0].numpy(), roi_size=(16, 16, 16))
    assert tiled.shape == full.shape
    assert np.allclose(tiled, full, atol=1e-5), "tiles with a halo must stitch to the exact dense map"
    mask = np.zeros(full.shape, dtype=bool)
    mask[2, 3, 4] = True
    sparse = candidate_heatmap(net, x[0].numpy(), roi_size=(16, 16, 16), mask=mask)
    assert np.allclose(sparse[:16, :16, :16], full[:16, :16, :16], atol=1e-5), "the tile holding the mask runs"
    assert not sparse[32:, 32:, 32:].any(), "tiles far from every mask voxel are skipped (left at 0)"


def test_head_mask_ignores_noise_in_the_air_but_keeps_dark_foci_inside_the_head() -> None:
    rng = np.random.default_rng(0)
    vol = np.abs(rng.normal(0, 0.04, (60, 64, 70))).astype(np.float32)  # air: noise up to ~0.2
    vol[15:45, 20:50, 20:55] = 1.0  # the head
    vol[29:32, 33:36, 36:39] = 0.0  # a microbleed-like dark focus inside it
    mask = head_mask(vol)
    assert mask[30, 34, 37] and mask[16, 21, 21]
    assert (vol[~mask] > 0.1).any(), "some noise voxels exceed the level and are still left out"
    box = foreground_box(mask, margin=2)
    assert box is not None
    assert all(sl.start >= lo - 6 and sl.stop <= hi + 6 for sl, lo, hi in zip(box, (15, 20, 20), (45, 50, 55),
                                                                                strict=True))
    assert foreground_box(np.zeros((4, 4, 4), dtype=bool)) is None


@pytest.fixture(scope="module")
def held_out() -> tuple[CmbPipeline, list, list]:
    from radtriage.models import BundleNotFoundError

    torch.set_num_threads(2)
    try:
        pipe = CmbPipeline.from_bundle(None, "cpu")
    except BundleNotFoundError as exc:
        pytest.skip(f"no cmb_detect bundle installed: {exc}")
    scans = phantom_scans(HELD_OUT_SEEDS)
    runs = [pipe.detect(s["magnitude"], s["phase"], threshold=0.0) for s in scans]
    return pipe, scans, runs


def _stage2_has_fewer_false_positives(runs, scans) -> tuple[dict, dict]:
    """Asserts fewer FP per scan with stage 2 than with stage 1 alone at the highest sensitivity both reach
    (<= 0.9); returns both evaluations (stage 1+2, stage 1)."""
    both = evaluate_runs(runs, scans, score="confidence")
    alone = evaluate_runs(runs, scans, score="stage1")
    reach = min(0.9, max(alone["froc"]["sensitivity"]), max(both["froc"]["sensitivity"]))
    fp_both, fp_alone = fp_per_scan_at(both, reach), fp_per_scan_at(alone, reach)
    assert fp_both is not None and fp_alone is not None
    assert fp_both < fp_alone, f"at sensitivity {reach:.2f}: stage 1+2 {fp_both:.2f} FP/scan, stage 1 {fp_alone:.2f}"
    return both, alone


def test_stage2_has_fewer_false_positives_than_stage1_at_equal_sensitivity(held_out) -> None:
    pipe, scans, runs = held_out
    assert pipe.settings.stage2_weight > 0, "the bundle must use its FP-reduction stage"
    both, alone = _stage2_has_fewer_false_positives(runs, scans)
    mean_both = both["mean_sensitivity"]["value"]
    mean_alone = alone["mean_sensitivity"]["value"]
    assert mean_both >= mean_alone, "stage 2 must not rank microbleeds worse over 0.5-4 FP/scan"


@pytest.fixture(scope="module")
def held_out_magnitude_only(held_out) -> tuple[CmbPipeline, list, list]:
    pipe, scans, _ = held_out
    return pipe, scans, [pipe.detect(s["magnitude"], None, threshold=0.0) for s in scans]


def test_magnitude_only_stage2_has_fewer_false_positives_than_stage1_at_equal_sensitivity(
        held_out_magnitude_only) -> None:
    pipe, scans, runs = held_out_magnitude_only
    weight, _ = pipe.settings.operating(False)
    assert weight > 0 and pipe.magnitude_only_stage2(False), "without phase the bundle must use its own stage 2"
    assert all(not r.phase_used and r.stage2_weight == weight for r in runs)
    both, alone = _stage2_has_fewer_false_positives(runs, scans)
    assert both["mean_sensitivity"]["value"] > alone["mean_sensitivity"]["value"]


def test_stage2_probability_separates_hits_from_stage1_false_positives(held_out) -> None:
    _, scans, runs = held_out
    hit_p, fp_p = [], []
    for scan, run in zip(scans, runs, strict=True):
        truth = [(np.array(t["center_ras"]), max(2.0, t["radius_mm"])) for t in scan["truth"]]
        for c in run.candidates:
            if c.candidate_score < 0.5:  # the confident stage-1 candidates: where FP reduction matters
                continue
            hit = any(np.linalg.norm(np.array(c.center_ras) - p) <= r for p, r in truth)
            (hit_p if hit else fp_p).append(c.stage2_probability)
    assert hit_p and fp_p
    assert np.median(hit_p) > 0.5 > np.median(fp_p), (np.median(hit_p), np.median(fp_p))


class _DarkScreener(nn.Module):
    """Stage-1 stub: high where the 3x3x3 mean of the normalised magnitude is dark."""

    def heatmap(self, x: torch.Tensor) -> torch.Tensor:
        return 12.0 * (0.55 - nn.functional.avg_pool3d(x[:, :1], 3, 1, 1, count_include_pad=False))


class _ConstantDiscriminator(nn.Module):
    """Stage-2 stub: the same logit for every patch (probability ``sigmoid(logit)``)."""

    def __init__(self, logit: float) -> None:
        super().__init__()
        self.logit = logit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 1), self.logit)


class _StubCascade(nn.Module):
    def __init__(self, logit: float) -> None:
        super().__init__()
        self.candidate = _DarkScreener()
        self.discriminator = _ConstantDiscriminator(logit)


def _dark_dots_scan() -> tuple[Image, Image]:
    """A 1 mm 32^3 'head' (tissue 800, noise) with two dark spheres, and a phase image (small noise in radians; a
    constant phase is refused as unusable) on the same grid."""
    rng = np.random.default_rng(3)
    arr = np.full((32, 32, 32), 800.0, np.float32) + rng.normal(0, 8.0, (32, 32, 32)).astype(np.float32)
    k, j, i = np.indices(arr.shape)
    for c in ((12, 12, 14), (20, 21, 18)):
        arr[(k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2 <= 4] *= 0.1
    magnitude = Image(arr, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    return magnitude, magnitude.with_array(rng.normal(0, 0.05, arr.shape).astype(np.float32))


def test_magnitude_only_input_uses_its_own_calibrated_weight_and_threshold() -> None:
    magnitude, phase = _dark_dots_scan()
    settings = DetectSettings(candidate_threshold=0.5, detection_threshold=0.3, stage2_weight=0.5,
                              stage2_weight_magnitude_only=0.0, detection_threshold_magnitude_only=0.8)
    assert DetectSettings.from_dict(settings.to_dict()) == settings
    pipe = CmbPipeline(_StubCascade(logit=-1.0), settings)
    p2 = 1.0 / (1.0 + np.exp(1.0))

    mag = pipe.detect(magnitude)
    assert mag.candidates and not mag.phase_used
    assert (mag.threshold, mag.stage2_weight) == (0.8, 0.0)
    for c in mag.candidates:  # w = 0: the screener alone
        assert c.confidence == pytest.approx(c.candidate_score)
        assert c.stage2_probability == pytest.approx(p2)

    both = pipe.detect(magnitude, phase)
    assert both.phase_used and (both.threshold, both.stage2_weight) == (0.3, 0.5)
    for c in both.candidates:
        assert c.confidence == pytest.approx(np.sqrt(c.candidate_score * p2), rel=1e-5)
    assert pipe.detect(magnitude, threshold=0.1).threshold == 0.1, "an explicit threshold still wins"

    # the runner reports which operating point it used; without magnitude-only values it falls back
    out = cmb_runner.run({"magnitude": magnitude}, pipeline=pipe, heatmap=False).outputs
    assert (out["threshold"], out["stage2_weight"], out["operating_point"]) == (0.8, 0.0, "magnitude only")
    out = cmb_runner.run({"magnitude": magnitude, "phase": phase}, pipeline=pipe, heatmap=False).outputs
    assert (out["threshold"], out["operating_point"]) == (0.3, "with phase")
    plain = DetectSettings(detection_threshold=0.3, stage2_weight=0.5)
    assert plain.operating(False) == plain.operating(True) == (0.5, 0.3)


def test_installed_bundle_carries_a_validated_magnitude_only_operating_point() -> None:
    from radtriage.models import BundleNotFoundError, load_bundle

    try:
        pipe = CmbPipeline.from_bundle(None, "cpu")
    except BundleNotFoundError as exc:
        pytest.skip(f"no cmb_detect bundle installed: {exc}")
    loaded = load_bundle(pipe.bundle_info["path"], "cpu", task="cmb_detect")
    ops, config = loaded.meta.thresholds["cmb"], loaded.config["cmb_detect"]
    assert not set(config) & set(THRESHOLD_FIELDS), "thresholds are stored once, in the metadata"
    s = pipe.settings
    assert s.stage2_weight_magnitude_only is not None and s.detection_threshold_magnitude_only is not None
    assert s.operating(True) == (config["stage2_weight"], ops["operating"])
    assert s.operating(False) == (config["stage2_weight_magnitude_only"], ops["operating_magnitude_only"])


def test_a_bundle_that_stores_a_threshold_twice_is_refused(tmp_path) -> None:
    import json
    import shutil

    from radtriage.models import BundleError, find_bundle

    bundle = tmp_path / "cmb"
    shutil.copytree(find_bundle("cmb_detect").path, bundle)
    path = bundle / "configs" / "inference.json"
    config = json.loads(path.read_text())
    config["cmb_detect"]["detection_threshold"] = 0.5
    path.write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"detection_threshold: thresholds are stored once.*\(operating\)"):
        CmbPipeline.from_bundle(bundle, "cpu")


class _ShapeRecorder(nn.Module):
    """Stage-2 stub: a constant logit, remembering the shape of every batch it was given."""

    def __init__(self, logit: float) -> None:
        super().__init__()
        self.logit = logit
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return torch.full((x.shape[0], 1), self.logit)


class _TwoDiscriminatorCascade(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.candidate = _DarkScreener()
        self.discriminator = _ShapeRecorder(2.0)
        self.discriminator_magnitude_only = _ShapeRecorder(-2.0)


def test_inputs_without_phase_are_rescored_by_the_magnitude_only_discriminator() -> None:
    magnitude, phase = _dark_dots_scan()
    settings = DetectSettings(candidate_threshold=0.5, stage2_weight=0.5, stage2_weight_magnitude_only=1.0,
                              detection_threshold_magnitude_only=0.5, patch_size_magnitude_only=20)
    assert DetectSettings.from_dict(settings.to_dict()) == settings
    net = _TwoDiscriminatorCascade()
    pipe = CmbPipeline(net, settings)

    mag = pipe.detect(magnitude)
    assert mag.candidates and pipe.magnitude_only_stage2(False) and not pipe.magnitude_only_stage2(True)
    assert net.discriminator.shapes == [], "the two-channel discriminator is not run without phase"
    assert {s[1:] for s in net.discriminator_magnitude_only.shapes} == {(1, 20, 20, 20)}
    for c in mag.candidates:  # w = 1: the magnitude-only discriminator alone
        assert c.stage2_probability == pytest.approx(1 / (1 + np.exp(2.0)))
        assert c.confidence == pytest.approx(c.stage2_probability)

    both = pipe.detect(magnitude, phase)
    assert {s[1:] for s in net.discriminator.shapes} == {(2, 16, 16, 16)}
    assert all(c.stage2_probability == pytest.approx(1 / (1 + np.exp(-2.0))) for c in both.candidates)


def test_detector_without_magnitude_only_net_falls_back_and_bundles_round_trip(tmp_path) -> None:
    from radtriage.models import default_metadata, load_bundle, write_bundle
    from radtriage.nets.cmb import DETECTOR_NAME, CmbDetector

    plain = CmbDetector()
    assert plain.discriminator_magnitude_only is None and plain.stage2(False) is plain.discriminator
    assert not CmbPipeline(plain).magnitude_only_stage2(False)

    torch.manual_seed(0)
    args = {"channels": [4, 8, 8], "dropout": 0.0}
    det = CmbDetector({"layers": [[4, 1], [4, 1]], "head_channels": 4}, {"channels": [4, 8, 8]}, args).eval()
    assert det.stage2(False) is det.discriminator_magnitude_only and det.stage2(True) is det.discriminator
    meta = default_metadata("cmb-test", "cmb_detect", version="0.0.1", description="test", class_names=["cmb"],
                            inputs={"contrasts": ["magnitude", "phase"], "modality": "MR", "spacing": [1.0] * 3,
                                    "patch_size": [16] * 3}, demo=True)
    net_def = {"_target_": DETECTOR_NAME, "candidate_args": {"layers": [[4, 1], [4, 1]], "head_channels": 4},
               "discriminator_args": {"channels": [4, 8, 8]}, "magnitude_only_args": args}
    path = write_bundle(tmp_path / "cmb-test-0.0.1", det, meta, net_def)
    loaded = load_bundle(path, "cpu", task="cmb_detect").network.eval()
    x = torch.randn(3, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.discriminator_magnitude_only(x), det.discriminator_magnitude_only(x))


def test_magnitude_only_stage2_patches_have_one_channel_and_keep_the_labels() -> None:
    from radtriage.phantoms import make_swi_case
    from radtriage.tasks.cmb_detect import training_data as td

    case = make_swi_case(3, n_microbleeds=3, n_mimics={"vessel": 1, "calcification": 1, "air_bone": 0})
    work = td.working_of(case, with_phase=False)
    truth = td.truth_voxels(case, work)
    far = truth[0] + np.array([15.0, 0.0, 0.0])
    rng = np.random.default_rng(0)
    ps = td.stage2_patches(case, work, np.vstack([truth[:1], far[None]]), 12, rng, n_jitter=2, magnitude_only=True)
    assert ps.patches.shape[1:] == (1, 12, 12, 12)
    assert ps.kinds[:2] == ["peak-hit", "peak-fp"] and list(ps.labels[:2]) == [1, 0]
    assert ps.labels.sum() == 1 + 2 * len(case.microbleeds)
    assert np.abs(ps.patches).sum(axis=(1, 2, 3, 4)).min() > 0, "no patch is zeroed out"


def _runs(stage1: list[list[tuple[bool, float, float]]]) -> tuple[list, list]:
    """Scans with one lesion per hit; each candidate is (is_hit, stage-1 score, stage 1+2 confidence)."""
    from types import SimpleNamespace

    runs, scans = [], []
    for n, cands in enumerate(stage1):
        truth, out = [], []
        for m, (hit, s1, conf) in enumerate(cands):
            centre = [float(n * 100), float(m * 20), 0.0]
            if hit:
                truth.append({"center_ras": centre, "radius_mm": 1.0})
            out.append(SimpleNamespace(center_ras=tuple(centre if hit else [centre[0], centre[1], 50.0]),
                                       candidate_score=s1, confidence=conf))
        runs.append(SimpleNamespace(candidates=out, threshold=0.5))
        scans.append({"name": f"s{n}", "truth": truth})
    return runs, scans


def test_fp_at_equal_sensitivity_has_paired_bootstrap_intervals() -> None:
    from radtriage.tasks.cmb_detect.evaluate import fp_at_sensitivity_intervals

    # every scan: one microbleed and two mimics that stage 1 ranks above it and stage 2 pushes below it
    runs, scans = _runs([[(True, 0.6, 0.9), (False, 0.8, 0.2), (False, 0.9, 0.1)] for _ in range(6)])
    (row,) = fp_at_sensitivity_intervals(runs, scans, (1.0,), n_bootstrap=200)
    assert row["stage1_fp_per_scan"] == pytest.approx(2.0) and row["stage1_2_fp_per_scan"] == 0.0
    assert row["reduction"] == pytest.approx(2.0) and row["reduction_ci95"] == pytest.approx([2.0, 2.0])
    assert row["stage1_2_fewer_share"] == 1.0

    # half the scans favour stage 2, half stage 1: the interval of the reduction spans 0
    mixed = [[(True, 0.6, 0.9), (False, 0.8, 0.15)], [(True, 0.9, 0.2), (False, 0.5, 0.8)]] * 4
    runs, scans = _runs(mixed)
    (row,) = fp_at_sensitivity_intervals(runs, scans, (1.0,), n_bootstrap=500)
    assert row["stage1_fp_per_scan"] == row["stage1_2_fp_per_scan"] == pytest.approx(0.5)
    lo, hi = row["reduction_ci95"]
    assert lo < 0 < hi and 0.2 < row["stage1_2_fewer_share"] < 0.8
    unreachable = fp_at_sensitivity_intervals(runs[:1], [{"name": "x", "truth": scans[0]["truth"] * 2}], (1.0,),
                                              n_bootstrap=10)[0]
    assert unreachable["stage1_fp_per_scan"] is None and unreachable["reduction"] is None
