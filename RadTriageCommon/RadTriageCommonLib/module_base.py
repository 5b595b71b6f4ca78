"""The part every RadTriage module shares: widget life cycle, parameter node, background job, geometry.

A module file stays thin glue of its own widgets and results::

    from RadTriageCommonLib.module_base import describeModule, inferArgv
    from RadTriageCommonLib.scripted import RadTriageLogic, RadTriageTest, RadTriageWidget

    class BodyRegionWidget(RadTriageWidget):  # = ModuleWidgetBase, ScriptedLoadableModuleWidget, VTKObservationMixin
        failureMessage = _("Body-region labelling failed.")
        def createLogic(self): return BodyRegionLogic()
        def startJob(self): return self.logic.startJob(self._parameterNode.inputVolume, ...)
        def onJobFinished(self, outputs, inputs): ...  # inputs["inputVolume"]: the node the job RAN ON

    class BodyRegionLogic(RadTriageLogic):  # = ModuleLogicBase, ScriptedLoadableModuleLogic
        taskName = "body_region"
        parameterNodeClass = BodyRegionParameterNode

The mixins come FIRST in the bases so that their methods win; Slicer's classes chain ``super().__init__()``
(``ScriptedLoadableModule.py`` v5.12.3 lines 89-93, 297-298; ``util.py`` 3053-3055), so no explicit
``__init__`` is needed in the module. Nothing here imports ``slicer``, ``qt`` or ``vtk`` at module level: the pure
parts (:func:`shortcutAllowed`, :func:`applyButtonState`, :func:`captureNodeIDs` / :func:`resolveNodeIDs`,
:func:`pathFieldText`, :func:`inferArgv`) run under plain Python with stand-ins or a headless MRML scene; the
geometry is :mod:`radtriage.mrml.geometry` (one ``slice_index_at``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

ARROW_KEYS = frozenset({"Up", "Down", "Left", "Right"})
TEXT_ENTRY_CLASSES = ("QLineEdit", "QTextEdit", "QPlainTextEdit", "QAbstractSpinBox")
"""Focus widgets that take typed keys (unless read-only): every shortcut is off while one has the focus."""
KEY_CONSUMING_CLASSES = ("QComboBox",)
"""Combo boxes take letters (keyboard search or editing) and arrows: every shortcut is off in them."""
ARROW_CONSUMING_CLASSES = ("QAbstractItemView", "QAbstractSlider")
"""Tables, lists and sliders move with the arrows: arrow shortcuts are off in them (all while a cell is edited)."""
ITEM_VIEW_EDITING_STATE = 3
"""``QAbstractItemView.EditingState`` (Qt 5: NoState 0, Dragging 1, DragSelecting 2, Editing 3)."""


class LazyModule:
    """A module imported on its first attribute read: ``core = LazyModule("radtriage.tasks.x.mrml")`` at the top of
    a module file, ``core.function(...)`` in its methods (the core may be installed after Slicer started)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attribute)


def tr(text: str) -> str:
    """Translate with Slicer's translation function inside Slicer (the text as is elsewhere)."""
    if getattr(sys.modules.get("slicer"), "app", None) is None:
        return text
    from slicer import i18n

    return i18n.tr(text)


# -- the module description ----------------------------------------------------------------------------------

DOCUMENTATION_URL = "https://github.com/SlicerRadTriage/SlicerRadTriage"


def describeModule(parent: Any, title: str, helpText: str, anchor: str, demo: bool = True) -> None:
    """Fill what every RadTriage module's panel says; call it from ``<Module>.__init__`` after
    ``ScriptedLoadableModule.__init__``. Category RadTriage, ``dependencies = ["RadTriageCommon"]`` (this Lib
    ships there), the Slicer it needs, the demo notice (``demo`` models only), the documentation link ``#anchor``.
    """
    parent.title = title
    parent.categories = ["RadTriage"]
    parent.dependencies = ["RadTriageCommon"]
    parent.contributors = ["SlicerRadTriage contributors"]
    parts = [helpText, tr("Needs 3D Slicer 5.12 or newer.")]
    if demo:
        parts.append(tr("The bundled demo model is trained on procedural phantoms only: demo, not for clinical use."))
    link = f'<a href="{DOCUMENTATION_URL}#{anchor}">' + tr("documentation") + "</a>"
    parent.helpText = " ".join([*parts, tr("See the {link}.").format(link=link)])
    parent.acknowledgementText = tr(
        "Part of SlicerRadTriage. Built on 3D Slicer, MONAI, SimpleITK and pydicom; "
        "the module layout follows Slicer's scripted-module template."
    )


