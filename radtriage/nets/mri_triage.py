"""A small multi-contrast 3D brain MRI triage network with a contrast-availability mask.

Two encoders (``encoder``):

* ``"plain"``: 3x3x3 convolution + ReLU + 2x max-pool blocks, then a 3x3x3 feature convolution (the layer
  Grad-CAM reads), whose feature map is max- and average-pooled over the whole volume and fed with the
  availability mask to a small MLP; no normalisation layer can wash out a small bright focus. On the MNI-anatomy
  phantoms at 6 mm without contrast dropout a network of this shape learned acute infarct (held-out AUC 0.94 after
  400 steps) where the residual encoder stayed on the label prior; the 3 mm recipe with contrast dropout has not
  converged yet (``scripts/train_demo_mri_triage.py``).
* ``"residual"`` (bundle 0.1.0), after the published brain MRI triage networks: local feature extraction per
  region feeding global classifiers:

* **shared local feature blocks** over the whole volume: a strided MONAI ``Convolution`` stem, two strided
  ``ResidualUnit`` blocks and a final 3x3x3 ``Convolution`` (the layer Grad-CAM reads); instance norm by default
  (batch statistics would differ between training, with contrasts dropped, and inference);
* **regional pooling**: the feature map is average- and max-pooled over a coarse ``region_grid`` (default 3x3x3)
  and every region's vector goes through a shared local block (linear + SiLU) with a learned region embedding;
* **global heads**: the concatenated region vectors and the 8-value contrast-availability mask feed an MLP with
  one sigmoid logit per output (abnormal, acute infarct, acute haemorrhage, mass effect).

Inputs are up to 8 co-registered contrasts in :data:`radtriage.io.contrast.CONTRAST_ORDER` (T1, T1post, T2,
FLAIR, DWI, ADC, SWI, other) at the bundle's grid; a missing contrast is an all-zero channel and ``mask`` says
which are present (when ``mask`` is not given it is read from the input: a channel with any non-zero voxel is
present). In training mode the network applies **random contrast dropout** itself (like ``nn.Dropout``): each
present contrast is zeroed with ``contrast_dropout`` probability (at least one kept) and, with ``t2_only_prob``,
only T2 is kept, so any subset (T2-only included) works at inference. With ``output_requirements`` (per output,
the channels any one of which it needs — the bundle's ``radtriage.output_requirements``), an output whose
needed channels were all dropped passes no gradient for that sample: it is "not assessable" there at inference,
so the network is never taught to guess, e.g., an acute infarct from T2 when DWI and ADC are gone.

Registered for bundles as ``radtriage.nets.mri_triage.MriTriageNet``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from radtriage.models.networks import register_network

NETWORK_NAME = "radtriage.nets.mri_triage.MriTriageNet"
N_CONTRASTS = 8
T2_CHANNEL = 2
"""Index of T2 in ``CONTRAST_ORDER``."""


def availability_from_input(x: torch.Tensor) -> torch.Tensor:
    """``[B, C]`` float mask: 1 where a channel has any non-zero voxel (a present contrast), else 0."""
    return (x.detach().flatten(2).abs().amax(dim=2) > 0).to(x.dtype)


def drop_contrasts(
    x: torch.Tensor, mask: torch.Tensor, p: float, t2_only_prob: float, t2_channel: int = T2_CHANNEL
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random contrast dropout: zero each present channel with probability ``p`` (one always kept); with
    probability ``t2_only_prob`` keep only ``t2_channel`` (when present). Returns the new input and mask."""
    b, c = mask.shape
    keep = (torch.rand(b, c, device=x.device) >= p).to(mask.dtype) * mask
    empty = keep.sum(dim=1) == 0
    if empty.any():  # keep one random present channel where everything was dropped
        scores = torch.rand(b, c, device=x.device) * mask
        pick = torch.nn.functional.one_hot(scores.argmax(dim=1), c).to(mask.dtype)
        keep = torch.where(empty[:, None], pick, keep)
    if t2_only_prob > 0 and 0 <= t2_channel < c:
        only = (torch.rand(b, device=x.device) < t2_only_prob) & (mask[:, t2_channel] > 0)
        t2 = torch.zeros_like(mask)
        t2[:, t2_channel] = 1
        keep = torch.where(only[:, None], t2, keep)
    return x * keep.view(b, c, *([1] * (x.ndim - 2))), keep


