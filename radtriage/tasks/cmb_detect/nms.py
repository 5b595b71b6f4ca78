"""Merging of detections that are closer than a radius (greedy non-maximum suppression by score)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def merge_close(
    points_mm: np.ndarray | Sequence[Sequence[float]],
    scores: Sequence[float] | np.ndarray,
    merge_mm: float,
    radii_mm: Sequence[float] | np.ndarray | None = None,
) -> tuple[list[int], list[list[int]]]:
    """Greedy NMS in physical space: strongest first, a point is merged into a kept one when it lies within
    ``max(merge_mm, kept radius)``. Returns the kept indices (strongest first) and, for each, the indices it
    absorbed (itself first)."""
    pts = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if len(pts) != len(s):
        raise ValueError(f"{len(pts)} points but {len(s)} scores")
    r = np.zeros(len(pts)) if radii_mm is None else np.asarray(radii_mm, dtype=float).reshape(-1)
    order = np.argsort(-s, kind="stable")
    taken = np.zeros(len(pts), dtype=bool)
    keep: list[int] = []
    groups: list[list[int]] = []
    for i in order:
        if taken[i]:
            continue
        reach = max(float(merge_mm), float(r[i]))
        near = np.flatnonzero(~taken & (np.linalg.norm(pts - pts[i], axis=1) <= reach))
        taken[near] = True
        keep.append(int(i))
        groups.append([int(i), *[int(j) for j in near if j != i]])
    return keep, groups
