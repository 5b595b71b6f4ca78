"""What a training task is: label encoding, loss, output activation and the validation/test metrics.

Three kinds cover the project's tasks and keep the loop generic:

``multilabel``  independent findings, sigmoid per class, ``BCEWithLogitsLoss`` (e.g. 4 brain findings)
``multiclass``  exactly one class per case, softmax, ``CrossEntropyLoss`` (e.g. body region of a slice)
``score``       one 0..``score_max`` likelihood (e.g. LGE 0-100), sigmoid x ``score_max``, BCE on target/score_max
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from radtriage.training.settings import KINDS

log = logging.getLogger(__name__)


_TRUE = {"1", "true", "yes", "y", "t", "positive", "pos"}
_FALSE = {"0", "false", "no", "n", "f", "negative", "neg"}


class LabelError(ValueError):
    """A label cannot be used for this task (the datalist reader turns it into an InputError naming the row)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _flag(value: Any, what: str) -> float:
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return 1.0 if value.strip().lower() in _TRUE else 0.0
    number = _number(value)
    if number is None or number not in (0.0, 1.0):
        raise LabelError(f"{what} must be 0 or 1 (or true/false), got {value!r}")
    return number


def _split_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise LabelError(f"label {text!r} is not a valid JSON list") from exc
        return [str(v) for v in items] if isinstance(items, list) else [text]
    for sep in (";", "|", ","):
        if sep in text:
            return [p.strip() for p in text.split(sep)]
    return [text]


