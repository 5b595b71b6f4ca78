"""What a reader waits for (``radtriage bench``): click -> result files ready, through the path Slicer and the
web station use, beside the same run in process.

Per task, on one phantom case written as files the way a front end writes its job inputs:

* ``end_to_end_s``: ``radtriage infer`` run in this (warm) process: read the inputs, run, write the result;
* ``front_end_latency_s``: the same command through the front ends' warm worker
  (:func:`radtriage.runtime.worker_client.start_job`), from the call until the job reports its files moved into
  place (polled every 5 ms, as no slower than a GUI timer);
* ``cold_start_s``: the first such run after the worker process is started (imports, bundle load);
* ``one_shot_s``: the fallback, a fresh ``python -m radtriage infer`` process.

``front_end_ratio`` = front_end_latency_s / end_to_end_s, against :data:`RATIO_TARGET`. Medians of ``repeats``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RATIO_TARGET = 1.5
"""Issue target: through the warm worker a reader waits at most 1.5x the in-process time."""
PHANTOMS: dict[str, tuple[str, dict[str, str]]] = {
    "mri_triage": ("brain", {c: f"{c}.nii.gz" for c in ("T1", "T1post", "T2", "FLAIR", "DWI", "ADC", "SWI")}),
    "cmb_detect": ("swi", {"MAGNITUDE": "swi_magnitude.nii.gz", "PHASE": "swi_phase.nii.gz"}),
    "lge_certainty": ("lge", {"LGE": "lge_sax.nii.gz"}),
    "body_region": ("body-ct", {"CT": "body_ct.nii.gz"}),
}
"""The phantom each task is timed on (``radtriage phantom`` kind) and its input files, named as the task reads."""


def _inputs(task: str, folder: Path) -> dict[str, Path]:
    from radtriage.phantom_export import export_phantom

    kind, files = PHANTOMS[task]
    written = export_phantom(kind, folder, seed=0, count=1)
    case = written[0].parent
    return {key: case / name for key, name in files.items()}


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
    while not job.state.done:
        time.sleep(0.005)
    if job.state is not JobState.SUCCEEDED:
        raise RuntimeError(f"the job failed: {job.error}")


def measure_front_end(task: str, repeats: int = 3, device: str = "cpu") -> dict[str, Any]:
    """The four waits of one task (seconds) and the ratio against :data:`RATIO_TARGET`."""
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
        end_to_end = [_timed(in_process) for _ in range(repeats)]
        worker = WarmWorker()
        try:
            cold = _timed(lambda: _through(lambda: worker.start().job(argv, out()).start()))
            warm = [_timed(lambda: _through(lambda: worker.job(argv, out()).start())) for _ in range(repeats)]
        finally:
            worker.close()
        one_shot = _timed(lambda: _through(lambda: BackgroundJob(argv, out()).start()))
    e2e, front = statistics.median(end_to_end), statistics.median(warm)
    ratio = front / e2e if e2e > 0 else float("inf")
    return {
        "end_to_end_s": round(e2e, 4),
        "front_end_latency_s": round(front, 4),
        "cold_start_s": round(cold, 3),
        "one_shot_s": round(one_shot, 3),
        "front_end_ratio": round(ratio, 3),
        "front_end_ratio_target": RATIO_TARGET,
        "front_end_meets_target": bool(ratio <= RATIO_TARGET),
        "front_end_note": "end_to_end_s: radtriage infer in a warm process (read, run, write); front_end_latency_s:"
                          " the same through the front ends' warm worker, call to files in place",
    }
