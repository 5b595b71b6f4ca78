"""The LGE network: an EfficientNetV2-style 2D classifier with fused-MBConv and MBConv (+SE) blocks."""

from __future__ import annotations

import pytest
import torch

from radtriage.models import allowed_network_names, build_network
from radtriage.nets.lge import NETWORK_NAME, FusedMBConv, LgeEfficientNetV2, MBConv, SqueezeExcitation


def test_output_shape_and_block_kinds():
    net = LgeEfficientNetV2().eval()
    with torch.inference_mode():
        out = net(torch.randn(3, 1, 96, 96))
    assert out.shape == (3, 1)
    kinds = [type(b) for b in net.blocks]
    assert FusedMBConv in kinds and MBConv in kinds
    # EfficientNetV2 layout: every fused block comes before every MBConv block
    assert max(i for i, k in enumerate(kinds) if k is FusedMBConv) < min(i for i, k in enumerate(kinds) if k is MBConv)
    for block in net.blocks:
        has_se = any(isinstance(m, SqueezeExcitation) for m in block.modules())
        assert has_se == isinstance(block, MBConv)
        assert not any(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in block.modules()) or isinstance(
            block, MBConv
        )


def test_other_sizes_width_and_outputs():
    net = LgeEfficientNetV2(in_channels=2, out_channels=3, width_mult=1.5, depth_mult=2.0).eval()
    with torch.inference_mode():
        assert net(torch.randn(2, 2, 64, 80)).shape == (2, 3)
    assert sum(p.numel() for p in net.parameters()) > sum(p.numel() for p in LgeEfficientNetV2().parameters())
    with pytest.raises(ValueError, match="2D"):
        LgeEfficientNetV2(spatial_dims=3)
    with pytest.raises(ValueError, match="stage type"):
        LgeEfficientNetV2(stages=[["conv", 1, 16, 1, 1]])


def test_residual_keeps_shape_and_gradients_flow():
    block = MBConv(16, 16, 4, 1)
    x = torch.randn(2, 16, 12, 12, requires_grad=True)
    block(x).sum().backward()
    assert block.residual and x.grad is not None and x.grad.abs().sum() > 0
    assert not FusedMBConv(16, 24, 4, 2).residual


def test_registered_for_bundles():
    assert NETWORK_NAME in allowed_network_names()
    net = build_network({"network_def": {"_target_": NETWORK_NAME, "in_channels": 1, "out_channels": 1}})
    assert isinstance(net, LgeEfficientNetV2)
