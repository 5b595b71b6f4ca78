"""CMBDetect: cerebral microbleed detection on SWI / T2*-GRE (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
import re
from collections.abc import Mapping
from typing import Annotated, Any

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

logger = logging.getLogger(__name__)

TASK_NAME = "cmb_detect"

REVIEW_SCHEMA = "cmb_review"
DETECTION_TABLE_HEADERS = ["Detection", "Confidence", "Location", "Radius (mm)", "Your decision"]
ADDED_PREFIX = "added-"
"""Candidate id prefix of a lesion the reader added (``added-1``, ``added-2`` ...)."""
DECISION_COLOURS = {"accept": (200, 240, 200), "reject": (245, 200, 200), "add": (200, 220, 250)}

SUSCEPTIBILITY_CONTRAST_KEYS = ("SWI", "GRE", "T2STAR", "T2*")
"""Substrings of a contrast guess (its enum name or value, upper case) that mean SWI or T2*-weighted GRE."""

#
# CMBDetect
#


class CMBDetect(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CMB Detect")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Detects cerebral microbleeds on susceptibility-weighted (SWI) or T2*-weighted gradient-echo volumes: "
            "candidates, false-positive reduction, detections as markups with a confidence. "
            "Review each detection with the keyboard while the panel has the focus: A accept, R reject, "
            "M add a missed microbleed at the crosshair, N / P next / previous detection; decisions are appended "
            "to the annotation store as reader labels. "
            "The bundled demo model is trained on procedural phantoms only: demo, not for clinical use. "
            'See the <a href="https://github.com/SlicerRadTriage/SlicerRadTriage#cmbdetect">documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "Part of SlicerRadTriage. Built on 3D Slicer, MONAI, SimpleITK and pydicom; "
            "the module layout follows Slicer's scripted-module template."
        )


#
# CMBDetectParameterNode
#


@parameterNodeWrapper
class CMBDetectParameterNode:
    """The parameters of the module, saved with the scene.

    inputVolume - SWI or T2*-GRE magnitude volume.
    phaseVolume - optional unwrapped, background-removed phase (radians) on the same study.
    confidenceThreshold - detections below this confidence are hidden (display only).
    outputDetections - point list receiving one control point per detection.
    outputTable - table receiving the count of detections per location class.
    readerId - the reader's pseudonym; review decisions are stored under it.
    storeFolder - folder of the annotation store (empty: beside the saved scene, else a temporary folder).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    phaseVolume: vtkMRMLScalarVolumeNode
    confidenceThreshold: Annotated[float, WithinRange(0, 1)] = 0.5
    outputDetections: vtkMRMLMarkupsFiducialNode
    outputTable: vtkMRMLTableNode
    readerId: str = ""
    storeFolder: pathlib.Path


#
# CMBDetectWidget
#


class CMBDetectWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: reads the .ui file and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._result = None
        self._caseId = ""
        self._current = None
        self._decisions = {}
        self._shortcuts = []

    def setup(self) -> None:
        """Build the GUI from Resources/UI/CMBDetect.ui and connect it."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CMBDetect.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = CMBDetectLogic()

        from RadTriageCommonLib.job_controller import JobController

        self._jobs = JobController(
            self.ui.applyButton,
            self.ui.progressBar,
            self.ui.statusLabel,
            self.onJobFinished,
            failureMessage=_("Microbleed detection failed."),
            onStateChanged=lambda running: self._checkCanApply(),
        )

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.ui.outputTableSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.ui.resultsTableView.setMRMLTableNode
        )
        self.ui.confidenceThresholdSliderWidget.connect("valueChanged(double)", self.onThresholdChanged)
        self.ui.detectionsTableWidget.connect("cellClicked(int,int)", self.onDetectionClicked)
        self.ui.acceptButton.connect("clicked(bool)", self.onAccept)
        self.ui.rejectButton.connect("clicked(bool)", self.onReject)
        self.ui.addMissedButton.connect("clicked(bool)", self.onAddMissed)
        self.ui.nextButton.connect("clicked(bool)", self.onNext)
        self.ui.previousButton.connect("clicked(bool)", self.onPrevious)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.progressBar.setVisible(False)
        self._createShortcuts()

        self.initializeParameterNode()

    def _createShortcuts(self) -> None:
        """Review keys, active while the focus is in this module's panel."""
        keys = {"A": self.onAccept, "R": self.onReject, "M": self.onAddMissed, "N": self.onNext, "P": self.onPrevious}
        for key, callback in keys.items():
            shortcut = qt.QShortcut(qt.QKeySequence(key), self.parent)
            shortcut.setContext(qt.Qt.WidgetWithChildrenShortcut)
            shortcut.connect("activated()", callback)
            self._shortcuts.append(shortcut)

    def _removeShortcuts(self) -> None:
        for shortcut in self._shortcuts:
            shortcut.setEnabled(False)
            shortcut.setParent(None)
        self._shortcuts = []

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._jobs is not None:
            self._jobs.cancel()
        self._removeShortcuts()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        if self._parameterNode:
            if self._parameterNodeGuiTag is not None:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)
        self._result = self._current = None
        self._decisions = {}

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists, is observed, and has an input if the scene has a volume."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: CMBDetectParameterNode | None) -> None:
        """Connect the GUI to ``inputParameterNode`` (widgets carry a SlicerParameterName property)."""
        if self._parameterNode:
            if self._parameterNodeGuiTag is not None:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        if self._jobs is not None and self._jobs.running:
            self.ui.applyButton.toolTip = _("Stop the running detection")
            self.ui.applyButton.enabled = True
        elif self._parameterNode and self._parameterNode.inputVolume:
            self.ui.applyButton.toolTip = _("Detect microbleeds in the input volume")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Select an SWI or T2*-GRE volume")
            self.ui.applyButton.enabled = False

    def onInputChanged(self, node) -> None:
        """Say whether the selected volume looks like SWI / T2*-GRE (from the core's contrast guess)."""
        from RadTriageCommonLib.dependencies_dialog import dependenciesReady

        if node is None:
            self.ui.inputCheckLabel.text = ""
            return
        if not dependenciesReady():
            self.ui.inputCheckLabel.text = _("Python packages are missing; Apply offers to install them.")
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot check the input volume."), waitCursor=True):
            _ok, message = self.logic.checkInput(node)
            self.ui.inputCheckLabel.text = message

    def onApplyButton(self) -> None:
        """Start detection in a background process, or cancel the one running; results load when it ends."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if self._jobs.running:
            self._jobs.cancel()
            return
        if not ensureDependencies():
            return
        volumeNode = self._parameterNode.inputVolume
        ok, message = self.logic.checkInput(volumeNode)
        if not ok and not slicer.util.confirmYesNoDisplay(message + "\n\n" + _("Run anyway?")):
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot start microbleed detection."), waitCursor=True):
            phaseNode = self._parameterNode.phaseVolume
            job = self.logic.startJob(volumeNode) if phaseNode is None else self.logic.startJob(volumeNode, phaseNode)
            self._jobs.follow(job)

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Add the detections, the count table and the heatmap overlay to the scene and show them for review."""
        volumeNode = self._parameterNode.inputVolume
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.cmb_detect.runner import HEATMAP_VOLUME

        result = readJobResult(outputs)
        nodes = self.logic.addResults(result, volumeNode, readJobVolume(outputs, HEATMAP_VOLUME))
        self.showResult(result, volumeNode, nodes)

    def showResult(self, result: Mapping[str, Any], volumeNode, nodes: Mapping[str, Any]) -> None:
        """Show ``result`` (result.json): markups filtered by the threshold, the tables and earlier decisions."""
        self._result = result
        self._caseId = self.logic.caseIdFor(volumeNode.GetName())
        self._parameterNode.outputDetections = nodes["markups"]
        self._parameterNode.outputTable = nodes["table"]
        self.ui.resultsTableView.setMRMLTableNode(nodes["table"])
        self.ui.noticesLabel.text = "\n".join(result.get("notices") or [])
        self.ui.statusLabel.text = _("Done: {count} detection(s).").format(count=result["outputs"]["n_detections"])
        self._loadDecisions()
        for label, value in self._decisions.items():
            if value["decision"] == "add":
                self.logic.addPoint(nodes["markups"], label, value["ras_mm"])
        self.onThresholdChanged()
        self._current = None
        self.onNext()

    def _markups(self):
        return self._parameterNode.outputDetections if self._parameterNode is not None else None

    def _points(self) -> list[dict[str, Any]]:
        from radtriage.tasks.cmb_detect.mrml import read_cmb_markups

        node = self._markups()
        return read_cmb_markups(node) if node is not None else []

    def onThresholdChanged(self, value=None) -> None:
        """Hide the control points below the confidence threshold and refresh the detections table."""
        node = self._markups()
        if node is None:
            return
        threshold = self._parameterNode.confidenceThreshold if value is None else float(value)
        points = self._points()
        flags = self.logic.visibleFlags([p["confidence"] for p in points], threshold)
        wasModifying = node.StartModify()
        for index, visible in enumerate(flags):
            node.SetNthControlPointVisibility(index, visible)
        node.EndModify(wasModifying)
        self._refreshDetectionsTable(points, flags)

    def _refreshDetectionsTable(self, points: list[dict[str, Any]], flags: list[bool]) -> None:
        rows = self.logic.detectionRows(points, flags, self._decisions)
        table = self.ui.detectionsTableWidget
        table.clearContents()
        table.setColumnCount(len(DETECTION_TABLE_HEADERS))
        table.setHorizontalHeaderLabels(DETECTION_TABLE_HEADERS)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            colour = DECISION_COLOURS.get(row["decision"])
            for c, text in enumerate(row["cells"]):
                item = qt.QTableWidgetItem(text)
                item.setData(qt.Qt.UserRole, row["index"])
                if colour is not None:
                    item.setBackground(qt.QBrush(qt.QColor(*colour)))
                table.setItem(r, c, item)
        table.resizeColumnsToContents()

    def onDetectionClicked(self, row: int, column: int) -> None:
        """Centre the slice views on the clicked detection."""
        item = self.ui.detectionsTableWidget.item(row, 0)
        if item is not None:
            self._jumpTo(int(item.data(qt.Qt.UserRole)))

    def _jumpTo(self, index: int) -> None:
        node = self._markups()
        if node is None or not 0 <= index < node.GetNumberOfControlPoints():
            return
        self._current = index
        slicer.modules.markups.logic().JumpSlicesToNthPointInMarkup(node.GetID(), index, True)
        point = self._points()[index]
        self.ui.reviewStatusLabel.text = self.logic.detectionSummary(point, self._decisions.get(point["label"]))

    def _step(self, step: int) -> None:
        points = self._points()
        if not points:
            self.ui.reviewStatusLabel.text = _("No detections to review.")
            return
        flags = self.logic.visibleFlags([p["confidence"] for p in points], self._parameterNode.confidenceThreshold)
        index = self.logic.neighbourIndex(self._current, flags, step)
        if index is not None:
            self._jumpTo(index)

    def onNext(self) -> None:
        """Show the next visible detection."""
        self._step(1)

    def onPrevious(self) -> None:
        """Show the previous visible detection."""
        self._step(-1)

    def _storeFolder(self) -> str:
        sceneFile = slicer.mrmlScene.GetURL() or ""
        return self.logic.storeFolderFor(
            str(self._parameterNode.storeFolder or ""), sceneFile, slicer.app.temporaryPath
        )

    def _loadDecisions(self) -> None:
        self._decisions = {}
        readerId = self._parameterNode.readerId.strip() if self._parameterNode is not None else ""
        if self._result is None or not readerId:
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot read earlier review decisions."), waitCursor=True):
            store = self.logic.openStore(self._storeFolder())
            try:
                self._decisions = self.logic.reviewDecisions(store, self._caseId, readerId)
            finally:
                store.close()

    def _review(self, decision: str) -> None:
        readerId = self._parameterNode.readerId.strip()
        if self._result is None or not readerId:
            self.ui.reviewStatusLabel.text = _("Run the detection and enter a reader code first.")
            return
        node = self._markups()
        points = self._points()
        if decision == "add":
            ras = self.logic.crosshairRas()
        elif self._current is None or self._current >= len(points):
            self.ui.reviewStatusLabel.text = _("Pick a detection first (click a row, or N / P).")
            return
        else:
            ras = points[self._current]["center_ras"]
        with slicer.util.tryWithErrorDisplay(_("Cannot store the review decision."), waitCursor=True):
            store = self.logic.openStore(self._storeFolder())
            try:
                if decision == "add":
                    label = self.logic.addMissed(
                        store, self._caseId, readerId, ras, self.logic.modelVersion(self._result)
                    )
                    self._current = self.logic.addPoint(node, label, ras)
                else:
                    label = points[self._current]["label"]
                    self.logic.reviewDetection(
                        store, self._caseId, readerId, label, decision, ras, self.logic.modelVersion(self._result)
                    )
                self._decisions = self.logic.reviewDecisions(store, self._caseId, readerId)
                where = store.location
            finally:
                store.close()
            self.ui.reviewStatusLabel.text = _("{label}: {decision} (stored in {where})").format(
                label=label, decision=decision, where=where
            )
            self.onThresholdChanged()
            if decision != "add":
                self.onNext()

    def onAccept(self) -> None:
        """Accept the current detection."""
        self._review("accept")

    def onReject(self) -> None:
        """Reject the current detection."""
        self._review("reject")

    def onAddMissed(self) -> None:
        """Add a missed microbleed at the crosshair position."""
        self._review("add")


