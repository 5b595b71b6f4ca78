"""The node's one task worker: takes quiet studies from the queue, routes them, runs the tasks, sends results.

Tasks never run on the network thread. ``TaskRunner`` is the seam for a shared warm worker (a later issue): the
node calls ``runner(task, images)`` and anything that returns a :class:`TaskResult` will do.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from radtriage.dicom_node.queue import Study, WorkQueue
from radtriage.dicom_node.routing import ALL_TASKS, Job, route
from radtriage.dicom_node.sender import Sender
from radtriage.errors import RadTriageError
from radtriage.image import Image
from radtriage.tasks.result import TaskResult

log = logging.getLogger(__name__)

TaskRunner = Callable[[str, dict[str, Image]], TaskResult]
RUN_ERRORS = (RadTriageError, ValueError, RuntimeError, OSError, KeyError, IndexError)
"""What one task may raise for a study that cannot be processed (recorded; the node goes on)."""


def local_runner(device: str = "auto") -> TaskRunner:
    """Run tasks in this process with :func:`radtriage.tasks.run_task`, each bundle loaded once and kept
    (:func:`radtriage.models.safe_load.keep_loaded_bundles`)."""
    from radtriage.models.safe_load import keep_loaded_bundles
    from radtriage.tasks import run_task

    keep_loaded_bundles()

    def run(task: str, images: dict[str, Image]) -> TaskResult:
        return run_task(task, inputs=images, bundle=None, device=device, progress=None)

    return run


def urgency(result: TaskResult) -> tuple[bool, float]:
    """(critical, probability) of one result, for the worklist ranking."""
    out = result.outputs
    if result.task == "mri_triage":
        u = out.get("urgency") or {}
        return bool(u.get("critical")), float(u.get("abnormal_probability") or 0.0)
    if result.task == "cmb_detect":
        return False, max((float(d.get("confidence", 0)) for d in out.get("detections", [])), default=0.0)
    if result.task == "lge_certainty":
        return False, float((out.get("summary") or {}).get("max_likelihood") or 0.0) / 100.0
    return False, 0.0


class Worker:
    """One thread that processes queued studies one at a time."""

    def __init__(self, folder: Path, queue: WorkQueue, sender: Sender, *, runner: TaskRunner | None = None,
                 tasks: Sequence[str] = ALL_TASKS, quiet_s: float = 10.0, keep_incoming: bool = False,
                 on_change: Callable[[], None] | None = None, warm_up: bool = True) -> None:
        self.folder, self.queue, self.sender = Path(folder), queue, sender
        self.runner = runner or local_runner()
        self.tasks, self.quiet_s, self.keep_incoming = tuple(tasks), quiet_s, keep_incoming
        self.warm_up_first = warm_up
        self.warm_up_s: float | None = None
        """How long the warm-up took (None until it ran)."""
        self.on_change = on_change or (lambda: None)
        self.outbox_owner: dict[str, tuple[str, str]] = {}
        """Outbox file name -> (study UID, task): which result a sent file belongs to."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="radtriage-worker", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current study (a study cut short is run again after a restart)."""
        self._stop.set()
        self._thread.join(timeout)

    def warm_up(self) -> float:
        """Run each enabled task once on small phantom studies (brain MR with SWI, one LGE slice, a short CT), as
        a real study would run, so that the first study finds every model loaded and every first-call cost paid
        (bundle loading, the MNI template, torch's first passes). Nothing is sent; failures are only logged.
        Returns the seconds it took."""
        import tempfile

        from radtriage.dicom_node import phantom_series as ps
        from radtriage.io import scan_dicom

        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix=".warm-up-", dir=self.folder) as tmp:
            root = Path(tmp)
            ps.write_brain_study(root / "brain", shape=(48, 48, 32))
            ps.write_lge_series(root / "lge", n_slices=1)
            ps.write_body_series(root / "ct", n_slices=8)
            for study in ("brain", "lge", "ct"):
                for job in route(scan_dicom(root / study), self.tasks):
                    if self._stop.is_set():
                        break
                    try:
                        self.runner(job.task, {key: series.read() for key, series in job.inputs.items()})
                    except RUN_ERRORS as exc:
                        log.warning("warm-up of %s failed: %s", job.task, exc)
        self.warm_up_s = time.time() - t0
        log.info("warmed up (%s) in %.1f s", ", ".join(self.tasks), self.warm_up_s)
        return self.warm_up_s

    def _loop(self) -> None:
        if self.warm_up_first:
            self.warm_up()
        while not self._stop.is_set():
            if self.queue.promote_quiet(self.quiet_s):
                self.on_change()
            study = self.queue.take()
            if study is None:
                self._stop.wait(0.2)
                continue
            self.on_change()
            try:
                summary, error = self.process(study)
            except Exception as exc:  # a bug in one study must not stop the node
                log.exception("study %s: unexpected error", study.study_uid)
                summary, error = {"tasks": {}}, f"internal error: {type(exc).__name__}: {exc}"
            self.queue.finish(study.study_uid, summary, error)
            if not error and not self.keep_incoming:
                shutil.rmtree(study.folder, ignore_errors=True)
            self.on_change()

    def _jobs(self, study: Study) -> list[Job]:
        from radtriage.io import scan_dicom

        return route(scan_dicom(study.folder), self.tasks)

    def process(self, study: Study) -> tuple[dict[str, Any], str]:
        """Run every routed task of ``study``; returns (summary, error: '' unless no task succeeded)."""
        try:
            jobs = self._jobs(study)
        except RUN_ERRORS as exc:
            return {"tasks": {}}, str(exc)
        if not jobs:
            return {"tasks": {}}, f"no task applies to this study (tasks enabled: {', '.join(self.tasks)})"
        tasks: dict[str, Any] = {}
        for n, job in enumerate(jobs):
            name = job.task if job.task not in tasks else f"{job.task}_{n}"
            tasks[name] = self._run_job(study, job, name)
        failed = [f"{name}: {t['error']}" for name, t in tasks.items() if t.get("error")]
        error = "; ".join(failed) if len(failed) == len(tasks) else ""
        return {"tasks": tasks}, error

    def _run_job(self, study: Study, job: Job, name: str) -> dict[str, Any]:
        from radtriage.dicom_out import dicom_sources_of, write_dicom_results
        from radtriage.tasks.result import case_folder_name, write_result_staged

        t0 = time.time()
        out = self.folder / "results" / case_folder_name(study.study_uid) / name
        try:
            images = {key: series.read() for key, series in job.inputs.items()}
            sources = dicom_sources_of(images)
            result = self.runner(job.task, images)
            written = write_result_staged(result, out)
            dicom = write_dicom_results(result, sources, out.with_name(f"{name}-dicom"))
        except RUN_ERRORS as exc:
            log.warning("study %s, %s failed: %s", study.study_uid, job.task, exc)
            return {"task": job.task, "status": "failed", "error": str(exc), "seconds": round(time.time() - t0, 3)}
        for f in self.sender.submit(dicom):
            self.outbox_owner[f.name] = (study.study_uid, name)
        critical, probability = urgency(result)
        return {"task": job.task, "status": "done", "critical": critical, "probability": round(probability, 4),
                "result": str(written["result"]), "dicom": [f.name for f in dicom], "notices": result.notices,
                "seconds": round(time.time() - t0, 3), "result_time": time.time()}
