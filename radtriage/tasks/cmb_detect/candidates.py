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
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Probability map ``[k, j, i]`` of the network's dense output (sigmoid) over ``volume`` (``[C, k, j, i]``).

    A network with valid convolutions (``valid`` and ``margin``, like :class:`radtriage.nets.cmb.CmbCandidateNet`)
    is run tile by tile on the volume replicate-padded once by its margin: tiles of ``roi_size`` read a halo of
    ``margin`` voxels and do not overlap, so the stitched map equals the whole-volume dense output exactly (no
    seams, no blending, no overlap cost; ``overlap`` is not used). Tiles with no ``mask`` voxel within ``margin``
    of them are skipped (their probability stays 0). Any other network (only ``heatmap``) runs through MONAI's
    ``SlidingWindowInferer`` (Gaussian blending, ``overlap``).
    """
    if hasattr(network, "valid") and hasattr(network, "margin"):
        return _tiled_valid_heatmap(network, volume, device, roi_size, mask)
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
    out = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
    if mask is not None:
        out[~np.asarray(mask, dtype=bool)] = 0.0
    return out


def _tiled_valid_heatmap(
    network: Any, volume: np.ndarray, device: Any, roi_size: Sequence[int], mask: np.ndarray | None
) -> np.ndarray:
    import torch
    from torch.nn import functional

    from radtriage.runtime.device import inference_mode

    m = int(network.margin)
    shape = volume.shape[1:]
    x = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))
    padded = functional.pad(x[None], (m, m, m, m, m, m), mode="replicate")[0]
    out = np.zeros(shape, dtype=np.float32)
    roi = [max(1, int(r)) for r in roi_size]
    starts = [range(0, n, r) for n, r in zip(shape, roi, strict=True)]
    n_run = n_skip = 0
    with inference_mode(device, amp=False):
        for a in starts[0]:
            for b in starts[1]:
                for c in starts[2]:
                    core = (slice(a, min(a + roi[0], shape[0])), slice(b, min(b + roi[1], shape[1])),
                            slice(c, min(c + roi[2], shape[2])))
                    near = tuple(slice(max(0, sl.start - m), sl.stop + m) for sl in core)
                    if mask is not None and not mask[near].any():
                        n_skip += 1
                        continue
                    win = padded[:, core[0].start : core[0].stop + 2 * m, core[1].start : core[1].stop + 2 * m,
                                 core[2].start : core[2].stop + 2 * m]
                    logits = network.valid(win[None].to(device))
                    out[core] = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
                    n_run += 1
    log.debug("candidate heatmap: %d tile(s) run, %d empty tile(s) skipped", n_run, n_skip)
    return out


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
