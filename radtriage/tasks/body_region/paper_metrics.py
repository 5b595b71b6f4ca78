"""Pooled body-region figures in the seed paper's shape, per modality, from scored scans.

Raffy et al. 2021 report image-level (per-slice) accuracy with a 95 % interval, recall and precision per region,
and the same broken down by acquisition (institution, manufacturer, slice thickness, ...). :func:`summarise`
gives those for rows of :func:`radtriage.tasks.body_region.evaluate.evaluate_case`, plus patient-level figures:

* **image level**: accuracy over every slice with truth, with a Wilson interval (slices of one patient
  correlate, so that interval is too narrow; it says so) and, from :data:`MIN_CLUSTER_PATIENTS` patients on, a
  bootstrap interval over patients; per region support, recall, precision and F1 (sklearn);
* **patient level**: per patient, the accuracy of its slices and whether the regions the model gives (each on
  at least :data:`MIN_REGION_SLICES` slices) are exactly the regions its truth covers; the mean over patients;
* **subgroups**: accuracy per value of the acquisition columns (:mod:`radtriage.io.acquisition`), from DICOM
  tags when the scan has them, the slice thickness falling back to the slice spacing.

A scan marked ``counted=False`` (e.g. a crop of another scan in the set) is shown per scan but left out here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from radtriage.io.acquisition import SUBGROUP_COLUMNS
from radtriage.seed_papers import SEED_PAPERS

MIN_CLUSTER_PATIENTS = 5
"""Patients needed before a bootstrap over patients is reported (fewer: Wilson over slices only)."""
MIN_REGION_SLICES = 2
"""Slices a region needs, in the truth or the prediction, to count as covered at patient level."""


def _scored(rows: Sequence[Mapping[str, Any]], modality: str) -> list[Mapping[str, Any]]:
    return [r for r in rows if "skipped" not in r and r.get("modality") == modality and r.get("counted", True)]


def _covered(regions: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for region in regions:
        counts[region] = counts.get(region, 0) + 1
    return sorted(r for r, n in counts.items() if n >= MIN_REGION_SLICES)


def summarise_modality(rows: Sequence[Mapping[str, Any]], modality: str) -> dict[str, Any] | None:
    """The pooled figures of one modality's counted rows (None when there are none)."""
    from radtriage.evaluation import cohen_kappa
    from radtriage.evaluation.classification import (
        class_indices,
        cluster_bootstrap_interval,
        per_class_metrics,
        proportion,
    )
    from radtriage.evaluation.subgroups import by_subgroup
    from radtriage.labelsets import body_region_labelset

    scored = _scored(rows, modality)
    if not scored:
        return None
    pred: list[str] = []
    truth: list[str] = []
    patient: list[str] = []
    subgroup: dict[str, list[str]] = {c: [] for c in SUBGROUP_COLUMNS}
    for r in scored:
        for p, t in zip(r["predicted"], r["truth"], strict=True):
            if t is None:
                continue
            pred.append(p)
            truth.append(t)
            patient.append(r["patient"])
            for column in SUBGROUP_COLUMNS:
                subgroup[column].append(r.get("subgroups", {}).get(column, ""))
    agree = np.array([p == t for p, t in zip(pred, truth, strict=True)])
    names = [n for n in body_region_labelset(modality).names if n in set(pred) | set(truth)]
    t_idx, p_idx = class_indices(truth, names, "truth"), class_indices(pred, names, "predicted")
    accuracy = proportion(int(agree.sum()), int(agree.size), what="slices")
    accuracy["ci_method"] = "Wilson over slices (a patient's slices correlate: too narrow)"
    patients = sorted(set(patient))
    if len(patients) >= MIN_CLUSTER_PATIENTS:
        accuracy["patients_ci"] = cluster_bootstrap_interval(
            patient, lambda rows_: float(agree[rows_].mean()), what="patient bootstrap of accuracy")
    per_patient = []
    for name in patients:
        idx = [i for i, p in enumerate(patient) if p == name]
        truth_regions, pred_regions = _covered([truth[i] for i in idx]), _covered([pred[i] for i in idx])
        per_patient.append({"patient": name, "slices": len(idx), "accuracy": float(agree[idx].mean()),
                            "regions_truth": truth_regions, "regions_predicted": pred_regions,
                            "regions_right": truth_regions == pred_regions})
    seed = SEED_PAPERS[f"raffy2021-{modality.lower()}"]
    return {
        "modality": modality,
        "scans": [r["case"] for r in scored],
        "patients": len(patients),
        "image_level": {"accuracy": accuracy, "per_region": per_class_metrics(t_idx, p_idx, names),
                        "kappa": cohen_kappa(t_idx, p_idx, n_classes=len(names)) if len(names) >= 2 else None},
        "patient_level": {"mean_accuracy": float(np.mean([p["accuracy"] for p in per_patient])),
                          "regions_right": proportion(sum(p["regions_right"] for p in per_patient),
                                                      len(per_patient), what="patients"),
                          "per_patient": per_patient},
        "subgroups": {column: by_subgroup(values, lambda idx: proportion(int(agree[idx].sum()), len(idx),
                                                                          what="slices"))
                      for column, values in subgroup.items()},
        "seed_paper": seed.to_dict(),
    }


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`summarise_modality` for CT and MR (modalities without counted rows left out)."""
    out = {}
    for modality in ("CT", "MR"):
        summary = summarise_modality(rows, modality)
        if summary is not None:
            out[modality] = summary
    return out


def _interval(p: Mapping[str, Any]) -> str:
    return f"{p['value']:.1%} ({p['count']}/{p['of']}; {p['ci_low']:.1%}-{p['ci_high']:.1%})"


def format_summary(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """Text: per modality, ours beside the seed paper's figures, per region, per patient and per subgroup."""
    lines: list[str] = []
    for modality, s in summary.items():
        seed = s["seed_paper"]
        acc = s["image_level"]["accuracy"]
        paper = seed["metrics"]["accuracy"]
        paper_ci = seed.get("intervals", {}).get("accuracy")
        lines += ["", f"{modality}: {len(s['scans'])} scan(s), {s['patients']} patient(s)",
                  f"  image-level accuracy     ours {_interval(acc)} [{acc['ci_method']}]",
                  f"                           seed {paper:.1%}"
                  + (f" ({paper_ci[0]:.1%}-{paper_ci[1]:.1%})" if paper_ci else "")
                  + f": {seed['citation']}; {seed['data']}"]
        if "patients_ci" in acc:
            lo, hi = acc["patients_ci"]["ci"]
            lines.append(f"                           bootstrap over patients {lo:.1%}-{hi:.1%}")
        pl = s["patient_level"]
        lines.append(f"  patient-level            mean accuracy {pl['mean_accuracy']:.1%}; regions exactly right "
                     f"{_interval(pl['regions_right'])} (the paper reports no patient-level figure)")
        lines.append(f"  {'region':14s} {'slices':>6s} {'recall':>7s} {'precision':>9s}")
        for row in s["image_level"]["per_region"]:
            rec = "-" if row["recall"] is None else f"{row['recall']:.2f}"
            prec = "-" if row["precision"] is None else f"{row['precision']:.2f}"
            lines.append(f"  {row['class']:14s} {row['support']:6d} {rec:>7s} {prec:>9s}")
        for column, groups in s["subgroups"].items():
            text = "; ".join(f"{value} {_interval(p)}" for value, p in groups.items())
            lines.append(f"  by {column}: {text}")
    return "\n".join(lines)