#
# CMBDetectLogic
#


class CMBDetectLogic(ScriptedLoadableModuleLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self) -> CMBDetectParameterNode:
        """The module's typed parameter node (created in the scene when missing)."""
        return CMBDetectParameterNode(super().getParameterNode())

    def volumeImage(self, volumeNode: vtkMRMLScalarVolumeNode):
        """The volume as a ``radtriage.image.Image`` (exact geometry, LPS)."""
        from radtriage.mrml.volumes import volume_node_to_image

        if volumeNode is None:
            raise ValueError("no input volume selected")
        return volume_node_to_image(volumeNode)

    def checkInput(self, volumeNode: vtkMRMLScalarVolumeNode) -> tuple[bool, str]:
        """Whether the volume looks like SWI or T2*-GRE, and a message saying what the contrast guess found."""
        from radtriage.io.contrast import classify_image

        if volumeNode is None:
            return False, _("Select an SWI or T2*-GRE volume.")
        guess = classify_image(self.volumeImage(volumeNode))
        contrast = guess.contrast
        label = str(getattr(contrast, "value", contrast))
        keys = f"{getattr(contrast, 'name', '')} {label}".upper()
        confidence = float(guess.confidence)
        if any(key in keys for key in SUSCEPTIBILITY_CONTRAST_KEYS):
            return True, _("Looks like {contrast} (confidence {confidence:.0%}).").format(
                contrast=label, confidence=confidence
            )
        return False, _(
            "This volume looks like {contrast} (confidence {confidence:.0%}: {why}), not SWI or T2*-GRE. "
            "Microbleed detection needs a susceptibility-weighted or T2*-weighted gradient-echo magnitude volume."
        ).format(contrast=label, confidence=confidence, why=guess.explanation)

    @staticmethod
    def buildArgv(
        inputPath: str | pathlib.Path, phasePath: str | pathlib.Path | None = None, threshold: float | None = None
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file; the job's output folder replaces ``{output_dir}``.

        With ``phasePath`` the inputs are named ``magnitude=`` and ``phase=``; ``threshold`` overrides the
        bundle's operating point (``--option threshold=...``).
        """
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        inputs = [str(inputPath)] if phasePath is None else [f"magnitude={inputPath}", f"phase={phasePath}"]
        extra = [] if threshold is None else ["--option", f"threshold={json.dumps(float(threshold))}"]
        return radtriage_argv(
            "infer", "--task", TASK_NAME, "--input", *inputs, "--output", OUTPUT_DIR_PLACEHOLDER, *extra
        )

    def startJob(self, volumeNode: vtkMRMLScalarVolumeNode, phaseNode: vtkMRMLScalarVolumeNode | None = None):
        """Write the volume (and phase) to temporary NRRDs and start the task in a background process (returned)."""
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        images = {"image": self.volumeImage(volumeNode)}
        if phaseNode is not None:
            images["phase"] = self.volumeImage(phaseNode)
        paths, outputDir = writeJobInputs(TASK_NAME, images)
        logger.info("starting %s in a background process", TASK_NAME)
        return BackgroundJob(self.buildArgv(paths["image"], paths.get("phase")), outputDir).start()

    def addResults(self, result: Mapping[str, Any], volumeNode: vtkMRMLScalarVolumeNode, heatmapImage=None) -> dict:
        """Add the core's detections markups and location count table (and the heatmap over ``volumeNode``).

        Returns ``{"markups", "table", "heatmap"}`` (heatmap None without an image).
        """
        from radtriage.mrml import add_heatmap_overlay
        from radtriage.tasks.cmb_detect.mrml import add_cmb_outputs

        nodes = dict(add_cmb_outputs(slicer.mrmlScene, result, "RadTriage", f"CMB: {volumeNode.GetName()}"))
        nodes["heatmap"] = None
        if heatmapImage is not None:
            nodes["heatmap"] = add_heatmap_overlay(
                slicer.mrmlScene, volumeNode, heatmapImage, "CMB heatmap", threshold=0.1, opacity=0.4
            )
        return nodes

    @staticmethod
    def visibleFlags(confidences: list[float], threshold: float) -> list[bool]:
        """Which detections are shown: confidence at or above ``threshold``; unknown (reader-added) always."""
        return [math.isnan(float(value)) or float(value) >= float(threshold) for value in confidences]

    @staticmethod
    def neighbourIndex(current: int | None, flags: list[bool], step: int) -> int | None:
        """The next (``step`` 1) or previous (-1) shown detection after ``current``, wrapping; None if none."""
        n = len(flags)
        if n == 0 or not any(flags):
            return None
        start = (-1 if step > 0 else n) if current is None else current
        for offset in range(1, n + 1):
            index = (start + step * offset) % n
            if flags[index]:
                return index
        return None

    @staticmethod
    def detectionRows(
        points: list[Mapping[str, Any]], flags: list[bool], decisions: Mapping[str, Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Table rows of the shown detections: ``index`` (control point), ``cells``, ``decision`` (or None)."""
        rows = []
        for index, (point, shown) in enumerate(zip(points, flags, strict=True)):
            if not shown:
                continue
            confidence = point["confidence"]
            location, _sep, radius = str(point.get("description") or "").partition("; apparent radius ")
            decision = (decisions.get(point["label"]) or {}).get("decision")
            cells = [
                point["label"],
                "" if math.isnan(confidence) else f"{confidence:.3f}",
                location,
                radius.replace(" mm", ""),
                decision or "",
            ]
            rows.append({"index": index, "cells": cells, "decision": decision})
        return rows

    @staticmethod
    def detectionSummary(point: Mapping[str, Any], decision: Mapping[str, Any] | None) -> str:
        """ "CMB-n: confidence c, description" plus the reader's decision."""
        confidence = point["confidence"]
        text = point["label"]
        if not math.isnan(confidence):
            text += f": confidence {confidence:.3f}"
        if point.get("description"):
            text += f", {point['description']}"
        return text + (f" - your decision: {decision['decision']}" if decision else " - not reviewed")

    @staticmethod
    def caseIdFor(volumeName: str) -> str:
        """The annotation-store case id of a reviewed volume (``cmb_`` plus the name, safe characters only)."""
        stem = re.sub(r"[^A-Za-z0-9_.:-]+", "_", volumeName).strip("_") or "volume"
        return f"cmb_{stem}"[:64]

    @staticmethod
    def modelVersion(result: Mapping[str, Any]) -> str:
        """The model whose output the reader saw: ``<bundle name> <version>``."""
        bundle = result.get("bundle") or {}
        return f"{bundle.get('name', 'cmb_detect')} {bundle.get('version', '')}".strip()

    @staticmethod
    def storeFolderFor(folder: str, sceneFile: str, fallbackFolder: str) -> pathlib.Path:
        """The annotation store's folder: the chosen one, else beside the saved scene, else ``fallbackFolder``."""
        if folder.strip() not in ("", "."):
            return pathlib.Path(folder)
        if sceneFile:
            return pathlib.Path(sceneFile).parent
        return pathlib.Path(fallbackFolder) / "RadTriageAnnotations"

    @staticmethod
    def openStore(folder: str | pathlib.Path):
        """Open (creating when needed) the annotation store in ``folder``; close it after use."""
        from radtriage.annotations import open_store

        pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
        return open_store(folder)

    @staticmethod
    def reviewDetection(
        store, caseId: str, readerId: str, detectionLabel: str, decision: str, ras: list[float], modelVersion: str
    ):
        """Append the reader's decision (accept / reject / add) on one candidate at RAS mm; returns the entry.

        The store is append-only: a later decision on the same detection is a new history entry.
        """
        from radtriage.annotations import CaseRef, candidate_target

        store.add_case(CaseRef(caseId))
        store.add_reader(readerId)
        value = {"decision": decision, "ras_mm": [float(v) for v in ras]}
        return store.set_label(
            caseId, readerId, REVIEW_SCHEMA, value, target=candidate_target(detectionLabel), model_version=modelVersion
        )

    @staticmethod
    def reviewDecisions(store, caseId: str, readerId: str) -> dict[str, dict[str, Any]]:
        """The reader's current decisions on the case: {candidate id: {"decision", "ras_mm"}}."""
        entries = store.current_labels(caseId, readerId, REVIEW_SCHEMA)
        return {entry.target.partition(":")[2]: dict(entry.value) for entry in entries}

    @staticmethod
    def nextAddedLabel(existing: list[str]) -> str:
        """A new candidate id ``added-N`` for a reader-added lesion, after those in ``existing``."""
        numbers = [int(x[len(ADDED_PREFIX) :]) for x in existing if re.fullmatch(rf"{ADDED_PREFIX}\d+", x)]
        return f"{ADDED_PREFIX}{max(numbers, default=0) + 1}"

    @staticmethod
    def addMissed(store, caseId: str, readerId: str, ras: list[float], modelVersion: str) -> str:
        """Store a missed microbleed at RAS mm as a new ``added-N`` candidate; returns its id."""
        label = CMBDetectLogic.nextAddedLabel(list(CMBDetectLogic.reviewDecisions(store, caseId, readerId)))
        CMBDetectLogic.reviewDetection(store, caseId, readerId, label, "add", ras, modelVersion)
        return label

    def crosshairRas(self) -> list[float]:
        """The crosshair position (RAS mm), where M adds a missed microbleed."""
        crosshair = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
        return [float(v) for v in crosshair.GetCrosshairRAS()]

    @staticmethod
    def addPoint(markupsNode, label: str, ras: list[float]) -> int:
        """Add a reader-added control point (no confidence) to the detections; returns its index."""
        index = markupsNode.AddControlPoint(tuple(float(v) for v in ras), label)
        markupsNode.SetNthControlPointDescription(index, "added by the reader")
        return index

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load the finished job's tables, volumes and markups into the scene: {output key: node}."""
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="CMB ")

    def run(
        self,
        volumeNode: vtkMRMLScalarVolumeNode,
        phaseNode: vtkMRMLScalarVolumeNode | None = None,
        threshold: float | None = None,
    ) -> Any:
        """Run the core's microbleed task in this process (a ``TaskResult``); ``threshold`` None: the bundle's."""
        from radtriage.tasks import run_task

        inputs = {"magnitude": self.volumeImage(volumeNode)}
        if phaseNode is not None:
            inputs["phase"] = self.volumeImage(phaseNode)
        logger.info("running %s on a %s volume", TASK_NAME, "x".join(str(s) for s in inputs["magnitude"].size))
        return run_task(TASK_NAME, inputs=inputs, threshold=threshold)


