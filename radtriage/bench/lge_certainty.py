"""Per-slice latency of the LGECertainty task on phantom slices (``radtriage bench``).

Stages, each timed ``repeats`` times (medians reported): ``decode`` (read one slice from a NIfTI file),
``preprocess`` (fixed-FOV resample + percentile normalisation), ``inference`` (one slice through the network),
``post-process`` (temperature, band, hint) and ``write`` (result.json). Uses the installed bundle when there is
one; otherwise an untrained network of the same architecture (timing only; noted in the result).
Targets: 20 ms per slice on CPU, 2 ms on a GPU (``per_slice_ms`` excludes decode and write; ``end_to_end_s``
includes them).
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

TARGETS_MS = {"cpu": 20.0, "cuda": 2.0, "mps": 2.0}


def _median_ms(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def _scorer(device: str) -> tuple[Any, str]:
    from radtriage.nets.lge import LgeEfficientNetV2
    from radtriage.tasks.lge_certainty import LgeSliceScorer

    return bundle_or_untrained(lambda d: LgeSliceScorer.from_bundle(None, d),
                               lambda dev: LgeSliceScorer(LgeEfficientNetV2().to(dev).eval(), device=dev), device)


def run_benchmark(repeats: int = 5, device: str = "cpu", threads: int | None = 1) -> dict[str, Any]:
    """Median per-stage milliseconds for one short-axis slice, with the targets beside them.

    ``threads`` sets torch's CPU threads for the run (restored after): one thread is fastest for a single small
    slice, and several threads on a busy machine can be 100x slower; ``None`` keeps the current setting.
    """
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run(repeats, device)
    finally:
        torch.set_num_threads(previous)


def benchmark_slice() -> Any:
    """The slice every LGE timing uses: a typical 1.5 T short-axis slice, 192 x 192 at 0.9 mm."""
    from radtriage.phantoms import make_lge_slice

    return make_lge_slice(0, "clear", size=(192, 192), spacing=(0.9, 0.9))


def _run(repeats: int, device: str) -> dict[str, Any]:
    import numpy as np
    import torch

    from radtriage.io import read_image, write_volume
    from radtriage.tasks.result import TaskResult, write_result

    scorer, model = _scorer(device)
    dev = torch.device(scorer.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    phantom = benchmark_slice()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(phantom.image, Path(tmp) / "slice.nii.gz")
        stages: dict[str, float] = {}
        stages["decode"] = _median_ms(lambda: read_image(path), repeats, sync)
        prepared = scorer.prepare(phantom.image)
        stages["preprocess"] = _median_ms(lambda: scorer.prepare(phantom.image), repeats, sync)
        batch = prepared[None]
        stages["inference"] = _median_ms(lambda: scorer.logits(batch), repeats, sync)
        logit = float(scorer.logits(batch)[0])
        stages["post-process"] = _median_ms(lambda: scorer.call(logit), repeats, sync)
        result = TaskResult("lge_certainty", {"name": model}, {"slices": [scorer.call(logit).to_dict()]})
        stages["write"] = _median_ms(lambda: write_result(result, Path(tmp) / "out"), repeats, sync)
        stages["score_slice"] = _median_ms(lambda: scorer.score_slice(phantom.image), repeats, sync)
    per_slice = stages["preprocess"] + stages["inference"] + stages["post-process"]
    target = TARGETS_MS.get(dev.type, TARGETS_MS["cpu"])
    return {
        "task": "lge_certainty",
        "device": str(dev),
        "model": model,
        "repeats": int(repeats),
        "torch_threads": torch.get_num_threads(),
        "input": {
            "size": list(phantom.image.size[:2]),
            "pixel_mm": list(phantom.image.spacing[:2]),
            "patch": scorer.prep.patch,
            "fov_mm": scorer.prep.fov_mm,
        },
        "stages_ms": {k: round(v, 3) for k, v in stages.items()},
        "per_slice_ms": round(per_slice, 3),
        "end_to_end_s": round((stages["decode"] + per_slice + stages["write"]) / 1000.0, 4),
        "target_ms": {"per_slice": target, "cpu": TARGETS_MS["cpu"], "gpu": TARGETS_MS["cuda"]},
        "meets_target": bool(per_slice <= target),
        "note": "per_slice_ms = preprocess + inference + post-process (decode/write depend on storage)",
        "numpy": np.__version__,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run_benchmark(), indent=2))
