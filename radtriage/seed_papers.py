"""The seed papers' reported figures, in one place, for tables that put ours beside theirs.

Each entry: the citation, the data the figures come from, and the metrics by name (fractions, not percent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SeedFigures:
    """One paper's reported figures for one task and test set."""

    key: str
    citation: str
    data: str
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """95 % intervals the paper gives, by metric name."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out: dict[str, Any] = {"key": self.key, "citation": self.citation, "data": self.data,
                               "metrics": dict(self.metrics)}
        if self.intervals:
            out["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        return out


SEED_PAPERS: dict[str, SeedFigures] = {
    s.key: s
    for s in (
        SeedFigures("zaman2024-internal", "Zaman et al. 2024, J Cardiovasc Magn Reson, doi 10.1016/j.jocmr.2024.101040",
                    "LGE certainty class (low = positive), internal test, 15 % of 1,645 slices / 272 patients",
                    {"accuracy": 0.94, "recall": 0.80, "precision": 0.97, "f1": 0.87, "roc_auc": 0.94}),
        SeedFigures("zaman2024-external", "Zaman et al. 2024, J Cardiovasc Magn Reson, doi 10.1016/j.jocmr.2024.101040",
                    "LGE certainty class (low = positive), external test, 247 slices / 41 patients",
                    {"accuracy": 0.91, "recall": 0.73, "precision": 0.93, "f1": 0.82, "roc_auc": 0.91}),
        SeedFigures("zaman2024-readers", "Zaman et al. 2024, J Cardiovasc Magn Reson, doi 10.1016/j.jocmr.2024.101040",
                    "agreement of the two experts' certainty classes", {"accuracy": 0.86}),
        SeedFigures("raffy2021-ct", "Raffy et al. 2021, body-part labelling of CT/MR slices (arXiv 2104.13826)",
                    "CT, image-level accuracy, test set from another healthcare network (27 institutions)",
                    {"accuracy": 0.919},
                    {"accuracy": (0.902, 0.921)}),
        SeedFigures("raffy2021-mr", "Raffy et al. 2021, body-part labelling of CT/MR slices (arXiv 2104.13826)",
                    "MR, image-level accuracy, test set from another healthcare network (27 institutions)",
                    {"accuracy": 0.942},
                    {"accuracy": (0.920, 0.956)}),
        SeedFigures("nael2021", "Nael et al. 2021, brain MRI triage (internal test)",
                    "ROC AUC per finding",
                    {"abnormal": 0.91, "acute_infarct": 0.95, "acute_haemorrhage": 0.90, "mass_effect": 0.93}),
        SeedFigures("wood2022-t2", "Wood et al. 2022 (Booth group), Med Image Anal, triage of hospital head MRI",
                    "T2-weighted only, ROC AUC", {"abnormal": 0.943}),
    )
}
"""Seed figures by key (``radtriage evaluate classification --seed-paper KEY``)."""

