"""A reader's review session: a case list, the annotation store, the reader, blind mode and the task results —
everything a review front end (the CaseReview Slicer module, the web station) needs, without any UI."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from radtriage.annotations import (
    BLINDED,
    AnnotationStore,
    CaseList,
    CaseRef,
    Label,
    LabelEntry,
    Submission,
)
from radtriage.annotations.backend import is_postgres_location
from radtriage.annotations.records import check_identifier
from radtriage.review.case_inputs import case_inputs, case_task, check_cases, sort_out_cases
from radtriage.review.label_controls import (
    REVIEW_SCHEMAS,
    TASK_SCHEMAS,
    LabelControl,
    done_schemas,
    label_controls,
    review_schemas,
)
from radtriage.review.results import model_version_of
from radtriage.tasks.result import read_result, result_folder, write_result_staged

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]


def default_results_dir(store: AnnotationStore) -> Path:
    """``<project folder>/results`` beside an SQLite store; a PostgreSQL store needs an explicit folder."""
    if is_postgres_location(store.location):
        raise ValueError("a PostgreSQL store has no project folder: give results_dir")
    return Path(store.location).parent / "results"


class ReviewSession:
    """One reader going through a case list.

    ``task`` fixes the task for every case; without it each case's ``case.json`` names its task. In ``blind``
    mode the model's outputs for a case stay hidden until the reader has committed a label on it, and labels
    committed before that record the model version ``"blinded"``.
    """

    def __init__(
        self,
        cases: CaseList,
        store: AnnotationStore,
        reader_id: str,
        *,
        task: str | None = None,
        blind: bool = False,
        results_dir: str | Path | None = None,
        checked_tasks: dict[str, str] | None = None,
    ) -> None:
        self.cases = cases
        self.store = store
        self.reader_id = reader_id
        self.task = task
        self.blind = blind
        self.results_dir = Path(results_dir) if results_dir is not None else default_results_dir(store)
        if task is not None and task not in TASK_SCHEMAS:
            raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_SCHEMAS)}")
        check_identifier(reader_id, "reader id")
        # a bad list raises before anything is written to the store (open_session has checked it already)
        self._tasks = checked_tasks if checked_tasks is not None else check_cases(cases, task)
        self.skipped_cases: dict[str, str] = {}
        """Cases of the opened list left out, with the reason (see :func:`open_session`)."""
        store.add_reader(reader_id)
        store.add_cases(cases)
        store.register_schemas([s for extra in REVIEW_SCHEMAS.values() for s in extra])

    # ------------------------------------------------------------------ navigation
    def case(self, case: CaseRef | str | None = None) -> CaseRef:
        """A case of the list by id (the current case when None); IndexError for an empty list."""
        return self._case(case)

    def _case(self, case: CaseRef | str | None) -> CaseRef:
        if case is None:
            current = self.cases.current
            if current is None:
                raise IndexError("the case list is empty")
            return current
        return self.cases[case] if isinstance(case, str) else case

    @property
    def current(self) -> CaseRef | None:
        """The case under the cursor."""
        return self.cases.current

    def next(self) -> CaseRef | None:
        """Move to the next case (None at the end, the cursor stays)."""
        return self.cases.next()

    def previous(self) -> CaseRef | None:
        """Move to the previous case (None at the start, the cursor stays)."""
        return self.cases.previous()

    def go_to(self, case_id: str) -> CaseRef:
        """Move to ``case_id``."""
        return self.cases.go_to(case_id)

    def done_case_ids(self) -> set[str]:
        """Ids of the listed cases this reader has done: a current label in the first schema of the case's task
        (its read: normal/abnormal for MRI, any slice rating, any CMB decision, any region correction) or, on a
        CMB case without candidates, its case read (see :func:`radtriage.review.label_controls.done_schemas`)."""
        labelled: dict[str, set[str]] = {}
        for entry in self.store.current_labels(reader_id=self.reader_id):
            labelled.setdefault(entry.case_id, set()).add(entry.schema)
        return {c.case_id for c in self.cases
                if done_schemas(self.task_of(c)) & labelled.get(c.case_id, set())}

    def resume(self) -> int | None:
        """Move to the first case this reader has not done and return its index; None (cursor unchanged) when
        every case is done."""
        done = self.done_case_ids()
        for i, c in enumerate(self.cases):
            if c.case_id not in done:
                self.cases.index = i
                return i
        return None

    def progress(self) -> dict[str, int]:
        """``done``, ``remaining``, ``total`` for this reader over the list, and the cursor ``index``."""
        done, total = len(self.done_case_ids()), len(self.cases)
        return {"done": done, "remaining": total - done, "total": total, "index": self.cases.index}

    def is_done(self, case: CaseRef | str | None = None) -> bool:
        """Whether this reader has committed the read of the case (see :meth:`done_case_ids`)."""
        c = self._case(case)
        return bool(done_schemas(self.task_of(c)) & {e.schema for e in self.labels(c)})

    # ------------------------------------------------------------------ case contents
    def task_of(self, case: CaseRef | str | None = None) -> str:
        """The task reviewed on the case (the session's, else the case manifest's)."""
        c = self._case(case)
        task = self._tasks.get(c.case_id) or case_task(c, self.task)  # manifests are read once, when opening
        if task is None:
            raise ValueError(f"case {c.case_id!r} names no task (no case.json) and the session has none: pick a task")
        return task

    def inputs(self, case: CaseRef | str | None = None) -> dict[str, Path]:
        """The case's input images by key."""
        return case_inputs(self._case(case))

    def schemas(self, case: CaseRef | str | None = None) -> list[str]:
        """Names of the label schemas the case's task records."""
        return list(review_schemas(self.task_of(case)))

    def result_folder(self, case: CaseRef | str | None = None) -> Path:
        """The folder of the case's task result."""
        c = self._case(case)
        return result_folder(self.results_dir, c.case_id, self.task_of(c))

    def result(self, case: CaseRef | str | None = None) -> dict[str, Any] | None:
        """The case's ``result.json`` (None before the task has run)."""
        return read_result(self.result_folder(case))

    def model_version(self, case: CaseRef | str | None = None) -> str:
        """``<bundle>@<version>`` of the case's result, ``"none"`` without one."""
        return model_version_of(self.result(case))

    def outputs_visible(self, case: CaseRef | str | None = None) -> bool:
        """Whether the model's outputs may be shown now (always outside blind mode)."""
        return not self.blind or self.is_done(case)

    def run_task(
        self, case: CaseRef | str | None = None, *, device: str = "cpu", bundle: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Run the case's task in this process and write its result folder; returns ``result.json``'s content.
        (Front ends run this off their UI thread: ``radtriage infer`` in a background job.)"""
        from radtriage.io import read_image
        from radtriage.tasks import run_task

        c = self._case(case)
        task = self.task_of(c)
        images = {key: read_image(path) for key, path in self.inputs(c).items()}
        result = run_task(task, inputs=images, bundle=bundle, device=device, progress=progress)
        write_result_staged(result, self.result_folder(c))
        log.info("ran %s on a case; result written", task)
        data = self.result(c)
        assert data is not None
        return data

    # ------------------------------------------------------------------ labels
    def labels(self, case: CaseRef | str | None = None) -> list[LabelEntry]:
        """This reader's current labels on the case (its task's schemas)."""
        c = self._case(case)
        wanted = set(self.schemas(c))
        return [e for e in self.store.current_labels(case_id=c.case_id, reader_id=self.reader_id)
                if e.schema in wanted]

    def controls(self, case: CaseRef | str | None = None, *, n_slices: int | None = None) -> list[LabelControl]:
        """The label panel for the case (model suggestions only when outputs are visible)."""
        c = self._case(case)
        result = self.result(c)
        return label_controls(self.task_of(c), result["outputs"] if result else None, self.labels(c),
                              show_suggestions=self.outputs_visible(c), n_slices=n_slices)

    def commit(self, labels: Sequence[Label], case: CaseRef | str | None = None) -> Submission:
        """Commit the reader's labels on the case in one submission, recording which model output was on screen
        (``"blinded"`` in blind mode before the first commit, ``"none"`` when there was no result)."""
        c = self._case(case)
        shown = BLINDED if self.blind and not self.is_done(c) else self.model_version(c)
        return self.store.commit_labels(c.case_id, self.reader_id, list(labels), model_version=shown)

    def last_commit(self, case: CaseRef | str | None = None) -> list[LabelEntry]:
        """The still-current entries of this reader's latest commit on the case that has any (what
        :meth:`undo_last_commit` would withdraw); empty when there is nothing to undo."""
        c = self._case(case)
        history = self.store.history(case_id=c.case_id, reader_id=self.reader_id)
        retracted = {e.retracts for e in history if e.action == "retract"}
        live = [e for e in history if e.action == "set" and e.entry_id not in retracted]
        if not live:
            return []
        latest = max(live, key=lambda e: e.entry_id).submission_uid
        return [e for e in live if e.submission_uid == latest]

    def undo_last_commit(self, case: CaseRef | str | None = None) -> list[Submission]:
        """Withdraw this reader's latest commit on the case: a retraction per entry (appended, history kept), so
        each label's previous value, if any, is current again. Returns the retraction submissions."""
        return [self.store.retract_entry(e.entry_id, model_version=e.model_version) for e in self.last_commit(case)]


def open_session(
    cases: CaseList,
    store_location: str | Path,
    reader_id: str,
    *,
    task: str | None = None,
    blind: bool = False,
    results_dir: str | Path | None = None,
) -> ReviewSession:
    """Check the reader id and every case, then open (creating when needed) the project's store and a session on
    the usable cases. A case that cannot be reviewed (missing file, no task, bad options) is left out and listed
    with the reason in ``session.skipped_cases``; a bad reader id, or a list without one usable case, raises
    before anything is created — not even the store file."""
    from radtriage.annotations import open_store

    check_identifier(reader_id, "reader id")
    checked = sort_out_cases(cases, task)
    if not is_postgres_location(store_location) and not Path(store_location).suffix:
        Path(store_location).mkdir(parents=True, exist_ok=True)
    store = open_store(store_location)
    try:
        session = ReviewSession(checked.cases, store, reader_id, task=task, blind=blind, results_dir=results_dir,
                                checked_tasks=checked.tasks)
    except BaseException:
        store.close()
        raise
    session.skipped_cases = dict(checked.skipped)
    return session
