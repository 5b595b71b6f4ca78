"""Labels of a cohort from the annotation store, and the consensus rules used when readers disagree.

An *item* is one labelled thing: a whole case (target ``""``) or one slice (``"slice:K"``; slice-range
corrections are expanded per slice, later corrections winning). Rules:

``majority``    choice/region: the most frequent value; multilabel: each finding present when more than half
                of the readers marked it. A tie goes to the ``adjudicator`` reader when that reader labelled the
                item, otherwise the item is left out (reported as unresolved).
``mean``        ratings: the mean of the readers' values.
``per-reader``  no consensus: one row per reader (every kind, CMB reviews included).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from radtriage.annotations import AnnotationStore, LabelSchema, slice_regions
from radtriage.errors import InputError

log = logging.getLogger(__name__)

RULES = ("majority", "mean", "per-reader")
_RULE_KINDS = {"majority": ("choice", "region", "multilabel"), "mean": ("rating",)}


@dataclass(frozen=True)
class LabelItem:
    """Every reader's current value for one (case, target)."""

    case_id: str
    target: str
    values: Mapping[str, Any]
    """reader id -> value."""


@dataclass(frozen=True)
class ResolvedLabel:
    """One exported label row: the value, whose it is (``reader_id`` None for a consensus) and how it came about."""

    case_id: str
    target: str
    value: Any
    reader_id: str | None
    status: str
    """'unanimous', 'majority', 'adjudicated', 'mean' or 'reader' (a per-reader row)."""
    reader_values: Mapping[str, Any] = field(default_factory=dict)


def check_rule(rule: str, schema: LabelSchema) -> None:
    """Refuse a rule that does not fit the schema's kind (the message names what fits)."""
    if rule not in RULES:
        raise ValueError(f"consensus rule must be one of {RULES}, got {rule!r}")
    if rule != "per-reader" and schema.kind not in _RULE_KINDS[rule]:
        fitting = [r for r in RULES if r == "per-reader" or schema.kind in _RULE_KINDS[r]]
        raise InputError(
            None, f"consensus rule {rule!r} does not apply to {schema.kind} labels ({schema.name}); use {fitting}"
        )


def collect_items(
    store: AnnotationStore, schema: LabelSchema, case_ids: Sequence[str], readers: Sequence[str] | None = None
) -> list[LabelItem]:
    """The current labels of ``schema`` on ``case_ids``, grouped per (case, target), in case order."""
    wanted = set(case_ids)
    allowed = None if readers is None else set(readers)
    per: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    ranges: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for entry in store.current_labels(schema=schema.name):
        if entry.case_id not in wanted or (allowed is not None and entry.reader_id not in allowed):
            continue
        if schema.kind == "region":
            ranges[(entry.case_id, entry.reader_id)].append(entry)
        else:
            per[(entry.case_id, entry.target)][entry.reader_id] = entry.value
    for (case, reader), entries in ranges.items():
        for k, region in slice_regions(entries).items():
            per[(case, f"slice:{k}")][reader] = region
    order = {c: i for i, c in enumerate(case_ids)}
    keys = sorted(per, key=lambda key: (order[key[0]], _target_key(key[1])))
    return [LabelItem(case, target, dict(sorted(per[(case, target)].items()))) for case, target in keys]


def _target_key(target: str) -> tuple[int, str]:
    if target.startswith("slice:") and target[6:].isdigit():
        return (int(target[6:]), "")
    return (-1, target)


def _majority_choice(item: LabelItem, adjudicator: str | None) -> tuple[Any, str] | None:
    counts = Counter(item.values.values())
    best = max(counts.values())
    winners = [v for v, n in counts.items() if n == best]
    if len(winners) == 1:
        return winners[0], "unanimous" if best == len(item.values) else "majority"
    if adjudicator in item.values and item.values[adjudicator] in winners:
        return item.values[adjudicator], "adjudicated"
    return None


def _majority_findings(item: LabelItem, schema: LabelSchema, adjudicator: str | None) -> tuple[Any, str] | None:
    n = len(item.values)
    present, status = [], "majority"
    for finding in schema.classes:
        votes = sum(finding in v for v in item.values.values())
        if 2 * votes > n:
            present.append(finding)
        elif 2 * votes == n:
            if adjudicator not in item.values:
                return None
            status = "adjudicated"
            if finding in item.values[adjudicator]:
                present.append(finding)
    if all(sorted(v) == sorted(present) for v in item.values.values()):
        status = "unanimous"
    return present, status


def resolve(
    items: Iterable[LabelItem],
    schema: LabelSchema,
    rule: str,
    *,
    adjudicator: str | None = None,
    min_readers: int = 1,
) -> tuple[list[ResolvedLabel], list[dict[str, str]]]:
    """Apply ``rule`` to every item: the exported label rows and the items left out (with the reason)."""
    check_rule(rule, schema)
    rows: list[ResolvedLabel] = []
    left_out: list[dict[str, str]] = []
    for item in items:
        if len(item.values) < min_readers:
            left_out.append(
                {"case_id": item.case_id, "target": item.target, "reason": f"fewer than {min_readers} reader(s)"}
            )
            continue
        if rule == "per-reader":
            rows += [
                ResolvedLabel(item.case_id, item.target, v, r, "reader", item.values) for r, v in item.values.items()
            ]
            continue
        if rule == "mean":
            values = [float(v) for v in item.values.values()]
            mean = sum(values) / len(values)
            status = "unanimous" if len(set(values)) == 1 else "mean"
            rows.append(ResolvedLabel(item.case_id, item.target, mean, None, status, item.values))
            continue
        if schema.kind == "multilabel":
            outcome = _majority_findings(item, schema, adjudicator)
        else:
            outcome = _majority_choice(item, adjudicator)
        if outcome is None:
            left_out.append({"case_id": item.case_id, "target": item.target, "reason": "readers tie (unresolved)"})
            continue
        rows.append(ResolvedLabel(item.case_id, item.target, outcome[0], None, outcome[1], item.values))
    return rows, left_out


def training_label(schema: LabelSchema, value: Any) -> Any:
    """A label value as the training datalist holds it: a class name (choice/region), ``{finding: 0/1}``
    (multilabel), a number (rating), the value itself otherwise."""
    if schema.kind == "multilabel":
        return {c: int(c in value) for c in schema.classes}
    if schema.kind == "rating":
        return float(value)
    return value


def training_kind(schema: LabelSchema) -> str | None:
    """The ``radtriage train --kind`` for labels of ``schema`` (None: not trainable from a datalist, e.g. CMB)."""
    return {"choice": "multiclass", "region": "multiclass", "multilabel": "multilabel", "rating": "score"}.get(
        schema.kind
    )


def stratum(schema: LabelSchema, value: Any) -> Any:
    """A hashable group of a value, for stratified splits (ratings: at/above the middle of the scale or not)."""
    if schema.kind == "multilabel":
        return tuple(sorted(value))
    if schema.kind == "rating":
        middle = ((schema.minimum or 0.0) + (schema.maximum or 0.0)) / 2
        return float(value) >= middle
    if schema.kind == "cmb":
        return value.get("decision") if isinstance(value, Mapping) else None
    return value
