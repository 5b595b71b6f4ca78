"""PNG plots of evaluation results, drawn from the metric dictionaries the ``evaluate_*`` functions return.

Figures are made with ``matplotlib.figure.Figure`` (Agg canvas) and never through pyplot, so plotting
changes no global backend and works headless and inside Slicer alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from radtriage.evaluation.validation import EvaluationError

log = logging.getLogger(__name__)

DPI = 110


def _figure(size: tuple[float, float] = (5.5, 5.0)) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, format="png")
    log.info("wrote plot %s", out)
    return out


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot_roc(binary: Mapping[str, Any], path: str | Path) -> Path:
    """ROC curve with the AUC and its CI in the legend, the operating point and the Youden point marked."""
    curve = binary.get("roc_curve") or {}
    if curve.get("fpr") is None:
        raise EvaluationError(f"cannot plot ROC: {curve.get('reason', 'no ROC curve in the metrics')}")
    auc = binary["roc_auc"]
    fig, ax = _figure()
    label = f"AUC {_fmt(auc['value'])}"
    if auc.get("ci_low") is not None:
        label += f" ({auc['ci_level']:.0%} CI {auc['ci_low']:.3f}–{auc['ci_high']:.3f})"
    ax.plot(curve["fpr"], curve["tpr"], color="tab:blue", lw=2, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="chance")
    for key, marker, name in (("operating_point", "o", "operating point"), ("youden", "s", "Youden's J")):
        point = binary.get(key) or {}
        sens, spec = (point.get("sensitivity") or {}).get("value"), (point.get("specificity") or {}).get("value")
        if sens is not None and spec is not None:
            ax.plot(
                [1 - spec],
                [sens],
                marker=marker,
                ms=8,
                ls="none",
                label=f"{name} (t={point['threshold']:.3g}): sens {sens:.2f}, spec {spec:.2f}",
            )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="1 - specificity",
        ylabel="sensitivity",
        title=f"ROC (n={binary['n']}, {binary['n_positive']} positive)",
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion_matrix(cm: Mapping[str, Any], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Confusion matrix as an annotated heat map (rows and columns labelled as in ``cm``)."""
    matrix = np.asarray(cm["matrix"], dtype=float)
    labels = list(cm["labels"])
    size = max(4.5, 0.45 * len(labels) + 3)
    fig, ax = _figure((size, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    top = matrix.max() if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{int(value)}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if top and value > top / 2 else "black",
        )
    ax.set(xlabel=cm.get("columns", "prediction"), ylabel=cm.get("rows", "truth"), title=title)
    return _save(fig, path)


def plot_reliability(calibration: Mapping[str, Any], path: str | Path) -> Path:
    """Reliability diagram: fraction positive against mean predicted probability per bin, with the ECE."""
    if calibration.get("ece") is None:
        raise EvaluationError(f"cannot plot reliability: {calibration.get('reason', 'no calibration bins')}")
    bins = [b for b in calibration["bins"] if b["count"]]
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    widths = [b["upper"] - b["lower"] for b in bins]
    ax.bar(
        [b["lower"] for b in bins],
        [b["fraction_positive"] for b in bins],
        width=widths,
        align="edge",
        alpha=0.35,
        edgecolor="tab:blue",
        label="fraction positive",
    )
    ax.plot(
        [b["mean_predicted"] for b in bins],
        [b["fraction_positive"] for b in bins],
        "o-",
        color="tab:blue",
        label=f"ECE {calibration['ece']:.3f}, Brier {calibration['brier']:.3f}",
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="mean predicted probability",
        ylabel="fraction positive",
        title="Reliability diagram",
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_froc(detection: Mapping[str, Any], path: str | Path) -> Path:
    """FROC curve (sensitivity against average false positives per scan) with the fixed-rate points."""
    froc = detection["froc"]
    if froc.get("sensitivity") is None:
        raise EvaluationError(f"cannot plot FROC: {froc.get('reason', 'no sensitivity')}")
    fig, ax = _figure((6.0, 5.0))
    ax.plot(froc["fp_per_scan"], froc["sensitivity"], color="tab:blue", lw=2, label="FROC")
    points = [p for p in detection.get("sensitivity_at_fp", []) if p["sensitivity"] is not None]
    reached = [p for p in points if p["reached"]]
    beyond = [p for p in points if not p["reached"]]
    ax.plot(
        [p["fp_per_scan"] for p in reached],
        [p["sensitivity"] for p in reached],
        "o",
        color="tab:red",
        label="sensitivity at " + ", ".join(f"{p['fp_per_scan']:g}: {p['sensitivity']:.2f}" for p in reached),
    )
    if beyond:
        ax.plot(
            [p["fp_per_scan"] for p in beyond],
            [p["sensitivity"] for p in beyond],
            "o",
            mfc="none",
            color="tab:red",
            label="beyond the curve (last sensitivity): " + ", ".join(f"{p['fp_per_scan']:g}" for p in beyond),
        )
    right = max([*froc["fp_per_scan"], *(p["fp_per_scan"] for p in points), 1.0])
    ax.set(
        xlim=(0, right * 1.05),
        ylim=(0, 1.01),
        xlabel="average false positives per scan",
        ylabel="lesion sensitivity",
        title=f"FROC ({froc['n_scans']} scans, {froc['n_lesions']} lesions, match {froc['match_mm']:g} mm)",
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_bland_altman(agreement: Mapping[str, Any], path: str | Path) -> Path:
    """Bland-Altman plot: difference against mean of the two readers, with bias and limits of agreement."""
    ba = agreement.get("bland_altman", agreement)
    if ba.get("bias") is None:
        raise EvaluationError(f"cannot plot Bland-Altman: {ba.get('reason', 'no bias')}")
    fig, ax = _figure((6.0, 4.5))
    ax.scatter(ba["means"], ba["differences"], s=14, alpha=0.6, color="tab:blue")
    for y, style, text in (
        (ba["bias"], "-", "bias"),
        (ba["loa_low"], "--", "-1.96 SD"),
        (ba["loa_high"], "--", "+1.96 SD"),
    ):
        ax.axhline(y, color="tab:red", ls=style, lw=1.2)
        ax.annotate(
            f"{text} {y:.2f}",
            xy=(1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="tab:red",
        )
    ax.set(
        xlabel="mean of readers",
        ylabel=f"difference ({ba.get('difference', 'a - b')})",
        title=f"Bland-Altman (n={ba['n']})",
    )
    ax.grid(alpha=0.3)
    return _save(fig, path)


def write_plots(metrics: Mapping[str, Any], out_dir: str | Path, prefix: str = "") -> list[Path]:
    """Write every plot that fits ``metrics['kind']`` into ``out_dir``; plots whose data are undefined are
    skipped with a warning. Returns the written paths."""
    out = Path(out_dir)
    kind = metrics.get("kind")
    jobs: list[tuple[str, Any]]
    if kind == "binary":
        jobs = [
            ("roc.png", lambda p: plot_roc(metrics, p)),
            (
                "confusion_matrix.png",
                lambda p: plot_confusion_matrix(
                    metrics["confusion_matrix"],
                    p,
                    f"Confusion matrix at threshold {metrics['operating_point']['threshold']:.3g}",
                ),
            ),
            ("reliability.png", lambda p: plot_reliability(metrics["calibration"], p)),
        ]
    elif kind == "multiclass":
        jobs = [("confusion_matrix.png", lambda p: plot_confusion_matrix(metrics["confusion_matrix"], p))]
    elif kind == "detection":
        jobs = [("froc.png", lambda p: plot_froc(metrics, p))]
    elif kind == "agreement":
        jobs = [
            ("bland_altman.png", lambda p: plot_bland_altman(metrics, p)),
            (
                "certainty_agreement.png",
                lambda p: plot_confusion_matrix(
                    metrics["confusion_matrix"], p, "Certainty classes: reader a vs reader b"
                ),
            ),
        ]
    else:
        raise EvaluationError(f"metrics kind {kind!r} has no plots (expected binary, multiclass, detection, agreement)")
    written = []
    for name, draw in jobs:
        try:
            written.append(draw(out / f"{prefix}{name}"))
        except EvaluationError as exc:
            log.warning("skipped %s: %s", name, exc)
    return written
