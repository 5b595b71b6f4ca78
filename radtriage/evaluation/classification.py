"""Binary and multi-class classification metrics: ROC AUC with bootstrap CI, operating points, confusion matrices."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from scipy.stats import DegenerateDataWarning, binomtest, bootstrap, rankdata
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

from radtriage.evaluation.agreement import cohen_kappa
from radtriage.evaluation.calibration import reliability_bins
from radtriage.evaluation.report import to_plain
from radtriage.evaluation.validation import (
    EvaluationError,
    as_binary_labels,
    as_vector,
    check_level,
    check_same_length,
    undefined,
)

log = logging.getLogger(__name__)

THRESHOLD_RULE = "positive when score >= threshold"
_BOOTSTRAP_CELLS = 2_000_000  # resampled values held in memory at once


def _binary_inputs(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary_labels(y_true, "y_true")
    s = as_vector(scores, "scores")
    check_same_length(y_true=y, scores=s)
    return y, s


def _one_class_reason(y: np.ndarray) -> str | None:
    n_pos = int(y.sum())
    if n_pos == 0:
        return f"only negative cases ({y.size}); needs both classes"
    if n_pos == y.size:
        return f"only positive cases ({y.size}); needs both classes"
    return None


def auc_statistic(positives: np.ndarray, negatives: np.ndarray, axis: int = -1) -> np.ndarray:
    """ROC AUC of ``positives`` against ``negatives`` along ``axis`` as the Mann-Whitney rank statistic
    (identical to ``roc_auc_score`` including ties), vectorised for :func:`scipy.stats.bootstrap`."""
    pos, neg = np.moveaxis(positives, axis, -1), np.moveaxis(negatives, axis, -1)
    n1, n0 = pos.shape[-1], neg.shape[-1]
    lead = np.broadcast_shapes(pos.shape[:-1], neg.shape[:-1])  # one side may be unbatched (BCa jackknife)
    both = np.concatenate([np.broadcast_to(pos, (*lead, n1)), np.broadcast_to(neg, (*lead, n0))], axis=-1)
    return (rankdata(both, axis=-1)[..., :n1].sum(axis=-1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _auc_bootstrap(
    y: np.ndarray, s: np.ndarray, n_bootstrap: int, seed: int, level: float, method: str
) -> tuple[np.ndarray, tuple[float, float]]:
    """Stratified bootstrap of the AUC with ``scipy.stats.bootstrap``, positives and negatives as independent
    samples (each resample keeps both classes and their counts): (the resampled AUCs, the ``method``
    interval). A class of one case is the same in every resample, so it is held fixed (scipy resamples
    samples of two or more)."""
    reason = _one_class_reason(y)
    if reason:
        raise EvaluationError(f"bootstrap AUC: {reason}")
    if int(n_bootstrap) < 1:
        raise EvaluationError(f"n_bootstrap: must be at least 1, got {n_bootstrap}")
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 1 and neg.size == 1:
        value = float(auc_statistic(pos, neg))
        return np.full(int(n_bootstrap), value), (math.nan, math.nan)  # nothing to resample
    if pos.size == 1:
        samples, statistic = (neg,), partial(auc_statistic, pos)
    elif neg.size == 1:
        samples, statistic = (pos,), partial(_auc_against, neg)
    else:
        samples, statistic = (pos, neg), auc_statistic
    with warnings.catch_warnings():
        # every resample equal (a perfect scorer): BCa is undefined (NaN) and the caller falls back
        warnings.simplefilter("ignore", DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = bootstrap(
            samples, statistic, n_resamples=int(n_bootstrap), batch=max(1, _BOOTSTRAP_CELLS // s.size),
            vectorized=True, confidence_level=level, method=method, rng=np.random.default_rng(seed),
        )
    return res.bootstrap_distribution, (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _auc_against(negatives: np.ndarray, positives: np.ndarray, axis: int = -1) -> np.ndarray:
    return auc_statistic(positives, negatives, axis=axis)


def bootstrap_auc(y_true: Any, scores: Any, *, n_bootstrap: int = 2000, seed: int = 0) -> np.ndarray:
    """AUCs of ``n_bootstrap`` seeded, stratified resamples (the ``scipy.stats.bootstrap`` distribution)."""
    y, s = _binary_inputs(y_true, scores)
    return _auc_bootstrap(y, s, n_bootstrap, seed, 0.95, "percentile")[0]


def roc_auc_with_ci(
    y_true: Any, scores: Any, *, n_bootstrap: int = 2000, ci: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """ROC AUC (sklearn) with a seeded, stratified bootstrap confidence interval from ``scipy.stats.bootstrap``:
    bias-corrected and accelerated (BCa), or the percentile interval where BCa is undefined (every resample
    gives the same AUC, e.g. a perfect scorer); ``ci_method`` says which."""
    y, s = _binary_inputs(y_true, scores)
    level = check_level(ci)
    reason = _one_class_reason(y)
    if reason:
        return undefined(f"ROC AUC undefined: {reason}", ci_low=None, ci_high=None, ci_level=level)
    value = float(roc_auc_score(y, s))
    result: dict[str, Any] = {"value": value, "ci_level": level, "n_bootstrap": int(n_bootstrap), "seed": seed}
    if int(n_bootstrap) < 1:
        result.update(ci_low=None, ci_high=None, ci_reason="bootstrap disabled (n_bootstrap=0)")
        return result
    aucs, (lo, hi) = _auc_bootstrap(y, s, n_bootstrap, seed, level, "BCa")
    method = "stratified BCa bootstrap (scipy.stats.bootstrap)"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        alpha = 1.0 - level
        lo, hi = (float(v) for v in np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0]))
        method = "stratified percentile bootstrap (scipy.stats.bootstrap; BCa undefined)"
    result.update(ci_low=lo, ci_high=hi, ci_method=method)
    return result


def cluster_bootstrap_interval(
    groups: Any, statistic: Callable[[np.ndarray], float], *, n_bootstrap: int = 2000, ci: float = 0.95,
    seed: int = 0, what: str = "cluster bootstrap"
) -> dict[str, Any]:
    """Percentile interval of ``statistic(rows)`` from resampling whole groups (a patient's slices correlate):
    ``scipy.stats.bootstrap`` over the groups, each resample scored on all rows of the groups drawn. Resamples
    whose statistic is NaN (undefined there) are left out (``n_bootstrap`` counts those kept)."""
    g = np.asarray(groups)
    level = check_level(ci)
    keys, inverse = np.unique(g, return_inverse=True)
    if keys.size < 2:
        raise EvaluationError(f"{what}: needs two or more groups, got {keys.size}")
    members = [np.flatnonzero(inverse == i) for i in range(keys.size)]

    def resampled(drawn: np.ndarray) -> float:
        return float(statistic(np.concatenate([members[int(i)] for i in drawn])))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own interval of a distribution with NaNs
        res = bootstrap((np.arange(keys.size),), resampled, n_resamples=int(n_bootstrap), vectorized=False,
                        method="percentile", confidence_level=level, rng=np.random.default_rng(seed))
    kept = res.bootstrap_distribution[np.isfinite(res.bootstrap_distribution)]
    alpha = 1.0 - level
    lo, hi = np.quantile(kept, [alpha / 2, 1 - alpha / 2]) if kept.size else (math.nan, math.nan)
    return {"ci": [float(lo), float(hi)], "ci_level": level,
            "method": "percentile bootstrap over patients (scipy.stats.bootstrap)", "n_bootstrap": int(kept.size),
            "n_patients": int(keys.size)}


def cluster_bootstrap_auc(
    y_true: Any, scores: Any, groups: Any, *, n_bootstrap: int = 2000, ci: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """ROC AUC with a :func:`cluster_bootstrap_interval` over patients; resamples that hold one class only
    have no AUC and are left out."""
    y, s = _binary_inputs(y_true, scores)
    g = np.asarray(groups)
    check_same_length(y_true=y, groups=g)
    reason = _one_class_reason(y)
    if reason:
        raise EvaluationError(f"cluster bootstrap AUC: {reason}")

    def statistic(rows: np.ndarray) -> float:
        yy = y[rows]
        return float(auc_statistic(s[rows][yy == 1], s[rows][yy == 0])) if 0 < yy.sum() < yy.size else np.nan

    interval = cluster_bootstrap_interval(g, statistic, n_bootstrap=n_bootstrap, ci=ci, seed=seed,
                                          what="cluster bootstrap AUC")
    return {"value": float(roc_auc_score(y, s)), **interval, "n_slices": int(y.size), "n_positive": int(y.sum())}


def proportion(successes: int, total: int, *, ci: float = 0.95, what: str = "cases") -> dict[str, Any]:
    """A proportion with its Wilson score interval, or undefined (with reason) when ``total`` is 0."""
    if total == 0:
        return undefined(f"no {what}", count=0, of=0, ci_low=None, ci_high=None)
    interval = binomtest(int(successes), int(total)).proportion_ci(confidence_level=ci, method="wilson")
    return {
        "value": successes / total,
        "count": int(successes),
        "of": int(total),
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "ci_method": "Wilson score",
    }


def rates_at_threshold(y_true: Any, scores: Any, threshold: float, *, ci: float = 0.95) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV and accuracy when positive means ``score >= threshold``."""
    y, s = _binary_inputs(y_true, scores)
    if not math.isfinite(float(threshold)):
        raise EvaluationError(f"threshold: must be a finite number, got {threshold}")
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    return {
        "threshold": float(threshold),
        "rule": THRESHOLD_RULE,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": proportion(tp, tp + fn, ci=ci, what="positive cases"),
        "specificity": proportion(tn, tn + fp, ci=ci, what="negative cases"),
        "ppv": proportion(tp, tp + fp, ci=ci, what="cases called positive"),
        "npv": proportion(tn, tn + fn, ci=ci, what="cases called negative"),
        "accuracy": proportion(tp + tn, y.size, ci=ci, what="cases"),
    }


def youden_point(y_true: Any, scores: Any, *, ci: float = 0.95) -> dict[str, Any]:
    """The ROC threshold maximising Youden's J = sensitivity + specificity - 1 (highest threshold on ties)."""
    y, s = _binary_inputs(y_true, scores)
    reason = _one_class_reason(y)
    if reason:
        return undefined(f"Youden's J undefined: {reason}", threshold=None)
    fpr, tpr, thresholds = roc_curve(y, s)
    finite = np.isfinite(thresholds)
    j = np.where(finite, tpr - fpr, -np.inf)
    best = int(np.argmax(j))
    point = rates_at_threshold(y, s, float(thresholds[best]), ci=ci)
    return {"value": float(j[best]), "j": float(j[best]), **point}


def confusion(y_true_idx: np.ndarray, y_pred_idx: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix (sklearn) with rows = truth and columns = prediction, in ``class_names`` order."""
    cm = confusion_matrix(y_true_idx, y_pred_idx, labels=list(range(len(class_names))))
    return {"labels": list(class_names), "rows": "truth", "columns": "prediction", "matrix": cm.tolist()}


def _class_names(names: Sequence[str] | None, default: Sequence[str], expected: int | None) -> list[str]:
    if names is None:
        return list(default)
    if isinstance(names, str):
        raise EvaluationError("class_names: must be a list of names, not one string")
    out = [str(n) for n in names]
    if expected is not None and len(out) != expected:
        raise EvaluationError(f"class_names: expected {expected} names, got {len(out)}")
    if len(set(out)) != len(out):
        raise EvaluationError(f"class_names: names must be unique, got {out}")
    return out


def evaluate_binary(
    y_true: Any,
    scores: Any,
    threshold: float,
    names: Sequence[str] | None = None,
    *,
    n_bootstrap: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Any]:
    """All binary metrics for one finding: ROC AUC + bootstrap CI, sensitivity/specificity at the bundle's
    operating point ``threshold`` and at Youden's J, confusion matrix at the operating point, calibration,
    and the ROC curve. ``names`` are the two class names (negative, positive) used as matrix labels."""
    y, s = _binary_inputs(y_true, scores)
    level = check_level(ci)
    class_names = _class_names(names, ("negative", "positive"), expected=2)
    operating = rates_at_threshold(y, s, threshold, ci=level)
    reason = _one_class_reason(y)
    if reason:
        curve: dict[str, Any] = undefined(f"ROC curve undefined: {reason}")
    else:
        fpr, tpr, thr = roc_curve(y, s)
        curve = {"fpr": fpr, "tpr": tpr, "thresholds": thr}  # the first threshold is +inf -> null in JSON
    result = {
        "kind": "binary",
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_negative": int(y.size - y.sum()),
        "class_names": class_names,
        "roc_auc": roc_auc_with_ci(y, s, n_bootstrap=n_bootstrap, ci=level, seed=seed),
        "operating_point": operating,
        "youden": youden_point(y, s, ci=level),
        "confusion_matrix": confusion(y, (s >= threshold).astype(int), class_names),
        "calibration": reliability_bins(y, s, n_bins=n_bins),
        "roc_curve": curve,
    }
    return to_plain(result)


def class_indices(values: Any, class_names: Sequence[str], name: str) -> np.ndarray:
    """Map labels given as class names or as integer indices into ``class_names`` to integer indices."""
    items = list(values) if not isinstance(values, np.ndarray) else values.tolist()
    if not items:
        raise EvaluationError(f"{name}: is empty; there is nothing to evaluate")
    lookup = {c: i for i, c in enumerate(class_names)}
    if all(isinstance(v, str) for v in items):
        unknown = sorted({v for v in items if v not in lookup})
        if unknown:
            raise EvaluationError(f"{name}: labels not in class_names: {unknown[:5]}")
        return np.array([lookup[v] for v in items], dtype=int)
    if any(isinstance(v, str) for v in items):
        raise EvaluationError(f"{name}: mixes class names and numbers")
    arr = as_vector(items, name)
    if not np.all(arr == np.round(arr)) or arr.min() < 0 or arr.max() >= len(class_names):
        raise EvaluationError(f"{name}: numeric labels must be integers 0..{len(class_names) - 1}")
    return arr.astype(int)


def per_class_metrics(t: np.ndarray, p: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per class (one-vs-rest): support, precision, recall, F1 and accuracy; undefined ones are None
    with the reason under ``undefined``."""
    k = len(class_names)
    labels = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(t, p, labels=labels, zero_division=np.nan)
    with warnings.catch_warnings():  # the shape comes from ``labels``; sklearn still warns when one class is seen
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        cm = confusion_matrix(t, p, labels=labels)
    rows = []
    for i, name in enumerate(class_names):
        tp = int(cm[i, i])
        fn = int(cm[i].sum() - tp)
        fp = int(cm[:, i].sum() - tp)
        why: dict[str, str] = {}
        if int(support[i]) == 0:
            why["recall"] = "no true cases of this class"
        if tp + fp == 0:
            why["precision"] = "never predicted"
        if tp + fp + fn == 0:
            why["f1"] = "class absent from truth and prediction"
        row: dict[str, Any] = {
            "class": name,
            "support": int(support[i]),
            "predicted": tp + fp,
            "precision": None if "precision" in why else float(precision[i]),
            "recall": None if "recall" in why else float(recall[i]),
            "f1": None if "f1" in why else float(f1[i]),
            "accuracy": float((t.size - fp - fn) / t.size),
        }
        if why:
            row["undefined"] = why
        rows.append(row)
    return rows


def evaluate_multiclass(y_true: Any, y_pred: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Multi-class metrics: accuracy, balanced accuracy, macro F1, Cohen's kappa, per-class table and
    the confusion matrix. Labels may be class names or integer indices into ``class_names``."""
    names = _class_names(class_names, (), expected=None)
    if len(names) < 2:
        raise EvaluationError(f"class_names: need at least 2 classes, got {names}")
    t = class_indices(y_true, names, "y_true")
    p = class_indices(y_pred, names, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    rows = per_class_metrics(t, p, names)
    recalls = [r["recall"] for r in rows if r["recall"] is not None]
    f1s = [r["f1"] for r in rows if r["f1"] is not None]
    result = {
        "kind": "multiclass",
        "n": int(t.size),
        "class_names": names,
        "accuracy": float(np.mean(t == p)),
        "balanced_accuracy": float(np.mean(recalls)),
        "balanced_accuracy_classes": len(recalls),
        "macro_f1": float(np.mean(f1s)),
        "macro_f1_classes": len(f1s),
        "kappa": cohen_kappa(t, p, n_classes=len(names)),
        "per_class": rows,
        "confusion_matrix": confusion(t, p, names),
    }
    return to_plain(result)
