"""A small multi-contrast 3D brain MRI triage network with a contrast-availability mask.

Three encoders (``encoder``):

* ``"evidence"`` (bundles 0.2.0 and later): fully convolutional on the 3 mm grid — a stride-2 3x3x3 stem (6 mm), a 3x3x3
  convolution and 2x max-pool (12 mm), then 3x3x3 convolutions (the last, dilated, is the Grad-CAM layer) and a
  1x1x1 head that reads the features with the availability mask and writes one **evidence map** per output on
  the 12 mm grid (a logit per 12 mm cell: "this cell shows the finding"). An output's logit is the maximum of
  its map times a learned scale plus a bias (multiple-instance pooling), so the map is the model's own,
  probability-scaled heatmap. With ``evidence_labels`` (per output, the lesion-label values that count as
  that finding) :meth:`MriTriageNet.evidence_loss` supervises the maps with the phantoms' lesion masks (deep
  supervision: the reason this encoder learns on a CPU where the image-level label alone did not). With
  ``fine_features`` > 0 the head also reads a **fine path**: a 1x1x1 convolution + ReLU on the 3 mm input (per
  voxel, a learned mix of the co-registered contrasts, e.g. bright DWI with low ADC), max-pooled onto the map
  grid, so a lesion of one or two 3 mm voxels (a lacune, a small bleed) reaches its cell undiluted by the 6 mm
  stem (a 3x3x3 kernel there cost 4x the stem's compute). :meth:`MriTriageNet.adapt_init_state` widens a state
  dict of the same network without the fine path (the new head columns start at zero: the same outputs) for a
  warm start;

* ``"plain"``: 3x3x3 convolution + ReLU + 2x max-pool blocks, then a 3x3x3 feature convolution (the layer
  Grad-CAM reads), whose feature map is max- and average-pooled over the whole volume and fed with the
  availability mask to a small MLP. With the image label alone it did not learn at 3 mm on a 2-core CPU (the
  image-level signal of a small lesion is too weak); kept for comparison.
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
from radtriage.nets.losses import balanced_cell_bce

NETWORK_NAME = "radtriage.nets.mri_triage.MriTriageNet"
ENCODERS = ("evidence", "plain", "residual")
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
        evidence_labels: Sequence[Sequence[int]] | None = None,
        fine_features: int = 0,
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
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        if evidence_labels is not None and len(evidence_labels) != out_channels:
            raise ValueError(f"evidence_labels needs one label list per output ({out_channels}), "
                             f"got {len(evidence_labels)}")
        self.evidence_labels = [[int(v) for v in labels] for labels in (evidence_labels or ())]
        self.encoder_kind = encoder
        self.fine_features = int(fine_features)
        if self.fine_features < 0 or (self.fine_features and encoder != "evidence"):
            raise ValueError(f"fine_features must be >= 0 and needs the 'evidence' encoder, got {fine_features} "
                             f"with {encoder!r}")
        if encoder == "evidence":
            self.encoder = nn.Sequential(
                nn.Conv3d(in_channels, c0, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv3d(c0, c1, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
                nn.Conv3d(c1, c2, 3, padding=1), nn.ReLU(),
            )
            self.features = nn.Sequential(nn.Conv3d(c2, c3, 3, padding=2, dilation=2), nn.ReLU())
            if self.fine_features:
                self.fine = nn.Sequential(nn.Conv3d(in_channels, self.fine_features, 1), nn.ReLU())
            self.evidence_head = nn.Conv3d(c3 + in_channels + self.fine_features, out_channels, 1)
            self.pool_scale = nn.Parameter(torch.ones(out_channels))
            self.pool_bias = nn.Parameter(torch.zeros(out_channels))
            return
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
        x, mask = self._masked_input(x, mask)
        if self.encoder_kind == "evidence":
            return self._evidence_forward(x, mask)[0]
        f = self.features(self.encoder(x))
        if self.encoder_kind == "plain":
            pooled = torch.cat([f.amax(dim=(2, 3, 4)), f.mean(dim=(2, 3, 4)), mask], dim=1)
            return self._gate(self.head(pooled), mask)
        pooled = torch.cat([self.avg_pool(f), self.max_pool(f)], dim=1).flatten(2).transpose(1, 2)  # [B, R, 2F]
        regions = self.region_block(pooled) + self.region_embedding
        return self._gate(self.head(torch.cat([regions.flatten(1), mask], dim=1)), mask)

    def _masked_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked input with missing channels zeroed, and its mask; random contrast dropout in training."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input [B, {self.in_channels}, D, H, W], got {tuple(x.shape)}")
        mask = availability_from_input(x) if mask is None else mask.to(device=x.device, dtype=x.dtype)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask must be [B, {self.in_channels}], got {tuple(mask.shape)}")
        x = x * mask.view(*mask.shape, 1, 1, 1)  # a channel marked missing never leaks in
        if self.training and (self.contrast_dropout > 0 or self.t2_only_prob > 0):
            x, mask = drop_contrasts(x, mask, self.contrast_dropout, self.t2_only_prob)
        return x, mask

    @property
    def has_evidence_maps(self) -> bool:
        """True for the ``evidence`` encoder (:meth:`forward_with_evidence` works)."""
        return self.encoder_kind == "evidence"

    @property
    def writes_evidence(self) -> bool:
        """True when the maps can also be supervised densely (built with ``evidence_labels``)."""
        return self.has_evidence_maps and bool(self.evidence_labels)

    def forward_with_evidence(self, x: torch.Tensor, mask: torch.Tensor | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, O], evidence maps [B, O, d, h, w])`` of the ``"evidence"`` encoder (map cells: logits)."""
        if not self.has_evidence_maps:
            raise ValueError(f"the {self.encoder_kind!r} encoder has no evidence maps")
        return self._evidence_forward(*self._masked_input(x, mask))

    def _evidence_forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(self.encoder(x))
        m = mask.view(*mask.shape, 1, 1, 1).expand(-1, -1, *f.shape[2:])
        parts = [f, m]
        if self.fine_features:
            parts.append(nn.functional.adaptive_max_pool3d(self.fine(x), f.shape[2:]))
        maps = self._gate(self.evidence_head(torch.cat(parts, dim=1)), mask)
        logits = maps.flatten(2).amax(dim=2) * self.pool_scale + self.pool_bias
        return logits, maps

    def adapt_init_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` of this network built without the fine path, made loadable into this one: the fine path
        keeps its initialisation and the head's new input columns are zero, so the warm-started network gives
        the source's outputs until training moves them. Any other state is returned unchanged."""
        head = state.get("evidence_head.weight")
        own = self.state_dict()
        if not self.fine_features or head is None or "fine.0.weight" in state:
            return state
        if head.shape[1] + self.fine_features != own["evidence_head.weight"].shape[1]:
            return state  # a different network: let the shape check name the mismatch
        widened = torch.zeros_like(own["evidence_head.weight"])
        widened[:, : head.shape[1]] = head
        return {**state, "evidence_head.weight": widened,
                **{k: v.clone() for k, v in own.items() if k.startswith("fine.")}}

    def evidence_loss(self, maps: torch.Tensor, lesion: torch.Tensor) -> torch.Tensor:
        """Class-balanced BCE of the evidence ``maps`` against a lesion-label volume ``[B, 1, D, H, W]`` (any
        grid the input had): a map cell is positive where any voxel of it carries one of the output's
        ``evidence_labels``; positive and negative cells weigh half each, per output over the batch.

        (Tried and dropped: weighing each lesion case equally and adding the hottest negative cell per case —
        on the demo cohort it learned slower and reached validation mean AUC 0.78 after 36 epochs vs 0.93; and
        each lesion case's positive cells weighing equally, meant for small infarcts — best validation mean AUC
        0.90 vs 0.94, fresh-phantom infarct AUC 0.76 vs 0.90 and sensitivity 0.40 vs 0.75, small infarcts no better.)"""
        if not self.evidence_labels:
            raise ValueError("this network was built without evidence_labels: no evidence supervision")
        lesion = lesion.to(maps.device)
        if lesion.ndim == 4:
            lesion = lesion[:, None]
        terms = []
        for o, labels in enumerate(self.evidence_labels):
            hit = torch.isin(lesion.long(), torch.tensor(labels, device=maps.device)).to(maps.dtype)
            target = nn.functional.adaptive_max_pool3d(hit, maps.shape[2:])[:, 0]
            terms.append(balanced_cell_bce(maps[:, o], target))
        return torch.stack(terms).mean()

    def _gate(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """In training, no gradient for outputs whose needed contrasts are all missing (see the module doc);
        ``logits`` is ``[B, O]`` or ``[B, O, *map]``."""
        if self.training and self.gate_unassessable:
            has_any = self.needs.sum(dim=1) > 0
            assessable = ((mask @ self.needs.T) > 0) | ~has_any  # [B, outputs]
            assessable = assessable.view(*assessable.shape, *([1] * (logits.ndim - 2)))
            logits = torch.where(assessable, logits, logits.detach())
        return logits


register_network(NETWORK_NAME, MriTriageNet)
