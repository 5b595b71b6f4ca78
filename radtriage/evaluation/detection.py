"""Detection metrics: matching detections to ground-truth lesions and the FROC curve.

Coordinates are physical positions in mm, in the same patient frame for detections and truth (the caller
picks LPS or RAS). A detection hits a lesion when its distance to the lesion centre is <= ``match_mm`` or
<= the lesion's radius. Within each scan detections are matched greedily in descending score order, each to
the nearest lesion not yet hit; each lesion is hit at most once and further detections of it are false
positives. Because the matching is greedy by score, the matches at any threshold are a prefix of this
order, so one pass gives the whole FROC curve.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radtriage.evaluation.report import to_plain
from radtriage.evaluation.validation import EvaluationError, undefined

log = logging.getLogger(__name__)

FP_RATES = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Detection:
    """One detected candidate: its centre (mm) and the model's score (higher = more confident)."""

    center: tuple[float, float, float]
    score: float


@dataclass(frozen=True)
class Lesion:
    """One ground-truth lesion: its centre (mm) and, when known, its radius (mm)."""

    center: tuple[float, float, float]
    radius_mm: float | None = None


def _center(value: Any, where: str) -> tuple[float, float, float]:
    try:
        xyz = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{where}: centre must be 3 numbers, got {value!r}") from exc
    if len(xyz) != 3 or not all(math.isfinite(v) for v in xyz):
        raise EvaluationError(f"{where}: centre must be 3 finite numbers, got {value!r}")
    return xyz  # type: ignore[return-value]


def as_detection(item: Any, where: str) -> Detection:
    """Accept a Detection, a mapping with ``center`` and ``score``, or a sequence (x, y, z, score)."""
    if isinstance(item, Detection):
        center, score = item.center, item.score
    elif isinstance(item, Mapping):
        if "center" not in item or "score" not in item:
            raise EvaluationError(f"{where}: a detection needs 'center' and 'score', got keys {sorted(item)}")
        center, score = item["center"], item["score"]
    else:
        values = list(np.asarray(item, dtype=float).ravel()) if not isinstance(item, str) else []
        if len(values) != 4:
            raise EvaluationError(f"{where}: a detection is (x, y, z, score), got {item!r}")
        center, score = values[:3], values[3]
    try:
        score = float(score)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{where}: score must be a number, got {score!r}") from exc
    if not math.isfinite(score):
        raise EvaluationError(f"{where}: score is NaN or infinite")
    return Detection(_center(center, where), score)


def as_lesion(item: Any, where: str) -> Lesion:
    """Accept a Lesion, a mapping with ``center`` (and optional ``radius_mm``), or (x, y, z[, radius])."""
    if isinstance(item, Lesion):
        center, radius = item.center, item.radius_mm
    elif isinstance(item, Mapping):
        if "center" not in item:
            raise EvaluationError(f"{where}: a lesion needs 'center', got keys {sorted(item)}")
        center, radius = item["center"], item.get("radius_mm", item.get("radius"))
    else:
        values = list(np.asarray(item, dtype=float).ravel()) if not isinstance(item, str) else []
        if len(values) not in (3, 4):
            raise EvaluationError(f"{where}: a lesion is (x, y, z) or (x, y, z, radius_mm), got {item!r}")
        center, radius = values[:3], (values[3] if len(values) == 4 else None)
    if radius is not None:
        radius = float(radius)
        if not math.isfinite(radius) or radius < 0:
            raise EvaluationError(f"{where}: radius must be a finite number >= 0, got {radius!r}")
    return Lesion(_center(center, where), radius)


def match_scan(
    detections: Sequence[Detection], lesions: Sequence[Lesion], match_mm: float
) -> list[tuple[Detection, int | None]]:
    """Match one scan's detections to its lesions; returns (detection, lesion index or None = false
    positive) in descending score order (input order among equal scores)."""
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
    centres = np.array([les.center for les in lesions], dtype=float).reshape(-1, 3)
    reach = np.array([max(match_mm, les.radius_mm or 0.0) for les in lesions], dtype=float)
    hit = np.zeros(len(lesions), dtype=bool)
    out: list[tuple[Detection, int | None]] = []
    for i in order:
        det = detections[i]
        dist = np.linalg.norm(centres - np.asarray(det.center), axis=1)
        candidates = np.flatnonzero((dist <= reach) & ~hit)
        if candidates.size:
            j = int(candidates[np.argmin(dist[candidates])])
            hit[j] = True
            out.append((det, j))
        else:
            out.append((det, None))
    return out