@dataclass(frozen=True)
class TrainTaskSpec:
    """A training task: ``kind`` (one of :data:`KINDS`), class names and the score scale for ``score``.

    ``threshold`` is the probability operating point used for binary test metrics (``multilabel``); for
    ``score`` the operating point is ``positive_at`` (in score units, e.g. 50 of 100).
    """

    kind: str
    class_names: tuple[str, ...]
    score_max: float = 100.0
    positive_at: float = 50.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown training kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be distinct and non-empty, got {list(self.class_names)}")
        if self.kind == "multiclass" and len(self.class_names) < 2:
            raise ValueError("a multiclass task needs at least 2 class names")
        if self.kind == "score" and len(self.class_names) != 1:
            raise ValueError(f"a score task has one output; give one class name, got {list(self.class_names)}")
        if self.kind == "score" and not 0 < self.positive_at < self.score_max:
            raise ValueError(f"positive_at must lie in (0, {self.score_max}), got {self.positive_at}")

    # ------------------------------------------------------------------ network outputs
    @property
    def out_channels(self) -> int:
        """Channels the network must output."""
        return 1 if self.kind == "score" else len(self.class_names)

    @property
    def activation(self) -> str:
        """``sigmoid`` or ``softmax``: how logits become probabilities."""
        return "softmax" if self.kind == "multiclass" else "sigmoid"

    @property
    def metric_name(self) -> str:
        """Name of the validation metric (higher is better) used for early stopping."""
        return {"multilabel": "mean_roc_auc", "multiclass": "balanced_accuracy", "score": "roc_auc"}[self.kind]

    def outputs_metadata(self) -> dict[str, Any]:
        """The bundle's ``radtriage.outputs`` section: how to read the network's outputs."""
        out: dict[str, Any] = {"kind": self.kind, "activation": self.activation, "channels": self.out_channels}
        if self.kind == "score":
            out.update(scale=self.score_max, positive_at=self.positive_at)
        return out

    def loss(self) -> nn.Module:
        """The training loss (on logits)."""
        return nn.CrossEntropyLoss() if self.kind == "multiclass" else nn.BCEWithLogitsLoss()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits (``score``: 0..1; multiply by ``score_max`` for the score)."""
        return torch.softmax(logits, dim=1) if self.kind == "multiclass" else torch.sigmoid(logits)

    def loss_target(self, target: torch.Tensor) -> torch.Tensor:
        """The target tensor as the loss wants it (class indices for multiclass, (B, C) floats otherwise)."""
        if self.kind == "multiclass":
            return target.long().reshape(-1)
        return target.float().reshape(target.shape[0], -1)

    # ------------------------------------------------------------------ labels
    def encode(self, label: Any) -> np.ndarray:
        """One case's label as the training target (raises :class:`LabelError` with the reason).

        multilabel: a list of 0/1 in class order, ``{class: 0/1}``, or text ``"0;1;0"``;
        multiclass: a class name or an index; score: a number in 0..``score_max``.
        """
        if label is None or (isinstance(label, str) and not label.strip()):
            raise LabelError("label is missing")
        if self.kind == "multiclass":
            return np.asarray(self._class_index(label), dtype=np.int64)
        if self.kind == "score":
            value = _number(label[0] if isinstance(label, (list, tuple)) and len(label) == 1 else label)
            if value is None or not math.isfinite(value) or not 0 <= value <= self.score_max:
                raise LabelError(f"score label must be a number in 0..{self.score_max:g}, got {label!r}")
            return np.asarray([value / self.score_max], dtype=np.float32)
        return np.asarray(self._multilabel(label), dtype=np.float32)

    def _class_index(self, label: Any) -> int:
        if isinstance(label, str) and label.strip() in self.class_names:
            return self.class_names.index(label.strip())
        number = _number(label)
        if number is not None and number == int(number) and 0 <= number < len(self.class_names):
            return int(number)
        raise LabelError(
            f"label {label!r} is not one of the classes {list(self.class_names)} "
            f"nor an index 0..{len(self.class_names) - 1}"
        )

    def _multilabel(self, label: Any) -> list[float]:
        n = len(self.class_names)
        if isinstance(label, Mapping):
            missing = [c for c in self.class_names if c not in label]
            if missing:
                raise LabelError(f"label has no value for class(es) {missing}")
            return [_flag(label[c], f"label[{c!r}]") for c in self.class_names]
        if isinstance(label, str):
            label = _split_list(label)
        if not isinstance(label, (list, tuple, np.ndarray)):
            label = [label]
        if len(label) != n:
            raise LabelError(
                f"label {list(label)!r} has {len(label)} value(s); expected {n} ({list(self.class_names)})"
            )
        return [_flag(v, f"label[{i}]") for i, v in enumerate(label)]

    def stratum(self, target: np.ndarray) -> Hashable:
        """The group a target belongs to, for stratified splits and class-balanced sampling."""
        if self.kind == "multiclass":
            return int(target)
        if self.kind == "score":
            return int(float(target.reshape(-1)[0]) * self.score_max >= self.positive_at)
        return tuple(int(v) for v in target.reshape(-1))

    def stratum_name(self, key: Hashable) -> str:
        """Readable name of a stratum (for logs and the model card)."""
        if self.kind == "multiclass":
            return self.class_names[int(key)]  # type: ignore[arg-type]
        if self.kind == "score":
            return (
                f"{self.class_names[0]} >= {self.positive_at:g}"
                if key
                else f"{self.class_names[0]} < {self.positive_at:g}"
            )
        names = [c for c, v in zip(self.class_names, key, strict=True) if v]  # type: ignore[call-overload]
        return "+".join(names) if names else "none"

    def class_counts(self, targets: Sequence[np.ndarray]) -> dict[str, int]:
        """Cases per class (multiclass), positives per class and all-negative cases (multilabel), or
        cases at/above and below ``positive_at`` (score)."""
        if self.kind == "multiclass":
            counts = dict.fromkeys(self.class_names, 0)
            for t in targets:
                counts[self.class_names[int(t)]] += 1
            return counts
        if self.kind == "score":
            pos = sum(int(self.stratum(t)) for t in targets)
            return {self.stratum_name(1): pos, self.stratum_name(0): len(targets) - pos}
        counts = dict.fromkeys(self.class_names, 0)
        none = 0
        for t in targets:
            for c, v in zip(self.class_names, t.reshape(-1), strict=True):
                counts[c] += int(v)
            none += int(not np.any(t))
        return {**counts, "none": none}

    # ------------------------------------------------------------------ metrics
    def binary_truth(self, targets: np.ndarray) -> np.ndarray:
        """(N, C) 0/1 truth for the sigmoid kinds (score: target >= positive_at)."""
        t = np.asarray(targets, dtype=float).reshape(len(targets), -1)
        if self.kind == "score":
            return (t * self.score_max >= self.positive_at - 1e-9).astype(int)
        return t.astype(int)

    def metric(self, targets: np.ndarray, probs: np.ndarray) -> float | None:
        """Validation metric (higher is better), or None when undefined (e.g. only one class present)."""
        from sklearn.metrics import balanced_accuracy_score, roc_auc_score

        if len(targets) == 0:
            return None
        if self.kind == "multiclass":
            return float(balanced_accuracy_score(np.asarray(targets).astype(int), np.argmax(probs, axis=1)))
        truth, p = self.binary_truth(targets), np.asarray(probs).reshape(len(targets), -1)
        aucs = [
            roc_auc_score(truth[:, c], p[:, c]) for c in range(truth.shape[1]) if 0 < truth[:, c].sum() < len(truth)
        ]
        return float(np.mean(aucs)) if aucs else None

    def metric_defined(self, targets: Sequence[np.ndarray]) -> bool:
        """Whether :meth:`metric` can be computed on these targets whatever the predictions are."""
        if len(targets) == 0:
            return False
        if self.kind == "multiclass":
            return True
        truth = self.binary_truth(np.stack(targets))
        return bool(np.any((truth.sum(axis=0) > 0) & (truth.sum(axis=0) < len(truth))))

    def evaluate(
        self, targets: np.ndarray, probs: np.ndarray, *, n_bootstrap: int = 1000, seed: int = 0
    ) -> dict[str, Any]:
        """Held-out test metrics with :mod:`radtriage.evaluation` (``evaluate_binary`` per sigmoid output,
        ``evaluate_multiclass`` for softmax). ``kind`` of the result is ``multilabel``, ``multiclass`` or ``score``."""
        from radtriage.evaluation import evaluate_binary, evaluate_multiclass

        n = len(targets)
        if n == 0:
            return {"kind": self.kind, "n": 0, "reason": "no test cases"}
        if self.kind == "multiclass":
            pred = np.argmax(probs, axis=1)
            return {
                **evaluate_multiclass(np.asarray(targets).astype(int), pred, self.class_names),
                "task_kind": self.kind,
            }
        truth, p = self.binary_truth(targets), np.asarray(probs, dtype=float).reshape(n, -1)
        if self.kind == "score":
            name = self.class_names[0]
            result = evaluate_binary(
                truth[:, 0],
                p[:, 0],
                self.positive_at / self.score_max,
                names=(f"no {name}", name),
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
            mae = float(np.mean(np.abs(p[:, 0] - np.asarray(targets, dtype=float).reshape(n))) * self.score_max)
            return {**result, "task_kind": "score", "score_mae": mae, "score_max": self.score_max}
        per_class = {
            c: evaluate_binary(
                truth[:, i], p[:, i], self.threshold, names=(f"no {c}", c), n_bootstrap=n_bootstrap, seed=seed
            )
            for i, c in enumerate(self.class_names)
        }
        return {
            "kind": "multilabel",
            "task_kind": "multilabel",
            "n": n,
            "class_names": list(self.class_names),
            "per_class": per_class,
        }


def infer_class_names(kind: str, labels: Sequence[Any], label_columns: Sequence[str] = ()) -> tuple[str, ...]:
    """Class names when none are given: CSV per-class columns or ``{class: 0/1}`` keys (multilabel), the sorted
    distinct label names (multiclass, or ``class0..`` for integer labels), ``("score",)`` for score."""
    if kind == "score":
        return ("score",)
    present = [lab for lab in labels if lab is not None and lab != ""]
    if kind == "multilabel":
        if len(label_columns) > 1:
            return tuple(label_columns)
        first = present[0] if present else None
        if isinstance(first, Mapping):
            return tuple(str(k) for k in first)
        width = (
            len(_split_list(first)) if isinstance(first, str) else len(first) if isinstance(first, (list, tuple)) else 1
        )
        return tuple(f"label{i}" for i in range(width))
    numbers = [_number(lab) for lab in present]
    if present and all(v is not None and v == int(v) and v >= 0 for v in numbers):
        return tuple(f"class{i}" for i in range(max(2, int(max(numbers)) + 1)))  # type: ignore[type-var]
    return tuple(sorted({str(lab).strip() for lab in present}))
