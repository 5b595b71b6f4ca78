"""Reformat a 3D LGE volume (e.g. an axial 3D acquisition) to a short-axis (SAX) stack along the LV long axis.

The long axis runs from the **base** (mitral-valve centre) to the **apex**. The SAX grid uses the same
convention as the cardiac phantom (:data:`radtriage.phantoms.SAX_DIRECTION`): ``k`` from base to apex, ``j``
the projection of "towards the feet" onto the SAX plane (anterior -> inferior wall), ``i = k x j`` (septum ->
lateral wall; the frame is left-handed so that slices display as seen from the apex, the usual SAX view).
Every slice is centred on the long axis: voxel ``((ni-1)/2, (nj-1)/2, k)`` lies on the axis for every ``k``.

Without user points, :func:`estimate_long_axis` gives a *rough default*: the population-typical LV orientation
(base -> apex pointing left, anterior and inferior: LPS ``(0.55, -0.45, -0.70)``, about 45 degrees from every
patient axis) through the volume centre (or a given centre). It is not fitted to the patient's anatomy and can
be tens of degrees and centimetres off; results made with it say so and should be checked by placing the axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radtriage.image import Image, lps_to_ras_points
from radtriage.preprocess import GridSpec, resample

TYPICAL_LONG_AXIS_LPS = np.array([0.55, -0.45, -0.70]) / np.linalg.norm([0.55, -0.45, -0.70])
"""Population-typical LV long-axis direction (base -> apex) in LPS; the phantom uses the same."""
TYPICAL_LV_LENGTH_MM = 85.0
ESTIMATE_NOTE = (
    "long axis estimated: population-typical LV orientation through the volume centre, not fitted to this "
    "patient; place apex and mitral-valve centre points for a true short-axis reformat"
)
_FEET_LPS = np.array([0.0, 0.0, -1.0])


@dataclass(frozen=True)
class LongAxis:
    """The LV long axis: ``base`` (mitral-valve centre) and ``apex`` in LPS mm, and where it came from."""

    base_lps: tuple[float, float, float]
    apex_lps: tuple[float, float, float]
    source: str = "user"
    note: str = ""

    def __post_init__(self) -> None:
        base, apex = np.asarray(self.base_lps, float), np.asarray(self.apex_lps, float)
        if base.shape != (3,) or apex.shape != (3,) or not (np.isfinite(base).all() and np.isfinite(apex).all()):
            raise ValueError("apex and base must be three finite coordinates each")
        if np.linalg.norm(apex - base) < 1.0:
            raise ValueError("apex and base points must be at least 1 mm apart")
        object.__setattr__(self, "base_lps", tuple(float(v) for v in base))
        object.__setattr__(self, "apex_lps", tuple(float(v) for v in apex))

    @classmethod
    def from_points(
        cls,
        apex: Sequence[float],
        base: Sequence[float],
        coordinates: str = "LPS",
        source: str = "user",
        note: str = "",
    ) -> LongAxis:
        """Build from an apex and a mitral-valve-centre point given in ``"LPS"`` or ``"RAS"`` mm."""
        system = coordinates.upper()
        if system not in ("LPS", "RAS"):
            raise ValueError(f"coordinates must be 'LPS' or 'RAS', got {coordinates!r}")
        pts = np.array([apex, base], dtype=float).reshape(2, 3)
        if system == "RAS":
            pts = lps_to_ras_points(pts)  # the same sign flip converts RAS to LPS
        return cls(tuple(pts[1]), tuple(pts[0]), source, note)

    @property
    def unit(self) -> np.ndarray:
        """Unit vector from base to apex (LPS)."""
        d = np.subtract(self.apex_lps, self.base_lps)
        return d / np.linalg.norm(d)

    @property
    def length(self) -> float:
        """Base-apex distance in mm."""
        return float(np.linalg.norm(np.subtract(self.apex_lps, self.base_lps)))

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (LPS and RAS points)."""
        ras = lps_to_ras_points(np.array([self.base_lps, self.apex_lps]))
        return {
            "base_lps": list(self.base_lps),
            "apex_lps": list(self.apex_lps),
            "base_ras": ras[0].tolist(),
            "apex_ras": ras[1].tolist(),
            "length_mm": self.length,
            "source": self.source,
            "note": self.note,
        }