def _scans(detections_per_scan: Any, truth_per_scan: Any) -> tuple[list[Any], list[Any], list[str]]:
    if isinstance(truth_per_scan, Mapping):
        if not isinstance(detections_per_scan, Mapping):
            raise EvaluationError("detections_per_scan must be keyed by scan like truth_per_scan")
        by_key = {str(k): v for k, v in detections_per_scan.items()}
        keys = [str(k) for k in truth_per_scan]
        extra = sorted(set(by_key) - set(keys))
        if extra:
            raise EvaluationError(f"detections_per_scan has scans with no ground truth entry: {extra[:5]}")
        return [by_key.get(k, []) for k in keys], list(truth_per_scan.values()), keys
    if isinstance(detections_per_scan, Mapping):
        raise EvaluationError("truth_per_scan must be keyed by scan like detections_per_scan")
    dets, truth = list(detections_per_scan), list(truth_per_scan)
    if len(dets) != len(truth):
        raise EvaluationError(
            f"mismatched lengths: detections_per_scan has {len(dets)} scans, truth_per_scan has {len(truth)}"
        )
    return dets, truth, [f"#{i}" for i in range(len(truth))]


def froc_curve(detections_per_scan: Any, truth_per_scan: Any, match_mm: float) -> dict[str, Any]:
    """FROC operating points over all score thresholds: average false positives per scan and lesion
    sensitivity, starting at (0, 0) (threshold above every score; that threshold is None)."""
    try:
        match_mm = float(match_mm)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"match_mm: must be a distance in mm, got {match_mm!r}") from exc
    if not (math.isfinite(match_mm) and match_mm >= 0):
        raise EvaluationError(f"match_mm: must be a finite distance >= 0 in mm, got {match_mm!r}")
    det_lists, truth_lists, keys = _scans(detections_per_scan, truth_per_scan)
    if not keys:
        raise EvaluationError("no scans to evaluate (truth_per_scan is empty)")
    scores: list[float] = []
    is_tp: list[bool] = []
    n_lesions = 0
    for key, dets, truth in zip(keys, det_lists, truth_lists, strict=True):
        lesions = [as_lesion(item, f"scan {key} lesion {i}") for i, item in enumerate(truth)]
        detections = [as_detection(item, f"scan {key} detection {i}") for i, item in enumerate(dets)]
        n_lesions += len(lesions)
        for det, lesion in match_scan(detections, lesions, float(match_mm)):
            scores.append(det.score)
            is_tp.append(lesion is not None)
    from monai.metrics import compute_froc_curve_data  # imports torch: not at module import

    s, tp = np.asarray(scores, dtype=float), np.asarray(is_tp, dtype=bool)
    n_scans = len(keys)
    # MONAI's FROC data (CAMELYON16's code) skips its lowest threshold; a false positive below every score
    # keeps the all-detections point (it counts at no real threshold). Its points run from the lowest
    # threshold up to (0, 0); ours from (0, 0) down.
    fp_per_scan, sens = compute_froc_curve_data(np.r_[s[~tp], -np.inf], s[tp], max(n_lesions, 1), n_scans)
    fp_per_scan, sens = fp_per_scan[::-1].astype(float), sens[::-1].astype(float)
    thresholds: list[float | None] = [None, *sorted(set(s.tolist()), reverse=True)]
    curve: dict[str, Any] = {
        "n_scans": n_scans,
        "n_lesions": n_lesions,
        "n_detections": int(s.size),
        "n_true_positive": int(tp.sum()),
        "n_false_positive": int((~tp).sum()),
        "match_mm": float(match_mm),
        "thresholds": thresholds,
        "fp_per_scan": fp_per_scan,
    }
    if n_lesions:
        curve["sensitivity"] = sens
    else:
        curve["sensitivity"] = None
        curve["reason"] = "no ground-truth lesions in any scan; sensitivity is undefined"
    return curve


def sensitivity_at_fp(
    fp_per_scan: Sequence[float], sensitivity: Sequence[float], fp_rates: Sequence[float] = FP_RATES
) -> list[dict[str, Any]]:
    """Sensitivity linearly interpolated on the FROC curve at each FP-per-scan rate. Where a rate lies
    beyond the curve's last point the last sensitivity is reported with ``reached: False``."""
    return _points_at(*_upper_envelope(fp_per_scan, sensitivity), fp_rates)


def _points_at(xs: np.ndarray, ys: np.ndarray, fp_rates: Sequence[float]) -> list[dict[str, Any]]:
    return [
        {"fp_per_scan": float(rate), "sensitivity": float(np.interp(rate, xs, ys)), "reached": bool(rate <= xs[-1])}
        for rate in fp_rates
    ]


