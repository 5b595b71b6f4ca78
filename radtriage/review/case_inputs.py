"""What a case is made of: its input images (by key) and, when the case says so, its task — resolved exactly as
``radtriage batch`` resolves them (:mod:`radtriage.batch.inputs`), so review and batch agree on every case.

A case folder may hold a ``case.json`` manifest ``{"task": "cmb_detect", "inputs": {"MAGNITUDE": "swi.nii.gz"}}``
(paths relative to the folder). Without one, every volume file directly inside the folder is an input keyed by
its name without extension, except masks, label maps, segmentations and ground truth; a DICOM folder gives one
input per series. A case given as files is those images.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.annotations.caselist import CaseList
from radtriage.annotations.records import CaseRef
from radtriage.batch.inputs import CASE_FILE, csv_columns, folder_inputs, read_case_file
from radtriage.errors import InputError, RadTriageError

log = logging.getLogger(__name__)

CASE_MANIFEST = CASE_FILE


def case_folder(case: CaseRef) -> Path | None:
    """The case's folder when the case is a single folder (a folder case list entry), else None."""
    if len(case.image_paths) == 1 and Path(case.image_paths[0]).is_dir():
        return Path(case.image_paths[0])
    return None


def case_manifest(case: CaseRef) -> dict[str, Any]:
    """The case folder's ``case.json`` as ``{"task", "inputs", "options"}`` (empty without one); InputError
    names a malformed file."""
    folder = case_folder(case)
    if folder is None or not (folder / CASE_MANIFEST).is_file():
        return {}
    task, inputs, options = read_case_file(folder)
    return {"task": task, "inputs": {k: Path(v.path) for k, v in inputs.items()}, "options": options}


def case_inputs(case: CaseRef) -> dict[str, Path]:
    """The case's input images by key (see the module docstring); InputError when it has none or one is
    missing."""
    folder = case_folder(case)
    if folder is not None:
        inputs = {key: Path(spec.path) for key, spec in folder_inputs(folder)[1].items()}
    else:
        from radtriage.io.volume import volume_suffix

        inputs = {}
        for raw in case.image_paths:
            path = Path(raw)
            suffix = volume_suffix(path)
            key = path.name[: -len(suffix)] if suffix else path.name
            inputs[key if key not in inputs else f"{key}_{len(inputs)}"] = path
    if not inputs:
        raise InputError(None, f"case {case.case_id!r} lists no image")
    for path in inputs.values():
        if not path.exists():
            raise InputError(path, f"case {case.case_id!r}: input file does not exist")
    return inputs


def case_task(case: CaseRef, default: str | None = None) -> str | None:
    """The task the case's manifest names, else ``default``; InputError for an unknown task name."""
    from radtriage.tasks import TASKS

    task = case_manifest(case).get("task") or default
    if task is not None and task not in TASKS:
        folder = case_folder(case)
        raise InputError(folder / CASE_MANIFEST if folder else None,
                         f"unknown task {task!r}; known: {', '.join(TASKS)}")
    return task


def case_options(case: CaseRef, task: str) -> dict[str, Any]:
    """The task options of the case's ``case.json`` checked against ``task``'s declaration (empty without one);
    InputError names the manifest and the allowed values of a bad option."""
    from radtriage.tasks.options import OptionError, validate_options

    options = case_manifest(case).get("options") or {}
    try:
        return validate_options(task, options)
    except OptionError as exc:
        folder = case_folder(case)
        raise InputError(folder / CASE_MANIFEST if folder else None, str(exc)) from None


@dataclass
class CheckedCases:
    """A case list sorted out before review: the usable cases (in list order) with their tasks, and every case
    that cannot be reviewed with the reason (listed to the reader, skipped, never fatal for the others)."""

    cases: CaseList
    tasks: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)


def csv_tasks(cases: CaseList) -> dict[str, str]:
    """The ``task`` column of a CSV case list by case id (empty for other lists or without the column)."""
    source = Path(cases.source) if cases.source else None
    if source is None or source.suffix.lower() != ".csv" or not source.is_file():
        return {}
    return {case_id: info["task"] for case_id, info in csv_columns(source).items() if info.get("task")}


def sort_out_cases(cases: CaseList, task: str | None = None) -> CheckedCases:
    """Check every case of ``cases`` as :func:`check_cases` does (a CSV's ``task`` column counts as the case's
    task), keep the usable ones and list the others with the reason. Raises InputError only when no case is
    usable, naming the first reasons."""
    column_tasks = csv_tasks(cases)
    usable, tasks, skipped = [], {}, {}
    errors: list[RadTriageError] = []
    for case in cases:
        try:
            tasks[case.case_id] = check_cases([case], task or column_tasks.get(case.case_id))[case.case_id]
        except RadTriageError as exc:
            skipped[case.case_id] = str(exc)
            errors.append(exc)
            log.warning("case %s skipped: %s", case.case_id, exc)
            continue
        usable.append(case)
    if not usable and len(errors) == 1:
        raise errors[0]  # a one-case list: its own problem, naming its own file
    if not usable:
        reasons = "; ".join(f"{case_id}: {why}" for case_id, why in list(skipped.items())[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise InputError(cases.source or None, f"no case of the list can be reviewed — {reasons}{more}")
    return CheckedCases(CaseList(usable, cases.source), tasks, skipped)


def check_cases(cases: Iterable[CaseRef], task: str | None = None) -> dict[str, str]:
    """Check a whole case list before anything is written: every case has a task (its manifest's or ``task``),
    readable inputs and valid options. Returns each case's task by case id. Raises InputError naming the bad
    manifest, the missing file or the case without any task."""
    tasks = {}
    for case in cases:
        found = case_task(case, task)
        if found is None:
            raise InputError(None, f"case {case.case_id!r} names no task (no case.json): choose the task to review")
        case_inputs(case)
        case_options(case, found)
        tasks[case.case_id] = found
    return tasks
