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
from typing import Any

from radtriage.labelsets import LGE_DEFAULT_CERTAINTY_BAND as DEFAULT_CERTAINTY_BAND
from radtriage.settings_keys import known_settings

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
    certainty_source: str = "likelihood_band"
    """What produced the certainty class: ``"certainty_head"`` (learned from readers) or ``"likelihood_band"``."""
    low_certainty_probability: float | None = None
    """0-100 output of the certainty head (None for the band fallback)."""

    def to_dict(self) -> dict[str, object]:
        """Plain JSON."""
        out: dict[str, object] = {
            "likelihood": self.likelihood,
            "certainty": self.certainty,
            "reading": self.reading,
            "flag": self.flag,
            "hint": self.hint,
            "certainty_source": self.certainty_source,
        }
        if self.low_certainty_probability is not None:
            out["low_certainty_probability"] = self.low_certainty_probability
        return out


def band_slice(likelihood: float, band: CertaintyBand) -> SliceCall:
    """Band one likelihood (0-100): low-certainty slices get ``flag=True`` and :data:`LOW_CERTAINTY_HINT`."""
    value = float(likelihood)
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ValueError(f"likelihood must lie in [0, 100], got {likelihood!r}")
    value = round(value, 2)  # band the value that is shown, so a reader never sees 30.0 called "high"
    low = band.is_low_certainty(value)
    return SliceCall(value, "low" if low else "high", band.reading(value), low, LOW_CERTAINTY_HINT if low else "")


READER_RULE = (
    "low certainty when the readers' mean rating lies in [lo, hi] (edges inclusive) or two readers differ by more "
    "than max_disagreement points; high certainty otherwise"
)


@dataclass(frozen=True)
class ReaderCertaintyRule:
    """How readers' 0-100 ratings of one slice become the training class (the seed's high/low certainty).

    Low certainty when the readers' mean lies in the band ``[lo, hi]`` (edges inclusive) or when the largest
    difference between two readers exceeds ``max_disagreement``; stored in a bundle as
    ``radtriage.outputs.certainty_head.rule``.
    """

    lo: float = DEFAULT_CERTAINTY_BAND[0]
    hi: float = DEFAULT_CERTAINTY_BAND[1]
    max_disagreement: float = 30.0

    def __post_init__(self) -> None:
        CertaintyBand(self.lo, self.hi)  # validates the band
        if not (math.isfinite(float(self.max_disagreement)) and 0.0 <= float(self.max_disagreement) <= 100.0):
            raise ValueError(f"max_disagreement must lie in [0, 100], got {self.max_disagreement!r}")

    def likelihood(self, ratings: Sequence[float]) -> float:
        """The likelihood target: the readers' mean rating."""
        values = _ratings(ratings)
        return float(sum(values) / len(values))

    def is_low(self, ratings: Sequence[float]) -> bool:
        """True for a low-certainty slice (mean in the band, or readers disagree by more than the margin)."""
        values = _ratings(ratings)
        mean = sum(values) / len(values)
        return bool(self.lo <= mean <= self.hi or (max(values) - min(values)) > self.max_disagreement)

    def certainty(self, ratings: Sequence[float]) -> str:
        """``"low"`` or ``"high"``."""
        return "low" if self.is_low(ratings) else "high"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (stored in the bundle)."""
        return {"lo": self.lo, "hi": self.hi, "max_disagreement": self.max_disagreement, "rule": READER_RULE}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ReaderCertaintyRule:
        """From :meth:`to_dict` output (missing keys take the defaults; unknown ones are refused)."""
        values = known_settings(cls, data, "reader certainty rule", written=("rule",))
        return cls(**{k: float(v) for k, v in values.items()})


def _ratings(ratings: Sequence[float]) -> list[float]:
    values = [float(r) for r in ratings]
    if not values or not all(math.isfinite(v) and 0.0 <= v <= 100.0 for v in values):
        raise ValueError(f"ratings must be one or more numbers in [0, 100], got {ratings!r}")
    return values


def head_slice(likelihood: float, p_low: float, threshold: float = 0.5) -> SliceCall:
    """The call of a two-head model: certainty from the certainty head (``p_low >= threshold`` is low), the
    reading from the likelihood (>= 50 positive) when certainty is high, ``uncertain`` when it is low."""
    value = float(likelihood)
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ValueError(f"likelihood must lie in [0, 100], got {likelihood!r}")
    value = round(value, 2)
    low = float(p_low) >= float(threshold)
    reading = "uncertain" if low else ("positive" if value >= 50.0 else "negative")
    return SliceCall(value, "low" if low else "high", reading, low, LOW_CERTAINTY_HINT if low else "", "certainty_head",
                     round(100.0 * float(p_low), 2))
