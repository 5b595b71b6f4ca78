"""Saving a scene as a Medical Reality Bundle (``.mrb``) and loading one into a fresh headless scene."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkStringOutputWindow

from radtriage.errors import InputError
from radtriage.mrml.scene import HeadlessSlicer, create_headless_scene

logger = logging.getLogger(__name__)


@contextmanager
def _vtk_archive_guard() -> Iterator[None]:
    """Capture VTK's per-file 'Zip: adding' messages (logged at debug level) and restore the working directory.

    Slicer's vtkArchive changes the working directory while it (un)zips and does not change it back when
    unzipping fails, leaving the process in a temporary folder that is deleted soon after.
    """
    previous_window = vtkOutputWindow.GetInstance()  # this reference keeps it alive meanwhile
    capture = vtkStringOutputWindow()
    vtkOutputWindow.SetInstance(capture)
    cwd = os.getcwd()
    try:
        yield
    finally:
        os.chdir(cwd)
        vtkOutputWindow.SetInstance(previous_window)
        messages = capture.GetOutput().strip()
        if "Error" in messages:
            logger.warning("VTK reported errors while (un)zipping a scene bundle (details at debug level)")
        if messages:
            logger.debug("VTK messages while (un)zipping a scene bundle:\n%s", messages)


def save_mrb(scene: Any, path: str | Path) -> Path:
    """Write every node of ``scene`` (with its data files) to the ``.mrb`` bundle at ``path``; returns the path."""
    path = Path(path).resolve()
    if path.suffix.lower() != ".mrb":
        raise ValueError(f"a scene bundle needs the .mrb extension: {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _vtk_archive_guard():
        ok = scene.WriteToMRB(path.as_posix())
    if not ok or not path.is_file():
        raise OSError(f"could not write the scene bundle {path}")
    return path


def read_mrb(scene: Any, path: str | Path, clear: bool = False) -> None:
    """Add the nodes of the ``.mrb`` bundle at ``path`` to ``scene`` (after clearing it when ``clear``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "scene bundle not found")
    if not zipfile.is_zipfile(path):
        raise InputError(path, "not a Slicer scene bundle (.mrb is a zip archive; this file is not)")
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith(".mrml") for name in archive.namelist()):
            raise InputError(path, "scene bundle holds no .mrml scene file")
    with _vtk_archive_guard():
        ok = scene.ReadFromMRB(path.resolve().as_posix(), clear)
    if not ok:
        raise InputError(path, "not a readable Slicer scene bundle (.mrb)")


def load_mrb(path: str | Path, cache_dir: str | Path | None = None) -> HeadlessSlicer:
    """A new headless scene holding the contents of the ``.mrb`` bundle at ``path``."""
    headless = create_headless_scene(cache_dir)
    try:
        read_mrb(headless.scene, path)
    except Exception:
        headless.close()
        raise
    return headless
