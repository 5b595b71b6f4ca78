"""A small, fast 2D CNN that labels one canonical axial slice with its body region.

Input: ``[B, C, 64, 64]`` slices resampled to a fixed patient orientation and field of view
(see :mod:`radtriage.tasks.body_region.slices`); output: ``[B, n_classes]`` logits.
Four strided conv stages (conv + batch norm + ReLU; stages 2-4 add a second conv) halve the
grid to 4x4; global average pooling and one linear layer give the logits. About 90k parameters
and 4 million multiply-adds per slice: well over a thousand slices per second on one CPU core.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from radtriage.models import register_network

NETWORK_NAME = "radtriage.nets.body_region.BodyRegionNet"


def _conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def _stage(c_in: int, c_out: int, second_conv: bool) -> nn.Sequential:
    layers = _conv(c_in, c_out, 2)
    if second_conv:
        layers += _conv(c_out, c_out, 1)
    return nn.Sequential(*layers)


class BodyRegionNet(nn.Module):
    """Per-slice body-region classifier (2D CNN, logits out).

    ``spatial_dims`` is accepted (and must be 2) so the bundle loader can check it against the
    bundle's patch size; ``features`` are the channels of the four stages.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 17,
        spatial_dims: int = 2,
        features: Sequence[int] = (16, 24, 48, 64),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"BodyRegionNet is a 2D network; spatial_dims must be 2, got {spatial_dims}")
        if in_channels < 1 or out_channels < 2:
            raise ValueError(f"need in_channels >= 1 and out_channels >= 2, got {in_channels}, {out_channels}")
        chans = [int(in_channels), *(int(f) for f in features)]
        self.features = nn.Sequential(*(_stage(a, b, i > 0) for i, (a, b) in enumerate(itertools.pairwise(chans))))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(chans[-1], int(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, out_channels]`` for slices ``[B, in_channels, H, W]``."""
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(x))


register_network(NETWORK_NAME, BodyRegionNet)