def sax_direction(long_axis: Sequence[float]) -> np.ndarray:
    """The SAX grid direction (columns i, j, k in LPS) for a base -> apex direction; see the module docstring."""
    k = np.asarray(long_axis, dtype=float)
    k = k / np.linalg.norm(k)
    down = _FEET_LPS if abs(float(_FEET_LPS @ k)) < 0.99 else np.array([0.0, 1.0, 0.0])  # axis along S-I: use P
    j = down - (down @ k) * k
    j /= np.linalg.norm(j)
    i = np.cross(k, j)
    return np.column_stack([i, j, k])


def volume_centre_lps(image: Image) -> np.ndarray:
    """The physical centre of the image grid in LPS."""
    centre = (np.array(image.size, dtype=float) - 1.0) / 2.0
    return image.index_to_lps(centre)[0]


def estimate_long_axis(
    image: Image, centre_lps: Sequence[float] | None = None, length_mm: float = TYPICAL_LV_LENGTH_MM
) -> LongAxis:
    """A rough default long axis: the typical LV orientation through ``centre_lps`` (default: volume centre).

    The base and apex are ``length_mm / 2`` either side of the centre. See the module docstring for how poor
    this can be; the result's ``source`` is ``"estimated"`` and its ``note`` says so.
    """
    c = volume_centre_lps(image) if centre_lps is None else np.asarray(centre_lps, dtype=float)
    half = 0.5 * float(length_mm) * TYPICAL_LONG_AXIS_LPS
    return LongAxis(tuple(c - half), tuple(c + half), "estimated", ESTIMATE_NOTE)


def short_axis_grid(
    axis: LongAxis, fov_mm: float = 180.0, pixel_mm: float = 1.0, slice_spacing_mm: float = 8.0, margin_mm: float = 0.0
) -> GridSpec:
    """A SAX grid whose slices (``slice_spacing_mm`` apart, first at base - margin, last at or before apex +
    margin) are ``fov_mm`` square at ``pixel_mm`` and centred on the long axis."""
    if fov_mm <= 0 or pixel_mm <= 0 or slice_spacing_mm <= 0 or margin_mm < 0:
        raise ValueError("fov_mm, pixel_mm and slice_spacing_mm must be positive and margin_mm >= 0")
    n_in = max(1, round(fov_mm / pixel_mm))
    n_k = math.floor((axis.length + 2 * margin_mm) / slice_spacing_mm + 1e-9) + 1
    direction = sax_direction(axis.unit)
    half = (n_in - 1) / 2.0 * pixel_mm
    start = np.asarray(axis.base_lps) - margin_mm * axis.unit
    origin = start - half * direction[:, 0] - half * direction[:, 1]
    return GridSpec((n_in, n_in, n_k), (pixel_mm, pixel_mm, slice_spacing_mm), tuple(origin), direction)


def reformat_to_short_axis(
    image: Image,
    axis: LongAxis,
    *,
    fov_mm: float = 180.0,
    pixel_mm: float = 1.0,
    slice_spacing_mm: float = 8.0,
    margin_mm: float = 0.0,
) -> Image:
    """Resample ``image`` (linear interpolation, 0 outside) onto :func:`short_axis_grid`; metadata records the axis."""
    if image.n_components != 1:
        raise ValueError("reformat needs a scalar image")
    grid = short_axis_grid(axis, fov_mm, pixel_mm, slice_spacing_mm, margin_mm)
    out = resample(image.with_array(image.array.astype(np.float32, copy=False)), grid, interpolator="linear")
    out.metadata = {**image.metadata, "reformat": "short-axis", "long_axis": axis.to_dict()}
    return out


def is_short_axis_like(image: Image, tolerance_deg: float = 20.0) -> bool:
    """Heuristic: a stack whose slice normal is more than ``tolerance_deg`` from every patient axis (an
    oblique plane, as SAX planes are) — axial, coronal and sagittal acquisitions are not SAX."""
    normal = image.direction[:, 2] / np.linalg.norm(image.direction[:, 2])
    closest = float(np.degrees(np.arccos(np.clip(np.max(np.abs(normal)), -1.0, 1.0))))
    return closest > tolerance_deg
