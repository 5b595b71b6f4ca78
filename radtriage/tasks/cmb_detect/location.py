"""Rule-based location class of a microbleed (lobar / deep / infratentorial, as in MARS) in a head frame.

Head frame (documented, approximate): the patient LPS axes are taken as the head's axes (a standard axial,
coronal or sagittal acquisition with the head upright, tilt under ~15 degrees); its origin is the vertex
(top of the head foreground) in z and the middle of the head foreground's left-right and anterior-posterior
extent (measured over the top 100 mm) in x and y. The frame exists only when the whole cranium is in the
field of view: the head foreground does not touch the grid's superior, left/right or anterior/posterior
borders and measures 110-210 mm left-right and 130-250 mm anterior-posterior; otherwise every location is
``"unknown"`` (e.g. a small patch, a neck or spine scan).

Rules in that frame (mm; ``depth`` below the vertex, ``dx`` from the midline, ``dy`` posterior of the centre):

* ``infratentorial``: posterior fossa (``depth > 85`` and ``dy > 5``) or brainstem (``depth > 75``,
  ``|dx| < 15`` and ``-10 < dy < 30``) or anything deeper than 110 mm;
* ``deep``: basal ganglia, thalami, internal/external capsule, corpus callosum and deep periventricular white
  matter: ``40 < depth <= 80``, ``|dx| < 30``, ``-30 < dy < 25``;
* ``lobar``: everything else (cortex, grey-white junction, subcortical white matter).

Limits: no atlas or registration — typical adult proportions only, so errors of 10-15 mm near the class
borders (temporal lobe vs posterior fossa, insula vs external capsule) are expected; atrophy, large lesions,
children or a tilted head move the boundaries. Treat the class as a reading aid, not a parcellation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)

LOCATION_CLASSES = ("lobar", "deep", "infratentorial", "unknown")
FRAME_NAME = "vertex-centred patient-axis head frame (LPS axes assumed head-aligned)"


@dataclass(frozen=True)
class HeadFrame:
    """Origin of the head frame in LPS mm: (midline x, AP-centre y, vertex z)."""

    midline_x: float
    centre_y: float
    vertex_z: float
    extent_lr_mm: float
    extent_ap_mm: float

    def to_dict(self) -> dict[str, float | str]:
        """Plain JSON (LPS mm)."""
        return {"name": FRAME_NAME, "midline_x_lps": self.midline_x, "centre_y_lps": self.centre_y,
                "vertex_z_lps": self.vertex_z, "extent_lr_mm": self.extent_lr_mm,
                "extent_ap_mm": self.extent_ap_mm}


def estimate_head_frame(magnitude: np.ndarray, grid: object, level: float = 0.3) -> tuple[HeadFrame | None, str]:
    """The head frame from a normalised magnitude on ``grid`` (a GridSpec), or ``(None, why not)``."""
    mask = np.asarray(magnitude) > level
    if not mask.any():
        return None, "no head foreground"
    mask = ndimage.binary_opening(mask, iterations=1)
    labels, n = ndimage.label(mask)
    if n == 0:
        return None, "no head foreground"
    sizes = ndimage.sum(mask, labels, index=range(1, n + 1))
    mask = labels == (int(np.argmax(sizes)) + 1)
    kji = np.argwhere(mask)
    step = max(1, len(kji) // 200_000)
    lps = grid.index_to_lps(kji[::step, ::-1].astype(float))  # type: ignore[attr-defined]
    corners = grid.corners_lps()  # type: ignore[attr-defined]
    lo, hi = corners.min(0), corners.max(0)
    top = float(lps[:, 2].max())
    upper = lps[lps[:, 2] > top - 100.0]
    mn, mx = upper.min(0), upper.max(0)
    tol = 2.0
    if top > hi[2] - tol:
        return None, "the head reaches the top of the field of view (vertex not imaged)"
    if mn[0] < lo[0] + tol or mx[0] > hi[0] - tol or mn[1] < lo[1] + tol or mx[1] > hi[1] - tol:
        return None, "the head foreground touches the field of view's sides (not a whole-head scan)"
    lr, ap = float(mx[0] - mn[0]), float(mx[1] - mn[1])
    if not (110.0 <= lr <= 210.0 and 130.0 <= ap <= 250.0):
        return None, f"foreground {lr:.0f} x {ap:.0f} mm (LR x AP) is not head-sized"
    return HeadFrame(float((mn[0] + mx[0]) / 2), float((mn[1] + mx[1]) / 2), top, lr, ap), ""


def location_class(point_lps: np.ndarray | tuple[float, float, float], frame: HeadFrame | None) -> str:
    """``lobar`` / ``deep`` / ``infratentorial`` for an LPS point by the rules above; ``unknown`` without frame."""
    if frame is None:
        return "unknown"
    x, y, z = (float(v) for v in point_lps)
    dx, dy, depth = x - frame.midline_x, y - frame.centre_y, frame.vertex_z - z
    if depth > 110 or (depth > 85 and dy > 5) or (depth > 75 and abs(dx) < 15 and -10 < dy < 30):
        return "infratentorial"
    if 40 < depth <= 80 and abs(dx) < 30 and -30 < dy < 25:
        return "deep"
    return "lobar"


def count_by_location(locations: list[str]) -> list[dict[str, int | str]]:
    """Rows ``{"location": class, "count": n}`` for every class (zeros included) plus a ``total`` row."""
    rows: list[dict[str, int | str]] = [{"location": c, "count": locations.count(c)} for c in LOCATION_CLASSES]
    rows.append({"location": "total", "count": len(locations)})
    return rows
