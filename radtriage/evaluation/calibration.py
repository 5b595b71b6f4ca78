"""Calibration of predicted probabilities: expected calibration error and reliability-diagram bins."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss

from radtriage.evaluation.validation import EvaluationError, as_binary_labels, as_vector, check_same_length


def reliability_bins(y_true: Any, probabilities: Any, n_bins: int = 10) -> dict[str, Any]:
    """ECE/MCE over ``n_bins`` equal-width bins on [0, 1], the Brier score, and each bin's contents.

    ECE = sum over bins of (bin count / n) * |fraction positive - mean predicted probability|.
    Scores outside [0, 1] are not probabilities: the result then has ``ece: None`` and a ``reason``.
    """
    y = as_binary_labels(y_true)
    p = as_vector(probabilities, "scores")
    check_same_length(y_true=y, scores=p)
    if int(n_bins) < 1:
        raise EvaluationError(f"n_bins: must be at least 1, got {n_bins}")
    n_bins = int(n_bins)
    if p.min() < 0.0 or p.max() > 1.0:
        return {
            "ece": None,
            "mce": None,
            "brier": None,
            "n_bins": n_bins,
            "bins": [],
            "reason": f"scores are not probabilities in [0, 1] (range {p.min():.4g} to {p.max():.4g})",
        }
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    bins: list[dict[str, Any]] = []
    ece = 0.0
    mce = 0.0
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        row: dict[str, Any] = {"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": count}
        if count:
            mean_p = float(p[members].mean())
            frac = float(y[members].mean())
            gap = abs(frac - mean_p)
            ece += count / p.size * gap
            mce = max(mce, gap)
            row.update(mean_predicted=mean_p, fraction_positive=frac)
        else:
            row.update(mean_predicted=None, fraction_positive=None)
        bins.append(row)
    return {
        "ece": float(ece),
        "mce": float(mce),
        "brier": float(brier_score_loss(y, p, labels=[0, 1])),
        "n_bins": n_bins,
        "binning": "equal-width on [0, 1]",
        "bins": bins,
    }
