"""Study inputs of the MRI triage task: load a study folder, and decide which input feeds which contrast channel.

A study is a folder of DICOM series and/or volume files (or one file). Every series is classified with
:func:`radtriage.io.contrast.assign_contrasts` (DICOM tags, else the name); an input whose *key* is a contrast
name (``T1=...`` on the command line, a file called ``FLAIR.nii.gz``) counts as a user override, and explicit
``overrides`` win over both. Missing contrasts are reported, never filled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io.contrast import CONTRAST_ORDER, ContrastAssignment, assign_contrasts, parse_contrast

logger = logging.getLogger(__name__)

REFERENCE_PREFERENCE = ("T1", "T1post", "FLAIR", "T2", "SWI", "DWI", "ADC", "other")
"""Which present contrast defines the native space (heatmaps are written on its grid)."""


def key_overrides(inputs: Mapping[str, Any]) -> dict[str, str]:
    """Inputs whose key is a contrast name or alias (``T1``, ``flair``, ``t1c``...) as user overrides."""
    out = {}
    for key in inputs:
        try:
            out[key] = parse_contrast(key).value
        except ValueError:
            continue
    return out


@dataclass
class StudyContrasts:
    """The contrast channels of one study: the image picked for each contrast and what was left out."""

    channels: dict[str, Image]
    """Contrast value (``"T1"``...) -> image, in ``CONTRAST_ORDER``."""
    inputs: dict[str, str]
    """Contrast value -> the input key that fills it."""
    missing: list[str]
    unused: dict[str, str] = field(default_factory=dict)
    """Input key -> why it feeds no channel (unusable, duplicate, not a scalar volume, constant)."""
    assignment: ContrastAssignment | None = None

    @property
    def reference(self) -> str:
        """The contrast whose native grid is the study's output space."""
        for name in REFERENCE_PREFERENCE:
            if name in self.channels:
                return name
        raise InputError(None, "no usable MR contrast among the inputs")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``result.json``."""
        return {
            "used": list(self.channels),
            "inputs": dict(self.inputs),
            "missing": list(self.missing),
            "unused": dict(self.unused),
            "reference": self.reference if self.channels else None,
            "classification": {k: g.to_dict() for k, g in (self.assignment or {}).items()},
        }


def _unusable_reason(image: Image) -> str | None:
    if image.n_components != 1:
        return f"{image.n_components} components per voxel (give one 3D volume per contrast)"
    arr = np.asarray(image.array)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if finite.size == 0:
        return "no finite voxel values"
    if float(np.max(finite)) == float(np.min(finite)):
        return "constant image (no signal)"
    return None


def assign_study_contrasts(inputs: Mapping[str, Image], overrides: Mapping[str, str] | None = None) -> StudyContrasts:
    """Pick one input per contrast (explicit ``overrides`` > contrast-named keys > automatic classification).

    Raises :class:`InputError` when no input is usable as any contrast (the message lists each input's call).
    """
    if not inputs:
        raise InputError(None, "mri_triage needs at least one brain MR volume; none was given")
    merged = {**key_overrides(inputs), **dict(overrides or {})}
    unused: dict[str, str] = {}
    usable: dict[str, Image] = {}
    for key, image in inputs.items():
        reason = _unusable_reason(image)
        if reason:
            unused[key] = reason
        else:
            usable[key] = image
    assignment = assign_contrasts(usable, {k: v for k, v in merged.items() if k in usable}) if usable else None
    if assignment is None or not assignment.by_contrast():
        calls = "; ".join(f"{k}: {v}" for k, v in unused.items())
        if assignment is not None:
            calls = "; ".join(filter(None, [calls, *(f"{k}: {g.explanation}" for k, g in assignment.items())]))
        raise InputError(
            next((str(im.metadata.get("source_path")) for im in inputs.values() if im.metadata.get("source_path")),
                 None),
            "no input could be identified as a brain MR contrast; name inputs by contrast (e.g. T2=PATH) or give "
            f"overrides ({calls})",
        )
    picked = assignment.by_contrast()
    for key in assignment.unusable():
        unused[key] = f"not usable as a model channel: {assignment[key].explanation}"
    for contrast, keys in assignment.duplicates().items():
        for key in keys:
            unused[key] = f"another input was picked for {contrast.value} ({picked[contrast]})"
    channels = {c.value: usable[picked[c]] for c in CONTRAST_ORDER if c in picked}
    return StudyContrasts(
        channels=channels,
        inputs={c.value: picked[c] for c in CONTRAST_ORDER if c in picked},
        missing=[c.value for c in assignment.missing()],
        unused=unused,
        assignment=assignment,
    )


# ------------------------------------------------------------------ study folders
def load_study_series(path: str | Path) -> tuple[dict[str, Image], dict[str, str]]:
    """Every series of a study (:func:`radtriage.tasks.study.find_study_series`, the discovery ``batch`` uses
    too) and, apart, the reason each unreadable one was skipped. Raises :class:`InputError` when nothing is
    there at all, or when no series could be read (naming each one's reason)."""
    from radtriage.tasks.study import find_study_series, read_study_series

    path = Path(path)
    series = find_study_series(path)
    if not series:
        raise InputError(path, "no volume files or DICOM image series in this study folder")
    images, skipped = read_study_series(series)
    if not images:
        reasons = "; ".join(f"{k}: {why}" for k, why in skipped.items())
        raise InputError(path, f"no series of this study could be read ({reasons})")
    logger.debug("loaded %d series from a study folder (%d skipped)", len(images), len(skipped))
    return images, skipped


def load_study(path: str | Path) -> dict[str, Image]:
    """Every readable image series of a study: a volume file, a DICOM file, or a folder of DICOM series / volume
    files (keys: file stems, DICOM series descriptions; unreadable series are skipped with a warning, see
    :func:`load_study_series`). Raises :class:`InputError` when nothing readable is there.
    """
    return load_study_series(path)[0]
