"""Reading-order simulation: replay study arrivals through first-come-first-served vs triaged reading.

Input CSV columns: ``study``, ``arrival_time`` (minutes as a number, or ISO date-times), ``abnormal`` (truth 0/1,
also ``truth_abnormal``), and optionally ``urgency`` (or ``score``); urgency can instead come from a worklist
written by ``radtriage triage`` (joined by study). Every reader reads one study at a time for
``reading_minutes`` (non-preemptive); when a reader is free, first-come picks the earliest arrival and triage picks
the most urgent study that has arrived (earliest arrival on ties). Time-to-report = report time - arrival time.
"""

from __future__ import annotations

import csv
import heapq
import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from radtriage.errors import InputError

logger = logging.getLogger(__name__)

ORDERS = ("fifo", "triage")
_TRUE = {"1", "true", "yes", "y", "abnormal", "positive"}
_FALSE = {"0", "false", "no", "n", "normal", "negative"}


@dataclass(frozen=True)
class Arrival:
    """One study arriving for reading."""

    study: str
    arrival: float
    """Minutes from the first arrival (or the given number)."""
    abnormal: bool
    urgency: float = 0.0


def _time_value(text: str) -> tuple[str, float]:
    text = text.strip()
    try:
        return "number", float(text)
    except ValueError:
        pass
    try:
        return "datetime", datetime.fromisoformat(text).timestamp() / 60.0
    except ValueError as exc:
        raise ValueError(f"arrival_time {text!r} is neither a number of minutes nor an ISO date-time") from exc


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"abnormal must be 0/1 (or true/false), got {text!r}")


def read_urgency(path: str | Path) -> dict[str, float]:
    """Urgency score per study from a ``radtriage triage`` worklist (``worklist.csv`` or ``worklist.json``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "worklist file not found")
    if path.suffix.lower() == ".json":
        rows = json.loads(path.read_text()).get("studies", [])
    else:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    out = {}
    for row in rows:
        if row.get("urgency_score") not in (None, ""):
            out[str(row["study"])] = float(row["urgency_score"])
    return out


def read_arrivals(path: str | Path, urgency: Mapping[str, float] | None = None) -> list[Arrival]:
    """The arrival list (sorted by arrival); ``urgency`` (study -> score) fills or replaces the CSV's column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "arrival list not found")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        truth_col = next((c for c in ("abnormal", "truth_abnormal", "truth") if c in header), None)
        if "study" not in header or "arrival_time" not in header or truth_col is None:
            raise InputError(path, f"needs columns study, arrival_time, abnormal (found {header})")
        score_col = next((c for c in ("urgency", "urgency_score", "score") if c in header), None)
        rows, kinds = [], set()
        for n, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "") for k, v in row.items() if k}
            try:
                kind, minutes = _time_value(row["arrival_time"])
                abnormal = _flag(row[truth_col])
                score = float(row[score_col]) if score_col and row[score_col].strip() else None
            except ValueError as exc:
                raise InputError(path, f"line {n}: {exc}") from exc
            study = row["study"].strip()
            if urgency is not None and study in urgency:
                score = float(urgency[study])
            kinds.add(kind)
            rows.append((study, minutes, abnormal, score))
    if not rows:
        raise InputError(path, "no studies in the arrival list")
    if len(kinds) > 1:
        raise InputError(path, "arrival_time mixes numbers and date-times")
    missing = [s for s, _, _, score in rows if score is None]
    if missing:
        raise InputError(path, f"no urgency for {len(missing)} study(ies) (e.g. {missing[0]!r}): add an urgency "
                               "column or give the worklist from radtriage triage")
    t0 = min(m for _, m, _, _ in rows) if kinds == {"datetime"} else 0.0
    arrivals = [Arrival(s, m - t0, a, float(u)) for s, m, a, u in rows]  # type: ignore[arg-type]
    return sorted(arrivals, key=lambda a: a.arrival)


def simulate(arrivals: Sequence[Arrival], order: str, reading_minutes: float = 10.0, readers: int = 1
             ) -> dict[str, float]:
    """Report time (minutes) of every study when read in ``order`` (``fifo`` or ``triage``)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if reading_minutes <= 0 or readers < 1:
        raise ValueError("reading_minutes must be > 0 and readers >= 1")
    pending = sorted(range(len(arrivals)), key=lambda i: (arrivals[i].arrival, i))
    free = [0.0] * readers
    heapq.heapify(free)
    waiting: list[int] = []
    reported: dict[str, float] = {}
    nxt = 0
    while nxt < len(pending) or waiting:
        now = heapq.heappop(free)
        if not waiting and arrivals[pending[nxt]].arrival > now:
            now = arrivals[pending[nxt]].arrival
        while nxt < len(pending) and arrivals[pending[nxt]].arrival <= now:
            waiting.append(pending[nxt])
            nxt += 1
        if order == "fifo":
            pick = min(waiting, key=lambda i: (arrivals[i].arrival, i))
        else:
            pick = min(waiting, key=lambda i: (-arrivals[i].urgency, arrivals[i].arrival, i))
        waiting.remove(pick)
        finish = now + reading_minutes
        reported[arrivals[pick].study] = finish
        heapq.heappush(free, finish)
    return reported


def _stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values), "median": statistics.median(values),
            "max": max(values)}


def compare_orders(arrivals: Sequence[Arrival], reading_minutes: float = 10.0, readers: int = 1) -> dict[str, Any]:
    """Mean/median time-to-report of abnormal (and normal, all) studies under first-come vs triaged reading."""
    out: dict[str, Any] = {"reading_minutes": reading_minutes, "readers": readers, "n_studies": len(arrivals),
                           "n_abnormal": sum(a.abnormal for a in arrivals)}
    for order in ORDERS:
        done = simulate(arrivals, order, reading_minutes, readers)
        ttr = {a.study: done[a.study] - a.arrival for a in arrivals}
        out[order] = {
            "abnormal": _stats([ttr[a.study] for a in arrivals if a.abnormal]),
            "normal": _stats([ttr[a.study] for a in arrivals if not a.abnormal]),
            "all": _stats(list(ttr.values())),
            "reading_order": sorted(done, key=lambda s: done[s]),
        }
    fifo, tri = out["fifo"]["abnormal"], out["triage"]["abnormal"]
    if fifo["n"]:
        out["abnormal_mean_saved_minutes"] = fifo["mean"] - tri["mean"]
        out["abnormal_median_saved_minutes"] = fifo["median"] - tri["median"]
    return out


def format_comparison(result: Mapping[str, Any]) -> str:
    """A short text table of the comparison."""
    lines = [f"{result['n_studies']} studies ({result['n_abnormal']} abnormal), {result['readers']} reader(s), "
             f"{result['reading_minutes']:g} min per study", "order    abnormal mean  abnormal median  all mean"]
    for order in ORDERS:
        a, al = result[order]["abnormal"], result[order]["all"]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        lines.append(f"{order:<8} {fmt(a['mean']):>13}  {fmt(a['median']):>15}  {fmt(al['mean']):>8}")
    return "\n".join(lines)
