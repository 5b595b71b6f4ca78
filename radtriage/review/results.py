"""Task results of reviewed cases on disk: ``<results>/<case_id>/<task>/result.json`` plus its volumes — the layout
``radtriage batch`` writes, so a batch run's results show up in review without running anything again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radtriage.errors import InputError
from radtriage.tasks.result import (  # noqa: F401  (re-exported: the review API's result folder calls)
    RESULT_FILE,
    install_result_folder,
    new_run_folder,
    write_result_atomically,
)

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
