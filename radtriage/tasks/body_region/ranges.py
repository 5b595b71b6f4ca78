"""Per-volume region ranges (slice indices and millimetres) and per-slice rows from smoothed labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from radtriage.labelsets import LabelSet
from radtriage.tasks.body_region.slices import SliceGeometry


def region_ranges(
    labels: np.ndarray, confidence: np.ndarray, geometry: SliceGeometry, labelset: LabelSet
) -> list[dict[str, Any]]:
    """Contiguous runs of one region, ordered head to feet.

    Each range gives the region (name, display name, index, SNOMED code), its native slice indices
    (``first_index``/``last_index`` in head-to-feet order and ``index_range`` [min, max]), ``n_slices``,
    the LPS z of its most superior and most inferior slice centres, ``z_range_mm`` [bottom edge, top
    edge] including half a slice, ``position_range_mm`` along the slice normal [min, max] (slice
    centres), its length in mm along z and its mean smoothed confidence.
    """
    labels = np.asarray(labels)
    if labels.shape != (geometry.n_slices,):
        raise ValueError(f"need one label per slice ({geometry.n_slices}), got shape {labels.shape}")
    order = geometry.head_to_feet()
    seq = labels[order]
    cuts = np.flatnonzero(np.diff(seq)) + 1
    runs = np.split(np.arange(len(seq)), cuts)
    z, pos, half = geometry.z_mm, geometry.position_mm, geometry.half_thickness_z
    out: list[dict[str, Any]] = []
    for run in runs:
        if run.size == 0:
            continue
        idx = order[run]
        cls = labelset[int(seq[run[0]])]
        top, bottom = float(np.max(z[idx])), float(np.min(z[idx]))
        out.append(
            {
                "region": cls.name,
                "display_name": cls.display_name,
                "class_index": cls.index,
                "snomed_code": cls.snomed_code,
                "first_index": int(idx[0]),
                "last_index": int(idx[-1]),
                "index_range": [int(idx.min()), int(idx.max())],
                "n_slices": int(idx.size),
                "superior_z_mm": top,
                "inferior_z_mm": bottom,
                "z_range_mm": [bottom - half, top + half],
                "length_mm": top - bottom + 2 * half,
                "position_range_mm": [float(np.min(pos[idx])), float(np.max(pos[idx]))],
                "mean_confidence": float(np.mean(np.asarray(confidence)[idx])),
            }
        )
    return out


def slice_rows(
    labels: np.ndarray,
    confidence: np.ndarray,
    raw_labels: np.ndarray,
    raw_confidence: np.ndarray,
    geometry: SliceGeometry,
    labelset: LabelSet,
) -> list[dict[str, Any]]:
    """One row per native slice (index order): smoothed region + confidence, raw argmax + probability, z."""
    names = labelset.names
    z, pos = geometry.z_mm, geometry.position_mm
    return [
        {
            "index": k,
            "region": names[int(labels[k])],
            "confidence": float(confidence[k]),
            "raw_region": names[int(raw_labels[k])],
            "raw_probability": float(raw_confidence[k]),
            "z_mm": float(z[k]),
            "position_mm": float(pos[k]),
        }
        for k in range(geometry.n_slices)
    ]