class MriTriageNet(nn.Module):
    """Multi-contrast 3D triage classifier: ``forward(x [B, 8, D, H, W], mask [B, 8] | None) -> logits [B, 4]``."""

    def __init__(
        self,
        in_channels: int = N_CONTRASTS,
        out_channels: int = 4,
        spatial_dims: int = 3,
        channels: Sequence[int] = (16, 32, 48, 64),
        region_grid: int | Sequence[int] = 3,
        region_features: int = 16,
        hidden: int = 64,
        dropout: float = 0.2,
        contrast_dropout: float = 0.4,
        t2_only_prob: float = 0.1,
        norm: str = "INSTANCE",
        output_requirements: Sequence[Sequence[int]] | None = None,
        encoder: str = "residual",
    ) -> None:
        super().__init__()
        if spatial_dims != 3:
            raise ValueError(f"MriTriageNet is a 3D network, got spatial_dims={spatial_dims}")
        if len(channels) != 4:
            raise ValueError(f"channels needs 4 widths (stem, block 1, block 2, features), got {list(channels)}")
        grid = (region_grid,) * 3 if isinstance(region_grid, int) else tuple(int(g) for g in region_grid)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.contrast_dropout, self.t2_only_prob = float(contrast_dropout), float(t2_only_prob)
        if output_requirements is not None and len(output_requirements) != out_channels:
            raise ValueError(f"output_requirements needs one channel list per output ({out_channels}), "
                             f"got {len(output_requirements)}")
        needs = torch.zeros(out_channels, in_channels)
        for o, channels_needed in enumerate(output_requirements or ()):
            for c in channels_needed:
                if not 0 <= int(c) < in_channels:
                    raise ValueError(f"output_requirements[{o}] names channel {c}; channels are 0-{in_channels - 1}")
                needs[o, int(c)] = 1.0
        self.register_buffer("needs", needs, persistent=False)
        self.gate_unassessable = output_requirements is not None
        c0, c1, c2, c3 = (int(c) for c in channels)
        if encoder not in ("residual", "plain"):
            raise ValueError(f"encoder must be 'residual' or 'plain', got {encoder!r}")
        self.encoder_kind = encoder
        if encoder == "plain":
            blocks: list[nn.Module] = []
            for cin, cout in ((in_channels, c0), (c0, c1), (c1, c2)):
                blocks += [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2)]
            self.encoder = nn.Sequential(*blocks)
            self.features = nn.Sequential(nn.Conv3d(c2, c3, 3, padding=1), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(2 * c3 + in_channels, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, out_channels))
            return
        act = "PRELU"
        norm = (norm, {"affine": True}) if str(norm).upper() == "INSTANCE" else norm
        self.encoder = nn.Sequential(
            Convolution(3, in_channels, c0, strides=2, kernel_size=3, norm=norm, act=act),
            ResidualUnit(3, c0, c1, strides=2, kernel_size=3, subunits=2, norm=norm, act=act),
            ResidualUnit(3, c1, c2, strides=2, kernel_size=3, subunits=2, norm=norm, act=act),
        )
        self.features = Convolution(3, c2, c3, strides=1, kernel_size=3, norm=norm, act=act)
        self.avg_pool = nn.AdaptiveAvgPool3d(grid)
        self.max_pool = nn.AdaptiveMaxPool3d(grid)
        n_regions = grid[0] * grid[1] * grid[2]
        self.region_block = nn.Sequential(nn.Linear(2 * c3, region_features), nn.SiLU())
        self.region_embedding = nn.Parameter(torch.zeros(n_regions, region_features))
        self.head = nn.Sequential(
            nn.Linear(n_regions * region_features + in_channels, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_channels),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input [B, {self.in_channels}, D, H, W], got {tuple(x.shape)}")
        mask = availability_from_input(x) if mask is None else mask.to(device=x.device, dtype=x.dtype)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask must be [B, {self.in_channels}], got {tuple(mask.shape)}")
        x = x * mask.view(*mask.shape, 1, 1, 1)  # a channel marked missing never leaks in
        if self.training and (self.contrast_dropout > 0 or self.t2_only_prob > 0):
            x, mask = drop_contrasts(x, mask, self.contrast_dropout, self.t2_only_prob)
        f = self.features(self.encoder(x))
        if self.encoder_kind == "plain":
            pooled = torch.cat([f.amax(dim=(2, 3, 4)), f.mean(dim=(2, 3, 4)), mask], dim=1)
            return self._gate(self.head(pooled), mask)
        pooled = torch.cat([self.avg_pool(f), self.max_pool(f)], dim=1).flatten(2).transpose(1, 2)  # [B, R, 2F]
        regions = self.region_block(pooled) + self.region_embedding
        return self._gate(self.head(torch.cat([regions.flatten(1), mask], dim=1)), mask)

    def _gate(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """In training, no gradient for outputs whose needed contrasts are all missing (see the module doc)."""
        if self.training and self.gate_unassessable:
            has_any = self.needs.sum(dim=1) > 0
            assessable = ((mask @ self.needs.T) > 0) | ~has_any  # [B, outputs]
            logits = torch.where(assessable, logits, logits.detach())
        return logits


register_network(NETWORK_NAME, MriTriageNet)
