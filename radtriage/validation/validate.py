"""The one input check every front end shares: ``validate_inputs`` runs before any model (from ``run_task``).

For each input: geometry notices from the reader, values (finite, not blank, not a mask), grid against the
task's contract, DICOM modality / body part / image type, contrast overrides against the tags, and for
``cmb_detect`` the phase. A problem refuses the run with one line naming the file, the problem and what to
do — except in a multi-series study (``mri_triage``), where an unusable series is skipped with a notice as
long as one usable series remains.
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
from radtriage.validation.content import check_grid, check_not_ct, check_values, source_of
from radtriage.validation.contracts import InputContract, contract_for
from radtriage.validation.dicom_tags import check_tags, dicom_tags, modality
from radtriage.validation.phase import check_phase

log = logging.getLogger(__name__)

PHASE_KEYS = ("phase", "pha")
OVERRIDE_CONFIDENCE = 0.7
"""A DICOM-based contrast call at least this confident that disagrees with the user's name gets a notice."""


@dataclass
class ValidatedInputs:
    """The inputs that passed (NaN/Inf set to 0), the notices to show, and the inputs skipped with the reason."""

    inputs: dict[str, Image]
    notices: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    contract: InputContract | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``result.json`` (``outputs.input_checks``)."""
        return {"checked": list(self.inputs), "skipped": dict(self.skipped), "notices": list(self.notices),
                "contract": None if self.contract is None else self.contract.to_dict()}


def _named_contrast(key: str, overrides: Mapping[str, str]) -> str | None:
    from radtriage.io.contrast import parse_contrast

    for name in (overrides.get(key), key):
        if name:
            try:
                return parse_contrast(name).value
            except ValueError:
                continue
    return None


def _override_notice(image: Image, key: str, contrast: str) -> str | None:
    """A notice when the user's contrast for ``key`` contradicts a confident call from its DICOM tags."""
    from radtriage.io.contrast import classify_tags

    tags = dicom_tags(image)
    if not tags:
        return None
    guess = classify_tags(tags)
    called = getattr(guess.contrast, "value", str(guess.contrast))
    if guess.usable and guess.confidence >= OVERRIDE_CONFIDENCE and called not in (contrast, "other"):
        return (f"input {key!r} was named {contrast} but its DICOM tags read as {guess.explanation}; it was used as "
                f"{contrast} as asked — check the naming")
    return None


def _check_one(image: Any, key: str, contract: InputContract, contrast: str | None) -> tuple[Image, list[str]]:
    if not isinstance(image, Image):
        raise InputError(None, f"input {key!r} is not an image (got {type(image).__name__})")
    notices = []
    if image.metadata.get("spacing_unknown") and contract.task != "lge_certainty":
        raise InputError(source_of(image, key), f"a picture without a voxel size cannot feed {contract.task} (sizes in "
                                                "mm would be guessed); give the DICOM series or a NIfTI/NRRD volume")
    if warning := image.metadata.get("geometry_warning"):
        notices.append(f"input {key!r} ({Path(source_of(image, key)).name}): {warning}")
    check_grid(image, key, contract)
    image, value_notices = check_values(image, key, contract.task)
    notices += value_notices
    check_tags(image, key, contract, "image", contrast)
    if not modality(image):
        check_not_ct(image, key, contract)
    if contrast and (note := _override_notice(image, key, contrast)):
        notices.append(note)
    return image, notices


def _check_phase(phase: Any, magnitude: Image, key: str, contract: InputContract) -> tuple[Image, list[str]]:
    if not isinstance(phase, Image):
        raise InputError(None, f"input {key!r} is not an image (got {type(phase).__name__})")
    check_tags(phase, key, contract, "phase")
    arr = np.asarray(phase.array)
    n_bad = max(int((~np.isfinite(arr)).sum()) if arr.dtype.kind == "f" else 0,
                int(phase.metadata.get("nonfinite_voxels") or 0))
    if n_bad >= arr.size:
        raise InputError(source_of(phase, key), "the phase image has no finite voxel values; give a usable phase "
                                                "series or run without phase")
    check_phase(phase, magnitude, key)
    notices = []
    if n_bad:
        notices.append(f"phase input {key!r}: {n_bad} voxel(s) were NaN or infinite; they were set to 0")
        phase = phase.with_array(np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0))
    return phase, notices


def validate_inputs(task: str, inputs: Mapping[str, Any], *, bundle: str | Path | None = None,
                    options: Mapping[str, Any] | None = None) -> ValidatedInputs:
    """Check ``inputs`` of ``task`` against its contract; raises :class:`InputError` for a refused input.

    ``options`` are the run's task options (``contrasts`` overrides of mri_triage are read from it).
    """
    contract = contract_for(task, bundle)
    if contract is None or not inputs:
        return ValidatedInputs(dict(inputs or {}), contract=contract)
    overrides = dict((options or {}).get("contrasts") or {}) if task == "mri_triage" else {}
    lowered = {k.lower(): k for k in inputs}
    phase_key = next((lowered[k] for k in PHASE_KEYS if k in lowered), None) if contract.phase_allowed else None
    out = ValidatedInputs({}, contract=contract)
    errors: dict[str, InputError] = {}
    for key, image in inputs.items():
        if key == phase_key:
            continue
        contrast = _named_contrast(key, overrides) if task == "mri_triage" else None
        try:
            checked, notices = _check_one(image, key, contract, contrast)
        except InputError as exc:
            if not contract.multi_series:
                raise
            errors[key] = exc
            continue
        out.inputs[key] = checked
        out.notices += notices
    if errors:
        if not out.inputs:
            if len(errors) == 1:
                raise next(iter(errors.values()))
            raise InputError(None, f"no usable input for {task}: " + "; ".join(str(e) for e in errors.values()))
        for key, exc in errors.items():
            out.skipped[key] = str(exc)
            out.notices.append(f"input {key!r} skipped: {exc}")
    if phase_key is not None:
        magnitudes = [im for k, im in out.inputs.items()]
        if len(magnitudes) == 1:
            phase, notices = _check_phase(inputs[phase_key], magnitudes[0], phase_key, contract)
            out.inputs[phase_key] = phase
            out.notices += notices
        else:
            out.inputs[phase_key] = inputs[phase_key]  # the runner refuses an ambiguous magnitude
    log.debug("validated %s inputs of %s: %d skipped", len(out.inputs), task, len(out.skipped))
    return out
