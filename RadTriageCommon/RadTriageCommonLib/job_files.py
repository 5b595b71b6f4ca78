"""A background job's working folder (``input/`` written by the Logic, ``output/`` filled by the job) and the
import of the job's output files into the scene.

Job folders live in Slicer's temporary folder as ``RadTriage-<task>-XXXXXXXX/{input,output}``. The job
controller removes a job's folder when the job has ended (:func:`removeJobFolder`), and :func:`newJobFolder`
sweeps folders of that name and layout older than a day (:func:`sweepStaleJobFolders`); nothing else is touched.

:func:`classifyOutputs` is pure Python (tested without Slicer); :func:`loadOutputs` uses ``slicer.util``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

INPUT_DIRNAME = "input"
OUTPUT_DIRNAME = "output"
FOLDER_PREFIX = "RadTriage-"
FOLDER_NAME = re.compile(r"RadTriage-.+-[a-z0-9_]{8}")
"""A job folder's name: the prefix, the task, and ``tempfile.mkdtemp``'s eight random characters."""
STALE_AFTER_S = 24 * 3600

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii.gz", ".nii", ".mha", ".mhd")
TABLE_SUFFIXES = (".csv", ".tsv")
MARKUPS_SUFFIXES = (".mrk.json",)
LABEL_WORDS = ("label", "segmentation", "mask")


def newJobFolder(task: str, parent: str | Path | None = None) -> tuple[Path, Path]:
    """Create ``<parent>/RadTriage-<task>-XXXX/{input,output}`` and return (input folder, output folder).

    ``parent`` defaults to Slicer's temporary folder (the system one outside Slicer). Job folders there that
    are older than a day are removed first (:func:`sweepStaleJobFolders`).
    """
    if parent is None:
        try:
            import slicer

            parent = slicer.app.temporaryPath
        except (ImportError, AttributeError):
            parent = tempfile.gettempdir()
    Path(parent).mkdir(parents=True, exist_ok=True)
    sweepStaleJobFolders(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{task}-", dir=parent))
    inputDir, outputDir = folder / INPUT_DIRNAME, folder / OUTPUT_DIRNAME
    inputDir.mkdir()
    outputDir.mkdir()
    return inputDir, outputDir


def writeJobInputs(
    task: str, images: Mapping[str, Any], parent: str | Path | None = None
) -> tuple[dict[str, Path], Path]:
    """Write each ``radtriage.image.Image`` to ``input/<key>.nrrd`` of a new job folder.

    Returns ({key: written path}, the job's output folder). Keys become file names with unsafe characters
    replaced; the returned mapping keeps the original keys.
    """
    from radtriage.io import write_volume

    inputDir, outputDir = newJobFolder(task, parent)
    paths: dict[str, Path] = {}
    for key, image in images.items():
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", str(key)) or "image"
        paths[key] = Path(write_volume(image, inputDir / f"{stem}.nrrd"))
    return paths, outputDir


def readJobResult(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The finished job's ``result.json`` document."""
    return json.loads(Path(outputs["result"]).read_text(encoding="utf-8"))


def readJobVolume(outputs: Mapping[str, Any], name: str):
    """The volume ``name`` the job wrote, as a ``radtriage.image.Image`` (None when the job wrote none)."""
    from radtriage.io import read_volume

    path = outputs.get(name)
    return read_volume(path) if path else None


def removeJobInputs(outputDir: str | Path) -> bool:
    """Delete the ``input/`` folder beside a job's ``output/`` folder (the temporary copies of the volumes).

    Only a folder made by :func:`newJobFolder` is touched; returns whether something was deleted.
    """
    outputDir = Path(outputDir)
    folder = outputDir.parent
    inputDir = folder / INPUT_DIRNAME
    if outputDir.name != OUTPUT_DIRNAME or not folder.name.startswith(FOLDER_PREFIX) or not inputDir.is_dir():
        return False
    shutil.rmtree(inputDir, ignore_errors=True)
    return not inputDir.exists()


def isJobFolder(folder: str | Path) -> bool:
    """True for a folder :func:`newJobFolder` made: its name, and nothing in it but ``input/`` and ``output/``
    folders (no symbolic links)."""
    folder = Path(folder)
    if not FOLDER_NAME.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
        return False
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return all(e.name in (INPUT_DIRNAME, OUTPUT_DIRNAME) and e.is_dir() and not e.is_symlink() for e in entries)


def removeJobFolder(outputDir: str | Path) -> bool:
    """Delete the whole job folder around a job's ``output/`` folder (inputs, outputs, logs) once the job ended
    and its results are in the scene. Only a folder made by :func:`newJobFolder` is touched; returns whether
    something was deleted."""
    outputDir = Path(outputDir)
    folder = outputDir.parent
    if outputDir.name != OUTPUT_DIRNAME or not isJobFolder(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def _newestChange(folder: Path) -> float:
    """The latest modification time of the folder or anything in it (links not followed)."""
    newest = folder.lstat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def sweepStaleJobFolders(parent: str | Path, maxAgeS: float = STALE_AFTER_S, now: float | None = None) -> list[Path]:
    """Remove the job folders in ``parent`` (name and layout as :func:`isJobFolder` checks) in which nothing has
    changed for ``maxAgeS`` seconds (those a crash or a closed Slicer left); returns the removed folders."""
    cutoff = (time.time() if now is None else now) - maxAgeS
    removed = []
    for folder in sorted(Path(parent).glob(f"{FOLDER_PREFIX}*")):
        try:
            if not isJobFolder(folder) or _newestChange(folder) > cutoff:
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    if removed:
        logger.info("removed %d job folder(s) older than %.0f h from %s", len(removed), maxAgeS / 3600, parent)
    return removed


@dataclass(frozen=True)
class OutputFile:
    """One file a job reported: its key in the ``outputs`` mapping, what it holds, where it is."""

    key: str
    kind: str  # "table", "volume", "labelmap", "markups", "json" or "other"
    path: Path


def _kind(key: str, path: Path) -> str:
    name = path.name.lower()
    if name.endswith(MARKUPS_SUFFIXES):
        return "markups"
    if name.endswith(TABLE_SUFFIXES):
        return "table"
    if name.endswith(VOLUME_SUFFIXES):
        return "labelmap" if any(word in key.lower() for word in LABEL_WORDS) else "volume"
    if name.endswith(".json"):
        return "json"
    return "other"


def _flatten(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for subkey, subvalue in value.items():
            yield from _flatten(f"{key}.{subkey}" if key else str(subkey), subvalue)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _flatten(f"{key}[{index}]", item)
    else:
        yield key, value


def classifyOutputs(outputs: Mapping[str, Any] | None) -> list[OutputFile]:
    """The existing files among a job's ``outputs`` (nested mappings and lists too), each with its kind."""
    files = []
    for key, value in _flatten("", outputs or {}):
        if not isinstance(value, (str, Path)) or not str(value):
            continue
        path = Path(value)
        if path.is_file():
            files.append(OutputFile(key, _kind(key, path), path))
    return files


def loadOutputs(outputs: Mapping[str, Any] | None, namePrefix: str = "") -> dict[str, Any]:
    """Load a job's tables, volumes, label maps and markups into the scene; returns ``{key: node}``.

    JSON results and other files are left on disk (their paths stay in ``outputs``). Each node is marked
    modified, so Slicer's Save dialog saves it: its file is in the job folder, which is removed when the job ends.
    """
    import slicer

    nodes: dict[str, Any] = {}
    for item in classifyOutputs(outputs):
        name = f"{namePrefix}{item.key}" if namePrefix else item.key
        if item.kind == "table":
            node = slicer.util.loadTable(str(item.path))
        elif item.kind in ("volume", "labelmap"):
            node = slicer.util.loadVolume(str(item.path), {"labelmap": item.kind == "labelmap", "name": name})
        elif item.kind == "markups":
            node = slicer.util.loadMarkups(str(item.path))
        else:
            continue
        if node is not None:
            if item.kind in ("table", "markups"):
                node.SetName(name)
            node.StorableModified()
            nodes[item.key] = node
    logger.info("loaded %d of the job's output files into the scene", len(nodes))
    return nodes
