"""Task results of reviewed cases on disk: ``<results>/<case_id>/<task>/result.json`` plus its volumes — the layout
``radtriage batch`` writes, so a batch run's results show up in review without running anything again."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from radtriage.errors import InputError
from radtriage.tasks.result import RESULT_FILE, TaskResult, write_result

NO_MODEL = "none"
"""``model_version`` recorded when no model output exists for the case."""


def result_folder(results_dir: str | Path, case_id: str, task: str) -> Path:
    """Where the result of ``task`` on ``case_id`` lives (the case id is used as one path component only)."""
    if Path(case_id).name != case_id or case_id in (".", ".."):
        raise ValueError(f"case id {case_id!r} cannot be used as a folder name")
    return Path(results_dir) / case_id / task


def read_result(folder: str | Path) -> dict[str, Any] | None:
    """``result.json`` of a result folder, or None when the folder holds no finished result."""
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(path, f"result file is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "outputs" not in data:
        raise InputError(path, "result file has no 'outputs'")
    return data


def result_volume_paths(folder: str | Path, data: dict[str, Any]) -> dict[str, Path]:
    """The result's volumes (heatmaps, label maps) by name, as files inside ``folder``."""
    out = {}
    for name, file in (data.get("volumes") or {}).items():
        path = Path(folder) / Path(str(file)).name
        if path.is_file():
            out[str(name)] = path
    return out


def model_version_of(data: dict[str, Any] | None) -> str:
    """``<bundle name>@<version>`` of a result (``"none"`` without one), as recorded with reader labels."""
    if not data:
        return NO_MODEL
    bundle = data.get("bundle") or {}
    return f"{bundle.get('name', '?')}@{bundle.get('version', '?')}"


def new_run_folder(folder: str | Path) -> Path:
    """A new hidden folder beside the result folder ``folder`` (same file system) for a run to write into."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}-run-", dir=folder.parent))


def install_result_folder(run_folder: str | Path, folder: str | Path) -> Path:
    """Make a finished run's folder the result folder: the old result is replaced as a whole by renames, so a
    reader never sees half a result. Returns the new ``result.json``; refuses a run that wrote none."""
    run_folder, folder = Path(run_folder), Path(folder)
    if not (run_folder / RESULT_FILE).is_file():
        raise InputError(run_folder, f"the run wrote no {RESULT_FILE}; the previous result is kept")
    if folder.exists():
        old = folder.with_name(f".{folder.name}-old-{run_folder.name}")
        folder.rename(old)
        run_folder.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        run_folder.rename(folder)
    return folder / RESULT_FILE


def write_result_atomically(result: TaskResult, folder: str | Path) -> Path:
    """Write ``result`` into ``folder`` so that a reader (or a killed writer) never sees half a result: the files
    go to a hidden sibling run folder that then replaces ``folder``. Returns the ``result.json`` path."""
    run = new_run_folder(folder)
    try:
        write_result(result, run)
        return install_result_folder(run, folder)
    finally:
        if run.exists():
            shutil.rmtree(run, ignore_errors=True)