# -- pure decisions (stand-in objects in tests) --------------------------------------------------------------------


def _inherits(widget: Any, classNames: Iterable[str]) -> bool:
    return any(widget.inherits(name) for name in classNames)


def _readOnly(widget: Any) -> bool:
    readOnly = getattr(widget, "readOnly", None)  # the Qt property, as PythonQt exposes it
    if isinstance(readOnly, bool):
        return readOnly
    isReadOnly = getattr(widget, "isReadOnly", None)
    return bool(isReadOnly()) if callable(isReadOnly) else False


def _ancestors(widget: Any) -> Iterable[Any]:
    while widget is not None:
        yield widget
        parentWidget = getattr(widget, "parentWidget", None)
        widget = parentWidget() if callable(parentWidget) else None


def _editing(itemView: Any) -> bool:
    state = getattr(itemView, "state", None)  # protected in C++; the open editor is caught as a text entry anyway
    return callable(state) and int(state()) == ITEM_VIEW_EDITING_STATE


def shortcutAllowed(focusWidget: Any, key: str) -> bool:
    """Whether a single-key shortcut ``key`` ("A", "5", "Up", "Return"...) may fire with ``focusWidget`` focused.

    Off while the focus is in a text entry (line edit, text edit, spin box; not when read-only), in any combo box
    (an "A" there searches or edits the list) or in an item view that is editing a cell; arrow keys are also off in
    item views and sliders, which move with them. ``focusWidget`` needs only ``inherits(className)`` and, where
    relevant, ``isReadOnly()``, ``state()`` and ``parentWidget()`` (Qt's, or stand-ins).
    """
    if focusWidget is None:
        return True
    for widget in _ancestors(focusWidget):
        if _inherits(widget, TEXT_ENTRY_CLASSES) and not _readOnly(widget):
            return False
        if _inherits(widget, KEY_CONSUMING_CLASSES):
            return False
        if widget.inherits("QAbstractItemView") and _editing(widget):
            return False
        if key in ARROW_KEYS and _inherits(widget, ARROW_CONSUMING_CLASSES):
            return False
    return True


MODIFIER_PREFIXES = ("ctrl+", "alt+", "meta+")


def shortcutScope(key: str) -> str:
    """Where a shortcut listens: ``"window"`` for Ctrl/Alt/Meta combinations (they work while the reader is in a
    slice view, as long as the module is shown), ``"panel"`` for plain keys, which would otherwise steal the slice
    views' own single-key bindings (``vtkMRMLSliceIntersectionWidget.cxx``, v5.12.3)."""
    return "window" if key.strip().lower().startswith(MODIFIER_PREFIXES) else "panel"


def applyButtonState(running: bool, problem: str, applyToolTip: str, runningToolTip: str) -> tuple[bool, str]:
    """(enabled, tool tip) of the Apply button: Cancel while running, else enabled unless ``problem`` says why."""
    if running:
        return True, runningToolTip
    if problem:
        return False, problem
    return True, applyToolTip


def pathFieldText(value: Any) -> str:
    """What a folder field shows for a stored path: "" when unset (never ".")."""
    text = "" if value is None else str(value)
    return "" if text.strip() in ("", ".") else text


def captureNodeIDs(parameterNode: Any, names: Iterable[str]) -> dict[str, str | None]:
    """The MRML node IDs the parameters ``names`` point to now (None when unset): call when a job starts."""
    ids: dict[str, str | None] = {}
    for name in names:
        node = getattr(parameterNode, name, None)
        ids[name] = node.GetID() if node is not None else None
    return ids


class JobInputRemovedError(RuntimeError):
    """A node a finished job ran on is no longer in the scene, so its results are not attached to any node."""


