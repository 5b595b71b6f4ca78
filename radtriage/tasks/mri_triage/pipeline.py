"""The ``mri_triage`` runner: contrasts -> model grid -> probabilities, decisions, urgency and native heatmaps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.models.output_requirements import NOT_ASSESSABLE, unassessable
from radtriage.preprocess import PreparedInputs, prepare_to_grid
from radtriage.tasks.mri_triage.inputs import StudyContrasts, assign_study_contrasts
from radtriage.tasks.mri_triage.model import (
    CRITICAL_OUTPUTS,
    DEFAULT_OPERATING_POINT,
    DEFAULT_SALIENCY,
    DEMO_NOTICE,
    TASK,
    TriageModel,
)
from radtriage.tasks.options import validate_options
from radtriage.tasks.result import TaskResult

logger = logging.getLogger(__name__)

REGISTER_MODES = ("auto", "always", "never")
HEATMAP_PREFIX = "heatmap_"
FOREGROUND_FRACTION = 0.1
"""Heatmaps are kept only inside the head: voxels above this fraction of the 1-99th percentile range."""


def urgency(probabilities: Mapping[str, float], decisions: Mapping[str, bool],
            not_assessable: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Urgency of a study: critical when any critical output is positive; ``score`` = critical + P(abnormal).

    Outputs that are not assessable have no probability and no decision, so they never make a study critical;
    ``complete`` is False when a critical output could not be assessed (the study needs a full human read).
    Sorting by ``score`` (descending) puts critical studies first, then by abnormal probability.
    """
    critical = [name for name in CRITICAL_OUTPUTS if decisions.get(name)]
    p_abnormal = probabilities.get("abnormal")
    p_abnormal = None if p_abnormal is None else float(p_abnormal)
    missing = [name for name in CRITICAL_OUTPUTS if name in (not_assessable or {})]
    return {
        "critical": bool(critical),
        "critical_findings": critical,
        "abnormal_probability": p_abnormal,
        "max_critical_probability": max((float(probabilities[n]) for n in CRITICAL_OUTPUTS if n in probabilities),
                                        default=0.0),
        "not_assessable": missing,
        "complete": not missing,
        "score": float(bool(critical)) + (p_abnormal or 0.0),
    }


def _same_space(image: Image, reference: Image) -> bool:
    """Same grid, or DICOM series sharing a frame of reference: no registration needed."""
    from radtriage.preprocess import GridSpec

    if GridSpec.from_image(reference).same_as(image, tol=1e-3):
        return True
    uid = frame_of_reference(image)
    return bool(uid) and uid == frame_of_reference(reference)


def frame_of_reference(image: Image) -> str:
    """The DICOM FrameOfReferenceUID of a series ('' when unknown, e.g. a NIfTI file)."""
    return str(image.metadata.get("frame_of_reference_uid")
               or (image.metadata.get("dicom_tags") or {}).get("FrameOfReferenceUID") or "")


def prepare_study(model: TriageModel, study: StudyContrasts, register: str = "auto") -> PreparedInputs:
    """Register (when needed) and resample the study's contrasts onto the model grid (no normalisation here)."""
    if register not in REGISTER_MODES:
        raise ValueError(f"register must be one of {REGISTER_MODES}, got {register!r}")
    reference = study.reference
    ref = study.channels[reference]
    grid = model.grid_for(ref)
    needs = [n for n, im in study.channels.items() if n != reference and not _same_space(im, ref)]
    do_register: bool | list[str] = {"always": True, "never": False}.get(register, needs)
    return prepare_to_grid(dict(study.channels), reference, grid, register=do_register, names=model.contrasts,
                           normalize=None)


