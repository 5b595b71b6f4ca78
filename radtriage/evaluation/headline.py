"""Headline figures: the numbers papers report, from an evaluation's metrics, as a table beside the seed paper's."""

from __future__ import annotations

from typing import Any


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The figures papers report, from one :func:`evaluate_binary` / :func:`evaluate_multiclass` result."""
    if metrics.get("kind") == "multiclass":
        return {"accuracy": metrics.get("accuracy"), "balanced_accuracy": metrics.get("balanced_accuracy"),
                "macro_f1": metrics.get("macro_f1"), "kappa": _value(metrics.get("kappa"))}
    op = metrics.get("operating_point") or {}
    sens, ppv = _value(op.get("sensitivity")), _value(op.get("ppv"))
    f1 = 2 * sens * ppv / (sens + ppv) if sens is not None and ppv is not None and sens + ppv > 0 else None
    return {"accuracy": _value(op.get("accuracy")), "recall": sens, "precision": ppv, "f1": f1,
            "specificity": _value(op.get("specificity")), "roc_auc": _value(metrics.get("roc_auc"))}


def _value(entry: Any) -> float | None:
    """A metric's number: plain, or the ``value`` of a metric object; None when undefined."""
    if isinstance(entry, dict):
        entry = entry.get("value")
    return float(entry) if isinstance(entry, (int, float)) and not isinstance(entry, bool) else None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def headline_table(metrics: dict[str, Any]) -> str:
    """Markdown: our headline figures (overall and per subgroup) beside the seed paper's when one is named."""
    ours = headline(metrics)
    seed = (metrics.get("seed_paper") or {}).get("metrics") or {}
    names = [k for k in ours if ours[k] is not None or k in seed]
    other = {k: v for k, v in seed.items() if k not in names}  # e.g. per-finding AUCs of a multi-output paper
    subgroups = metrics.get("subgroups") or {}
    groups = [("all", metrics)] + [(f"{column} = {value}", m) for column, values in subgroups.items()
                                   for value, m in values.items()]
    header = ["set", "n", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, m in groups:
        row = headline(m)
        lines.append(f"| {label} | {m.get('n', '')} | " + " | ".join(_cell(row.get(k)) for k in names) + " |")
    if seed:
        citation = metrics["seed_paper"]
        lines.append(f"| seed: {citation['key']} ({citation['data']}) | | "
                     + " | ".join(_cell(seed.get(k)) for k in names) + " |")
        if other:
            lines.append(f"\n{citation['citation']}, {citation['data']}: "
                         + ", ".join(f"{k} {v:.3f}" for k, v in other.items()))
    return "\n".join(lines)
