"""A task run on one reviewed case as a background job (``radtriage infer``): everything the end of the run needs
(the case id, its task, its result folder) is captured when it starts, so the result lands on the case the job
ran on even if the reader has moved to another case, or opened another case list, meanwhile."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtriage.annotations import CaseRef
from radtriage.review.session import ReviewSession


@dataclass
class ReviewRun:
    """One run of a case's task: ``argv`` writes into the job's output folder; when the run succeeds its files
    become the case's result folder (:meth:`install`), read while the job folder still exists."""

    case_id: str
    task: str
    argv: list[str]
    result_folder: Path
    job: Any = None

    def start(self, output_dir: str | Path) -> ReviewRun:
        """Start the job (on the warm worker) writing into ``output_dir`` (a fresh job folder)."""
        from radtriage.runtime.worker_client import start_job

        self.job = start_job(self.argv, output_dir)
        return self

    def install(self, output_dir: str | Path | None = None) -> Path:
        """Copy the finished job's output folder (default: the job's) beside the case's result folder, then make
        the copy the result folder as a whole (renames, so a reader never sees half a result). Returns the new
        ``result.json``; InputError when the run wrote none (the previous result is kept)."""
        from radtriage.errors import InputError
        from radtriage.tasks.result import RESULT_FILE, install_result_folder, new_run_folder

        source = Path(output_dir if output_dir is not None else self.job.output_dir)
        if not (source / RESULT_FILE).is_file():
            raise InputError(source, f"the run wrote no {RESULT_FILE}; the previous result is kept")
        run_folder = new_run_folder(self.result_folder)
        try:
            shutil.copytree(source, run_folder, dirs_exist_ok=True)
            return install_result_folder(run_folder, self.result_folder)
        finally:
            shutil.rmtree(run_folder, ignore_errors=True)  # gone already when installed

    def shown_in(self, session: ReviewSession | None) -> bool:
        """Whether ``session`` shows this run's case now (same case and same result folder)."""
        current = session.current if session is not None else None
        return (current is not None and current.case_id == self.case_id
                and Path(session.result_folder(current)) == self.result_folder)  # fmt: skip


def plan_run(session: ReviewSession, case: CaseRef | str | None = None, device: str = "auto") -> ReviewRun:
    """A run of the case's task (the current case by default) on its input files with the options of its
    ``case.json`` (checked now: a bad option is refused before the run starts), its result folder fixed now."""
    from radtriage.review.case_inputs import case_options
    from radtriage.runtime.infer_command import infer_argv

    c = session.case(case)
    task = session.task_of(c)
    argv = infer_argv(task, session.inputs(c), options=case_options(c, task), device=device)
    return ReviewRun(c.case_id, task, argv, Path(session.result_folder(c)))