def _upper_envelope(fp_per_scan: Sequence[float], sensitivity: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The FROC curve with one point per distinct FP rate, the highest sensitivity there (vertical steps are
    read at their top), FP rates ascending."""
    fp = np.asarray(fp_per_scan, dtype=float)
    sens = np.asarray(sensitivity, dtype=float)
    xs, idx = np.unique(fp[::-1], return_index=True)
    return xs, np.maximum.accumulate(sens[::-1][idx])


def evaluate_detection(
    detections_per_scan: Any,
    truth_per_scan: Any,
    match_mm: float,
    *,
    fp_rates: Sequence[float] = FP_RATES,
) -> dict[str, Any]:
    """FROC evaluation: the curve, sensitivity at fixed FP-per-scan rates (default 0.5/1/2/4) and their mean.

    ``detections_per_scan`` and ``truth_per_scan`` are parallel lists (one entry per scan) or mappings keyed
    by scan; a scan's entry lists its detections (``Detection``, ``{"center", "score"}`` or (x, y, z, score))
    or lesions (``Lesion``, ``{"center", "radius_mm"}`` or (x, y, z[, radius_mm]))."""
    curve = froc_curve(detections_per_scan, truth_per_scan, match_mm)
    result: dict[str, Any] = {
        "kind": "detection",
        "matching": (
            f"hit when distance to lesion centre <= {float(match_mm):g} mm or <= lesion radius; greedy by "
            "descending score; each lesion hit at most once, duplicates are false positives"
        ),
        "froc": curve,
    }
    if curve["sensitivity"] is None:
        result["sensitivity_at_fp"] = [
            {"fp_per_scan": float(r), "sensitivity": None, "reached": None} for r in fp_rates
        ]
        result["mean_sensitivity"] = undefined(curve["reason"])
    else:
        from monai.metrics import compute_froc_score

        xs, ys = _upper_envelope(curve["fp_per_scan"], curve["sensitivity"])
        points = _points_at(xs, ys, fp_rates)
        result["sensitivity_at_fp"] = points
        result["mean_sensitivity"] = {  # MONAI's FROC score over the envelope (it reads its arrays reversed)
            "value": float(compute_froc_score(xs[::-1], ys[::-1], tuple(float(r) for r in fp_rates))),
            "fp_rates": [float(r) for r in fp_rates],
        }
    return to_plain(result)


def operating_point_metrics(detections_per_scan: Any, truth_per_scan: Any, match_mm: float) -> dict[str, Any]:
    """Metrics of the detections a model REPORTS (already cut at its operating point), as detection papers give
    them: lesion-level sensitivity, mean per-subject sensitivity, false positives per subject, precision and F1,
    and the subject-level read (a subject is positive when anything is reported) with its sensitivity,
    specificity and balanced accuracy. Proportions carry Wilson intervals (small sets)."""
    from radtriage.evaluation.classification import proportion

    det_lists, truth_lists, keys = _scans(detections_per_scan, truth_per_scan)
    if not keys:
        raise EvaluationError("no scans to evaluate (truth_per_scan is empty)")
    tp = fp = n_lesions = 0
    per_subject: list[float] = []
    subject = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    for key, dets, truth in zip(keys, det_lists, truth_lists, strict=True):
        lesions = [as_lesion(item, f"scan {key} lesion {i}") for i, item in enumerate(truth)]
        detections = [as_detection(item, f"scan {key} detection {i}") for i, item in enumerate(dets)]
        matched = match_scan(detections, lesions, float(match_mm))
        hits = sum(1 for _, lesion in matched if lesion is not None)
        tp, fp, n_lesions = tp + hits, fp + len(matched) - hits, n_lesions + len(lesions)
        if lesions:
            per_subject.append(hits / len(lesions))
        cell = ("tp" if detections else "fn") if lesions else ("fp" if detections else "tn")
        subject[cell] += 1
    n = len(keys)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / n_lesions if n_lesions else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if tp == 0 and
                                                                                       n_lesions else None)
    sens = proportion(subject["tp"], subject["tp"] + subject["fn"], what="subjects with lesions")
    spec = proportion(subject["tn"], subject["tn"] + subject["fp"], what="subjects without lesions")
    balanced = (sens["value"] + spec["value"]) / 2 if sens.get("value") is not None and \
        spec.get("value") is not None else None
    return to_plain({
        "n_subjects": n,
        "n_lesions": n_lesions,
        "n_reported": tp + fp,
        "lesion_sensitivity": proportion(tp, n_lesions, what="lesions"),
        "mean_subject_sensitivity": float(np.mean(per_subject)) if per_subject else None,
        "fp_per_subject": fp / n,
        "precision": proportion(tp, tp + fp, what="reported detections"),
        "f1": f1,
        "subject_level": {"confusion": subject, "sensitivity": sens, "specificity": spec,
                          "balanced_accuracy": balanced,
                          "rule": "a subject is called positive when at least one detection is reported"},
    })