def resolveNodeIDs(scene: Any, ids: Mapping[str, str | None], required: Iterable[str] = ()) -> dict[str, Any]:
    """The nodes of :func:`captureNodeIDs` in ``scene`` now: {parameter: node or None}.

    Raises :class:`JobInputRemovedError` naming the parameter when a ``required`` node (or any node that was set
    at start) has been removed: the results then go nowhere rather than onto another volume.
    """
    nodes: dict[str, Any] = {}
    required = set(required)
    for name, nodeID in ids.items():
        node = scene.GetNodeByID(nodeID) if nodeID else None
        if node is None and (nodeID or name in required):
            raise JobInputRemovedError(
                f"the {name} the job ran on ({nodeID or 'none'}) is no longer in the scene; "
                "its results were not added (run it again on a volume in the scene)"
            )
        nodes[name] = node
    return nodes


def inferArgv(task: str, inputs: str | Any | Mapping[str, Any], options: Mapping[str, Any] | None = None) -> list[str]:
    """``python -m radtriage infer --task TASK --input ... --output {output_dir} [--option KEY=VALUE ...]``
    (:func:`radtriage.runtime.infer_command.infer_argv`: ``inputs`` one path or {key: path}; options whose value
    is None are left out, the others are checked against the task's declared options before the job starts)."""
    from radtriage.runtime.infer_command import infer_argv

    return infer_argv(task, inputs if isinstance(inputs, Mapping) else str(inputs), options=options)


def applyOptionDeclaration(widget: Any, task: str, option: str) -> None:
    """Give an option's widget the range and help the task declares (:mod:`radtriage.tasks.options`), so the
    panel offers exactly the values ``radtriage infer`` accepts: a slider's minimum/maximum (a band's two ends
    share the band's range) and a tooltip that ends with the allowed values."""
    from radtriage.tasks.options import declared_options

    declared = {opt.name: opt for opt in declared_options(task)}
    if option not in declared:
        raise KeyError(f"{task} declares no option {option!r} (declared: {', '.join(declared)})")
    opt = declared[option]
    if opt.kind in ("float", "int", "band") and hasattr(widget, "minimum"):
        if opt.minimum is not None:
            widget.minimum = opt.minimum
        if opt.maximum is not None:
            widget.maximum = opt.maximum
    shown = (getattr(widget, "toolTip", "") or "").strip()
    allowed = f"{tr('Allowed')}: {opt.allowed()} ({task} option {option})."
    widget.toolTip = f"{shown}\n{allowed}" if shown else f"{opt.help[:1].upper()}{opt.help[1:]}. {allowed}"


# -- Logic ------------------------------------------------------------------------------------------------------


