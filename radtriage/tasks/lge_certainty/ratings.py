"""Readers' 0-100 LGE ratings per slice, one sheet per reader, and the two-reader agreement report.

A :class:`RatingSheet` belongs to exactly one reader (so two readers' scores are never mixed in one file) and
records whether the reader was blinded to the model output. It is saved as a small JSON sidecar
(``<stem>.ratings.<reader>.json`` beside the series by :func:`sidecar_path`). :func:`agreement_report` pairs two
sheets on their common slice keys and runs :func:`radtriage.evaluation.evaluate_agreement` (Bland-Altman, ICC,
kappa on the certainty classes). ``radtriage evaluate ratings --a A.json --b B.json --out DIR`` runs it
(:mod:`radtriage.commands.evaluate.ratings`). A stop-gap until the project's annotation store exists; it has no
dependency on it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radtriage.errors import InputError
from radtriage.seed_papers import SEED_PAPERS
from radtriage.tasks.lge_certainty.certainty import DEFAULT_CERTAINTY_BAND, CertaintyBand, ReaderCertaintyRule

log = logging.getLogger(__name__)

SHEET_FORMAT = "radtriage.lge_ratings"
SHEET_VERSION = 1
_SAFE_READER = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass
class RatingSheet:
    """One reader's ratings: ``ratings[slice_key] = {"rating": 0..100, "time": ISO-8601 UTC}``."""

    reader: str
    blinded: bool = True
    series: str = ""
    certainty_band: tuple[float, float] = DEFAULT_CERTAINTY_BAND
    ratings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.reader, str) or not _SAFE_READER.fullmatch(self.reader):
            raise ValueError(
                f"reader must be a short code of letters, digits, '_', '.', '-' (got {self.reader!r}); "
                "use a pseudonym, never a name"
            )
        self.certainty_band = tuple(CertaintyBand.from_value(self.certainty_band).as_list())  # type: ignore[assignment]

    def rate(self, slice_key: str | int, rating: float) -> None:
        """Record (or replace) this reader's 0-100 rating of one slice."""
        value = float(rating)
        if not (math.isfinite(value) and 0.0 <= value <= 100.0):
            raise ValueError(f"rating must lie in [0, 100], got {rating!r}")
        self.ratings[str(slice_key)] = {"rating": value, "time": datetime.now(UTC).isoformat(timespec="seconds")}

    def rating(self, slice_key: str | int) -> float | None:
        """The rating of one slice, or None when not rated."""
        entry = self.ratings.get(str(slice_key))
        return None if entry is None else float(entry["rating"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "format": SHEET_FORMAT,
            "version": SHEET_VERSION,
            "reader": self.reader,
            "blinded": self.blinded,
            "series": self.series,
            "certainty_band": list(self.certainty_band),
            "scale": [0, 100],
            "ratings": self.ratings,
        }

    def save(self, path: str | Path) -> Path:
        """Write the sheet as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RatingSheet:
        """Read a sheet written by :meth:`save`; :class:`InputError` naming the file when it is not one."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InputError(path, "rating sheet not found") from exc
        except (OSError, ValueError) as exc:
            raise InputError(path, f"not a readable JSON rating sheet: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != SHEET_FORMAT:
            raise InputError(path, f"not a rating sheet (format must be {SHEET_FORMAT!r})")
        ratings = data.get("ratings")
        if not isinstance(ratings, dict):
            raise InputError(path, "'ratings' must be an object of slice key -> {rating, time}")
        try:
            sheet = cls(
                str(data.get("reader", "")),
                bool(data.get("blinded", True)),
                str(data.get("series", "")),
                tuple(data.get("certainty_band", DEFAULT_CERTAINTY_BAND)),
            )
            for key, entry in ratings.items():
                value = entry.get("rating") if isinstance(entry, dict) else entry
                sheet.rate(key, value)
                if isinstance(entry, dict) and "time" in entry:
                    sheet.ratings[str(key)]["time"] = str(entry["time"])
        except (TypeError, ValueError) as exc:
            raise InputError(path, str(exc)) from exc
        return sheet


def sidecar_path(series_path: str | Path, reader: str) -> Path:
    """Where a reader's sheet for a series lives: ``<folder>/<stem>.ratings.<reader>.json``."""
    p = Path(series_path)
    stem = p.name.split(".")[0] if p.suffix else p.name
    return p.parent / f"{stem}.ratings.{reader}.json"


def paired_ratings(a: RatingSheet, b: RatingSheet) -> tuple[list[str], list[float], list[float]]:
    """The slice keys both readers rated (sorted naturally) and their two rating lists."""
    if a.reader == b.reader:
        raise ValueError(f"both sheets are by reader {a.reader!r}; agreement needs two different readers")
    keys = sorted(set(a.ratings) & set(b.ratings), key=lambda k: (0, int(k)) if k.isdigit() else (1, k))
    return keys, [float(a.ratings[k]["rating"]) for k in keys], [float(b.ratings[k]["rating"]) for k in keys]


def agreement_report(
    a: RatingSheet, b: RatingSheet, certainty_band: tuple[float, float] | None = None
) -> dict[str, Any]:
    """:func:`radtriage.evaluation.evaluate_agreement` on the slices both readers rated, with who and how."""
    from radtriage.evaluation import evaluate_agreement

    keys, ra, rb = paired_ratings(a, b)
    if len(keys) < 2:
        raise ValueError(f"readers {a.reader} and {b.reader} share {len(keys)} rated slice(s); need at least 2")
    band = certainty_band or a.certainty_band
    result = evaluate_agreement(ra, rb, band)
    result.update(
        reader_a=a.reader,
        reader_b=b.reader,
        blinded_a=a.blinded,
        blinded_b=b.blinded,
        both_blinded=a.blinded and b.blinded,
        slice_keys=keys,
        only_a=sorted(set(a.ratings) - set(b.ratings)),
        only_b=sorted(set(b.ratings) - set(a.ratings)),
    )
    return result


def inter_reader_certainty(ra: list[float], rb: list[float], band: tuple[float, float]) -> dict[str, Any]:
    """Inter-reader accuracy of the high/low certainty class (each reader's own rating banded), as the seed
    paper reports it (0.86 between its two experts)."""
    cb = CertaintyBand.from_value(band)
    la = [cb.is_low_certainty(v) for v in ra]
    lb = [cb.is_low_certainty(v) for v in rb]
    return {"accuracy": sum(x == y for x, y in zip(la, lb, strict=True)) / max(1, len(la)), "n": len(la),
            "band": cb.as_list()}


def model_certainty_report(
    a: RatingSheet, b: RatingSheet, model_slices: list[dict[str, Any]], rule: ReaderCertaintyRule
) -> dict[str, Any]:
    """The seed's metrics (accuracy, precision, recall, F1, ROC AUC; low certainty = positive) of a model's
    certainty class against the class the readers' ratings give by ``rule``, on slices both readers rated."""
    from radtriage.tasks.lge_certainty.train import certainty_metrics

    keys, ra, rb = paired_ratings(a, b)
    by_index = {str(s.get("key", s.get("index"))): s for s in model_slices}
    rows = [(k, x, y) for k, x, y in zip(keys, ra, rb, strict=True) if k in by_index]
    if not rows:
        raise ValueError("no slice key of the model result matches the rated slices")
    truth = [int(rule.is_low([x, y])) for _, x, y in rows]
    score = [
        float(by_index[k].get("low_certainty_probability", 100.0 if by_index[k].get("flag") else 0.0)) / 100.0
        for k, _, _ in rows
    ]
    out = certainty_metrics(truth, score)
    out["rule"] = rule.to_dict()
    out["certainty_source"] = sorted({str(by_index[k].get("certainty_source", "likelihood_band")) for k, _, _ in rows})
    out["seed_paper_internal_test"] = dict(SEED_PAPERS["zaman2024-internal"].metrics)
    return out
