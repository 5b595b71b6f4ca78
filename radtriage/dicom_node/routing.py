"""Which tasks a received study gets, and on which of its series: routing by modality, body part and contrast.

* a brain MR study (MR series with a brain contrast: T1, T2, FLAIR, DWI, ADC, SWI) -> ``mri_triage`` on them all,
  plus ``cmb_detect`` on the SWI/GRE series when there is one;
* a cardiac LGE series (late enhancement / PSIR, or heart with an inversion time) -> ``lge_certainty``;
* any CT or MR study -> ``body_region`` on its series with the most slices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtriage.io.contrast import Contrast, classify_tags
from radtriage.io.dicom import DicomSeries
from radtriage.tasks.study import StudySeries, unique_key

ALL_TASKS = ("mri_triage", "cmb_detect", "lge_certainty", "body_region")
BRAIN_CONTRASTS = frozenset({Contrast.T1, Contrast.T1_POST, Contrast.T2, Contrast.FLAIR, Contrast.DWI, Contrast.ADC,
                             Contrast.SWI})
NOT_BRAIN_PARTS = frozenset({"HEART", "CHEST", "ABDOMEN", "PELVIS", "THORAX", "CARDIAC", "KNEE", "SPINE", "LSPINE"})
_LGE = re.compile(r"\b(lge|psir|mde|late[ _-]?(gad|enh)\w*|delayed[ _-]?enh\w*)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Job:
    """One task to run on some series of a study."""

    task: str
    inputs: dict[str, StudySeries]


def _text(series: DicomSeries, keyword: str) -> str:
    return str(series.tags.get(keyword) or "")


def is_lge_tags(tags: Mapping[str, Any]) -> bool:
    """Cardiac late enhancement from header tags (``extract_tags``): LGE / PSIR / MDE / late gadolinium in the
    description or protocol, or heart with an inversion time."""
    if str(tags.get("Modality") or "") != "MR":
        return False
    names = f"{tags.get('SeriesDescription') or ''} {tags.get('ProtocolName') or ''}"
    heart = str(tags.get("BodyPartExamined") or "").upper() in ("HEART", "CARDIAC")
    return bool(_LGE.search(names)) or (heart and bool(tags.get("InversionTime")))


def is_lge(series: DicomSeries) -> bool:
    """A cardiac late-enhancement series (see :func:`is_lge_tags`)."""
    return is_lge_tags({**series.tags, "Modality": series.modality, "SeriesDescription": series.series_description})


def _brain_contrast(series: DicomSeries) -> Contrast | None:
    if series.modality != "MR" or is_lge(series) or _text(series, "BodyPartExamined").upper() in NOT_BRAIN_PARTS:
        return None
    guess = classify_tags(series.tags)
    return guess.contrast if guess.usable and guess.contrast in BRAIN_CONTRASTS else None


def route(series: Sequence[DicomSeries], tasks: Sequence[str] = ALL_TASKS) -> list[Job]:
    """The jobs for one study's series (only ``tasks`` among them), in the order they run: triage first (the
    urgent one), the quick ones next, microbleed detection (the slowest) last."""
    keyed: dict[str, StudySeries] = {}
    by_uid: dict[str, str] = {}
    for s in series:
        key = unique_key(s.series_description or f"series{s.series_number or ''}", keyed)
        keyed[key] = StudySeries(key, Path(s.files[0]).parent, s.series_uid)
        by_uid[s.series_uid] = key
    jobs: list[Job] = []
    brain = {by_uid[s.series_uid]: c for s in series if (c := _brain_contrast(s)) is not None}
    if brain and "mri_triage" in tasks:
        jobs.append(Job("mri_triage", {k: keyed[k] for k in brain}))
    if "lge_certainty" in tasks:
        jobs += [Job("lge_certainty", {"image": keyed[by_uid[s.series_uid]]}) for s in series if is_lge(s)]
    imaging = [s for s in series if s.modality in ("CT", "MR")]
    if imaging and "body_region" in tasks and not any(j.task == "lge_certainty" for j in jobs):
        biggest = max(imaging, key=lambda s: s.n_frames)
        jobs.append(Job("body_region", {"image": keyed[by_uid[biggest.series_uid]]}))
    swi = [k for k, c in brain.items() if c is Contrast.SWI]
    if swi and "cmb_detect" in tasks:  # last: the slowest, and not urgent
        jobs.append(Job("cmb_detect", {"swi": keyed[swi[0]]}))
    return jobs
