"""Run one task (or each case's own, ``task="auto"``) over a case list: skip finished cases, run the rest in
process or on Dask, and stream every row to the CSV/JSONL files (and the annotation store) as it comes."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.batch.inputs import AUTO_TASK, DEFAULT_EXCLUDE, CaseJob, resolve_jobs
from radtriage.batch.sinks import CSV_NAME, JSONL_NAME, CsvSink, JsonlSink, StoreSink
from radtriage.batch.summary import columns_for
from radtriage.batch.worker import is_done, row_from_result_file
from radtriage.runtime.events import emit_progress, resolve_progress
from radtriage.tasks.result import result_folder

log = logging.getLogger(__name__)

SCHEDULER_NONE = "none"
SCHEDULER_LOCAL = "local"
SCHEDULER_AUTO = "auto"


def mode_text(mode: str) -> str:
    """How the batch runs, in words: in this process, or on which Dask scheduler."""
    return "in this process" if mode == SCHEDULER_NONE else f"Dask scheduler {mode}"


@dataclass
class BatchSummary:
    """What a batch did: counts by status, wall time, CPU time, and where the rows are."""

    n_cases: int
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    """CPU seconds of this process (all its threads) and of its children that have exited (local Dask workers)."""
    cores: int = 1
    scheduler: str = SCHEDULER_NONE
    csv_path: Path | None = None
    jsonl_path: Path | None = None

    @property
    def failed(self) -> int:
        return self.counts.get("error", 0)

    @property
    def cpu_utilisation(self) -> float:
        """CPU seconds over wall seconds times the machine's cores: 1.0 = every core busy the whole batch."""
        return self.cpu_s / (self.wall_s * self.cores) if self.wall_s > 0 and self.cores > 0 else 0.0


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its reaped children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system



def effective_scheduler(scheduler: str, workers: int) -> str:
    """``auto``: a local Dask cluster when more than one worker is asked for, in-process otherwise."""
    if scheduler == SCHEDULER_AUTO:
        return SCHEDULER_LOCAL if workers > 1 else SCHEDULER_NONE
    return scheduler


def run_cohort(
    source: str | Path,
    out: str | Path,
    task: str = AUTO_TASK,
    *,
    kind: str = "auto",
    bundle: str | None = None,
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
    input_globs: Mapping[str, str] | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    force: bool = False,
    store: str | Path | None = None,
    scheduler: str = SCHEDULER_AUTO,
    workers: int = 1,
    prefetch: int = 2,
    progress: str = "auto",
    dicom: bool = False,
) -> BatchSummary:
    """Run the batch; see ``radtriage batch --help``. Rows go to ``<out>/batch_results.csv`` and ``.jsonl``."""
    from tqdm import tqdm

    from radtriage.annotations import open_case_list

    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = open_case_list(source, kind)
    jobs = resolve_jobs(cases, task, exclude=exclude, input_globs=input_globs, options=options)
    todo: list[CaseJob] = []
    kept: list[CaseJob] = []
    for job in jobs:
        (kept if not force and not job.problem and is_done(out, job, dicom) else todo).append(job)
    mode = effective_scheduler(scheduler, workers)
    summary = BatchSummary(len(jobs), scheduler=mode, csv_path=out / CSV_NAME, jsonl_path=out / JSONL_NAME)
    columns = columns_for(j.task for j in jobs) + (["dicom_dir"] if dicom else []) + (["store_labels"] if store else [])
    sinks: list[Any] = [CsvSink(out / CSV_NAME, columns), JsonlSink(out / JSONL_NAME)]
    store_sink = StoreSink(store, cases) if store else None
    mode_shown = resolve_progress(progress)
    bar = tqdm(total=len(jobs), initial=len(kept), unit="case", desc=f"batch {task}", file=sys.stderr,
               disable=mode_shown != "text", dynamic_ncols=True)

    def emit(row: dict[str, Any]) -> None:
        if store_sink is not None:
            store_sink.record(row)
        for sink in sinks:
            sink.write(row)
        summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + 1
        if row["status"] == "error":
            log.warning("case failed: %s", row["error"])

    try:
        for job in kept:
            emit(row_from_result_file(job, result_folder(out, job.case_id, job.task), "skipped", dicom))
        log.info("%d case(s) to run, %d kept from an earlier run (%s)", len(todo), len(kept), mode_text(mode))
        if mode == SCHEDULER_NONE:
            from radtriage.batch.prefetch import run_in_process

            rows = run_in_process(todo, out, bundle=bundle, device=device, prefetch=prefetch,
                                  dicom=dicom)
        else:
            from radtriage.batch.dask_executor import run_on_dask

            rows = run_on_dask(todo, out, scheduler=mode, workers=workers, bundle=bundle, device=device,
                               dicom=dicom)
        for row in rows:
            emit(row)
            bar.update(1)
            bar.set_postfix(failed=summary.failed, refresh=False)
            if mode_shown == "json":
                done = sum(summary.counts.values())
                emit_progress(done / max(1, len(jobs)), f"{done}/{len(jobs)} cases, {summary.failed} failed")
    finally:
        bar.close()
        for sink in sinks:
            sink.close()
        if store_sink is not None:
            store_sink.close()
    summary.wall_s = time.perf_counter() - t_start
    summary.cpu_s, summary.cores = _cpu_seconds() - cpu_start, os.cpu_count() or 1
    return summary
