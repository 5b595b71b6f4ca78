"""``radtriage evaluate triage``: the MRI triage model on fresh semi-synthetic phantoms, and which evidence it uses.

Phantoms (:func:`radtriage.phantoms.brain_mni.make_mni_brain_cohort`: MNI anatomy, real SOOP infarct shapes where
available, domain-randomised appearance) are drawn on a native-like acquisition grid (not the model grid) from
seeds the demo model never saw, and go through the same path as a study: contrast assignment, resampling onto
the model grid, normalisation, prediction at the bundle's operating point.

Reported:

* per contrast subset (all 8; without DWI/ADC; without SWI; T1+T2+FLAIR; T2 only) and output: ROC AUC with a
  bootstrap interval, sensitivity and specificity at the operating point with Wilson intervals — or
  ``not assessable`` where the bundle's ``output_requirements`` say the subset cannot answer it;
* acute-infarct sensitivity by lesion volume;
* **ablation by counterfactual**: for each infarct case, the same phantom (same anatomy, noise and pose) is drawn
  without the infarct and its DWI+ADC replace the lesion's (the lesion is still on T2/FLAIR), and vice versa;
  for each haemorrhage case its SWI is replaced the same way. The evidence is where the model looks when its
  probability collapses (falls under the operating point) once those contrasts show no lesion.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.models.output_requirements import NOT_ASSESSABLE, unassessable
from radtriage.phantoms.brain_mni import ACQUISITION_GRID
from radtriage.seed_papers import SEED_PAPERS

logger = logging.getLogger(__name__)

EVAL_GRID = ACQUISITION_GRID
"""The acquisition grid the fresh phantoms are drawn on (not the model grid)."""
FIRST_SEED = 880_000
SUBSETS: dict[str, tuple[str, ...]] = {
    "all contrasts": MR_CONTRASTS,
    "without DWI/ADC": tuple(c for c in MR_CONTRASTS if c not in ("DWI", "ADC")),
    "without SWI": tuple(c for c in MR_CONTRASTS if c != "SWI"),
    "T1+T2+FLAIR": ("T1", "T2", "FLAIR"),
    "T2 only": ("T2",),
}
VOLUME_BINS_ML = (0.0, 1.0, 10.0, float("inf"))
COUNTERFACTUALS: dict[str, dict[str, tuple[str, ...]]] = {
    "acute_infarct": {"DWI+ADC without the lesion": ("DWI", "ADC"), "T2+FLAIR without the lesion": ("T2", "FLAIR")},
    "acute_haemorrhage": {"SWI without the lesion": ("SWI",),
                          "T1+T2+FLAIR without the lesion": ("T1", "T2", "FLAIR")},
}
_FINDING_OF = {"acute_infarct": "infarct", "acute_haemorrhage": "haemorrhage"}


def predict_images(model: Any, images: Mapping[str, Image]) -> dict[str, float]:
    """Probabilities for one study given as ``{contrast: image}``, through the inference path."""
    from radtriage.tasks.mri_triage.inputs import assign_study_contrasts
    from radtriage.tasks.mri_triage.pipeline import prepare_study

    prepared = prepare_study(model, assign_study_contrasts(dict(images)))
    x, mask = model.model_input(prepared)
    return model.predict(x, mask)


def run_phantoms(model: Any, n: int, first_seed: int = FIRST_SEED,
                 grid: Mapping[str, Sequence[float]] = EVAL_GRID) -> list[dict[str, Any]]:
    """One record per fresh phantom: labels, findings, infarct volume and probabilities per subset and
    counterfactual."""
    from radtriage.phantoms.brain_mni import make_mni_brain_cohort, make_mni_twin

    on_grid = {"shape": tuple(int(s) for s in grid["shape"]), "spacing": tuple(float(s) for s in grid["spacing"])}
    cohort = make_mni_brain_cohort(n, first_seed, combination_rate=0.3, chronic_rate=0.15, **on_grid)
    records = []
    for case in cohort:
        rec: dict[str, Any] = {"seed": case.seed, "findings": list(case.findings), "labels": dict(case.labels),
                               "infarct_volume_ml": (case.details.get("infarct") or {}).get("volume_ml"),
                               "probabilities": {}, "counterfactual": {}}
        for subset, keep in SUBSETS.items():
            rec["probabilities"][subset] = predict_images(model, {c: case.images[c] for c in keep})
        for output, swaps in COUNTERFACTUALS.items():
            finding = _FINDING_OF[output]
            if finding not in case.findings:
                continue
            twin = make_mni_twin(case.seed, case.findings, finding, **on_grid)
            for name, contrasts in swaps.items():
                images = {c: (twin.images[c] if c in contrasts else case.images[c]) for c in MR_CONTRASTS}
                rec["counterfactual"].setdefault(output, {})[name] = predict_images(model, images)[output]
        records.append(rec)
        logger.info("phantom %d %s: %s", case.seed, "+".join(case.findings),
                    {k: round(v, 3) for k, v in rec["probabilities"]["all contrasts"].items()})
    return records


def summarise(records: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float],
              requirements: Mapping[str, Sequence[str]], n_bootstrap: int = 1000) -> dict[str, Any]:
    """Metrics of :func:`run_phantoms` records (see the module docstring)."""
    from radtriage.evaluation.classification import proportion, rates_at_threshold, roc_auc_with_ci

    out: dict[str, Any] = {"cases": len(records), "thresholds": dict(thresholds), "subsets": {}}
    for subset, keep in SUBSETS.items():
        missing = unassessable(requirements, keep)
        table: dict[str, Any] = {}
        for output in BRAIN_FINDINGS:
            if output in missing:
                table[output] = {"status": NOT_ASSESSABLE, "reason": missing[output]}
                continue
            y = np.array([r["labels"][output] for r in records])
            p = np.array([r["probabilities"][subset][output] for r in records])
            rates = rates_at_threshold(y, p, float(thresholds[output]))
            table[output] = {"roc_auc": roc_auc_with_ci(y, p, n_bootstrap=n_bootstrap),
                             "sensitivity": rates["sensitivity"], "specificity": rates["specificity"],
                             "positives": int(y.sum()), "negatives": int((1 - y).sum())}
        out["subsets"][subset] = table
    t_inf = float(thresholds["acute_infarct"])
    infarcts = [r for r in records if r["labels"]["acute_infarct"]]
    by_volume = {}
    for lo, hi in itertools.pairwise(VOLUME_BINS_ML):
        group = [r for r in infarcts if lo <= float(r["infarct_volume_ml"] or 0.0) < hi]
        label = f"{lo:g}-{hi:g} mL" if np.isfinite(hi) else f">= {lo:g} mL"
        hits = sum(r["probabilities"]["all contrasts"]["acute_infarct"] >= t_inf for r in group)
        by_volume[label] = proportion(int(hits), len(group), what="infarct phantoms")
    out["infarct_sensitivity_by_volume"] = by_volume
    ablation: dict[str, Any] = {}
    for output, swaps in COUNTERFACTUALS.items():
        rows = [r for r in records if output in r["counterfactual"]]
        t = float(thresholds[output])
        entry = {"cases": len(rows), "original": proportion(
            sum(r["probabilities"]["all contrasts"][output] >= t for r in rows), len(rows), what="lesion phantoms"),
            "original_median": _median([r["probabilities"]["all contrasts"][output] for r in rows])}
        for name in swaps:
            values = [r["counterfactual"][output][name] for r in rows]
            entry[name] = {"still_positive": proportion(sum(v >= t for v in values), len(values),
                                                        what="lesion phantoms"), "median": _median(values)}
        ablation[output] = entry
    out["ablation"] = ablation
    return out


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _fmt_prop(p: Mapping[str, Any]) -> str:
    if p.get("value") is None:
        return "n/a"
    return f"{p['value']:.2f} ({p['count']}/{p['of']}; {p['ci_low']:.2f}-{p['ci_high']:.2f})"


def markdown(summary: Mapping[str, Any]) -> str:
    """The summary as model-card tables."""
    seed = SEED_PAPERS["nael2021"]
    lines = [f"| contrasts | output | ROC AUC (95% CI) | sensitivity | specificity | seed AUC ({seed.citation}; "
             "real scans) |", "|---|---|---|---|---|---|"]
    for subset, table in summary["subsets"].items():
        for output, row in table.items():
            paper = _num(seed.metrics.get(output))
            if row.get("status") == NOT_ASSESSABLE:
                lines.append(f"| {subset} | {output} | not assessable ({row['reason']}) | | | {paper} |")
                continue
            auc = row["roc_auc"]
            ci = (f" ({auc['ci_low']:.2f}-{auc['ci_high']:.2f})" if auc.get("ci_low") is not None else "")
            value = "n/a" if auc.get("value") is None else f"{auc['value']:.3f}{ci}"
            lines.append(f"| {subset} | {output} | {value} | {_fmt_prop(row['sensitivity'])} | "
                         f"{_fmt_prop(row['specificity'])} | {paper} |")
    lines += ["", "Acute-infarct sensitivity by lesion volume (all contrasts): "
              + "; ".join(f"{k}: {_fmt_prop(v)}" for k, v in summary["infarct_sensitivity_by_volume"].items()), ""]
    lines += ["| output | input | positive at the operating point | median probability |", "|---|---|---|---|"]
    for output, entry in summary["ablation"].items():
        lines.append(f"| {output} | as drawn | {_fmt_prop(entry['original'])} | "
                     f"{_num(entry['original_median'])} |")
        for name, row in entry.items():
            if isinstance(row, Mapping) and "still_positive" in row:
                lines.append(f"| {output} | {name} | {_fmt_prop(row['still_positive'])} | {_num(row['median'])} |")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
