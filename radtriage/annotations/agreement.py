"""Inter-reader agreement per label schema, from the current labels in the store.

For every pair of readers, over the items both labelled:

* ``choice`` (normal/abnormal): :func:`radtriage.evaluation.evaluate_multiclass` (Cohen's kappa, accuracy,
  confusion matrix);
* ``multilabel`` (critical findings): the same per finding on present/absent, and on "any finding";
* ``rating`` (LGE 0-100 per slice): :func:`radtriage.evaluation.evaluate_agreement` (Bland-Altman, ICC, kappa
  on certainty classes); with three or more readers also the ICC over the items every reader rated;
* ``cmb``: kappa of accept/reject on candidates both reviewed, plus how many lesions each reader added;
* ``region``: slice-range corrections are expanded per slice (later corrections win) and compared per slice.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from radtriage.annotations.records import LabelEntry
from radtriage.annotations.schema import LabelSchema, parse_slice_range
from radtriage.annotations.store import AnnotationStore

Items = dict[tuple[str, str], Any]
"""(case_id, target or slice) -> value, for one reader."""


def slice_regions(entries: Iterable[LabelEntry]) -> dict[int, str]:
    """Per-slice region from slice-range corrections, applied oldest first so later ranges override."""
    out: dict[int, str] = {}
    for entry in sorted(entries, key=lambda e: e.entry_id):
        first, last = parse_slice_range(entry.target)
        for k in range(first, last + 1):
            out[k] = entry.value
    return out


def _items_per_reader(schema: LabelSchema, entries: Sequence[LabelEntry]) -> dict[str, Items]:
    per: dict[str, Items] = defaultdict(dict)
    if schema.kind == "region":
        grouped: dict[tuple[str, str], list[LabelEntry]] = defaultdict(list)
        for e in entries:
            grouped[(e.reader_id, e.case_id)].append(e)
        for (reader, case), group in grouped.items():
            for k, region in slice_regions(group).items():
                per[reader][(case, f"slice:{k}")] = region
        return per
    for e in entries:
        per[e.reader_id][(e.case_id, e.target)] = e.value
    return per


def _no_items(n: int = 0) -> dict[str, Any]:
    return {"n": n, "value": None, "reason": "no items labelled by both readers"}


def _pair(schema: LabelSchema, a: Items, b: Items, band: Sequence[float]) -> dict[str, Any]:
    from radtriage.evaluation import evaluate_agreement, evaluate_multiclass

    common = sorted(set(a) & set(b))
    if not common:
        return _no_items()
    if schema.kind in ("choice", "region"):
        return evaluate_multiclass([a[k] for k in common], [b[k] for k in common], list(schema.classes))
    if schema.kind == "rating":
        lo, hi = float(schema.minimum or 0.0), float(schema.maximum or 0.0)
        return evaluate_agreement([a[k] for k in common], [b[k] for k in common], band, scale=(lo, hi))
    if schema.kind == "multilabel":
        names = ["absent", "present"]
        out: dict[str, Any] = {"n": len(common), "per_finding": {}}
        for finding in schema.classes:
            ya = [names[finding in a[k]] for k in common]
            yb = [names[finding in b[k]] for k in common]
            out["per_finding"][finding] = evaluate_multiclass(ya, yb, names)
        out["any_finding"] = evaluate_multiclass(
            [names[bool(a[k])] for k in common], [names[bool(b[k])] for k in common], names
        )
        return out
    # cmb: accept/reject agreement on candidates both reviewed; additions are per reader
    reviewed = [k for k in common if a[k]["decision"] != "add" and b[k]["decision"] != "add"]
    out = {
        "n": len(reviewed),
        "added": {side: sum(v["decision"] == "add" for v in items.values()) for side, items in (("a", a), ("b", b))},
    }
    if not reviewed:
        return {**out, **_no_items(0)}
    decisions = evaluate_multiclass(
        [a[k]["decision"] for k in reviewed], [b[k]["decision"] for k in reviewed], ["accept", "reject"]
    )
    return {**decisions, **out}


def _all_reader_icc(schema: LabelSchema, per: dict[str, Items], readers: Sequence[str]) -> dict[str, Any]:
    from radtriage.evaluation import icc

    common = sorted(set.intersection(*(set(per[r]) for r in readers)))
    if len(common) < 2:
        return {"n": len(common), "value": None, "reason": "fewer than 2 items rated by every reader"}
    return {"n": len(common), **icc([[per[r][k] for r in readers] for k in common])}


def store_agreement(
    store: AnnotationStore,
    schema: str,
    readers: Sequence[str] | None = None,
    *,
    certainty_band: Sequence[float] = (30.0, 70.0),
) -> dict[str, Any]:
    """Agreement between every pair of ``readers`` (default: everyone with labels in this schema) on the
    current labels of ``schema``. Pairs without shared items report ``value: None`` with a reason."""
    s = store.schema(schema)
    per = _items_per_reader(s, store.current_labels(schema=schema))
    names = list(readers) if readers is not None else sorted(per)
    pairs = []
    for ra, rb in itertools.combinations(names, 2):
        metrics = _pair(s, per.get(ra, {}), per.get(rb, {}), certainty_band)
        pairs.append({"reader_a": ra, "reader_b": rb, "metrics": metrics})
    result: dict[str, Any] = {
        "kind": "store_agreement",
        "schema": s.name,
        "task": s.task,
        "label_kind": s.kind,
        "readers": names,
        "items_per_reader": {r: len(per.get(r, {})) for r in names},
        "pairs": pairs,
    }
    if s.kind == "rating" and len(names) >= 3:
        result["icc_all_readers"] = _all_reader_icc(s, {r: per.get(r, {}) for r in names}, names)
    return result