class ModuleLogicBase:
    """Logic mixin: ``class XLogic(ModuleLogicBase, ScriptedLoadableModuleLogic)``.

    Set ``taskName`` (the core task), ``parameterNodeClass`` (the ``@parameterNodeWrapper`` class) and
    ``outputNamePrefix``. Everything takes MRML nodes and works in a headless scene as in Slicer.
    """

    taskName: str = ""
    parameterNodeClass: Any = None
    outputNamePrefix: str = ""
    exportDicom: bool = False
    """*Export to DICOM*: the job also writes SR + SEG referencing the inputs' DICOM series (:mod:`.dicom_export`)."""
    dicomFileForInstance: Callable[[str], str] | None = None
    """Instance UID -> file (None: Slicer's ``slicer.dicomDatabase.fileForInstance``)."""

    inferArgv = staticmethod(inferArgv)

    def getParameterNode(self) -> Any:
        """The module's typed parameter node (created in the scene when missing)."""
        return self.parameterNodeClass(super().getParameterNode())

    @staticmethod
    def volumeImage(volumeNode: Any, copy: bool = True) -> Any:
        """The volume as a ``radtriage.image.Image`` (exact geometry, LPS); ``copy=False``: a read-only view."""
        from radtriage.mrml.volumes import volume_node_to_image

        if volumeNode is None:
            raise ValueError("no input volume selected")
        return volume_node_to_image(volumeNode, copy=copy)

    @staticmethod
    def sliceCount(volumeNode: Any, axis: int = 2) -> int:
        """Number of slices along IJK ``axis`` (from the image data dimensions; no voxel is copied)."""
        from radtriage.mrml.geometry import dimensions

        return dimensions(volumeNode)[axis]

    def startTaskJob(self, images: Mapping[str, Any], argvFor: Callable[[Mapping[str, Any]], list[str]]) -> Any:
        """Write ``images`` ({key: Image}) to a new job folder and start ``argvFor(paths)`` there: on the session's
        warm worker (bundles stay loaded between runs), or a one-shot process when it is off or cannot start."""
        from radtriage.runtime.worker_client import start_job

        from .job_files import INPUT_DIRNAME, removeJobFolder, writeJobInputs

        paths, outputDir = writeJobInputs(self.taskName, images)
        try:
            argv = argvFor(paths)  # raises JobStartError when no interpreter (PythonSlicer) is found
            if self.exportDicom:
                argv += self._dicomExportArgv(images, outputDir.parent / INPUT_DIRNAME)
        except Exception:
            removeJobFolder(outputDir)  # nothing of a job that never started stays in the temporary folder
            raise
        logger.info("starting %s in the background", self.taskName)
        return start_job(argv, outputDir)

    def _dicomExportArgv(self, images: Mapping[str, Any], inputDir: Any) -> list[str]:
        """The infer arguments of *Export to DICOM* (the source series copied into the job's input folder)."""
        from .dicom_export import dicomExportArgv, stageDicomSources

        lookup = self.dicomFileForInstance
        if lookup is None:
            import slicer

            lookup = slicer.dicomDatabase.fileForInstance
        return dicomExportArgv(stageDicomSources(images, inputDir, lookup))

    def runTask(self, inputs: Mapping[str, Any], **options: Any) -> Any:
        """Run the core task in this process on {key: Image} (a ``TaskResult``)."""
        from radtriage.tasks import run_task

        logger.info("running %s in process", self.taskName)
        return run_task(self.taskName, inputs=dict(inputs), **options)



# -- Widget -----------------------------------------------------------------------------------------------------