#
# CMBDetectTest
#


class CMBDetectTest(ScriptedLoadableModuleTest):
    """Self-test: runs the Logic on SWI and brain phantoms generated in the test."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_CMBDetect_checkInput()
        self.setUp()
        self.test_CMBDetect_runAnswers()
        self.setUp()
        self.test_CMBDetect_backgroundJob()
        self.setUp()
        self.test_CMBDetect_reviewDemoOutput()

    def _swiVolume(self):
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_swi_case

        case = make_swi_case(seed=0)
        return image_to_volume_node(slicer.mrmlScene, case.magnitude, name="SWIPhantom")

    def test_CMBDetect_checkInput(self) -> None:
        """The SWI phantom passes the input check; a FLAIR volume of the brain phantom is refused with a reason."""
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_brain_case

        self.delayDisplay("CMB input check")
        logic = CMBDetectLogic()
        ok, message = logic.checkInput(self._swiVolume())
        self.assertTrue(ok, message)

        brain = make_brain_case(seed=0)
        flairNode = image_to_volume_node(slicer.mrmlScene, brain.images["FLAIR"], name="FLAIRPhantom")
        ok, message = logic.checkInput(flairNode)
        self.assertFalse(ok)
        self.assertIn("not SWI", message)
        self.delayDisplay("Test passed")

    def test_CMBDetect_runAnswers(self) -> None:
        """Logic.run answers in process with the installed demo bundle, labelled as a demo."""
        from RadTriageCommonLib.testing import assertDemoAnswer

        self.delayDisplay("CMB run")
        volumeNode = self._swiVolume()
        result = CMBDetectLogic().run(volumeNode)
        assertDemoAnswer(self, result, TASK_NAME)
        self.delayDisplay("Test passed")

    def test_CMBDetect_backgroundJob(self) -> None:
        """startJob writes the volume exactly and ``radtriage infer`` answers in a child process."""
        from RadTriageCommonLib.testing import assertJobRunsTask

        self.delayDisplay("CMBDetect: background job")
        volumeNode = self._swiVolume()
        logic = CMBDetectLogic()
        job = logic.startJob(volumeNode)
        assertJobRunsTask(self, job, TASK_NAME, {"image": logic.volumeImage(volumeNode).array})
        self.delayDisplay("Test passed")

    def test_CMBDetect_reviewDemoOutput(self) -> None:
        """The demo bundle finds the phantom's microbleeds; markups, counts, threshold and review labels follow."""
        import tempfile

        import numpy as np

        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_swi_case
        from radtriage.tasks.result import to_plain

        self.delayDisplay("CMBDetect: demo detections and review")
        case = make_swi_case(seed=1)
        magnitude = image_to_volume_node(slicer.mrmlScene, case.magnitude, name="SWIPhantom")
        phase = image_to_volume_node(slicer.mrmlScene, case.phase, name="SWIPhantomPhase")
        logic = CMBDetectLogic()
        result = logic.run(magnitude, phase)
        data = to_plain(result.to_dict())
        nodes = logic.addResults(data, magnitude, result.volumes.get("cmb_heatmap"))
        markups, table = nodes["markups"], nodes["table"]
        detections = data["outputs"]["detections"]
        self.assertGreater(len(detections), 0, "the demo bundle found no microbleed on the phantom")
        self.assertEqual(markups.GetNumberOfControlPoints(), len(detections))
        self.assertIsNotNone(nodes["heatmap"])
        truth = np.array([focus.centre_ras for focus in case.microbleeds])
        for index, detection in enumerate(detections):
            self.assertEqual(markups.GetNthControlPointLabel(index), detection["label"])
            self.assertEqual(detection["label"], f"CMB-{index + 1}")
            position = [0.0, 0.0, 0.0]
            markups.GetNthControlPointPosition(index, position)
            self.assertLess(float(np.min(np.linalg.norm(truth - position, axis=1))), 3.0)
        counts = {table.GetCellText(r, 0): int(table.GetCellText(r, 1)) for r in range(table.GetNumberOfRows())}
        self.assertEqual(counts["total"], len(detections))

        from radtriage.tasks.cmb_detect.mrml import read_cmb_markups

        points = read_cmb_markups(markups)
        confidences = [p["confidence"] for p in points]
        np.testing.assert_allclose(confidences, [d["confidence"] for d in detections], atol=1e-6)
        threshold = float(np.median(confidences))
        self.assertEqual(logic.visibleFlags(confidences, threshold), [c >= threshold for c in confidences])

        with tempfile.TemporaryDirectory() as folder:
            caseId, version = logic.caseIdFor(magnitude.GetName()), logic.modelVersion(data)
            store = logic.openStore(folder)
            try:
                first = points[0]
                logic.reviewDetection(store, caseId, "R1", first["label"], "reject", first["center_ras"], version)
                logic.reviewDetection(store, caseId, "R1", first["label"], "accept", first["center_ras"], version)
                added = logic.addMissed(store, caseId, "R1", [1.0, 2.0, 3.0], version)
                decisions = logic.reviewDecisions(store, caseId, "R1")
                self.assertEqual(decisions[first["label"]]["decision"], "accept")
                self.assertEqual(decisions[added], {"decision": "add", "ras_mm": [1.0, 2.0, 3.0]})
                self.assertEqual(len(store.history(caseId, "R1", "cmb_review")), 3)  # nothing overwritten
            finally:
                store.close()
        index = logic.addPoint(markups, added, [1.0, 2.0, 3.0])
        self.assertTrue(logic.visibleFlags([p["confidence"] for p in read_cmb_markups(markups)], 1.0)[index])
        self.delayDisplay("Test passed")
