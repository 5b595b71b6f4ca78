"""Peer comparison in ``radtriage bench``: the BPR network rebuilt at its documented size, timed beside ours."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from radtriage.bench.peers import (  # noqa: E402
    BPR_INPUT_SIZE,
    VGG16_BLOCKS,
    bpr_network,
    compare_body_region,
    format_peers,
)


def _vgg16_bpr_parameter_count() -> int:
    """VGG16's 13 convolutions (first one 1-channel, no bias) + the 1x1 conv6 + the linear fc7, counted by hand."""
    total, channels = 0, 1
    for width, n_convs in VGG16_BLOCKS:
        for _ in range(n_convs):
            total += channels * width * 9 + (width if channels != 1 else 0)
            channels = width
    return total + 512 * 512 + 512 + 512 + 1


def test_bpr_network_is_vgg16_features_with_one_score_per_slice():
    net = bpr_network()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13 and convs[0].in_channels == 1 and convs[0].bias is None
    assert sum(p.numel() for p in net.parameters()) == _vgg16_bpr_parameter_count()
    with torch.inference_mode():
        out = net(torch.zeros(2, 1, BPR_INPUT_SIZE, BPR_INPUT_SIZE))
        feat = net.features(torch.zeros(1, 1, BPR_INPUT_SIZE, BPR_INPUT_SIZE))
    assert out.shape == (2, 1)
    assert feat.shape == (1, 512, BPR_INPUT_SIZE // 32, BPR_INPUT_SIZE // 32)  # five 2x2 pools


def test_compare_times_both_networks_on_the_same_slices_and_reports_the_ratio():
    from radtriage.nets.body_region import BodyRegionNet

    slices = np.random.default_rng(0).normal(size=(3, 64, 64)).astype(np.float32)
    res = compare_body_region(BodyRegionNet().eval(), slices, "cpu", repeats=1, batch=2)
    assert res["n_slices"] == 3 and res["peer_input"] == [128, 128] and res["ours_input"] == [64, 64]
    assert res["ours_ms_per_slice"] > 0 and res["peer_ms_per_slice"] > 0
    assert res["ratio_ours_over_peer"] == pytest.approx(res["ours_ms_per_slice"] / res["peer_ms_per_slice"])
    assert res["peer_parameters"] == _vgg16_bpr_parameter_count() > res["ours_parameters"]
    assert "Schuhegger" in res["source"]
    text = "\n".join(format_peers({"body_region": res}))
    assert "ratio ours/peer" in text and "BPR" in text
    assert "FAILED" in format_peers({"body_region": {"error": "RuntimeError: boom"}})[0]
