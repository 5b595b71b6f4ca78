"""What every task returns, and how it is written to an output folder (the ``radtriage infer`` contract)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.image import Image

RESULT_FILE = "result.json"


@dataclass
class TaskResult:
    """A task's answer for one study or stack.

    ``outputs`` is the JSON summary (probabilities, per-slice scores, region ranges, detections...);
    ``volumes`` are images to write (heatmaps, label maps) on the input's native geometry; ``points`` are
    detections with RAS/LPS coordinates; ``notices`` are lines a reader must see (demo model, missing inputs).
    """

    task: str
    bundle: dict[str, Any]
    outputs: dict[str, Any]
    volumes: dict[str, Image] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written as ``result.json`` (volumes referenced by file name)."""
        return {
            "task": self.task,
            "bundle": self.bundle,
            "outputs": self.outputs,
            "volumes": {name: f"{name}.nii.gz" for name in self.volumes},
            "points": self.points,
            "notices": self.notices,
        }


def to_plain(value: Any) -> Any:
    """Recursively turn numpy scalars/arrays and tuples into JSON values; NaN and infinity become None."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_result(result: TaskResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``result.json`` and every volume (NIfTI) into ``out_dir``; returns the files by role."""
    from radtriage.io import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, image in result.volumes.items():
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"volume name {name!r} must be a plain file name")
        written[name] = write_volume(image, out / f"{name}.nii.gz")
    path = out / RESULT_FILE
    path.write_text(json.dumps(to_plain(result.to_dict()), indent=2, allow_nan=False))
    written["result"] = path
    return written


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def case_folder_name(case_id: str) -> str:
    """A safe folder name for a case id: the id itself when it is plain, else a slug plus a short hash."""
    if _PLAIN_NAME.match(case_id) and case_id not in (".", ".."):
        return case_id
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", case_id).strip("._")[:60] or "case"
    return f"{slug}-{hashlib.sha256(case_id.encode()).hexdigest()[:8]}"


def result_folder(root: str | Path, case_id: str, task: str) -> Path:
    """Where the result of ``task`` on ``case_id`` lives under ``root``: ``<root>/<case folder>/<task>/`` — the one
    layout ``radtriage batch``, the review session and the front ends all read and write."""
    return Path(root) / case_folder_name(case_id) / task


def read_result(folder: str | Path) -> dict[str, Any] | None:
    """``result.json`` of a result folder, or None when the folder holds no finished result; InputError names
    a corrupt file."""
    from radtriage.errors import InputError

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


RUN_FOLDER_MARK = "-run-"
"""Part of the name of a hidden run folder (``.<result folder>-run-XXXX``) beside a result folder."""


def new_run_folder(folder: str | Path) -> Path:
    """A new hidden folder beside the result folder ``folder`` (same file system) for a run to write into."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}{RUN_FOLDER_MARK}", dir=folder.parent))


def install_result_folder(run_folder: str | Path, folder: str | Path) -> Path:
    """Make a finished run's folder the result folder: the old result is replaced as a whole by renames, so a
    reader never sees half a result. Returns the new ``result.json``; refuses a run that wrote none."""
    from radtriage.errors import InputError

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


_RESULT_SUFFIXES = (".nii.gz", ".json")


def _looks_like_result_folder(folder: Path) -> bool:
    """Empty, or only what a run writes (``result.json``, ``*.nii.gz`` volumes, hidden run folders)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        return True
    return (folder / RESULT_FILE).is_file() and all(
        p.is_file() and p.name.endswith(_RESULT_SUFFIXES) for p in entries
    )


def check_writable_folder(folder: str | Path) -> Path:
    """``folder`` (absolute) after checking it is not a file, not under a file, and can be written or created;
    :class:`~radtriage.errors.InputError` (one line, what to do) otherwise. Nothing is written."""
    from radtriage.errors import InputError

    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "the output path is a file, not a folder; give a new or empty folder")
    ancestor = folder
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(folder, f"the output folder would lie under {ancestor}, which is a file; give a folder path")
    writable_dir = ancestor if ancestor != folder else folder.parent
    if not os.access(writable_dir, os.W_OK | os.X_OK) or (folder.exists() and not os.access(folder, os.W_OK)):
        raise InputError(folder, f"cannot write there ({writable_dir} is read-only for this user); "
                                 "give a writable output folder")
    return folder


def check_output_folder(folder: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """``folder`` after checking, before any work, that a result can replace it as a whole; nothing is written.

    Refused with :class:`~radtriage.errors.InputError` (one line, what to do): a file; a path under a file; a
    folder that cannot be written (read-only, ``/sys``); an existing folder that holds anything but an earlier
    result (it would be replaced); a folder that holds one of the ``inputs``.
    """
    from radtriage.errors import InputError

    folder = check_writable_folder(folder)
    for path in inputs:
        resolved = Path(path).expanduser().absolute()
        if resolved == folder or folder in resolved.parents:
            raise InputError(folder, f"the output folder holds the input {resolved}; it would be replaced — "
                                     "give an output folder outside the inputs")
    if folder.is_dir() and not _looks_like_result_folder(folder):
        raise InputError(folder, "the output folder holds files other than an earlier result and would be "
                                 "replaced as a whole; give a new or empty folder")
    return folder


def probe_output_folder(folder: str | Path) -> None:
    """Try to create (then remove) a run folder beside ``folder``: refuses file systems that take no writes
    (``/sys``, a full or read-only mount) with one line, leaving nothing behind."""
    from radtriage.errors import InputError

    folder = Path(folder)
    created: list[Path] = []
    try:
        parent = folder.parent
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
        run = new_run_folder(folder)
        run.rmdir()
    except OSError as exc:
        raise InputError(folder, f"cannot write there ({exc.strerror or exc}); give a writable output folder") from None
    finally:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()


def write_result_staged(result: TaskResult, folder: str | Path,
                        also: Callable[[Path], object] | None = None) -> dict[str, Path]:
    """Write ``result`` into a fresh hidden run folder beside ``folder`` and replace ``folder`` with it as a whole,
    so a reader (or a killed writer) never sees half a result and no stale file of an earlier run survives;
    ``also(run folder)`` writes more files there first (a batch case's DICOM objects). Returns the final files by
    role (``result``: the ``result.json``)."""
    folder = Path(folder)
    run = new_run_folder(folder)
    try:
        written = write_result(result, run)
        if also is not None:
            also(run)
        install_result_folder(run, folder)
    finally:
        if run.exists():
            shutil.rmtree(run, ignore_errors=True)
    return {role: folder / path.name for role, path in written.items()}
