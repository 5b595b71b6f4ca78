"""What the overlay panel says about the slice on screen: the body region of the current axial slice, the LGE
score of the current slice — read from the task's ``result.json`` outputs (pure: no MRML, no trame)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _nearest_by_plane(slices: Sequence[Mapping[str, Any]], origin: Sequence[float], normal: Sequence[float]) -> int:
    """Index into ``slices`` of the entry whose ``centre_ras`` is nearest the plane (origin, normal)."""
    centres = np.asarray([s["centre_ras"] for s in slices], dtype=float)
    n = np.asarray(normal, dtype=float)
    n = n / (np.linalg.norm(n) or 1.0)
    distances = np.abs((centres - np.asarray(origin, dtype=float)) @ n)
    return int(np.argmin(distances))


def _by_index(slices: Sequence[Mapping[str, Any]], k: int | None) -> Mapping[str, Any] | None:
    if k is None:
        return None
    for entry in slices:
        if int(entry.get("index", -1)) == k:
            return entry
    return None


def current_slice_info(
    task: str,
    outputs: Mapping[str, Any] | None,
    k: int | None,
    plane: tuple[Sequence[float], Sequence[float]] | None = None,
) -> dict[str, Any]:
    """``{"slice": k, "text": ..., ...}`` for the slice ``k`` of the reference volume on screen.

    body_region: the region of slice ``k`` and its confidence; lge_certainty: the LGE likelihood (0-100), the
    certainty and the reading of the stack slice nearest the viewed plane (``(origin, normal)`` in RAS; else
    slice ``k``). Other tasks, or no result: only the slice number.
    """
    info: dict[str, Any] = {"slice": k, "text": "" if k is None else f"slice {k}"}
    slices = list((outputs or {}).get("slices") or [])
    if not slices or (k is None and plane is None):
        return info
    if task == "body_region":
        entry = _by_index(slices, k)
        if entry is not None:
            info.update(region=entry["region"], confidence=float(entry.get("confidence", float("nan"))),
                        text=f"slice {k}: {entry['region']} (confidence {float(entry.get('confidence', 0)):.2f})")
    elif task == "lge_certainty":
        if plane is not None and all("centre_ras" in s for s in slices):
            entry = slices[_nearest_by_plane(slices, plane[0], plane[1])]
        else:
            entry = _by_index(slices, k)
        if entry is not None:
            info.update(lge_slice=int(entry["index"]), likelihood=float(entry["likelihood"]),
                        certainty=entry.get("certainty"), reading=entry.get("reading"),
                        text=f"LGE slice {int(entry['index']) + 1}: likelihood {float(entry['likelihood']):.0f}/100, "
                             f"{entry.get('certainty', '?')} certainty ({entry.get('reading', '?')})")
    return info
