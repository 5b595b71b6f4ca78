"""Input checks shared by the evaluation functions, and the shape of an undefined metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from radtriage.errors import RadTriageError


class EvaluationError(RadTriageError, ValueError):
    """Evaluation input that cannot be scored; the message names the argument and the problem."""


def as_vector(values: Any, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array, or raise EvaluationError saying what is wrong."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{name}: values must be numbers ({exc})") from exc
    if arr.ndim == 0:
        raise EvaluationError(f"{name}: expected a list of values, got a single value")
    if arr.ndim != 1:
        raise EvaluationError(f"{name}: expected a 1-D list of values, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise EvaluationError(f"{name}: is empty; there is nothing to evaluate")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EvaluationError(f"{name}: {int(bad.sum())} value(s) are NaN or infinite (first at index {first})")
    return arr


def check_same_length(**arrays: Sequence[Any] | np.ndarray) -> int:
    """Raise EvaluationError unless all arrays have the same length; return that length."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise EvaluationError(f"mismatched lengths: {described}")
    return next(iter(lengths.values()))


def as_binary_labels(values: Any, name: str = "y_true") -> np.ndarray:
    """Return 0/1 integer labels; accepts bools or numbers that are exactly 0 or 1."""
    arr = as_vector(values, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        odd = sorted({float(v) for v in arr[~np.isin(arr, (0.0, 1.0))]})[:5]
        raise EvaluationError(f"{name}: binary labels must be 0 or 1 (found {odd})")
    return arr.astype(int)


def check_level(level: float, name: str = "ci") -> float:
    """Check a confidence level is strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise EvaluationError(f"{name}: confidence level must be between 0 and 1, got {level}")
    return float(level)


def undefined(reason: str, **extra: Any) -> dict[str, Any]:
    """A metric that cannot be computed: ``value`` is None and ``reason`` says why."""
    return {"value": None, "reason": reason, **extra}
