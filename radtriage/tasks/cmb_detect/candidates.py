"""Stage 1: dense candidate heatmap with MONAI's sliding-window inferer, and peak extraction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peaks:
    """Local maxima of a heatmap: sub-voxel (i, j, k) positions, integer [k, j, i] voxels and heatmap values."""

    ijk: np.ndarray  # (N, 3) float
    voxels: np.ndarray  # (N, 3) int, [k, j, i]
    scores: np.ndarray  # (N,) float

    def __len__(self) -> int:
        return int(self.scores.size)


def candidate_heatmap(
    network: Any,
    volume: np.ndarray,
    device: Any = "cpu",
    roi_size: Sequence[int] = (64, 64, 64),
    overlap: float = 0.25,
    sw_batch_size: int = 1,
) -> np.ndarray:
    """Probability map ``[k, j, i]`` of ``network.heatmap`` (sigmoid) over ``volume`` (``[C, k, j, i]``).

    Runs ``monai.inferers.SlidingWindowInferer`` (Gaussian blending, replicate padding) so any volume size fits
    in memory; each window is padded by the network's margin, so windows overlap by ``overlap`` to hide seams.
    """
    import torch
    from monai.inferers import SlidingWindowInferer

    from radtriage.runtime.device import inference_mode

    roi = tuple(int(min(r, s)) for r, s in zip(roi_size, volume.shape[1:], strict=True))
    inferer = SlidingWindowInferer(
        roi_size=roi, sw_batch_size=sw_batch_size, overlap=overlap, mode="gaussian", padding_mode="replicate",
        progress=False,
    )
    x = torch.from_numpy(np.ascontiguousarray(volume[None], dtype=np.float32)).to(device)
    with inference_mode(device, amp=False):
        logits = inferer(x, network.heatmap)
    return torch.sigmoid(logits.float())[0, 0].cpu().numpy()


def extract_peaks(
    heatmap: np.ndarray,
    threshold: float = 0.5,
    min_distance: int = 2,
    max_peaks: int = 300,
    mask: np.ndarray | None = None,
) -> Peaks:
    """Local maxima of ``heatmap`` (``[k, j, i]``) at or above ``threshold``, at least ``min_distance`` voxels
    apart (a maximum filter of size ``2 * min_distance + 1``; plateaus keep one voxel), strongest first, at most
    ``max_peaks``. Positions are refined to the heatmap-weighted centroid of the 3x3x3 neighbourhood."""
    h = np.asarray(heatmap, dtype=np.float32)
    if h.ndim != 3:
        raise ValueError(f"heatmap must be 3D [k, j, i], got shape {h.shape}")
    size = 2 * max(0, int(min_distance)) + 1
    is_max = (h == ndimage.maximum_filter(h, size=size, mode="nearest")) & (h >= threshold)
    if mask is not None:
        is_max &= np.asarray(mask, dtype=bool)
    voxels = np.argwhere(is_max)
    scores = h[tuple(voxels.T)] if len(voxels) else np.zeros(0, dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    voxels, scores = voxels[order], scores[order]
    # one voxel per plateau: drop any peak within min_distance (Chebyshev) of a stronger kept one
    keep: list[int] = []
    for n, v in enumerate(voxels):
        if len(keep) >= max_peaks:
            break
        if keep and np.any(np.max(np.abs(voxels[keep] - v), axis=1) <= max(0, int(min_distance))):
            continue
        keep.append(n)
    voxels, scores = voxels[keep].reshape(-1, 3), scores[keep]
    return Peaks(_refine(h, voxels), voxels.astype(int), scores.astype(float))


def _refine(h: np.ndarray, voxels: np.ndarray) -> np.ndarray:
    """Heatmap-weighted centroid in each peak's 3x3x3 neighbourhood, as (i, j, k)."""
    out = np.zeros((len(voxels), 3), dtype=float)
    offsets = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    upper = np.asarray(h.shape) - 1
    for n, v in enumerate(voxels):
        nb = np.clip(v + offsets, 0, upper)
        w = h[tuple(nb.T)].astype(float)
        w = np.clip(w - w.min(), 0, None)
        kji = (nb * w[:, None]).sum(0) / w.sum() if w.sum() > 0 else v.astype(float)
        out[n] = kji[::-1]
    return out
