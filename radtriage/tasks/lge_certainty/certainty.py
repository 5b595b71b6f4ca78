"""Certainty banding of a 0-100 LGE likelihood: high certainty (clearly LGE / clearly no LGE) vs low certainty.

Rule (the same as :func:`radtriage.evaluation.certainty_classes`, so model and reader classes compare directly):
with the band ``(lo, hi)``, a likelihood ``L`` is **low certainty** ("uncertain") when ``lo <= L <= hi`` — both
edges are *inclusive* — and high certainty otherwise: "negative" when ``L < lo``, "positive" when ``L > hi``.
The default band is (30, 70); a bundle sets its own in ``radtriage.certainty_band`` and a caller may override it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from radtriage.labelsets import LGE_DEFAULT_CERTAINTY_BAND as DEFAULT_CERTAINTY_BAND

BAND_RULE = "low certainty when lo <= likelihood <= hi (both edges inclusive); negative < lo; positive > hi"
LOW_CERTAINTY_HINT = "consider repeat / extra view"
"""What a reader is told for a low-certainty slice."""


@dataclass(frozen=True)
class CertaintyBand:
    """The low-certainty band ``[lo, hi]`` on the 0-100 likelihood scale (edges inclusive)."""

    lo: float = DEFAULT_CERTAINTY_BAND[0]
    hi: float = DEFAULT_CERTAINTY_BAND[1]

    def __post_init__(self) -> None:
        lo, hi = float(self.lo), float(self.hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi <= 100.0):
            raise ValueError(f"certainty band must satisfy 0 <= lo < hi <= 100, got ({self.lo}, {self.hi})")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @classmethod
    def from_value(cls, band: Sequence[float] | CertaintyBand | None) -> CertaintyBand:
        """A band from ``(lo, hi)``, an existing band, or None (the default)."""
        if band is None:
            return cls()
        if isinstance(band, CertaintyBand):
            return band
        values = [float(v) for v in band]
        if len(values) != 2:
            raise ValueError(f"certainty band must be (lo, hi), got {band!r}")
        return cls(values[0], values[1])

    def as_list(self) -> list[float]:
        """``[lo, hi]`` for JSON."""
        return [self.lo, self.hi]

    def is_low_certainty(self, likelihood: float) -> bool:
        """True when ``lo <= likelihood <= hi``."""
        return self.lo <= float(likelihood) <= self.hi

    def certainty(self, likelihood: float) -> str:
        """``"low"`` inside the band (edges included), ``"high"`` outside it."""
        return "low" if self.is_low_certainty(likelihood) else "high"

    def reading(self, likelihood: float) -> str:
        """``"negative"`` (< lo), ``"uncertain"`` (lo..hi inclusive) or ``"positive"`` (> hi)."""
        value = float(likelihood)
        if value < self.lo:
            return "negative"
        return "positive" if value > self.hi else "uncertain"


@dataclass(frozen=True)
class SliceCall:
    """The banded answer for one slice: likelihood, certainty, reading, low-certainty flag and the reader hint."""

    likelihood: float
    certainty: str
    reading: str
    flag: bool
    hint: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON."""
        return {
            "likelihood": self.likelihood,
            "certainty": self.certainty,
            "reading": self.reading,
            "flag": self.flag,
            "hint": self.hint,
        }


def band_slice(likelihood: float, band: CertaintyBand) -> SliceCall:
    """Band one likelihood (0-100): low-certainty slices get ``flag=True`` and :data:`LOW_CERTAINTY_HINT`."""
    value = float(likelihood)
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ValueError(f"likelihood must lie in [0, 100], got {likelihood!r}")
    value = round(value, 2)  # band the value that is shown, so a reader never sees 30.0 called "high"
    low = band.is_low_certainty(value)
    return SliceCall(value, "low" if low else "high", band.reading(value), low, LOW_CERTAINTY_HINT if low else "")
