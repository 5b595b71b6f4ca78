"""A small 2D EfficientNetV2-style classifier for per-slice LGE likelihood (Tan & Le 2021, "EfficientNetV2").

Early stages are **fused-MBConv** blocks (one full 3x3 convolution that expands, then a 1x1 projection; no
squeeze-excitation), later stages are **MBConv** blocks (1x1 expansion, depthwise 3x3, squeeze-excitation,
1x1 projection); residual connections where stride is 1 and channels match, SiLU activations, batch norm.
Written on plain torch layers (no torchvision/timm). The default width/depth is tiny (~0.2 M parameters) so a
96x96 slice runs in a few milliseconds on a CPU; ``width_mult``/``depth_mult`` scale it.

``evidence_map=True`` adds a 1x1 convolution on the last feature map that writes an **enhancement evidence map**
(one logit per cell, stride 16): :meth:`LgeEfficientNetV2.forward_with_evidence` returns it with the logits so
training can supervise it with enhancement masks (deep supervision; the slice outputs stay the pooled head's).
``pooling="avgmax"`` feeds the classifier the average and the maximum of the last feature map.

Registered for bundles as ``radtriage.nets.lge.LgeEfficientNetV2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from radtriage.models.networks import register_network

NETWORK_NAME = "radtriage.nets.lge.LgeEfficientNetV2"
POOLINGS = ("avg", "avgmax")
"""Global pooling before the classifier: average (bundles <= 0.2.0), or average and maximum concatenated."""

# (block type, expansion ratio, output channels, repeats, stride of the first block)
DEFAULT_STAGES: tuple[tuple[str, int, int, int, int], ...] = (
    ("fused", 1, 16, 1, 1),
    ("fused", 4, 24, 2, 2),
    ("mbconv", 4, 40, 2, 2),
    ("mbconv", 4, 64, 2, 2),
)


def _round_channels(channels: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of ``divisor`` (never below 90 % of the request), as EfficientNet does."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _conv_bn_act(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool, bottleneck 1x1 convs (SiLU, sigmoid), rescale the input."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = nn.SiLU(inplace=True)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class FusedMBConv(nn.Module):
    """Fused-MBConv: 3x3 conv (expand, stride) -> [1x1 projection when expanded]; residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        if expand == 1:
            self.block = _conv_bn_act(in_ch, out_ch, 3, stride)
        else:
            self.block = nn.Sequential(
                _conv_bn_act(in_ch, hidden, 3, stride), _conv_bn_act(hidden, out_ch, 1, act=False)
            )
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MBConv(nn.Module):
    """MBConv: 1x1 expand, depthwise 3x3 (stride), squeeze-excitation, 1x1 projection; residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, stride: int, se_ratio: float = 0.25) -> None:
        super().__init__()
        hidden = in_ch * expand
        self.block = nn.Sequential(
            _conv_bn_act(in_ch, hidden, 1),
            _conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
            SqueezeExcitation(hidden, max(1, int(in_ch * se_ratio))),
            _conv_bn_act(hidden, out_ch, 1, act=False),
        )
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class LgeEfficientNetV2(nn.Module):
    """EfficientNetV2-family 2D classifier: stem, fused-MBConv then MBConv stages, 1x1 head, pooled linear logits.

    ``forward`` takes ``(B, in_channels, H, W)`` and returns ``(B, out_channels)`` logits (one logit: the LGE
    score; the task applies its calibrated temperature and a sigmoid). ``stages`` rows are
    ``[type ("fused"|"mbconv"), expansion, channels, repeats, stride]``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        stem_channels: int = 16,
        head_channels: int = 128,
        dropout: float = 0.2,
        stages: Sequence[Sequence[object]] | None = None,
        evidence_map: bool = False,
        pooling: str = "avg",
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"LgeEfficientNetV2 is 2D (per slice); spatial_dims must be 2, got {spatial_dims}")
        rows = [tuple(r) for r in (stages if stages is not None else DEFAULT_STAGES)]
        stem = _round_channels(stem_channels * width_mult)
        self.stem = _conv_bn_act(in_channels, stem, 3, 2)
        blocks: list[nn.Module] = []
        ch = stem
        for kind, expand, channels, repeats, stride in rows:
            if kind not in ("fused", "mbconv"):
                raise ValueError(f"stage type must be 'fused' or 'mbconv', got {kind!r}")
            out = _round_channels(int(channels) * width_mult)
            for r in range(max(1, math.ceil(int(repeats) * depth_mult))):
                s = int(stride) if r == 0 else 1
                block = FusedMBConv(ch, out, int(expand), s) if kind == "fused" else MBConv(ch, out, int(expand), s)
                blocks.append(block)
                ch = out
        self.blocks = nn.Sequential(*blocks)
        head = _round_channels(head_channels * max(1.0, width_mult))
        self.head = _conv_bn_act(ch, head, 1)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head * (2 if pooling == "avgmax" else 1), out_channels)
        self.evidence = nn.Conv2d(head, 1, 1) if evidence_map else None
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map ``(B, head_channels, H/16, W/16)``."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._classify(self.features(x))

    def _classify(self, f: torch.Tensor) -> torch.Tensor:
        pooled = torch.flatten(self.pool(f), 1)
        if self.pooling == "avgmax":  # a small focal finding survives the max where the average dilutes it
            pooled = torch.cat([pooled, torch.flatten(f.amax(dim=(2, 3)), 1)], dim=1)
        return self.classifier(self.dropout(pooled))

    def forward_with_evidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, out_channels), evidence map logits (B, 1, H/16, W/16))``."""
        if self.evidence is None:
            raise ValueError("this network was built without an evidence map (evidence_map=False)")
        f = self.features(x)
        return self._classify(f), self.evidence(f)


register_network(NETWORK_NAME, LgeEfficientNetV2)
