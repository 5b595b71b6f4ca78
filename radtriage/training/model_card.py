"""The model card of a trained bundle: data summary, held-out test metrics, settings, date and code version."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.training.datalist import SPLIT_NAMES, Case
from radtriage.training.taskspec import TrainTaskSpec

log = logging.getLogger(__name__)

DEMO_WARNING = "DEMO MODEL: trained on synthetic/demo data, not for clinical use."


def git_commit(path: str | Path | None = None) -> str | None:
    """The git commit of the source tree holding ``path`` (default: this package), ``+dirty`` when it has
    uncommitted changes to tracked files; None outside a git checkout or without git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def code_version() -> dict[str, str | None]:
    """``radtriage`` version and git commit (if the package runs from a git checkout)."""
    import radtriage

    return {"radtriage": radtriage.__version__, "git_commit": git_commit()}


def data_summary(
    cases: Sequence[Case], targets: Sequence[np.ndarray], splits: Sequence[str], task: TrainTaskSpec
) -> dict[str, Any]:
    """Cases, patients and class counts per split (no patient IDs)."""
    out: dict[str, Any] = {}
    for split in SPLIT_NAMES:
        idx = [i for i, s in enumerate(splits) if s == split]
        out[split] = {
            "cases": len(idx),
            "patients": len({cases[i].patient_id for i in idx}),
            "classes": task.class_counts([targets[i] for i in idx]),
        }
    out["total"] = {
        "cases": len(cases),
        "patients": len({c.patient_id for c in cases}),
        "classes": task.class_counts(list(targets)),
    }
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(entry: Mapping[str, Any]) -> str:
    if entry.get("value") is None:
        return f"n/a ({entry.get('reason', 'undefined')})"
    low, high = entry.get("ci_low"), entry.get("ci_high")
    ci = f" (95% CI {_fmt(low)}-{_fmt(high)})" if low is not None and high is not None else ""
    return f"{_fmt(entry['value'])}{ci}"


def _binary_rows(name: str, m: Mapping[str, Any]) -> str:
    op = m["operating_point"]
    return (
        f"| {name} | {m['n_positive']}/{m['n']} | {_ci(m['roc_auc'])} | {_fmt(op['threshold'], 2)} | "
        f"{_ci(op['sensitivity'])} | {_ci(op['specificity'])} |"
    )


def metrics_markdown(metrics: Mapping[str, Any]) -> list[str]:
    """Markdown lines summarising the test metrics of :meth:`TrainTaskSpec.evaluate`."""
    if not metrics.get("n"):
        return [f"No held-out test metrics: {metrics.get('reason', 'no test cases')}."]
    kind = metrics.get("task_kind", metrics.get("kind"))
    header = ["| Finding | Positives | ROC AUC | Threshold | Sensitivity | Specificity |", "|---|---|---|---|---|---|"]
    if kind == "multilabel":
        return header + [_binary_rows(name, m) for name, m in metrics["per_class"].items()]
    if kind == "score":
        name = metrics["class_names"][1]
        return [
            *header,
            _binary_rows(name, metrics),
            "",
            f"Mean absolute error of the score: {_fmt(metrics.get('score_mae'), 2)} (of {metrics.get('score_max')}).",
        ]
    kappa = metrics.get("kappa", {})
    kappa_value = kappa.get("value") if isinstance(kappa, Mapping) else kappa
    lines = [
        f"- Cases: {metrics['n']}",
        f"- Accuracy: {_fmt(metrics['accuracy'])}; balanced accuracy: {_fmt(metrics['balanced_accuracy'])}; "
        f"macro F1: {_fmt(metrics['macro_f1'])}; Cohen's kappa: {_fmt(kappa_value)}",
        "",
        "| Class | Support | Precision | Recall | F1 |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['class']} | {r['support']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['f1'])} |"
        for r in metrics["per_class"]
    ]
    return lines


def render_model_card(
    *,
    name: str,
    version: str,
    task: str,
    description: str,
    demo: bool,
    spec: TrainTaskSpec,
    summary: Mapping[str, Any],
    test_metrics: Mapping[str, Any],
    settings: Mapping[str, Any],
    training: Mapping[str, Any],
    date: str,
    code: Mapping[str, Any],
) -> str:
    """The Markdown model card (``docs/README.md``) of a trained bundle."""
    lines = [f"# {name} {version}", ""]
    if demo:
        lines += [f"> **{DEMO_WARNING}**", ""]
    lines += [
        description or f"Model for `{task}` trained with `radtriage train`.",
        "",
        f"- Task: `{task}` ({spec.kind}, {spec.activation} outputs; classes: {', '.join(spec.class_names)})",
        f"- Trained: {date}",
        f"- Code: radtriage {code.get('radtriage')}, git commit {code.get('git_commit') or 'unknown'}",
        "- Intended use: research reading aid only; not for clinical diagnosis."
        + (" This is a demo model." if demo else ""),
        "",
        "## Data",
        "",
        "| Split | Cases | Patients | " + " | ".join(summary["total"]["classes"]) + " |",
        "|---" * (3 + len(summary["total"]["classes"])) + "|",
    ]
    for split in (*SPLIT_NAMES, "total"):
        row = summary[split]
        lines.append(
            f"| {split} | {row['cases']} | {row['patients']} | "
            + " | ".join(str(row["classes"].get(c, 0)) for c in summary["total"]["classes"])
            + " |"
        )
    lines += [
        "",
        "Splits are by patient (no patient is in two splits).",
        "",
        "## Held-out test metrics",
        "",
        *metrics_markdown(test_metrics),
        "",
        "Full metrics: `docs/test_metrics.json`.",
        "",
        "## Training",
        "",
        f"- Epochs run: {training.get('epochs_run')}; best epoch: {training.get('best_epoch')} "
        f"(validation {training.get('monitor')}: {_fmt(training.get('best_value'), 4)})"
        + ("; stopped early" if training.get("stopped_early") else ""),
        "",
        "```json",
        json.dumps(settings, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)
