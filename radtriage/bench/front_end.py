"""What a reader waits for (``radtriage bench``): click -> result files ready, through the path Slicer and the
web station use, on the same input the task's benchmark times in process.

Per task, the benchmark's input (an 8-contrast 1 mm brain, a 512x512x150 SWI, one 192x192 LGE slice, a 500-slice
CT) is written as files, the way a front end writes its job inputs, and run as ``radtriage infer``:

* ``front_end_latency_s``: through the front ends' warm worker (:func:`radtriage.runtime.worker_client.start_job`),
  from the call until the job reports its files moved into place (polled every 5 ms, no slower than a GUI timer);
* ``infer_in_process_s``: the same command in this (warm) process (input checks, run, result files);
* ``cold_start_s``: the first run after the worker process is started (imports, bundle load);
* ``one_shot_s``: the fallback, a fresh ``python -m radtriage infer`` process.

:func:`front_end_summary` sets ``front_end_ratio`` = front_end_latency_s / the benchmark's ``end_to_end_s`` (its
in-process stages on the same input), against :data:`RATIO_TARGET`. Medians of ``repeats``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

RATIO_TARGET = 1.5
"""Issue target: through the warm worker a reader waits at most 1.5x the in-process time."""


def _inputs(task: str, folder: Path) -> dict[str, Path]:
    """The task benchmark's input, written as files (named as the task reads them)."""
    from radtriage.io import write_volume

    folder.mkdir(parents=True, exist_ok=True)
    if task == "mri_triage":
        from radtriage.bench.mri_triage import PHANTOM_SHAPE
        from radtriage.phantoms import make_brain_case

        case = make_brain_case(7, "infarct", shape=PHANTOM_SHAPE, spacing=(1.0, 1.0, 1.0))
        return {name: write_volume(image, folder / f"{name}.nii.gz") for name, image in case.images.items()}
    if task == "cmb_detect":
        from radtriage.bench.cmb_detect import synthetic_swi

        return {"MAGNITUDE": write_volume(synthetic_swi(), folder / "swi.nii.gz")}
    if task == "lge_certainty":
        from radtriage.bench.lge_certainty import benchmark_slice

        return {"LGE": write_volume(benchmark_slice().image, folder / "slice.nii.gz")}
    if task == "body_region":
        from radtriage.bench.body_region import make_benchmark_ct

        return {"CT": make_benchmark_ct(folder)}
    raise ValueError(f"no front-end benchmark for {task!r}")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _in_process(argv: list[str]) -> None:
    from radtriage.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"radtriage {' '.join(argv[:3])} exited with {code}")


def _through(job_factory: Callable[[], Any]) -> None:
    from radtriage.runtime.runner import JobState

    job = job_factory()
    if job.wait() is not JobState.SUCCEEDED:  # polls every 5 ms
        raise RuntimeError(f"the job failed: {job.error}")


def measure_front_end(task: str, repeats: int = 3, device: str = "cpu") -> dict[str, Any]:
    """The waits of one task (seconds): through the warm worker, in process, cold and one-shot."""
    from radtriage.runtime.infer_command import infer_argv
    from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, BackgroundJob
    from radtriage.runtime.worker_client import WarmWorker

    with tempfile.TemporaryDirectory(prefix="radtriage-bench-front-") as tmp:
        root = Path(tmp)
        inputs = _inputs(task, root / "case")
        argv = infer_argv(task, {k: str(v) for k, v in inputs.items()}, device=device, progress="json")
        runs = iter(range(10_000))

        def out() -> Path:
            return root / f"out{next(runs)}"

        def in_process() -> None:
            folder = str(out())
            _in_process([folder if a == OUTPUT_DIR_PLACEHOLDER else a for a in argv[3:]])

        in_process()  # warm this process as the worker is warm
        end_to_end = [_timed(in_process) for _ in range(max(1, repeats))]
        worker = WarmWorker()
        try:
            cold = _timed(lambda: _through(lambda: worker.start().job(argv, out()).start()))
            warm = [_timed(lambda: _through(lambda: worker.job(argv, out()).start())) for _ in range(max(1, repeats))]
        finally:
            worker.close()
        one_shot = _timed(lambda: _through(lambda: BackgroundJob(argv, out()).start()))
    return {
        "front_end_latency_s": round(statistics.median(warm), 4),
        "infer_in_process_s": round(statistics.median(end_to_end), 4),
        "cold_start_s": round(cold, 3),
        "one_shot_s": round(one_shot, 3),
    }


def front_end_summary(result: Mapping[str, Any], front_end: Mapping[str, Any]) -> dict[str, Any]:
    """The front-end figures beside a task benchmark's ``end_to_end_s``, with the ratio and its yes/no."""
    e2e = float(result["end_to_end_s"])
    ratio = float(front_end["front_end_latency_s"]) / e2e if e2e > 0 else float("inf")
    return {**front_end, "front_end_ratio": round(ratio, 3), "front_end_ratio_target": RATIO_TARGET,
            "front_end_meets_target": bool(ratio <= RATIO_TARGET)}
