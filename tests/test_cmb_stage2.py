"""CMBDetect: exact tiled stage-1 screening, the head mask, and stage 2 reducing false positives (held-out phantoms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radtriage.image import Image
from radtriage.tasks.cmb_detect import CmbPipeline, DetectSettings, candidate_heatmap
from radtriage.tasks.cmb_detect import runner as cmb_runner
from radtriage.tasks.cmb_detect.detector import foreground_box, head_mask
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


def test_stage2_has_fewer_false_positives_than_stage1_at_equal_sensitivity(held_out) -> None:
    pipe, scans, runs = held_out
    assert pipe.settings.stage2_weight > 0, "the bundle must use its FP-reduction stage"
    both = evaluate_runs(runs, scans, score="confidence")
    alone = evaluate_runs(runs, scans, score="stage1")
    reach = min(0.9, max(alone["froc"]["sensitivity"]), max(both["froc"]["sensitivity"]))
    fp_both, fp_alone = fp_per_scan_at(both, reach), fp_per_scan_at(alone, reach)
    assert fp_both is not None and fp_alone is not None
    assert fp_both < fp_alone, f"at sensitivity {reach:.2f}: stage 1+2 {fp_both:.2f} FP/scan, stage 1 {fp_alone:.2f}"
    mean_both = both["mean_sensitivity"]["value"]
    mean_alone = alone["mean_sensitivity"]["value"]
    assert mean_both >= mean_alone, "stage 2 must not rank microbleeds worse over 0.5-4 FP/scan"


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
    meta = load_bundle(pipe.bundle_info["path"], "cpu", task="cmb_detect").meta
    points = meta.raw["radtriage"]["operating_points"]
    s = pipe.settings
    assert s.stage2_weight_magnitude_only is not None and s.detection_threshold_magnitude_only is not None
    assert s.operating(True) == (points["with_phase"]["stage2_weight"], points["with_phase"]["threshold"])
    assert s.operating(False) == (points["magnitude_only"]["stage2_weight"], points["magnitude_only"]["threshold"])
    assert meta.thresholds["cmb"]["operating_magnitude_only"] == s.detection_threshold_magnitude_only
