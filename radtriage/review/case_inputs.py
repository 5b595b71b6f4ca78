"""What a case is made of: its input images (by key) and, when the case says so, its task.

A case folder may hold a ``case.json`` manifest ``{"task": "cmb_detect", "inputs": {"MAGNITUDE": "swi.nii.gz"}}``
(paths relative to the folder). Without one, every volume file directly inside the folder is an input keyed by
its name without extension, except masks, label maps and segmentations (ground truth is not an input). A case
given as a file is that one image; a DICOM series folder is one image keyed by the folder name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radtriage.annotations.records import CaseRef
from radtriage.errors import InputError

CASE_MANIFEST = "case.json"
NOT_INPUT_WORDS = ("mask", "label", "seg", "truth", "heatmap")


def _volume_suffix(path: Path) -> str | None:
    from radtriage.io.volume import volume_suffix

    return volume_suffix(path)


def case_folder(case: CaseRef) -> Path | None:
    """The case's folder when the case is a single folder (a folder case list entry), else None."""
    if len(case.image_paths) == 1 and Path(case.image_paths[0]).is_dir():
        return Path(case.image_paths[0])
    return None


def case_manifest(case: CaseRef) -> dict[str, Any]:
    """The case folder's ``case.json`` (empty when there is none); InputError names a malformed file."""
    folder = case_folder(case)
    if folder is None or not (folder / CASE_MANIFEST).is_file():
        return {}
    path = folder / CASE_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the case manifest: {exc}") from None
    if not isinstance(manifest, dict):
        raise InputError(path, "the case manifest must be a JSON object")
    inputs = manifest.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise InputError(path, '"inputs" must map input names to file names')
    for key, rel in inputs.items():
        target = (folder / rel).resolve()
        if folder.resolve() not in target.parents:
            raise InputError(path, f"input {key!r} points outside the case folder: {rel!r}")
    return manifest


def _folder_inputs(folder: Path) -> dict[str, Path]:
    from radtriage.io.dicom import is_probably_dicom

    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    inputs: dict[str, Path] = {}
    for path in files:
        suffix = _volume_suffix(path)
        if suffix is None:
            continue
        key = path.name[: -len(suffix)]
        if any(word in key.lower() for word in NOT_INPUT_WORDS):
            continue
        inputs[key] = path
    if not inputs and any(is_probably_dicom(p) for p in files):
        inputs[folder.name] = folder
    return inputs


def case_inputs(case: CaseRef) -> dict[str, Path]:
    """The case's input images by key (see the module docstring); InputError when it has none."""
    manifest = case_manifest(case)
    folder = case_folder(case)
    if manifest.get("inputs"):
        assert folder is not None
        inputs = {key: folder / rel for key, rel in manifest["inputs"].items()}
    elif folder is not None:
        inputs = _folder_inputs(folder)
    else:
        inputs = {}
        for raw in case.image_paths:
            path = Path(raw)
            suffix = _volume_suffix(path) if path.is_file() else None
            key = path.name[: -len(suffix)] if suffix else path.name
            inputs[key if key not in inputs else f"{key}_{len(inputs)}"] = path
    where = folder or (Path(case.image_paths[0]) if case.image_paths else None)
    if not inputs:
        raise InputError(where, f"case {case.case_id!r} has no input image (no volume file or DICOM series)")
    missing = [str(p) for p in inputs.values() if not p.exists()]
    if missing:
        raise InputError(Path(missing[0]), f"case {case.case_id!r}: input file does not exist")
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