def foreground_mask(image: Image) -> np.ndarray:
    """The imaged head of the (native) reference: voxels above a small fraction of the robust intensity range,
    opened to drop background noise, largest connected component, holes (dark skull, CSF) filled."""
    from scipy import ndimage

    arr = np.nan_to_num(np.asarray(image.array, dtype=np.float32))
    low, high = float(np.percentile(arr, 1.0)), float(np.percentile(arr, 99.0))
    mask = arr > low + FOREGROUND_FRACTION * (high - low)
    mask = ndimage.binary_opening(mask, iterations=1) if min(mask.shape) >= 3 else mask
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(mask)


def native_heatmaps(
    model: TriageModel, prepared: PreparedInputs, x: np.ndarray, reference: Image,
    outputs: Sequence[str] | None = None, method: str = DEFAULT_SALIENCY,
    probabilities: Mapping[str, float] | None = None,
) -> dict[str, Image]:
    """One heatmap per output on the reference's native grid, zero outside the imaged head.

    Values are on an absolute scale: the saliency map (peak 1) times the output's probability, so a heatmap
    peaks at the probability of its output — a normal study shows faint maps, not a full-strength blob (without
    ``probabilities`` the maps keep their own 0..1 scale)."""
    from radtriage.saliency import heatmap_image

    maps = model.saliency(x, outputs, method)
    head = foreground_mask(reference)
    out = {}
    for name, m in maps.items():
        weight = 1.0 if probabilities is None else float(probabilities[name])
        description = f"{method} heatmap for {name}" + (", weighted by its probability" if probabilities else "")
        native = heatmap_image(m, prepared, metadata={"description": description, "output": name,
                                                      "scale": "probability" if probabilities else "saliency"})
        arr = np.clip(np.asarray(native.array, dtype=np.float32), 0.0, 1.0) * head * weight
        out[f"{HEATMAP_PREFIX}{name}"] = native.with_array(arr.astype(np.float32))
    return out


def _notices(model: TriageModel, study: StudyContrasts, decisions: Mapping[str, bool],
             prepared: PreparedInputs | None = None, not_assessable: Mapping[str, str] | None = None) -> list[str]:
    notices = []
    for name, why in (not_assessable or {}).items():
        notices.append(f"{name}: {NOT_ASSESSABLE} — {why}; no probability or decision is given")
    for name, reg in (prepared.registrations if prepared is not None else {}).items():
        if (move := reg.implausible_move()) is not None:
            notices.append(f"{name}: {move}")
    if model.bundle_info.get("demo"):
        notices.append(DEMO_NOTICE)
    if study.missing:
        notices.append(
            f"missing contrasts: {', '.join(study.missing)} — their channels were left empty and the model told "
            "they are absent (not filled); results rest on " + ", ".join(study.channels)
        )
    if list(study.channels) == ["T2"]:
        notices.append("T2-only mode: only a T2-weighted volume was available")
    for key, why in study.unused.items():
        notices.append(f"input {key!r} not used: {why}")
    critical = [n for n in CRITICAL_OUTPUTS if decisions.get(n)]
    if critical:
        notices.append("critical finding(s) above threshold: " + ", ".join(critical))
    return notices


