"""Phase images: recognise their units (radians, milliradians, a scanner's integer range) and convert to radians.

Scanners store phase as integers: Siemens 0..4095 with RescaleSlope 2 / RescaleIntercept -4096 (so -4096..4094
after rescale), others 0..4095 or -2048..2047; that full range is one turn (2 pi). Philips may store
milliradians (-3142..3142). The range is read from the DICOM rescale and BitsStored when present, else from the
values: an integer-valued phase whose range fills most of a power of two is taken as that scanner range. A phase
whose units cannot be told, that is constant, has no finite values or is not on the magnitude's grid is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.validation.content import _sample, source_of

RADIAN_LIMIT = 4.0 * math.pi * 1.02
"""Largest |1st or 99th percentile| still read as radians (background-removed phase stays well inside 4 pi)."""
UNWRAPPED_RADIAN_LIMIT = 32.0 * math.pi
"""Largest |1st or 99th percentile| of a float phase still read as unwrapped radians (its middle half within pi)."""
MILLIRADIAN_RANGE = (1000.0 * math.pi * 0.97, 1000.0 * math.pi * 1.03)
FULL_RANGE_FRACTION = 0.75
"""An integer phase must span at least this fraction of its power-of-two range to be read as scanner units."""
GRID_TOLERANCE_MM = 1e-2


@dataclass(frozen=True)
class PhaseUnits:
    """How to turn stored phase values into radians: ``(value - centre) * scale``; ``note`` for the notice."""

    kind: str
    """``radians``, ``milliradians`` or ``scanner``."""
    centre: float
    scale: float
    note: str

    def to_radians(self, arr: np.ndarray) -> np.ndarray:
        """The phase in radians (float32)."""
        if self.kind == "radians":
            return np.asarray(arr, dtype=np.float32)
        return ((np.asarray(arr, dtype=np.float64) - self.centre) * self.scale).astype(np.float32)


def _dicom_range(image: Image) -> tuple[float, float] | None:
    """The value range (after rescale) that the stored bits can hold, from the DICOM header, or None."""
    rescale = image.metadata.get("dicom_rescale") or {}
    bits = rescale.get("bits_stored")
    if not bits:
        return None
    slope, intercept = float(rescale.get("slope", 1.0)), float(rescale.get("intercept", 0.0))
    signed = bool(rescale.get("pixel_representation", 0))
    lo_stored = -(2 ** (int(bits) - 1)) if signed else 0
    lo = intercept + slope * lo_stored
    return lo, lo + slope * 2 ** int(bits)


def _unwrapped_radians(sample: np.ndarray) -> bool:
    """Float phase whose middle half lies within +-pi around zero and whose bulk stays within +-32 pi: unwrapped,
    background-removed radians with strong local sources (veins, bleeds), as the SWI phantoms make."""
    q25, q75, p1, p99 = np.percentile(sample, [25.0, 75.0, 1.0, 99.0])
    return max(abs(q25), abs(q75)) <= math.pi * 1.02 and max(abs(p1), abs(p99)) <= UNWRAPPED_RADIAN_LIMIT


def phase_units(image: Image, key: str = "phase") -> PhaseUnits:
    """The units of a phase image; raises :class:`InputError` when they cannot be told."""
    where = source_of(image, key)
    arr = np.asarray(image.array)
    sample = _sample(arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr)
    if sample.size == 0:
        raise InputError(where, "the phase image has no finite voxel values; give a usable phase series or run "
                                "without phase")
    lo, hi = float(sample.min()), float(sample.max())
    if lo == hi:
        raise InputError(where, f"the phase image is constant ({lo:g}); give a usable phase series or run without "
                                "phase")
    integer = arr.dtype.kind in "biu" or bool(np.all(sample == np.round(sample)))
    top = max(abs(lo), abs(hi))
    bulk = float(np.max(np.abs(np.percentile(sample, [1.0, 99.0]))))  # unwrapped phase may spike near air/bone
    if bulk <= RADIAN_LIMIT or (not integer and _unwrapped_radians(sample)):
        if integer and len(np.unique(sample)) < 32:
            raise InputError(where, f"phase units not recognised: only integer values {lo:g}..{hi:g}; give the "
                                    "phase in radians")
        return PhaseUnits("radians", 0.0, 1.0, "")
    if integer and lo < 0 and MILLIRADIAN_RANGE[0] <= top <= MILLIRADIAN_RANGE[1]:
        return PhaseUnits("milliradians", 0.0, 1e-3, f"phase converted from milliradians (values {lo:g}..{hi:g}) "
                                                     "to radians")
    full = _dicom_range(image)
    source = "DICOM rescale and BitsStored"
    if full is None and integer:
        bits = max(1, math.ceil(math.log2(hi - lo + 1)))
        span = 2.0**bits
        if hi - lo + 1 >= FULL_RANGE_FRACTION * span:
            start = -span / 2 if lo < 0 else 0.0
            full, source = (start, start + span), "the integer value range"
    if full is not None and full[0] - 1 <= lo and hi <= full[1] + 1:
        centre = (full[0] + full[1]) / 2.0
        return PhaseUnits("scanner", centre, 2.0 * math.pi / (full[1] - full[0]),
                          f"phase converted from scanner units (values {lo:g}..{hi:g}; {full[0]:g}..{full[1]:g} "
                          f"= one turn, from {source}) to radians")
    raise InputError(where, f"phase units not recognised: values {lo:g}..{hi:g} are neither radians (mostly within "
                            "+-4 pi), milliradians nor a scanner's integer range; give the phase in radians")


def check_phase(phase: Image, magnitude: Image, key: str = "phase") -> PhaseUnits:
    """Refuse an unusable phase (no finite values, constant, unknown units, off the magnitude's grid)."""
    units = phase_units(phase, key)
    if phase.size != magnitude.size or not (
        np.allclose(phase.spacing, magnitude.spacing, atol=GRID_TOLERANCE_MM)
        and np.allclose(phase.origin, magnitude.origin, atol=GRID_TOLERANCE_MM)
        and np.allclose(phase.direction, magnitude.direction, atol=1e-4)
    ):
        raise InputError(source_of(phase, key),
                         f"the phase image (size {phase.size}, spacing {tuple(round(s, 3) for s in phase.spacing)}) is "
                         f"not on the magnitude's grid (size {magnitude.size}, spacing "
                         f"{tuple(round(s, 3) for s in magnitude.spacing)}); give the phase of the same acquisition")
    return units


def phase_in_radians(phase: Image, key: str = "phase") -> tuple[Image, str]:
    """The phase converted to radians (float32, NaN/Inf set to 0) and the conversion notice ('' if none)."""
    if phase.metadata.get("phase_units") == "radians":
        return phase, ""
    units = phase_units(phase, key)
    arr = np.asarray(phase.array)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    out = phase.with_array(units.to_radians(arr), phase_units="radians", phase_units_source=units.kind)
    return out, units.note
