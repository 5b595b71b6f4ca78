"""Run a case's task off the server's event loop: ``radtriage infer`` on the station's warm worker
(:func:`radtriage.runtime.worker_client.start_job`; a one-shot child process when the worker is off or cannot
start), staged output moved into the case's result folder only on success, followed by polling that never blocks;
progress comes from the job's JSON-line events."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from radtriage.runtime.infer_command import infer_argv
from radtriage.runtime.runner import JobState
from radtriage.runtime.worker_client import start_job

logger = logging.getLogger(__name__)


@dataclass
class JobStatus:
    """What the progress bar shows: state (idle/running/succeeded/failed/cancelled), fraction 0..1, message."""

    state: str = "idle"
    fraction: float = 0.0
    message: str = ""
    case_id: str = ""
    error: str = ""

    @property
    def running(self) -> bool:
        """True while the child runs."""
        return self.state == JobState.RUNNING.value

    def to_state(self) -> dict[str, Any]:
        """The status as a trame state dict."""
        return {**asdict(self), "percent": round(100.0 * self.fraction, 1), "running": self.running}


class TaskJob:
    """One task run for one case: :meth:`start`, then :meth:`poll` from a timer until ``status.state`` is final."""

    def __init__(self, case_id: str, task: str, inputs: Mapping[str, Path], output_dir: Path, *,
                 device: str = "cpu", bundle: str | None = None, env: Mapping[str, str] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.case_id = case_id
        self.task = task
        self.output_dir = Path(output_dir)
        self.argv = infer_argv(task, dict(inputs), options=options, device=device, bundle=bundle, progress="json")
        self.env = dict(env or {})
        self.job: Any = None
        self.status = JobStatus(case_id=case_id)

    def start(self) -> JobStatus:
        """Start the run; the status is running (or failed when it could not start)."""
        self.job = start_job(self.argv, self.output_dir, self.env)
        self.status = JobStatus(state=self.job.state.value, fraction=0.0, message=f"starting {self.task}",
                                case_id=self.case_id, error=self.job.error or "")
        return self.status

    def poll(self) -> JobStatus:
        """Take the job's new events into the status; never blocks."""
        if self.job is None:
            return self.status
        for event in self.job.poll():
            if event.kind == "progress" and event.fraction is not None:
                self.status.fraction = event.fraction
                self.status.message = event.message or self.status.message
            elif event.kind == "error":
                self.status.error = event.message
        state = self.job.state
        self.status.state = state.value
        if state is JobState.SUCCEEDED:
            self.status.fraction, self.status.message = 1.0, "done"
        elif state in (JobState.FAILED, JobState.CANCELLED):
            self.status.error = self.status.error or self.job.error or self.job.stderr_tail[-500:]
            self.status.message = state.value
        return self.status

    def cancel(self) -> None:
        """Stop the run at once (its staged output is removed)."""
        if self.job is None:
            return
        self.job.cancel()
        self.poll()
