"""A headless MRML scene wired like the Slicer application, built from Slicer's MRML/logic classes only.

Inside the Slicer application none of this is needed: every function in :mod:`radtriage.mrml` takes the
scene (``slicer.mrmlScene``) or the application logic (``slicer.app.applicationLogic()``) as an argument.
Outside Slicer (tests, servers) :func:`create_headless_scene` builds the same pieces from PyPI ``slicer-core``:
scene, application logic, module logics registered by name (Colors first, so default colour nodes exist
before any volume asks for one), Red/Yellow/Green slice nodes with slice logics and composite nodes, and the
RemoteIO / DataIOManager wiring that reading a ``.mrb`` bundle needs.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slicer import (
    vtkDataIOManagerLogic,
    vtkMRMLColorLogic,
    vtkMRMLCrosshairNode,
    vtkMRMLRemoteIOLogic,
    vtkMRMLScene,
    vtkMRMLSliceLogic,
    vtkMRMLSliceNode,
    vtkSlicerApplicationLogic,
    vtkSlicerDataModuleLogic,
    vtkSlicerMarkupsLogic,
    vtkSlicerSubjectHierarchyModuleLogic,
    vtkSlicerVolumesLogic,
)
from vtkmodules.vtkCommonCore import vtkCollection

logger = logging.getLogger(__name__)

SLICE_VIEWS: dict[str, str] = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}
"""Slice view layout names and their default orientation, as in Slicer's conventional layout."""


@dataclass
class HeadlessSlicer:
    """The pieces of a Slicer application that MRML work needs, without Qt."""

    scene: Any
    app_logic: Any
    logics: dict[str, Any] = field(default_factory=dict)
    slice_logics: dict[str, Any] = field(default_factory=dict)
    remote_io: Any = None
    data_io_manager_logic: Any = None
    cache_dir: Path | None = None
    _cache_tmp: Any = field(default=None, repr=False)

    def slice_logic(self, layout_name: str = "Red") -> Any:
        """The slice logic of the view named ``layout_name`` (Red, Yellow, Green)."""
        return self.slice_logics[layout_name]

    def close(self) -> None:
        """Clear the scene and remove the temporary cache directory."""
        self.scene.Clear(True)
        if self._cache_tmp is not None:
            self._cache_tmp.cleanup()
            self._cache_tmp = None

    def __enter__(self) -> HeadlessSlicer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _register_logic(scene: Any, app_logic: Any, logic: Any, name: str) -> Any:
    """Connect a module logic to the scene and application logic and register it under ``name``."""
    logic.SetMRMLScene(scene)
    logic.SetMRMLApplicationLogic(app_logic)
    app_logic.SetModuleLogic(name, logic)
    return logic


def _optional_logic(class_name: str) -> Any | None:
    """An instance of the named slicer logic class, or None when this Slicer build lacks it."""
    import slicer

    cls = getattr(slicer, class_name, None)
    return cls() if cls is not None else None


def _add_slice_view(scene: Any, app_logic: Any, layout_name: str, orientation: str) -> Any:
    """Create a slice node (+ composite node) named ``layout_name`` with its slice logic."""
    slice_logic = vtkMRMLSliceLogic()
    slice_logic.SetMRMLApplicationLogic(app_logic)
    slice_logic.SetMRMLScene(scene)
    app_logic.GetSliceLogics().AddItem(slice_logic)
    slice_node = slice_logic.AddSliceNode(layout_name)
    slice_node.SetOrientation(orientation)
    slice_node.SetDefaultOrientation(orientation)
    return slice_logic


def create_headless_scene(cache_dir: str | Path | None = None) -> HeadlessSlicer:
    """Build a scene with application logic, module logics, slice views and ``.mrb`` I/O wiring.

    ``cache_dir`` is where RemoteIO caches files; a temporary directory (removed by ``close()``) when None.
    """
    scene = vtkMRMLScene()
    crosshair = vtkMRMLCrosshairNode()  # as qSlicerCoreApplication::setMRMLScene does
    crosshair.SetCrosshairName("default")
    scene.AddNode(crosshair)

    app_logic = vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.SetSliceLogics(vtkCollection())
    app_logic.SetViewLogics(vtkCollection())

    # Colors first: registering a colour logic replaces (and destroys) any earlier one, which removes its
    # default colour nodes; volumes created before this would get no colour node.
    logics: dict[str, Any] = {}
    logics["Colors"] = _register_logic(scene, app_logic, vtkMRMLColorLogic(), "Colors")
    logics["Colors"].AddDefaultColorNodes()
    logics["Volumes"] = _register_logic(scene, app_logic, vtkSlicerVolumesLogic(), "Volumes")
    logics["Markups"] = _register_logic(scene, app_logic, vtkSlicerMarkupsLogic(), "Markups")
    logics["SubjectHierarchy"] = _register_logic(
        scene, app_logic, vtkSlicerSubjectHierarchyModuleLogic(), "SubjectHierarchy"
    )
    tables_logic = _optional_logic("vtkSlicerTablesLogic")
    if tables_logic is not None:
        logics["Tables"] = _register_logic(scene, app_logic, tables_logic, "Tables")
    logics["Data"] = _register_logic(scene, app_logic, vtkSlicerDataModuleLogic(), "Data")

    vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    slice_logics = {
        name: _add_slice_view(scene, app_logic, name, orientation) for name, orientation in SLICE_VIEWS.items()
    }

    cache_tmp = None
    if cache_dir is None:
        cache_tmp = tempfile.TemporaryDirectory(prefix="radtriage-mrml-")
        cache_dir = cache_tmp.name
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remote_io = vtkMRMLRemoteIOLogic()
    remote_io.SetMRMLScene(scene)
    remote_io.SetMRMLApplicationLogic(app_logic)
    remote_io.GetCacheManager().SetRemoteCacheDirectory(cache_dir.as_posix())
    data_io_manager_logic = vtkDataIOManagerLogic()
    data_io_manager_logic.SetMRMLScene(scene)
    data_io_manager_logic.SetMRMLApplicationLogic(app_logic)
    data_io_manager_logic.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    remote_io.AddDataIOToScene()
    with suppress(AttributeError):
        app_logic.SetTemporaryPath(cache_dir.as_posix())

    logger.debug("headless MRML scene ready with logics %s", sorted(logics))
    return HeadlessSlicer(
        scene=scene,
        app_logic=app_logic,
        logics=logics,
        slice_logics=slice_logics,
        remote_io=remote_io,
        data_io_manager_logic=data_io_manager_logic,
        cache_dir=cache_dir,
        _cache_tmp=cache_tmp,
    )


def get_slice_logic(app_logic: Any, layout_name: str = "Red") -> Any:
    """The slice logic for a view layout name, from any application logic (headless or Slicer's own)."""
    slice_logic = app_logic.GetSliceLogicByLayoutName(layout_name)
    if slice_logic is None:
        raise KeyError(f"no slice logic for the view {layout_name!r}")
    return slice_logic


def slice_composite_nodes(scene: Any) -> list[Any]:
    """Every slice composite node in the scene (one per slice view)."""
    return [
        scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))
    ]
