"""End-to-end latency of CMBDetect on a full-size SWI volume (``radtriage bench``).

The volume is a synthetic 512 x 512 x 150 SWI magnitude (0.43 x 0.43 x 1.5 mm, a 220 x 220 x 225 mm field of
view: an ellipsoidal head of tissue with Rician-like noise and a few dark foci), written once as NIfTI. Stages,
each timed ``repeats`` times (medians reported): ``decode`` (read the NIfTI), ``preprocess`` (1 mm working grid +
normalisation), ``inference_stage1`` (dense screener in exact non-overlapping tiles over the head mask),
``inference_stage2`` (patch discriminator), ``postprocess`` (radius, location, merging) and ``write``
(result.json + heatmap NIfTI). Uses the installed bundle when there is one; otherwise an untrained network of
the same architecture (timing only).
Target: < 30 s end to end on a CPU (reported, never asserted).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.bench.pipelines import bundle_or_untrained

log = logging.getLogger(__name__)

TARGETS_S = {"cpu": 30.0, "cuda": 5.0, "mps": 10.0}
SHAPE_IJK = (512, 512, 150)
SPACING = (0.43, 0.43, 1.5)


def synthetic_swi(shape_ijk: tuple[int, int, int] = SHAPE_IJK, spacing: tuple[float, float, float] = SPACING,
                  seed: int = 0) -> Any:
    """A cheap full-size SWI-like magnitude: ellipsoid head (tissue ~700) with noise and 6 dark foci."""
    from radtriage.image import Image

    rng = np.random.default_rng(seed)
    ni, nj, nk = shape_ijk
    z = (np.arange(nk, dtype=np.float32) - nk / 2) * spacing[2]
    y = (np.arange(nj, dtype=np.float32) - nj / 2) * spacing[1]
    x = (np.arange(ni, dtype=np.float32) - ni / 2) * spacing[0]
    r2 = (z[:, None, None] / 95) ** 2 + (y[None, :, None] / 90) ** 2 + (x[None, None, :] / 72) ** 2
    arr = np.where(r2 <= 1.0, np.float32(700.0), np.float32(0.0))
    for _ in range(6):
        c = rng.uniform(-30, 30, 3)
        d2 = (z[:, None, None] - c[2]) ** 2 + (y[None, :, None] - c[1]) ** 2 + (x[None, None, :] - c[0]) ** 2
        arr *= np.where(d2 <= 4.0, np.float32(0.15), np.float32(1.0))
    arr += rng.normal(0, 20, arr.shape).astype(np.float32)
    origin = tuple(-(n - 1) / 2 * s for n, s in zip(shape_ijk, spacing, strict=True))
    return Image(np.abs(arr), spacing, origin, np.eye(3))


def _pipeline(device: str) -> tuple[Any, str]:
    from radtriage.nets.cmb import CmbDetector
    from radtriage.tasks.cmb_detect import CmbPipeline

    return bundle_or_untrained(lambda d: CmbPipeline.from_bundle(None, d),
                               lambda dev: CmbPipeline(CmbDetector().to(dev).eval(), device=dev), device)


def run_benchmark(repeats: int = 5, device: str = "cpu", threads: int | None = None,
                  shape_ijk: tuple[int, int, int] = SHAPE_IJK) -> dict[str, Any]:
    """Median per-stage milliseconds of one full-size SWI volume end to end, with the target beside them.

    ``threads`` sets torch's CPU threads for the run (restored after); ``None`` keeps the current setting.
    """
    import torch

    from radtriage.io import read_image, write_volume
    from radtriage.tasks.cmb_detect.runner import HEATMAP_VOLUME, outputs_of
    from radtriage.tasks.result import TaskResult, write_result

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        pipe, model = _pipeline(device)
        stages: dict[str, list[float]] = {k: [] for k in ("decode", "preprocess", "inference_stage1",
                                                          "inference_stage2", "postprocess", "write", "total")}
        n_det = 0
        with tempfile.TemporaryDirectory() as tmp:
            src = write_volume(synthetic_swi(shape_ijk), Path(tmp) / "swi.nii.gz")
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                image = read_image(src)
                t1 = time.perf_counter()
                run = pipe.detect(image)
                t2 = time.perf_counter()
                result = TaskResult("cmb_detect", dict(pipe.bundle_info), outputs_of(run, "magnitude", False),
                                    volumes={HEATMAP_VOLUME: run.heatmap_image()})
                write_result(result, Path(tmp) / "out")
                t3 = time.perf_counter()
                n_det = len(run.detections)
                stages["decode"].append((t1 - t0) * 1000)
                stages["preprocess"].append(run.timings_ms["preprocess"])
                stages["inference_stage1"].append(run.timings_ms["stage1"])
                stages["inference_stage2"].append(run.timings_ms["stage2"])
                stages["postprocess"].append(run.timings_ms["postprocess"])
                stages["write"].append((t3 - t2) * 1000)
                stages["total"].append((t3 - t0) * 1000)
    finally:
        torch.set_num_threads(old_threads)
    medians = {k: round(float(statistics.median(v)), 1) for k, v in stages.items()}
    kind = str(getattr(pipe.device, "type", pipe.device))
    target_s = TARGETS_S.get(kind, TARGETS_S["cpu"])
    return {
        "task": "cmb_detect",
        "model": model,
        "device": kind,
        "threads": torch.get_num_threads() if threads is None else int(threads),
        "repeats": max(1, repeats),
        "volume": {"shape_ijk": list(shape_ijk), "spacing_mm": list(SPACING)},
        "stages_ms": {k: v for k, v in medians.items() if k != "total"},
        "end_to_end_s": round(medians["total"] / 1000, 2),
        "n_detections": n_det,
        "targets": {"end_to_end_s": target_s},
        "meets_target": medians["total"] / 1000 < target_s,
    }
