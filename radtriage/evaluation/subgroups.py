"""Metrics per acquisition subgroup (``radtriage evaluate classification --by COLUMN``).

The subgroup columns and how a series' DICOM tags map onto them live in :mod:`radtriage.io.acquisition`;
here rows are grouped by a column's value (empty values as :data:`NOT_RECORDED`) and each group evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

NOT_RECORDED = "(not recorded)"


def by_subgroup(values: Sequence[str], evaluate: Callable[[list[int]], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{value: evaluate(row indices)}`` for every distinct value (empty ones as :data:`NOT_RECORDED`), in
    descending order of size."""
    groups: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        groups.setdefault(str(value).strip() or NOT_RECORDED, []).append(i)
    return {value: evaluate(rows) for value, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