class ModuleWidgetBase:
    """Widget mixin: ``class XWidget(ModuleWidgetBase, ScriptedLoadableModuleWidget, VTKObservationMixin)``, which
    is :class:`RadTriageCommonLib.scripted.RadTriageWidget` (``class XWidget(RadTriageWidget)``).

    It does the whole template life cycle: :meth:`setup` loads ``Resources/UI/<Module>.ui``, makes the Logic
    (:meth:`createLogic`), a :class:`JobController` on ``applyButton`` / ``progressBar`` / ``statusLabel``, the
    scene-close observers, the shortcuts of :meth:`shortcuts`, then calls :meth:`setupWidgets` and
    :meth:`initializeParameterNode`. Apply starts :meth:`startJob` after ``ensureDependencies()`` (Apply reads
    Cancel while it runs); when the job succeeds :meth:`onJobFinished` gets the outputs and the nodes the job
    RAN ON (captured by ID at start, whatever is selected now). The job folder is deleted after
    ``onJobFinished`` returns: read every output file there.

    Override (class attributes; each has a generic default): ``failureMessage``, ``startErrorMessage``,
    ``applyToolTip``, ``runningToolTip``, ``missingInputToolTip``, ``jobInputParameters`` (node parameters captured
    at start; the first is required), ``autoSelectParameters`` (filled with the scene's first scalar volume),
    ``pathParameters`` ((parameter, ctkPathLineEdit name) pairs, or a mapping: ``str`` parameters bound by the base
    so that an unset folder shows "" — give the widget no SlicerParameterName), ``optionWidgets`` ({widget: task
    option}: the widget gets the option's declared range and allowed values at setup).
    Override (methods): :meth:`createLogic` and :meth:`startJob` and :meth:`onJobFinished` (required);
    :meth:`setupWidgets`, :meth:`shortcuts`, :meth:`applyProblem`, :meth:`confirmStart`,
    :meth:`onParameterNodeModified`, :meth:`clearResults`, :meth:`cleanupWidgets` (optional).
    """

    failureMessage: str = ""
    startErrorMessage: str = ""
    applyToolTip: str = ""
    runningToolTip: str = ""
    missingInputToolTip: str = ""
    jobInputParameters: tuple[str, ...] = ("inputVolume",)
    autoSelectParameters: tuple[str, ...] = ("inputVolume",)
    pathParameters: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    optionWidgets: Mapping[str, str] = {}
    """{ui widget name: task option} — widgets that set a task option get its declared range and allowed values."""
    offersDicomExport: bool = True
    """Show *Export to DICOM* above Apply (for modules whose jobs start through ``startTaskJob``)."""
    scene: Any = None
    """The MRML scene (None: ``slicer.mrmlScene``); tests put a headless scene here."""

    def __init__(self, parent: Any = None) -> None:
        self.logic: Any = None
        self.ui: Any = None
        self._jobs: Any = None
        self._parameterNode: Any = None
        self._parameterNodeGuiTag: Any = None
        self._shortcuts: list[tuple[str, Any]] = []
        self._jobNodeIDs: dict[str, str | None] = {}
        self._focusConnected = False
        self._entered = False
        super().__init__(parent)

    # -- hooks for the module ---------------------------------------------------------------------------------

    def createLogic(self) -> Any:
        """The module's Logic (required)."""
        raise NotImplementedError

    def setupWidgets(self) -> None:
        """Connect the module's own widgets (after the base's setup, before the parameter node)."""

    def shortcuts(self) -> Mapping[str, Callable[[], None]]:
        """{key sequence: callback} active in the module panel, never while the focus edits text."""
        return {}

    def applyProblem(self) -> str:
        """Why Apply is disabled now ("" when it may start): by default, the first job input is missing."""
        node = self._parameterNode
        first = self.jobInputParameters[0] if self.jobInputParameters else None
        if node is None or (first is not None and getattr(node, first, None) is None):
            return self.missingInputToolTip or tr("Select an input volume")
        return ""

    def confirmStart(self) -> bool:
        """Last check before a job starts (dialogs allowed); False: do not start."""
        return True

    def startJob(self) -> Any:
        """Start the module's job from the parameter node (required); returns a started BackgroundJob."""
        raise NotImplementedError

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Add the job's results (required). ``inputs``: {parameter: the node the job ran on, or None}."""
        raise NotImplementedError

    def onParameterNodeModified(self) -> None:
        """Called after every parameter change (Apply's state is already updated)."""

    def clearResults(self) -> None:
        """Forget the shown results (called when the scene closes)."""

    def cleanupWidgets(self) -> None:
        """Release what :meth:`setupWidgets` made (called from :meth:`cleanup`)."""

    # -- template life cycle ----------------------------------------------------------------------------------

    def mrmlScene(self) -> Any:
        """The scene the module works in."""
        if self.scene is not None:
            return self.scene
        import slicer

        return slicer.mrmlScene

    def uiPath(self) -> str:
        """The module's .ui file."""
        return self.resourcePath(f"UI/{self.moduleName}.ui")

    def setup(self) -> None:
        """Build the GUI from the .ui file, make the Logic and the job controller, connect everything."""
        import slicer

        from .job_controller import JobController

        super().setup()
        uiWidget = slicer.util.loadUI(self.uiPath())
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = self.createLogic()
        self._jobs = JobController(
            self.ui.applyButton,
            self.ui.progressBar,
            self.ui.statusLabel,
            self._onJobSucceeded,
            failureMessage=self.failureMessage,
            onStateChanged=lambda running: self._checkCanApply(),
        )
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.progressBar.setVisible(False)
        if self.offersDicomExport:
            self._addExportDicomCheckBox()
        for parameter, widgetName in dict(self.pathParameters).items():
            getattr(self.ui, widgetName).connect(
                "currentPathChanged(QString)", lambda path, name=parameter: self._storePath(name, path)
            )
        for widgetName, option in self.optionWidgets.items():
            applyOptionDeclaration(getattr(self.ui, widgetName), self.logic.taskName, option)
        self._createShortcuts(self.shortcuts())
        self.setupWidgets()
        self.initializeParameterNode()

    def _addExportDicomCheckBox(self) -> None:
        """*Export to DICOM*, above Apply: the next jobs also write SR + SEG into Slicer's DICOM database."""
        import qt

        box = qt.QCheckBox(tr("Export to DICOM"))
        box.toolTip = tr("Also write the result as DICOM (a TID 1500 SR, and SEG of heatmaps / label maps) that "
                         "references the input's DICOM series, and add it to the DICOM database. Only for inputs "
                         "loaded from the DICOM database; demo results are marked not for clinical use.")
        box.connect("toggled(bool)", lambda checked: setattr(self.logic, "exportDicom", bool(checked)))
        layout = self.ui.applyButton.parentWidget().layout()
        layout.insertWidget(layout.indexOf(self.ui.applyButton), box)
        self.ui.exportDicomCheckBox = box

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._jobs is not None:
            self._jobs.cancel()
        self._removeShortcuts()
        self.cleanupWidgets()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module: its window-wide shortcuts come on."""
        self._entered = True
        self._refreshShortcuts()
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module: the GUI stops following the parameter node and the
        window-wide shortcuts go off (another module's panel must not trigger this one)."""
        self._entered = False
        self._refreshShortcuts()
        self._disconnectParameterNode()

    def _refreshShortcuts(self) -> None:
        if self._shortcuts:
            import qt

            self._onFocusChanged(None, qt.QApplication.focusWidget())

    def onSceneStartClose(self, caller: Any = None, event: Any = None) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)
        self.clearResults()

    def onSceneEndClose(self, caller: Any = None, event: Any = None) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists, is observed, and has an input if the scene has a volume."""
        self.setParameterNode(self.logic.getParameterNode())
        for name in self.autoSelectParameters:
            if getattr(self._parameterNode, name, None) is None:
                firstVolumeNode = self.mrmlScene().GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
                if firstVolumeNode is not None:
                    setattr(self._parameterNode, name, firstVolumeNode)

    def setParameterNode(self, inputParameterNode: Any) -> None:
        """Connect the GUI to ``inputParameterNode`` (widgets carry a SlicerParameterName property)."""
        import vtk

        self._disconnectParameterNode()
        self._parameterNode = inputParameterNode
        if self._parameterNode is not None:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _disconnectParameterNode(self) -> None:
        import vtk

        if self._parameterNode is None:
            return
        if self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
        self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def _onParameterNodeModified(self, caller: Any = None, event: Any = None) -> None:
        self._checkCanApply()
        self._showPaths()
        self.onParameterNodeModified()

    def _checkCanApply(self, caller: Any = None, event: Any = None) -> None:
        if self.ui is None:
            return
        running = self._jobs is not None and self._jobs.running
        enabled, toolTip = applyButtonState(
            running,
            "" if running else self.applyProblem(),
            self.applyToolTip or tr("Run the task on the input"),
            self.runningToolTip or tr("Stop the running job"),
        )
        self.ui.applyButton.enabled = enabled
        self.ui.applyButton.toolTip = toolTip

    # -- folder fields (never ".") ----------------------------------------------------------------------------

    def _storePath(self, parameter: str, path: str) -> None:
        if self._parameterNode is not None and getattr(self._parameterNode, parameter) != pathFieldText(path):
            setattr(self._parameterNode, parameter, pathFieldText(path))

    def _showPaths(self) -> None:
        if self._parameterNode is None or self.ui is None:
            return
        for parameter, widgetName in dict(self.pathParameters).items():
            widget = getattr(self.ui, widgetName)
            text = pathFieldText(getattr(self._parameterNode, parameter))
            if widget.currentPath != text:
                wasBlocked = widget.blockSignals(True)
                widget.currentPath = text
                widget.blockSignals(wasBlocked)

    # -- background job ---------------------------------------------------------------------------------------

    def ensureDependencies(self) -> bool:
        """The first-use dependency check (one dialog at most); False: do not start."""
        from .dependencies_dialog import ensureDependencies

        return ensureDependencies()

    def showError(self, message: str, error: BaseException) -> None:
        """Show an error that stopped an action (message plus the exception text)."""
        import slicer

        slicer.util.errorDisplay(message or tr("The action failed."), detailedText=str(error))

    def onApplyButton(self) -> None:
        """Start the job in a background process, or cancel the one running; results load when it ends."""
        if self._jobs.running:
            self._jobs.cancel()
            return
        if not self.ensureDependencies() or not self.confirmStart():
            return
        ids = captureNodeIDs(self._parameterNode, self.jobInputParameters)
        try:
            job = self.startJob()
        except Exception as error:
            logger.exception("the job could not start")
            self.showError(self.startErrorMessage or tr("The job could not start."), error)
            return
        self._jobNodeIDs = ids
        self._jobs.follow(job)

    def jobInputNodes(self) -> dict[str, Any]:
        """The nodes the current/last job ran on, resolved now (raises JobInputRemovedError when one is gone)."""
        required = self.jobInputParameters[:1]
        return resolveNodeIDs(self.mrmlScene(), self._jobNodeIDs, required)

    def _onJobSucceeded(self, outputs: Mapping[str, Any]) -> None:
        from .dicom_export import importDicomResults

        self.onJobFinished(outputs, self.jobInputNodes())
        if n := importDicomResults(outputs):  # into the DICOM database before the job folder goes
            added = tr("{n} DICOM object(s) (SR, SEG) added to the DICOM database.").format(n=n)
            self.ui.statusLabel.text = f"{self.ui.statusLabel.text} {added}"

    def observeSliceNode(self, viewName: str, callback: Callable[..., None]) -> Any:
        """Call ``callback(caller, event)`` whenever the slice node of view ``viewName`` changes (released with the
        widget's other observers); returns the slice node, None without a layout or such a view."""
        import vtk

        node = sliceNodeOf(viewName)
        if node is not None:
            self.addObserver(node, vtk.vtkCommand.ModifiedEvent, callback)
        return node

    # -- shortcuts --------------------------------------------------------------------------------------------

    def _createShortcuts(self, keys: Mapping[str, Callable[[], None]]) -> None:
        """One QShortcut per key on the module panel, switched off while the focus edits text."""
        if not keys:
            return
        import qt
        import slicer

        for key, callback in keys.items():
            if shortcutScope(key) == "window":
                shortcut = qt.QShortcut(qt.QKeySequence(key), slicer.util.mainWindow() or self.parent)
                shortcut.setContext(qt.Qt.WindowShortcut)
            else:
                shortcut = qt.QShortcut(qt.QKeySequence(key), self.parent)
                shortcut.setContext(qt.Qt.WidgetWithChildrenShortcut)
            shortcut.connect("activated()", callback)
            self._shortcuts.append((key, shortcut))
        slicer.app.connect("focusChanged(QWidget*,QWidget*)", self._onFocusChanged)
        self._focusConnected = True
        self._onFocusChanged(None, qt.QApplication.focusWidget())

    def _onFocusChanged(self, old: Any, now: Any) -> None:
        """Enable each shortcut only where its key means nothing to the focused widget."""
        for key, shortcut in self._shortcuts:
            shown = self._entered or shortcutScope(key) == "panel"  # a hidden panel's own shortcuts never fire
            shortcut.setEnabled(shown and shortcutAllowed(now, key))

    def _removeShortcuts(self) -> None:
        if self._focusConnected:
            import slicer

            slicer.app.disconnect("focusChanged(QWidget*,QWidget*)", self._onFocusChanged)
            self._focusConnected = False
        for _key, shortcut in self._shortcuts:
            shortcut.setEnabled(False)
            shortcut.setParent(None)
        self._shortcuts = []


# -- slice-view text ----------------------------------------------------------------------------------------------

VIEW_TEXT_POSITION = 7
"""``vtkCornerAnnotation.UpperEdge``: DataProbe's SliceViewAnnotations writes and clears positions 0-3 only
(``DataProbeLib/SliceViewAnnotations.py`` v5.12.3 lines 401-402 and 647-666), so a text here survives it."""


def setViewText(cornerAnnotation: Any, text: str) -> None:
    """Show ``text`` on a slice view's corner annotation where DataProbe never overwrites it ("" clears it)."""
    cornerAnnotation.SetText(VIEW_TEXT_POSITION, text)


def setSliceViewText(viewName: str, text: str) -> None:
    """:func:`setViewText` on the slice view ``viewName`` ("Red"...) of the application, and render it."""
    import slicer

    layoutManager = slicer.app.layoutManager()
    sliceWidget = layoutManager.sliceWidget(viewName) if layoutManager is not None else None
    if sliceWidget is not None:
        setViewText(sliceWidget.sliceView().cornerAnnotation(), text)
        sliceWidget.sliceView().scheduleRender()


def sliceNodeOf(viewName: str) -> Any:
    """The slice node of the application's view ``viewName`` (None without a layout or such a view)."""
    import slicer

    layoutManager = slicer.app.layoutManager()
    sliceWidget = layoutManager.sliceWidget(viewName) if layoutManager is not None else None
    return sliceWidget.mrmlSliceNode() if sliceWidget is not None else None


def fillTable(
    table: Any,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    colours: Sequence[tuple[int, int, int] | None] | None = None,
    data: Sequence[Any] | None = None,
) -> None:
    """Replace a QTableWidget's contents: a row of texts per entry, with an optional background colour (r, g, b)
    and ``Qt.UserRole`` data per row."""
    import qt

    table.clearContents()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        colour = colours[r] if colours else None
        for c, text in enumerate(cells):
            item = qt.QTableWidgetItem(text)
            if data is not None:
                item.setData(qt.Qt.UserRole, data[r])
            if colour is not None:
                item.setBackground(qt.QBrush(qt.QColor(*colour)))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


# -- self-test --------------------------------------------------------------------------------------------------


class ModuleTestBase:
    """Self-test mixin: ``class XTest(ModuleTestBase, ScriptedLoadableModuleTest)`` with ``test_*`` methods.

    ``setUp`` checks the dependencies first (:func:`RadTriageCommonLib.testing.requireDependencies`: installs them
    when ``RADTRIAGE_TEST_INSTALL_DEPENDENCIES=1``, else skips with a message) and clears the scene. CTest
    (``slicer_add_python_unittest`` -> ``slicer.testing.runUnitTest``) runs each ``test_*`` with ``setUp``;
    :meth:`runTest` (Reload and Test, SelfTests) runs them all in name order and reports a skip as a message.
    """

    def setUp(self) -> None:
        """Check the dependencies (install or skip), then start from an empty scene."""
        import slicer

        from .testing import requireDependencies

        requireDependencies()
        slicer.mrmlScene.Clear()

    def selfTestNames(self) -> list[str]:
        """The ``test_*`` methods, in name order (the order unittest runs them in)."""
        return sorted(name for name in dir(self) if name.startswith("test_") and callable(getattr(self, name)))

    def runTest(self) -> None:
        """Run every test of the module (a missing dependency: one message, nothing run)."""
        import unittest

        for name in self.selfTestNames():
            try:
                self.setUp()
            except unittest.SkipTest as skip:
                logger.warning("%s", skip)
                self.delayDisplay(str(skip))
                return
            getattr(self, name)()


class TaskSelfTests:
    """The two self-tests every one-volume task module shares; ``class XTest(TaskSelfTests, ModuleTestBase, ...)``.

    Set ``logicClass`` and implement ``phantomVolume()`` (a volume node in ``slicer.mrmlScene``).
    """

    logicClass: Any = None

    def phantomVolume(self) -> Any:
        """A phantom volume node the task answers on (required)."""
        raise NotImplementedError

    def test_runAnswers(self) -> None:
        """Logic.run answers in process with the installed demo bundle, labelled as a demo."""
        from .testing import assertDemoAnswer

        logic = self.logicClass()
        self.delayDisplay(f"{logic.taskName}: run in process")
        assertDemoAnswer(self, logic.run(self.phantomVolume()), logic.taskName)

    def test_backgroundJob(self) -> None:
        """startJob writes the volume exactly and ``radtriage infer`` answers in a child process."""
        from .testing import assertJobRunsTask

        logic, volumeNode = self.logicClass(), self.phantomVolume()
        self.delayDisplay(f"{logic.taskName}: background job")
        expected = {"image": logic.volumeImage(volumeNode).array}
        assertJobRunsTask(self, logic.startJob(volumeNode), logic.taskName, expected)
