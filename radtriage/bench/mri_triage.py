"""End-to-end latency of the MRITriage task on an 8-contrast 1 mm brain phantom (``radtriage bench``).

Stages, each timed ``repeats`` times (medians reported): ``decode`` (read the 8 NIfTI files), ``preprocess``
(contrast assignment, resampling onto the model grid, normalisation), ``inference`` (the network, 4
probabilities), ``post-process`` (decisions, urgency and 4 Grad-CAM heatmaps mapped back to the native 1 mm grid)
and ``write`` (result.json and the heatmap volumes). Uses the installed bundle when there is one; otherwise an
untrained network of the same architecture (timing only; noted in the result).
Target: 8 contrasts at 1 mm in under 10 s end to end on CPU (reported, not asserted).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from radtriage.bench.pipelines import bundle_or_untrained

log = logging.getLogger(__name__)

TARGET_END_TO_END_S = {"cpu": 10.0, "cuda": 2.0, "mps": 5.0}
PHANTOM_SHAPE = (160, 192, 150)
"""(i, j, k) voxels of the 1 mm phantom: a whole head."""


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    value = fn()  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times)), value


def _model(device: str) -> tuple[Any, str]:
    from radtriage.nets.mri_triage import MriTriageNet
    from radtriage.tasks.mri_triage import TriageModel

    return bundle_or_untrained(lambda d: TriageModel.from_bundle(None, d),
                               lambda dev: TriageModel(MriTriageNet().to(dev).eval(), device=dev), device)


def run_benchmark(repeats: int = 5, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """Median per-stage milliseconds for one 8-contrast 1 mm study, with the target beside them."""
    import torch

    from radtriage.io import read_image, write_volume
    from radtriage.phantoms import make_brain_case
    from radtriage.tasks.mri_triage import assign_study_contrasts, prepare_study, urgency
    from radtriage.tasks.mri_triage.pipeline import native_heatmaps
    from radtriage.tasks.result import TaskResult, write_result

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model, source = _model(device)
        case = make_brain_case(7, "infarct", shape=PHANTOM_SHAPE, spacing=(1.0, 1.0, 1.0))
        with tempfile.TemporaryDirectory() as tmp:
            paths = {name: write_volume(image, Path(tmp) / f"{name}.nii.gz") for name, image in case.images.items()}
            stages: dict[str, float] = {}
            stages["decode"], images = _median_ms(lambda: {k: read_image(p) for k, p in paths.items()}, repeats)

            def preprocess() -> tuple[Any, Any, Any]:
                study = assign_study_contrasts(images)
                prepared = prepare_study(model, study)
                return study, prepared, model.model_input(prepared)

            stages["preprocess"], (study, prepared, (x, mask)) = _median_ms(preprocess, repeats)
            stages["inference"], probs = _median_ms(lambda: model.predict(x, mask), repeats)

            def post() -> tuple[dict[str, Any], dict[str, Any]]:
                decisions = model.decisions(probs)
                ref = study.channels[study.reference]
                return {"urgency": urgency(probs, decisions)}, native_heatmaps(model, prepared, x, ref)

            stages["post-process"], (outputs, volumes) = _median_ms(post, repeats)
            result = TaskResult("mri_triage", dict(model.bundle_info), {**outputs, "probabilities": probs}, volumes)
            out = Path(tmp) / "out"
            stages["write"], _ = _median_ms(lambda: write_result(result, out), repeats)
    finally:
        torch.set_num_threads(previous)
    kind = "cuda" if str(model.device).startswith("cuda") else "mps" if str(model.device) == "mps" else "cpu"
    total_s = sum(stages.values()) / 1000.0
    return {
        "task": "mri_triage",
        "model": source,
        "device": str(model.device),
        "input": f"8 contrasts, {PHANTOM_SHAPE} voxels at 1 mm (brain phantom)",
        "stages_ms": {k: round(v, 1) for k, v in stages.items()},
        "end_to_end_s": round(total_s, 2),
        "end_to_end_without_heatmaps_s": round((total_s * 1000.0 - stages["post-process"]) / 1000.0, 2),
        "targets": {"end_to_end_s": TARGET_END_TO_END_S[kind]},
        "meets_target": total_s < TARGET_END_TO_END_S[kind],
        "threads": threads or previous,
    }
