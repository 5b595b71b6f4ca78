"""Networks of the CMBDetect task: a 3D fully convolutional candidate screener and a 3D patch discriminator.

The cascade follows Dou et al. 2016 ("Automatic detection of cerebral microbleeds from MR images via 3D
convolutional neural networks", IEEE TMI 35:1182): a 3D FCN is trained as a patch classifier (is there a
microbleed centre at the centre of this patch?) and then run densely over the whole volume to give a heatmap;
a second 3D CNN rescores small patches around the heatmap's peaks to remove mimics.

* :class:`CmbCandidateNet` uses *valid* (unpadded) convolutions, so on a training patch of exactly its receptive
  field it returns one logit per patch (``output="centre"``, what ``radtriage.training`` trains), and on any larger
  input padded by half the receptive field it returns a dense logit map whose every voxel equals the patch
  classifier centred there (``heatmap``).
* :class:`CmbDiscriminator` is a small 3D CNN (MONAI ``Convolution`` blocks) on ``(C, 16, 16, 16)`` patches
  (16 mm at the 1 mm working grid).
* :class:`CmbDetector` holds both (and optionally a magnitude-only discriminator for scans without phase), so one
  bundle carries the whole cascade; its ``forward`` is the dense heatmap.

All three are registered for bundles as ``radtriage.nets.cmb.<Class>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from radtriage.models.networks import register_network

CANDIDATE_NAME = "radtriage.nets.cmb.CmbCandidateNet"
DISCRIMINATOR_NAME = "radtriage.nets.cmb.CmbDiscriminator"
DETECTOR_NAME = "radtriage.nets.cmb.CmbDetector"

# (output channels, dilation) of the 3x3x3 valid convolutions; receptive field = 1 + 2 * sum(dilations)
DEFAULT_CANDIDATE_LAYERS: tuple[tuple[int, int], ...] = ((8, 1), (8, 1), (8, 2), (8, 4))


class CmbCandidateNet(nn.Module):
    """3D FCN screener: valid dilated 3x3x3 convolutions (batch norm, ReLU), then two 1x1x1 layers.

    ``output="centre"`` (training): input ``(B, C, R, R, R)`` with ``R`` = :attr:`receptive_field` (larger inputs
    are centre-cropped) -> ``(B, out_channels)`` logits. ``output="dense"``: same as :meth:`heatmap`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        layers: Sequence[Sequence[int]] = DEFAULT_CANDIDATE_LAYERS,
        head_channels: int = 8,
        output: str = "centre",
    ) -> None:
        super().__init__()
        if output not in ("centre", "dense"):
            raise ValueError(f"output must be 'centre' or 'dense', got {output!r}")
        self.output = output
        blocks: list[nn.Module] = []
        ch = in_channels
        for out_ch, dilation in layers:
            blocks += [
                nn.Conv3d(ch, int(out_ch), 3, dilation=int(dilation), bias=False),
                nn.BatchNorm3d(int(out_ch)),
                nn.ReLU(inplace=True),
            ]
            ch = int(out_ch)
        blocks += [nn.Conv3d(ch, head_channels, 1), nn.ReLU(inplace=True), nn.Conv3d(head_channels, out_channels, 1)]
        self.body = nn.Sequential(*blocks)
        self.receptive_field = 1 + 2 * sum(int(d) for _, d in layers)

    @property
    def margin(self) -> int:
        """Voxels lost on each side by the valid convolutions (half the receptive field)."""
        return self.receptive_field // 2

    def valid(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for every position whose whole receptive field lies inside ``x`` (``margin`` voxels lost per side)."""
        return self.body(x)

    def heatmap(self, x: torch.Tensor, padding_mode: str = "replicate") -> torch.Tensor:
        """Dense logits with the input's spatial size (the input is padded by ``margin`` first)."""
        m = self.margin
        return self.body(functional.pad(x, (m, m, m, m, m, m), mode=padding_mode))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.output == "dense":
            return self.heatmap(x)
        r = self.receptive_field
        starts = [(s - r) // 2 for s in x.shape[2:]]
        if any(s < 0 for s in starts):
            raise ValueError(f"centre mode needs patches of at least {r} voxels, got {tuple(x.shape[2:])}")
        x = x[..., starts[0] : starts[0] + r, starts[1] : starts[1] + r, starts[2] : starts[2] + r]
        return self.body(x).reshape(x.shape[0], -1)


class CmbDiscriminator(nn.Module):
    """3D patch classifier: three stages of 3x3x3 convolutions (MONAI ``Convolution``, batch norm, PReLU; one at
    full resolution, two in each pooled stage), max-pool between stages, global average pool, dropout and a linear
    layer -> ``(B, out_channels)`` logits."""

    def __init__(
        self,
        in_channels: int = 2,
        out_channels: int = 1,
        channels: Sequence[int] = (8, 16, 32),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        from monai.networks.blocks import Convolution

        layers: list[nn.Module] = []
        ch = in_channels
        for i, out_ch in enumerate(channels):
            if i:
                layers.append(nn.MaxPool3d(2))
            layers.append(Convolution(3, ch, int(out_ch), kernel_size=3, norm="batch", act="prelu"))
            if i:  # one convolution at full resolution (cheap), two in the pooled stages
                layers.append(Convolution(3, int(out_ch), int(out_ch), kernel_size=3, norm="batch", act="prelu"))
            ch = int(out_ch)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(ch, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class CmbDetector(nn.Module):
    """Both stages in one module (one bundle): ``candidate`` (dense screener) and ``discriminator``, plus an
    optional ``discriminator_magnitude_only`` (one magnitude channel, trained on the screener's candidates without
    phase) for inputs that come without phase; ``None`` when ``magnitude_only_args`` is not given.

    ``forward`` returns the dense candidate heatmap logits; use :meth:`stage2` on patches for stage 2.
    """

    def __init__(
        self,
        candidate_args: dict | None = None,
        discriminator_args: dict | None = None,
        magnitude_only_args: dict | None = None,
    ) -> None:
        super().__init__()
        cand = {**dict(candidate_args or {}), "output": "dense"}
        self.candidate = CmbCandidateNet(**cand)
        self.discriminator = CmbDiscriminator(**dict(discriminator_args or {}))
        self.discriminator_magnitude_only: CmbDiscriminator | None = (
            None if magnitude_only_args is None else CmbDiscriminator(**{"in_channels": 1, **magnitude_only_args}))

    def stage2(self, phase_used: bool) -> CmbDiscriminator:
        """The discriminator for an input with or without phase (the magnitude-only one when there is one)."""
        if not phase_used and self.discriminator_magnitude_only is not None:
            return self.discriminator_magnitude_only
        return self.discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.candidate.heatmap(x)


register_network(CANDIDATE_NAME, CmbCandidateNet)
register_network(DISCRIMINATOR_NAME, CmbDiscriminator)
register_network(DETECTOR_NAME, CmbDetector)
