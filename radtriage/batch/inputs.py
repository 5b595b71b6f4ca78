"""What one batch case runs on: its task and its input images, resolved from a case list entry.

* a case folder with ``case.json`` (``{"task": ..., "inputs": {key: relative file or {"path": ...,
  "series_uid": ...}}, "options": {...}}``): those;
* any other case folder: its series as ``radtriage triage`` finds them (:func:`radtriage.tasks.study.
  find_study_series`): volume files at any depth keyed by file name without extension (``FLAIR.nii.gz`` ->
  ``FLAIR``), except files whose name matches an exclusion pattern (masks, labels and segmentations by default),
  and every DICOM series in any layout (flat or ``study/series/*.dcm``); a series found this way that cannot be
  read is skipped with its reason (the case runs on the others);
* a volume file: one input keyed by its stem; a CSV row: its image columns (``image_FLAIR`` -> ``FLAIR``; a bare
  ``image``/``path`` column -> the file stem), and an optional ``task`` column;
* ``input_globs`` (``{key: glob}``) picks the files of a folder case by pattern instead.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.annotations.caselist import CaseList
from radtriage.annotations.records import CaseRef
from radtriage.errors import InputError, RadTriageError
from radtriage.tasks.options import validate_options

CASE_FILE = "case.json"
AUTO_TASK = "auto"
DEFAULT_EXCLUDE = ("*mask*", "*label*", "*seg*", "*truth*")
"""Volume files of a folder case that are not inputs (ground truth, masks) unless ``case.json`` names them."""

_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class InputSpec:
    """One input image: a volume file or DICOM folder, and the series to pick there (DICOM only)."""

    path: str
    series_uid: str | None = None
    optional: bool = False
    """Found by looking through a study folder (not named by the user): skipped with a reason when unreadable."""


@dataclass(frozen=True)
class CaseJob:
    """One unit of batch work: a case, the task to run on it and its inputs (or why they could not be found)."""

    case_id: str
    task: str
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    problem: str = ""
    """Non-empty when the inputs could not be resolved; the case is then recorded as an error."""

    @property
    def paths(self) -> list[str]:
        """The input files, for error messages."""
        return [spec.path for spec in self.inputs.values()]


def _volume_stem(path: Path) -> str | None:
    from radtriage.io.volume import volume_suffix

    suffix = volume_suffix(path)
    return None if suffix is None else path.name[: -len(suffix)]


def _excluded(name: str, exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern.lower()) for pattern in exclude)


def read_case_file(folder: Path) -> tuple[str | None, dict[str, InputSpec], dict[str, Any]]:
    """(task, inputs, options) of a case folder's ``case.json``; InputError names a malformed file or an input
    that points outside the folder."""
    path = folder / CASE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(path, "must hold a JSON object")
    task = doc.get("task")
    if task is not None and not isinstance(task, str):
        raise InputError(path, f"'task' must be a task name, got {task!r}")
    raw = doc.get("inputs") or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and _input_entry(v) for k, v in raw.items()):
        raise InputError(path, "'inputs' must map input keys to file paths relative to the case folder (or to "
                               "{\"path\": ..., \"series_uid\": ...})")
    inside = Path(os.path.normpath(folder.absolute()))
    inputs = {}
    for key, value in raw.items():
        rel, uid = _input_entry(value)
        # by name, not by resolving links: "../x" and absolute paths leave the folder; a symbolic link kept
        # inside it (e.g. to a shared data store) is the project's own choice and is followed
        target = Path(os.path.normpath(inside / rel))
        if Path(rel).is_absolute() or inside not in target.parents:
            raise InputError(path, f"input {key!r} points outside the case folder: {rel!r}")
        inputs[key] = InputSpec(str(folder / rel), uid)
    options = doc.get("options") or {}
    if not isinstance(options, dict):
        raise InputError(path, "'options' must be a JSON object")
    return task, inputs, options


def _input_entry(value: Any) -> tuple[str, str | None] | None:
    """(relative path, series UID or None) of one case.json input: a path, or {"path", "series_uid"}."""
    if isinstance(value, str) and value:
        return value, None
    if isinstance(value, dict) and isinstance(value.get("path"), str) and value["path"] and set(value) <= {
        "path", "series_uid"
    }:
        uid = value.get("series_uid")
        if uid is None or (isinstance(uid, str) and uid):
            return value["path"], uid
    return None


def study_inputs(folder: Path, exclude: Sequence[str] = ()) -> dict[str, InputSpec]:
    """The series of a study folder as inputs, found exactly as ``radtriage triage`` finds them."""
    from radtriage.tasks.study import find_study_series

    return {s.key: InputSpec(str(s.path), s.series_uid, optional=True) for s in find_study_series(folder, exclude)}


def _dicom_inputs(folder: Path) -> dict[str, InputSpec]:
    return {k: v for k, v in study_inputs(folder).items() if v.series_uid}


def folder_inputs(
    folder: Path, exclude: Sequence[str] = DEFAULT_EXCLUDE, input_globs: Mapping[str, str] | None = None
) -> tuple[str | None, dict[str, InputSpec], dict[str, Any]]:
    """(task from case.json or None, inputs, options) of one case folder."""
    if (folder / CASE_FILE).is_file():
        task, inputs, options = read_case_file(folder)
        if inputs:
            return task, inputs, options
    else:
        task, options = None, {}
    if input_globs:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        inputs = {}
        for key, pattern in input_globs.items():
            matches = [p for p in files if fnmatch.fnmatch(p.name, pattern)]
            if len(matches) != 1:
                raise InputError(folder, f"input {key!r} (pattern {pattern!r}) matches {len(matches)} files, not 1")
            inputs[key] = InputSpec(str(matches[0]))
        return task, inputs, options
    inputs = study_inputs(folder, exclude)
    if not inputs:
        raise InputError(folder, "no input images: no volume files (other than masks/labels) and no DICOM series")
    return task, inputs, options


def csv_columns(csv_path: Path) -> dict[str, dict[str, str]]:
    """Per case id of a CSV case list: ``{"task": ..., <absolute image path>: <input key>}`` from the columns."""
    out: dict[str, dict[str, str]] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            case_id = (row.get("case_id") or "").strip()
            info: dict[str, str] = {}
            if (row.get("task") or "").strip():
                info["task"] = row["task"].strip()
            for col, value in row.items():
                low = (col or "").lower()
                if not value or not value.strip() or not low.startswith(("image", "path")):
                    continue
                p = Path(value.strip())
                p = p if p.is_absolute() else csv_path.parent / p
                key = re.sub(r"^(image|path)[_ -]?", "", col, flags=re.IGNORECASE)
                info[str(p)] = key
            out[case_id] = info
    return out


def resolve_case(
    case: CaseRef,
    task: str,
    *,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    input_globs: Mapping[str, str] | None = None,
    column_keys: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> CaseJob:
    """The job of one case; problems (no inputs, no task) go into ``CaseJob.problem`` instead of raising."""
    column_keys = column_keys or {}
    chosen_task = None if task == AUTO_TASK else task
    merged: dict[str, Any] = {}
    inputs: dict[str, InputSpec] = {}
    try:
        if not case.image_paths:
            raise InputError(None, f"case {case.case_id!r} lists no image paths")
        for raw in case.image_paths:
            path = Path(raw)
            if not path.exists():
                raise InputError(path, "does not exist")
            if path.is_dir():
                series = set(case.series_uids)
                if series and not (path / CASE_FILE).exists():
                    taken = {spec.series_uid for spec in inputs.values()}
                    found = {k: v for k, v in _dicom_inputs(path).items()
                             if v.series_uid in series and v.series_uid not in taken}
                    file_task, found_opts = None, {}
                else:
                    file_task, found, found_opts = folder_inputs(path, exclude, input_globs)
                if chosen_task is None and file_task:
                    chosen_task = file_task
                merged.update(found_opts)
            else:
                key = column_keys.get(str(path)) or _volume_stem(path) or path.name.split(".")[0]
                found = {key: InputSpec(str(path))}
            for key, spec in found.items():
                if key in inputs and spec.optional:
                    from radtriage.tasks.study import unique_key

                    key = unique_key(key, inputs)
                if key in inputs:
                    raise InputError(spec.path, f"input key {key!r} is given twice for case {case.case_id!r}")
                inputs[key] = spec
        chosen_task = chosen_task or column_keys.get("task")
        if chosen_task is None:
            raise InputError(case.image_paths[0], f"--task auto: no task for this case (no {CASE_FILE} 'task')")
        merged.update(options or {})
        merged = validate_options(chosen_task, merged)
    except RadTriageError as exc:
        return CaseJob(case.case_id, chosen_task or "unknown", inputs, {}, str(exc))
    return CaseJob(case.case_id, chosen_task, inputs, merged)


def resolve_jobs(
    cases: CaseList,
    task: str,
    *,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    input_globs: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[CaseJob]:
    """One job per case of the list, in list order."""
    source = Path(cases.source) if cases.source else None
    columns = csv_columns(source) if source is not None and source.suffix.lower() == ".csv" else {}
    return [
        resolve_case(c, task, exclude=exclude, input_globs=input_globs, column_keys=columns.get(c.case_id),
                     options=options)
        for c in cases
    ]