def run(
    inputs: dict[str, Image],
    *,
    bundle: str | None = None,
    device: str = "auto",
    progress: Callable[[float, str], None] | None = None,
    contrasts: Mapping[str, str] | None = None,
    register: str = "auto",
    heatmaps: bool = True,
    saliency: str = DEFAULT_SALIENCY,
    operating_point: str = DEFAULT_OPERATING_POINT,
    decision_threshold: float | None = None,
    model: TriageModel | None = None,
    **options: Any,
) -> TaskResult:
    """Probability, decision and heatmap per output (abnormal, acute infarct, acute haemorrhage, mass effect);
    an output whose needed contrasts are all missing is "not assessable" (``outputs.not_assessable``: reason)
    and has no probability, decision or heatmap.

    ``inputs`` maps a key to a native volume (keys that are contrast names act as overrides); ``contrasts``
    overrides the contrast of any input key. ``register``: ``"auto"`` registers a series only when it is on a
    different grid and frame of reference than the reference, ``"always"``/``"never"``. ``saliency`` is the
    heatmap method (``auto``: the bundle's, ``evidence``, ``gradcam``, ``gradcam++``, ``occlusion``; ``none``:
    no heatmaps); ``decision_threshold`` replaces every output's threshold. Options are declared in
    :mod:`.options`. Raises :class:`radtriage.models.BundleNotFoundError` when no bundle is installed.
    """
    if options:
        validate_options(TASK, options)  # refuses the first unknown option
    if saliency == "none":
        heatmaps = False
    report = progress or (lambda fraction, message="": None)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    study = assign_study_contrasts(inputs, contrasts)
    timings["contrasts_s"] = time.perf_counter() - start
    report(0.05, f"contrasts: {', '.join(study.channels)}; loading the triage model")
    if model is None:
        t = time.perf_counter()
        model = TriageModel.from_bundle(bundle, device, operating_point)
        timings["load_model_s"] = time.perf_counter() - t
    if decision_threshold is not None:
        model = replace(model, thresholds=dict.fromkeys(model.outputs, float(decision_threshold)))
    report(0.2, "registering and resampling onto the model grid")
    t = time.perf_counter()
    prepared = prepare_study(model, study, register)
    x, mask = model.model_input(prepared)
    timings["preprocess_s"] = time.perf_counter() - t
    report(0.5, "running the network")
    t = time.perf_counter()
    not_assessable = unassessable(model.requirements, study.channels)
    predicted = model.predict(x, mask)
    probabilities = {name: p for name, p in predicted.items() if name not in not_assessable}
    decisions = model.decisions(probabilities)
    timings["inference_s"] = time.perf_counter() - t
    volumes: dict[str, Image] = {}
    saliency = model.heatmap_method(saliency) if saliency != "none" else saliency
    assessed = [name for name in model.outputs if name not in not_assessable]
    if heatmaps and assessed:
        report(0.7, f"computing {saliency} heatmaps")
        t = time.perf_counter()
        volumes = native_heatmaps(model, prepared, x, study.channels[study.reference], assessed, saliency,
                                  probabilities)
        timings["heatmaps_s"] = time.perf_counter() - t
    findings = [
        {"output": name, "probability": probabilities.get(name), "decision": decisions.get(name),
         "threshold": model.thresholds.get(name, 0.5), "critical": name in CRITICAL_OUTPUTS,
         "assessable": name not in not_assessable, "reason": not_assessable.get(name, ""),
         "needs": list(model.requirements.get(name, ()))}
        for name in model.outputs
    ]
    outputs = {
        "probabilities": probabilities,
        "decisions": decisions,
        "not_assessable": not_assessable,
        "thresholds": {name: model.thresholds.get(name, 0.5) for name in model.outputs},
        "operating_point": model.operating_point,
        "decision_threshold": decision_threshold,
        "findings": findings,
        "urgency": urgency(probabilities, decisions, not_assessable),
        "contrasts": study.to_dict(),
        "missing_contrasts": list(study.missing),
        "availability": {c: bool(a) for c, a in zip(model.contrasts, mask, strict=True)},
        "registration": {n: {"metric": r.metric, "rotation_deg": r.rotation_degrees, "shift_mm": r.shift_mm,
                              "implausible": r.implausible_move() is not None}
                         for n, r in prepared.registrations.items()},
        "not_registered": [n for n in study.channels if n != study.reference and n not in prepared.registrations],
        "grid": {"size": list(prepared.grid.size), "spacing": list(prepared.grid.spacing),
                 "origin": list(prepared.grid.origin)},
        "heatmaps": {"method": saliency if heatmaps else None, "volumes": list(volumes),
                     "scale": "saliency x probability: a map peaks at its output's probability (0..1)",
                     "space": f"native grid of the {study.reference} input ({study.inputs[study.reference]})"},
        "timings_s": timings,
    }
    report(0.95, "triaged")
    return TaskResult(TASK, dict(model.bundle_info), outputs, volumes=volumes,
                      notices=_notices(model, study, decisions, prepared, not_assessable))
