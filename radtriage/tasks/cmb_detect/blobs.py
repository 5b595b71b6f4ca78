"""Radius of a dark focus from its thresholded blob (partial-volume weighted), on the working grid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blob_radius_mm(magnitude: np.ndarray, voxel: np.ndarray | tuple[int, int, int], spacing_mm: float,
                   half_width: int = 7) -> float:
    """Apparent radius (mm) of the dark focus at ``voxel`` ([k, j, i]) in a normalised magnitude.

    Background = median of the local box; the blob is the connected region darker than halfway between the
    focus minimum and the background (dilated by one voxel); each voxel counts with its partial-volume weight
    ``(background - value) / (background - minimum)`` clipped to 0..1; radius of the sphere of that volume.
    """
    v = np.asarray(voxel, dtype=int)
    lo = np.maximum(v - half_width, 0)
    hi = np.minimum(v + half_width + 1, magnitude.shape)
    box = np.asarray(magnitude[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=float)
    c = tuple(v - lo)
    near = box[tuple(slice(max(x - 1, 0), x + 2) for x in c)]
    vmin = float(near.min())
    bg = float(np.median(box))
    if not bg - vmin > 1e-6:
        return 0.0
    dark = box < (bg + vmin) / 2
    labels, _ = ndimage.label(dark)
    centre_labels = labels[tuple(slice(max(x - 1, 0), x + 2) for x in c)]
    ids = np.unique(centre_labels[centre_labels > 0])
    if not ids.size:
        return 0.0
    region = ndimage.binary_dilation(np.isin(labels, ids))
    weight = np.clip((bg - box) / (bg - vmin), 0.0, 1.0) * region
    volume = float(weight.sum()) * spacing_mm**3
    return float((3.0 * volume / (4.0 * np.pi)) ** (1.0 / 3.0))
