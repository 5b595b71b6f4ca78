"""FROC evaluation of a CMBDetect bundle on SWI phantoms or on a folder of scans with truth JSON.

Matching (``radtriage.evaluation.evaluate_detection``, RAS mm): a detection hits a microbleed when it lies
within ``match_mm`` (default 2 mm) of its centre or within its apparent (blooming) radius; every scored
candidate counts (the FROC sweeps the threshold), so the curve does not depend on the bundle's operating point.

Folder layout: ``NAME.nii.gz`` (magnitude) with ``NAME.truth.json`` = ``{"microbleeds": [{"center_ras": [x, y,
z], "radius_mm": r}, ...], "phase": "NAME_phase.nii.gz" (optional)}``; :func:`write_phantom_scans` writes one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_MATCH_MM = 2.0
TARGET = {"sensitivity": 0.90, "max_fp_per_scan": 1.5}
TRUTH_SUFFIX = ".truth.json"


def phantom_scans(seeds: Sequence[int], **phantom_options: Any) -> list[dict[str, Any]]:
    """SWI phantom scans ``{"name", "magnitude", "phase", "truth"}`` (truth: RAS centres + apparent radii)."""
    from radtriage.phantoms import make_swi_case

    scans = []
    for seed in seeds:
        case = make_swi_case(int(seed), **phantom_options)
        truth = [{"center_ras": list(f.centre_ras), "radius_mm": f.apparent_radius_mm} for f in case.microbleeds]
        scans.append({"name": f"swi-phantom-{int(seed)}", "magnitude": case.magnitude, "phase": case.phase,
                      "truth": truth})
    return scans


def write_phantom_scans(folder: str | Path, seeds: Sequence[int], with_phase: bool = True) -> list[Path]:
    """Write phantom scans as ``NAME.nii.gz`` (+ ``NAME_phase.nii.gz``) with ``NAME.truth.json``."""
    from radtriage.io import write_volume

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scan in phantom_scans(seeds):
        name = scan["name"]
        written.append(write_volume(scan["magnitude"], out / f"{name}.nii.gz"))
        doc: dict[str, Any] = {"microbleeds": scan["truth"]}
        if with_phase and scan["phase"] is not None:
            write_volume(scan["phase"], out / f"{name}_phase.nii.gz")
            doc["phase"] = f"{name}_phase.nii.gz"
        (out / f"{name}{TRUTH_SUFFIX}").write_text(json.dumps(doc, indent=2))
    return written


def folder_scans(folder: str | Path) -> list[dict[str, Any]]:
    """Scans from a folder of ``NAME.truth.json`` files (see the module docstring)."""
    from radtriage.io import read_image

    root = Path(folder)
    truths = sorted(root.glob(f"*{TRUTH_SUFFIX}"))
    if not truths:
        raise InputError(root, f"no *{TRUTH_SUFFIX} files (one per scan) in this folder")
    scans = []
    for path in truths:
        name = path.name[: -len(TRUTH_SUFFIX)]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            lesions = [{"center_ras": [float(v) for v in m["center_ras"]], "radius_mm": m.get("radius_mm")}
                       for m in doc.get("microbleeds", [])]
        except (ValueError, KeyError, TypeError) as exc:
            expected = "{'microbleeds': [{'center_ras': [x, y, z], 'radius_mm': r}]}"
            raise InputError(path, f"not a truth file ({exc}); expected {expected}") from exc
        images = [p for p in root.glob(f"{name}.*") if p.name != path.name and not p.name.endswith(".json")]
        if not images:
            raise InputError(path, f"no image {name}.nii.gz (or other format) beside this truth file")
        phase = read_image(root / doc["phase"]) if doc.get("phase") else None
        scans.append({"name": name, "magnitude": read_image(images[0]), "phase": phase, "truth": lesions})
    return scans


SCORES = ("confidence", "stage1")


def _score(candidate: Any, score: str) -> float:
    return float(candidate.candidate_score if score == "stage1" else candidate.confidence)


def evaluate_runs(runs: Sequence[Any], scans: Sequence[dict[str, Any]], match_mm: float = DEFAULT_MATCH_MM,
                  score: str = "confidence", threshold: float | None = None) -> dict[str, Any]:
    """FROC of finished :class:`DetectionRun` objects (one per scan) ranked by ``score``: ``"confidence"`` (the
    cascade, stage 1 + 2) or ``"stage1"`` (the screener's heatmap peak alone); the operating point counts the
    candidates whose score is at or above ``threshold`` (default: each run's own threshold)."""
    from radtriage.evaluation import evaluate_detection
    from radtriage.evaluation.detection import operating_point_metrics

    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    dets: dict[str, list[dict[str, Any]]] = {}
    kept: dict[str, list[dict[str, Any]]] = {}
    truth: dict[str, list[dict[str, Any]]] = {}
    for run, scan in zip(runs, scans, strict=True):
        cut = run.threshold if threshold is None else float(threshold)
        dets[scan["name"]] = [{"center": list(c.center_ras), "score": _score(c, score)} for c in run.candidates]
        truth[scan["name"]] = [{"center": t["center_ras"], "radius_mm": t.get("radius_mm")} for t in scan["truth"]]
        kept[scan["name"]] = [d for d in dets[scan["name"]] if d["score"] >= cut]
    result = evaluate_detection(dets, truth, match_mm)
    result["score"] = "stage 1 + stage 2 confidence" if score == "confidence" else "stage 1 heatmap peak only"
    op = operating_point_metrics(kept, truth, match_mm) if scans else {}
    result["operating_point"] = {
        "threshold": None if not runs else (runs[0].threshold if threshold is None else float(threshold)),
        "sensitivity": (op.get("lesion_sensitivity") or {}).get("value"),
        "fp_per_scan": op.get("fp_per_subject", 0.0),
        **op,
    }
    result["target"] = {**TARGET, "met": _target_met(result)}
    return result


def fp_per_scan_at(result: dict[str, Any], sensitivity: float) -> float | None:
    """The fewest false positives per scan at which the FROC of ``result`` reaches ``sensitivity`` (None: never)."""
    froc = result["froc"]
    if froc.get("sensitivity") is None:
        return None
    fps = [f for f, s in zip(froc["fp_per_scan"], froc["sensitivity"], strict=True) if s >= sensitivity - 1e-9]
    return min(fps) if fps else None


def evaluate_scans(pipeline: Any, scans: Sequence[dict[str, Any]], match_mm: float = DEFAULT_MATCH_MM,
                   use_phase: bool = True, score: str = "confidence") -> dict[str, Any]:
    """Run ``pipeline`` (a :class:`CmbPipeline`) on every scan and compute the FROC over all scored candidates."""
    runs = [pipeline.detect(scan["magnitude"], scan.get("phase") if use_phase else None) for scan in scans]
    result = evaluate_runs(runs, scans, match_mm, score)
    result["phase_used"] = bool(use_phase and any(s.get("phase") is not None for s in scans))
    return result


def matched_scores(runs: Sequence[Any], scans: Sequence[dict[str, Any]], score: str = "confidence",
                   match_mm: float = DEFAULT_MATCH_MM) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per scan: candidate scores, whether each is a hit (the FROC's greedy matching) and the number of lesions."""
    from radtriage.evaluation.detection import as_detection, as_lesion, match_scan

    out = []
    for run, scan in zip(runs, scans, strict=True):
        dets = [as_detection({"center": list(c.center_ras), "score": _score(c, score)}, scan["name"])
                for c in run.candidates]
        lesions = [as_lesion({"center": t["center_ras"], "radius_mm": t.get("radius_mm")}, scan["name"])
                   for t in scan["truth"]]
        matched = match_scan(dets, lesions, float(match_mm))
        out.append((np.array([d.score for d, _ in matched], dtype=float),
                    np.array([j is not None for _, j in matched], dtype=bool), len(lesions)))
    return out


def _fp_at(per_scan: Sequence[tuple[np.ndarray, np.ndarray, int]], sensitivity: float) -> float:
    """FP per scan at which the pooled FROC of ``per_scan`` first reaches ``sensitivity`` (inf: never)."""
    n_lesions = sum(n for _, _, n in per_scan)
    if not n_lesions or not per_scan:
        return float("inf")
    s = np.concatenate([a for a, _, _ in per_scan])
    tp = np.concatenate([b for _, b, _ in per_scan])
    order = np.argsort(-s, kind="stable")
    s, tp = s[order], tp[order]
    last = np.r_[s[1:] != s[:-1], True] if s.size else np.zeros(0, dtype=bool)
    sens = np.r_[0.0, np.cumsum(tp)[last] / n_lesions]
    fps = np.r_[0.0, np.cumsum(~tp)[last] / len(per_scan)]
    reached = fps[sens >= sensitivity - 1e-9]
    return float(reached.min()) if reached.size else float("inf")


def fp_at_sensitivity_intervals(runs: Sequence[Any], scans: Sequence[dict[str, Any]],
                                sensitivities: Sequence[float] = (0.8, 0.85, 0.9, 0.95),
                                match_mm: float = DEFAULT_MATCH_MM, n_bootstrap: int = 1000,
                                seed: int = 0) -> list[dict[str, Any]]:
    """Stage 1 alone vs stage 1 + 2 at equal lesion sensitivity, with 95 % intervals from a paired bootstrap over
    scans (subjects): FP/scan each needs and the reduction ``stage1 - stage1_2`` (None: not reached)."""
    one = matched_scores(runs, scans, "stage1", match_mm)
    both = matched_scores(runs, scans, "confidence", match_mm)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(scans), len(scans)) for _ in range(int(n_bootstrap))] if len(scans) else []

    def finite(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    def interval(values: np.ndarray) -> list[float | None]:
        if not len(values):
            return [None, None]
        lo, hi = np.quantile(values, [0.025, 0.975], method="nearest")
        return [finite(lo), finite(hi)]

    out = []
    for sens in sensitivities:
        a = np.array([_fp_at([one[i] for i in d], sens) for d in draws])
        b = np.array([_fp_at([both[i] for i in d], sens) for d in draws])
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isfinite(a) & np.isfinite(b), a - b,
                            np.where(np.isfinite(a) == np.isfinite(b), 0.0, np.where(np.isfinite(b), np.inf, -np.inf)))
        p1, p12 = _fp_at(one, sens), _fp_at(both, sens)
        out.append({
            "sensitivity": float(sens), "stage1_fp_per_scan": finite(p1), "stage1_2_fp_per_scan": finite(p12),
            "reduction": finite(p1 - p12) if np.isfinite(p1) and np.isfinite(p12) else None,
            "stage1_ci95": interval(a), "stage1_2_ci95": interval(b), "reduction_ci95": interval(diff),
            "stage1_2_fewer_share": float(np.mean(diff > 0)) if len(diff) else None,
        })
    return out


def compare_stages(pipeline: Any, scans: Sequence[dict[str, Any]], match_mm: float = DEFAULT_MATCH_MM,
                   use_phase: bool = True, stage1_threshold: float | None = None,
                   sensitivities: Sequence[float] = (0.8, 0.85, 0.9, 0.95), n_bootstrap: int = 0) -> dict[str, Any]:
    """Stage 1 alone vs stage 1 + 2 on the same runs: both FROCs and the FP/scan each needs for ``sensitivities``
    (with paired-bootstrap 95 % intervals when ``n_bootstrap`` > 0, see :func:`fp_at_sensitivity_intervals`).

    ``stage1_threshold`` is the screener-only operating threshold (default: the candidate threshold)."""
    runs = [pipeline.detect(scan["magnitude"], scan.get("phase") if use_phase else None) for scan in scans]
    both = evaluate_runs(runs, scans, match_mm, "confidence")
    alone = evaluate_runs(runs, scans, match_mm, "stage1",
                          pipeline.settings.candidate_threshold if stage1_threshold is None else stage1_threshold)
    if n_bootstrap > 0:
        fp_at = fp_at_sensitivity_intervals(runs, scans, sensitivities, match_mm, n_bootstrap)
    else:
        fp_at = [{"sensitivity": s, "stage1_fp_per_scan": fp_per_scan_at(alone, s),
                  "stage1_2_fp_per_scan": fp_per_scan_at(both, s)} for s in sensitivities]
    phase_used = bool(use_phase and any(s.get("phase") is not None for s in scans))
    return {"stage1_2": {**both, "phase_used": phase_used}, "stage1": {**alone, "phase_used": phase_used},
            "fp_per_scan_at_sensitivity": fp_at}


def _target_met(result: dict[str, Any]) -> bool | None:
    froc = result["froc"]
    if froc.get("sensitivity") is None:
        return None
    best = max((s for f, s in zip(froc["fp_per_scan"], froc["sensitivity"], strict=True)
                if f <= TARGET["max_fp_per_scan"]), default=0.0)
    return bool(best >= TARGET["sensitivity"])


def operating_point_line(op: dict[str, Any]) -> str:
    """One line of the operating-point metrics (the seed paper's set) for the terminal."""
    def value(metric: Any) -> str:
        v = metric.get("value") if isinstance(metric, dict) else metric
        return "n/a" if v is None else f"{v:.2f}"

    subject = op.get("subject_level") or {}
    return (f"at the operating point {op.get('threshold')}: lesion sensitivity {value(op.get('lesion_sensitivity'))}, "
            f"per-subject sensitivity {value(op.get('mean_subject_sensitivity'))}, FP/subject "
            f"{value(op.get('fp_per_subject'))}, precision {value(op.get('precision'))}, F1 {value(op.get('f1'))}, "
            f"subject-level balanced accuracy {value(subject.get('balanced_accuracy'))}")


def write_evaluation(result: dict[str, Any], out_dir: str | Path, prefix: str = "cmb_") -> dict[str, Path]:
    """``<prefix>froc.json`` and ``<prefix>froc.png`` in ``out_dir``."""
    from radtriage.evaluation import plot_froc, write_summary

    out = Path(out_dir)
    paths = {"json": write_summary(result, out, f"{prefix}froc.json")}
    if result["froc"].get("sensitivity") is not None:
        paths["png"] = plot_froc(result, out / f"{prefix}froc.png")
    return paths
