"""The ``cmb_detect`` task runner: pick the inputs, run the cascade, return detections and points."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from radtriage.image import Image
from radtriage.tasks.cmb_detect.detector import DEMO_NOTICE, TASK, CmbPipeline, DetectionRun
from radtriage.tasks.cmb_detect.location import LOCATION_METHOD, count_by_location
from radtriage.tasks.cmb_detect.phase_filter import highpass_if_raw
from radtriage.tasks.cmb_detect.prep import pick_inputs
from radtriage.tasks.options import validate_options
from radtriage.tasks.result import TaskResult
from radtriage.validation.phase import phase_in_radians

log = logging.getLogger(__name__)

HEATMAP_VOLUME = "cmb_heatmap"
NO_PHASE_NOTICE = ("no phase image given: calcifications and other diamagnetic dark dots cannot be told apart "
                   "from microbleeds on magnitude alone; check each detection against phase or CT")

THICK_SLICE_MM = 3.0
"""Voxel edge above which a microbleed (2-10 mm across) is partial-volumed away: the demo model was trained on
0.5-2 mm phantoms, and clinical SWI for microbleeds is acquired at about 1-2.5 mm."""


def thick_slice_notice(image: Image) -> str | None:
    """A notice when the input's coarsest voxel edge is above :data:`THICK_SLICE_MM` (detections unreliable)."""
    coarsest = float(max(image.spacing))
    if coarsest <= THICK_SLICE_MM:
        return None
    return (f"voxels up to {coarsest:.1f} mm (> {THICK_SLICE_MM:.0f} mm): microbleeds are partial-volumed and "
            "vessels or noise look like dots at this resolution; detections on this scan are unreliable")


def check_working_grid(magnitude: Image) -> None:
    """Refuse an input whose 1 mm working grid exceeds the contract's cap (memory), before anything is allocated.

    ``run_task`` checks this already (the task's input contract); kept here for direct callers of ``run``.
    """
    import numpy as np

    from radtriage.errors import InputError
    from radtriage.tasks.cmb_detect.prep import working_grid
    from radtriage.validation.contracts import TASK_CONTRACTS

    cap = TASK_CONTRACTS[TASK].max_working_voxels
    size = working_grid(magnitude).size
    if cap and int(np.prod(size, dtype=np.int64)) > cap:
        raise InputError(magnitude.metadata.get("source_path"),
                         f"the 1 mm working grid would be {'x'.join(map(str, size))} voxels (limit {cap / 1e6:.0f} M, "
                         "to keep memory under 4 GB); crop the volume to the head first")


def detection_points(run: DetectionRun) -> list[dict[str, Any]]:
    """``result.json`` points: label, RAS and LPS centre, radius, confidence and location of each detection."""
    out = []
    for d in (det.to_dict() for det in run.detections):
        out.append({"label": d["label"], "ras": d["center_ras"], "lps": d["center_lps"], "radius_mm": d["radius_mm"],
                    "confidence": d["confidence"], "location": d["location"]})
    return out


def outputs_of(run: DetectionRun, key: str, phase_used: bool) -> dict[str, Any]:
    """The ``outputs`` object of the result (detections, counts per location class, geometry, settings)."""
    detections = run.detections
    return {
        "input": key,
        "phase_used": phase_used,
        "echo_combination": run.working.echo_note or "single echo",
        "threshold": run.threshold,
        "stage2_weight": run.stage2_weight,
        "operating_point": "with phase" if run.phase_used else "magnitude only",
        "n_candidates_stage1": run.n_peaks,
        "n_candidates_scored": len(run.candidates),
        "n_detections": len(detections),
        "detections": [d.to_dict() for d in detections],
        "location_counts": count_by_location([d.location for d in detections]),
        "location_method": LOCATION_METHOD,
        "mni_registration": None if run.registration is None else run.registration.summary(),
        "location_note": run.location_note or f"locations from the {LOCATION_METHOD} (quality check passed)",
        "working_grid": {"size": list(run.working.grid.size), "spacing_mm": list(run.working.grid.spacing)},
        "radius": "apparent (blooming) radius from the thresholded blob, mm",
        "timings_ms": {k: round(v, 1) for k, v in run.timings_ms.items()},
    }


def run(
    inputs: dict[str, Image],
    *,
    bundle: str | None = None,
    device: str = "auto",
    progress: Callable[[float, str], None] | None = None,
    threshold: float | None = None,
    phase_sign: float = 1.0,
    heatmap: bool = True,
    pipeline: CmbPipeline | None = None,
    **options: Any,
) -> TaskResult:
    """Detect microbleeds on an SWI/T2*-GRE magnitude (``inputs``: one image, or ``magnitude`` + ``phase``).

    ``threshold`` overrides the bundle's operating point; ``heatmap`` adds the stage-1 heatmap (working grid)
    as volume ``cmb_heatmap``. Raises :class:`radtriage.models.BundleNotFoundError` when no bundle is installed.
    """
    if options:
        validate_options(TASK, options)  # refuses the first unknown option
    report = progress or (lambda fraction, message="": None)
    key, magnitude, phase = pick_inputs(inputs)
    notices: list[str] = []
    if phase is not None:
        phase, units_note = phase_in_radians(phase)
        phase, filter_note = highpass_if_raw(phase, magnitude)
        notices += [n for n in (units_note, filter_note) if n]
    check_working_grid(magnitude)
    report(0.02, "loading the microbleed model")
    pipe = pipeline or CmbPipeline.from_bundle(bundle, device)
    result = pipe.detect(magnitude, phase, key=key, threshold=threshold, phase_sign=phase_sign, progress=report)
    if pipe.bundle_info.get("demo"):
        notices.insert(0, DEMO_NOTICE)
    if phase is None:
        notices.append(NO_PHASE_NOTICE)
    if (thick := thick_slice_notice(magnitude)) is not None:
        notices.append(thick)
    if result.working.echo_note:
        notices.append(f"multi-echo input: {result.working.echo_note}")
    if result.location_note:
        notices.append(f"location class unknown: {result.location_note}")
    volumes = {HEATMAP_VOLUME: result.heatmap_image()} if heatmap else {}
    report(1.0, f"{len(result.detections)} microbleed detection(s)")
    return TaskResult(TASK, dict(pipe.bundle_info), outputs_of(result, key, phase is not None), volumes=volumes,
                      points=detection_points(result), notices=notices)
