"""The per-case row of ``batch_results.csv``: fixed columns plus a few summary columns from each task's outputs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from radtriage.io.acquisition import SUBGROUP_COLUMNS

BASE_COLUMNS = (
    "case_id", "task", "status", "error", "result_dir", "bundle", "bundle_version", "demo",
    "decode_s", "run_s", "write_s", "total_s", "worker", "skipped_series", *SUBGROUP_COLUMNS,
)
"""Every row has these. ``status``: ok, error or skipped (a result from an earlier run was kept);
``skipped_series``: series of the study left out, each with its reason; then the acquisition subgroups
(site, vendor, field strength, slice thickness) from the inputs' DICOM tags, empty where not recorded."""

SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "mri_triage": ("p_abnormal", "p_acute_infarct", "p_acute_haemorrhage", "p_mass_effect", "abnormal",
                   "not_assessable", "critical_findings", "urgency_score"),
    "cmb_detect": ("cmb_count", "cmb_candidates_scored"),
    "lge_certainty": ("lge_slices", "lge_max", "lge_mean", "lge_low_certainty_slices"),
    "body_region": ("modality", "region_ranges", "regions", "uncertain_slices"),
}
"""Summary columns per task, in this order after the base columns."""


def columns_for(tasks: Iterable[str]) -> list[str]:
    """CSV header for a run over ``tasks``: the base columns, then each task's summary columns (no repeats)."""
    cols = list(BASE_COLUMNS)
    wanted = set(tasks)
    for task, extra in SUMMARY_COLUMNS.items():
        if task in wanted:
            cols += [c for c in extra if c not in cols]
    return cols


def _round(value: Any, digits: int = 4) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return round(float(value), digits)
    return value


def _mri(out: Mapping[str, Any]) -> dict[str, Any]:
    probs = out.get("probabilities", {})
    decisions = out.get("decisions", {})
    urgency = out.get("urgency", {})
    return {
        "p_abnormal": _round(probs.get("abnormal")),
        "p_acute_infarct": _round(probs.get("acute_infarct")),
        "p_acute_haemorrhage": _round(probs.get("acute_haemorrhage")),
        "p_mass_effect": _round(probs.get("mass_effect")),
        "abnormal": bool(decisions.get("abnormal")) if "abnormal" in decisions else None,
        "not_assessable": ";".join(out.get("not_assessable") or {}),
        "critical_findings": ";".join(urgency.get("critical_findings") or []),
        "urgency_score": _round(urgency.get("score")),
    }


def _cmb(out: Mapping[str, Any]) -> dict[str, Any]:
    return {"cmb_count": out.get("n_detections"), "cmb_candidates_scored": out.get("n_candidates_scored")}


def _lge(out: Mapping[str, Any]) -> dict[str, Any]:
    values = [float(s["likelihood"]) for s in out.get("slices", []) if s.get("likelihood") is not None]
    return {
        "lge_slices": len(values),
        "lge_max": round(max(values), 2) if values else None,
        "lge_mean": round(sum(values) / len(values), 2) if values else None,
        "lge_low_certainty_slices": sum(1 for s in out.get("slices", []) if s.get("flag")),
    }


def _body(out: Mapping[str, Any]) -> dict[str, Any]:
    ranges = out.get("ranges", [])
    return {
        "modality": out.get("modality"),
        "region_ranges": len(ranges),
        "regions": ";".join(r["region"] for r in ranges),
        "uncertain_slices": len(out.get("uncertain_slices") or []),
    }


_SUMMARIES = {"mri_triage": _mri, "cmb_detect": _cmb, "lge_certainty": _lge, "body_region": _body}


def summarize(task: str, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns of one task result (empty for a task without a summary)."""
    summary = _SUMMARIES.get(task)
    return summary(outputs) if summary else {}


def task_stage_seconds(outputs: Mapping[str, Any]) -> dict[str, float]:
    """The task's own stage timings (``timings_s``/``timing_s`` seconds or ``timings_ms``), as seconds."""
    stages: dict[str, float] = {}
    for key, scale in (("timings_s", 1.0), ("timing_s", 1.0), ("timings_ms", 0.001)):
        for name, value in (outputs.get(key) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                stages[name] = round(float(value) * scale, 4)
    return stages
