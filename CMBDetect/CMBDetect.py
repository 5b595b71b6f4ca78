"""CMBDetect: cerebral microbleed detection on SWI / T2*-GRE (3D Slicer scripted module).

Thin glue of this module's widgets, review and results on :mod:`RadTriageCommonLib.module_base`; the Logic
delegates to the slicer-free core (``radtriage``), imported inside methods so that this file loads even before
the core's dependencies are installed.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Annotated, Any

import qt
import slicer
from RadTriageCommonLib.module_base import LazyModule, TaskSelfTests, fillTable, inferArgv
from RadTriageCommonLib.scripted import RadTriageLogic, RadTriageModule, RadTriageTest, RadTriageWidget
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

cmb = LazyModule("radtriage.tasks.cmb_detect.mrml")  # the core's scene and review helpers, imported on first use
TASK_NAME = "cmb_detect"

DETECTION_TABLE_HEADERS = ["Detection", "Confidence", "Location", "Radius (mm)", "Your decision"]
DECISION_COLOURS = {"accept": (200, 240, 200), "reject": (245, 200, 200), "add": (200, 220, 250)}


class CMBDetect(RadTriageModule):
    """Module description shown in Slicer's module panel."""

    title, anchor = _("CMB Detect"), "cmbdetect"
    about = _(
        "Detects cerebral microbleeds on susceptibility-weighted (SWI) or T2*-weighted gradient-echo volumes: "
        "candidates, false-positive reduction, detections as markups with a confidence. "
        "Review each detection with the keyboard while the panel has the focus (not while typing in a field): "
        "A accept, R reject, M add a missed microbleed at the crosshair, N / P next / previous detection; "
        "decisions are appended to the annotation store under the reviewed volume."
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
    outputDetections - point list receiving one control point per detection (a new one when none is chosen).
    outputTable - table receiving the count of detections per location class (a new one when none is chosen).
    readerId - the reader's pseudonym; review decisions are stored under it.
    storeFolder - folder of the annotation store (empty: beside the saved scene, else a temporary folder).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    phaseVolume: vtkMRMLScalarVolumeNode
    confidenceThreshold: Annotated[float, WithinRange(0, 1)] = 0.5
    outputDetections: vtkMRMLMarkupsFiducialNode
    outputTable: vtkMRMLTableNode
    readerId: str = ""
    storeFolder: str = ""


#
# CMBDetectWidget
#


class CMBDetectWidget(RadTriageWidget):
    """GUI of the module: its own widgets, review and results; the life cycle and the job are the base's."""

    failureMessage = _("Microbleed detection failed.")
    applyToolTip = _("Detect microbleeds in the input volume")
    missingInputToolTip = _("Select an SWI or T2*-GRE volume")
    jobInputParameters = ("inputVolume", "phaseVolume")
    pathParameters = (("storeFolder", "storeFolderPathLineEdit"),)

    _result = _current = None
    _caseId = ""
    _decisions: dict = {}  # noqa: RUF012 - replaced, never mutated

    def createLogic(self) -> CMBDetectLogic:
        return CMBDetectLogic()

    def setupWidgets(self) -> None:
        """Input check, tables, threshold, review buttons."""
        changed = "currentNodeChanged(vtkMRMLNode*)"
        self.ui.inputSelector.connect(changed, self.onInputChanged)
        self.ui.outputTableSelector.connect(changed, self.ui.resultsTableView.setMRMLTableNode)
        self.ui.confidenceThresholdSliderWidget.connect("valueChanged(double)", self.onThresholdChanged)
        self.ui.detectionsTableWidget.connect("cellClicked(int,int)", self.onDetectionClicked)
        buttons = {"A": "acceptButton", "R": "rejectButton", "M": "addMissedButton", "N": "nextButton",
                   "P": "previousButton"}  # fmt: skip
        for key, callback in self.shortcuts().items():
            getattr(self.ui, buttons[key]).connect("clicked(bool)", callback)

    def shortcuts(self) -> dict:
        """Review keys: A accept, R reject, M add missed, N / P next / previous (never while typing)."""
        return {"A": lambda: self._review("accept"), "R": lambda: self._review("reject"),
                "M": lambda: self._review("add"), "N": lambda: self._step(1), "P": lambda: self._step(-1)}  # fmt: skip

    def clearResults(self) -> None:
        self._result = self._current = None
        self._caseId, self._decisions = "", {}

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

    def confirmStart(self) -> bool:
        ok, message = self.logic.checkInput(self._parameterNode.inputVolume)
        return ok or slicer.util.confirmYesNoDisplay(message + "\n\n" + _("Run anyway?"))

    def startJob(self):
        node = self._parameterNode
        return self.logic.startJob(node.inputVolume, node.phaseVolume)

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Add the detections, the count table and the heatmap over the volume the job ran on; show them."""
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.cmb_detect.runner import HEATMAP_VOLUME

        volumeNode = inputs["inputVolume"]
        result = readJobResult(outputs)
        node = self._parameterNode
        nodes = self.logic.addResults(result, volumeNode, readJobVolume(outputs, HEATMAP_VOLUME),
                                      node.outputDetections, node.outputTable)  # fmt: skip
        self.showResult(result, volumeNode, nodes)

    def showResult(self, result: Mapping[str, Any], volumeNode, nodes: Mapping[str, Any]) -> None:
        """Show ``result`` (result.json): markups filtered by the threshold, the tables and earlier decisions."""
        self._result = result
        self._caseId = cmb.case_id_for(volumeNode.GetName())  # the volume the job ran on, not the selection
        self._parameterNode.outputDetections = nodes["markups"]
        self._parameterNode.outputTable = nodes["table"]
        self.ui.resultsTableView.setMRMLTableNode(nodes["table"])
        self.ui.noticesLabel.text = "\n".join(result.get("notices") or [])
        self.ui.statusLabel.text = _("Done: {count} detection(s).").format(count=result["outputs"]["n_detections"])
        self._loadDecisions()
        for label, value in self._decisions.items():
            if value["decision"] == "add":
                cmb.add_point(nodes["markups"], label, value["ras_mm"])
        self.onThresholdChanged()
        self._current = None
        self._step(1)

    def _markups(self):
        return self._parameterNode.outputDetections if self._parameterNode is not None else None

    def _points(self) -> list[dict[str, Any]]:
        node = self._markups()
        return cmb.read_cmb_markups(node) if node is not None else []

    def onThresholdChanged(self, value=None) -> None:
        """Hide the control points below the confidence threshold and refresh the detections table."""
        node = self._markups()
        if node is None:
            return
        threshold = self._parameterNode.confidenceThreshold if value is None else float(value)
        points = self._points()
        flags = cmb.visible_flags([p["confidence"] for p in points], threshold)
        wasModifying = node.StartModify()
        for index, visible in enumerate(flags):
            node.SetNthControlPointVisibility(index, visible)
        node.EndModify(wasModifying)
        self._refreshDetectionsTable(points, flags)

    def _refreshDetectionsTable(self, points: list[dict[str, Any]], flags: list[bool]) -> None:
        rows = cmb.detection_rows(points, flags, self._decisions)
        colours = [DECISION_COLOURS.get(row["decision"]) for row in rows]
        cells, indices = [row["cells"] for row in rows], [row["index"] for row in rows]
        fillTable(self.ui.detectionsTableWidget, DETECTION_TABLE_HEADERS, cells, colours, indices)

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
        self.ui.reviewStatusLabel.text = cmb.detection_summary(point, self._decisions.get(point["label"]))

    def _step(self, step: int) -> None:
        points = self._points()
        if not points:
            self.ui.reviewStatusLabel.text = _("No detections to review.")
            return
        flags = cmb.visible_flags([p["confidence"] for p in points], self._parameterNode.confidenceThreshold)
        index = cmb.neighbour_index(self._current, flags, step)
        if index is not None:
            self._jumpTo(index)

    def _storeFolder(self) -> pathlib.Path:
        sceneFile = slicer.mrmlScene.GetURL() or ""
        return cmb.store_folder_for(self._parameterNode.storeFolder, sceneFile, slicer.app.temporaryPath)

    def _loadDecisions(self) -> None:
        self._decisions = {}
        readerId = self._parameterNode.readerId.strip() if self._parameterNode is not None else ""
        if self._result is None or not readerId:
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot read earlier review decisions."), waitCursor=True):
            store = cmb.open_review_store(self._storeFolder())
            try:
                self._decisions = cmb.review_decisions(store, self._caseId, readerId)
            finally:
                store.close()

    def _review(self, decision: str) -> None:
        readerId = self._parameterNode.readerId.strip()
        if self._result is None or not readerId:
            self.ui.reviewStatusLabel.text = _("Run the detection and enter a reader code first.")
            return
        node = self._markups()
        points = self._points()
        if decision == "add":  # at the crosshair
            crosshair = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
            ras = [float(v) for v in crosshair.GetCrosshairRAS()]
        elif self._current is None or self._current >= len(points):
            self.ui.reviewStatusLabel.text = _("Pick a detection first (click a row, or N / P).")
            return
        else:
            ras = points[self._current]["center_ras"]
        with slicer.util.tryWithErrorDisplay(_("Cannot store the review decision."), waitCursor=True):
            store = cmb.open_review_store(self._storeFolder())
            try:
                if decision == "add":
                    label = cmb.add_missed(store, self._caseId, readerId, ras, cmb.model_version(self._result))
                    self._current = cmb.add_point(node, label, ras)
                else:
                    label = points[self._current]["label"]
                    cmb.review_detection(
                        store, self._caseId, readerId, label, decision, ras, cmb.model_version(self._result)
                    )
                self._decisions = cmb.review_decisions(store, self._caseId, readerId)
                where = store.location
            finally:
                store.close()
            self.ui.reviewStatusLabel.text = _("{label}: {decision} (stored in {where})").format(
                label=label, decision=decision, where=where
            )
            self.onThresholdChanged()
            if decision != "add":
                self._step(1)


#
# CMBDetectLogic
#


class CMBDetectLogic(RadTriageLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    taskName = TASK_NAME
    parameterNodeClass = CMBDetectParameterNode
    outputNamePrefix = "CMB "

    def checkInput(self, volumeNode: vtkMRMLScalarVolumeNode) -> tuple[bool, str]:
        """Whether the volume looks like SWI or T2*-GRE, and a message saying what the contrast guess found."""
        if volumeNode is None:
            return False, _("Select an SWI or T2*-GRE volume.")
        ok, label, confidence, why = cmb.susceptibility_guess(self.volumeImage(volumeNode))
        if ok:
            return True, _("Looks like {contrast} (confidence {confidence:.0%}).").format(
                contrast=label, confidence=confidence
            )
        return False, _(
            "This volume looks like {contrast} (confidence {confidence:.0%}: {why}), not SWI or T2*-GRE. "
            "Microbleed detection needs a susceptibility-weighted or T2*-weighted gradient-echo magnitude volume."
        ).format(contrast=label, confidence=confidence, why=why)

    @staticmethod
    def buildArgv(
        inputPath: str | pathlib.Path, phasePath: str | pathlib.Path | None = None, threshold: float | None = None
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file; the job's output folder replaces ``{output_dir}``.

        With ``phasePath`` the inputs are named ``magnitude=`` and ``phase=``; ``threshold`` overrides the
        bundle's operating point (``--option threshold=...``).
        """
        inputs = str(inputPath) if phasePath is None else {"magnitude": inputPath, "phase": phasePath}
        options = {"threshold": None if threshold is None else float(threshold)}
        return inferArgv(TASK_NAME, inputs, options)

    def startJob(self, volumeNode: vtkMRMLScalarVolumeNode, phaseNode: vtkMRMLScalarVolumeNode | None = None):
        """Write the volume (and phase) to temporary NRRDs and start the task in a background process (returned)."""
        images = {"image": self.volumeImage(volumeNode)}
        if phaseNode is not None:
            images["phase"] = self.volumeImage(phaseNode)
        return self.startTaskJob(images, lambda paths: self.buildArgv(paths["image"], paths.get("phase")))

    def addResults(self, result: Mapping[str, Any], volumeNode, heatmapImage=None, markupsNode=None,
                   tableNode=None) -> dict:  # fmt: skip
        """Add the core's detections and location counts (into the chosen nodes when given) and the heatmap
        over ``volumeNode``. Returns ``{"markups", "table", "heatmap"}`` (heatmap None without an image).
        """
        from radtriage.mrml import add_heatmap_overlay

        nodes = dict(cmb.add_cmb_outputs(slicer.mrmlScene, result, "RadTriage", f"CMB: {volumeNode.GetName()}",
                                            markups_node=markupsNode, table_node=tableNode))  # fmt: skip
        nodes["heatmap"] = None
        if heatmapImage is not None:
            nodes["heatmap"] = add_heatmap_overlay(
                slicer.mrmlScene, volumeNode, heatmapImage, "CMB heatmap", threshold=0.1, opacity=0.4
            )
        return nodes

    def run(
        self,
        volumeNode: vtkMRMLScalarVolumeNode,
        phaseNode: vtkMRMLScalarVolumeNode | None = None,
        threshold: float | None = None,
    ) -> Any:
        """Run the core's microbleed task in this process (a ``TaskResult``); ``threshold`` None: the bundle's."""
        inputs = {"magnitude": self.volumeImage(volumeNode)}
        if phaseNode is not None:
            inputs["phase"] = self.volumeImage(phaseNode)
        return self.runTask(inputs, threshold=threshold)


#
# CMBDetectTest
#


class CMBDetectTest(TaskSelfTests, RadTriageTest):
    """Self-test: runs the Logic on SWI and brain phantoms generated in the test (skips when packages are
    missing)."""

    logicClass = CMBDetectLogic

    def phantomVolume(self):
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
        ok, message = logic.checkInput(self.phantomVolume())
        self.assertTrue(ok, message)
        flair = image_to_volume_node(slicer.mrmlScene, make_brain_case(seed=0).images["FLAIR"], name="FLAIRPhantom")
        ok, message = logic.checkInput(flair)
        self.assertFalse(ok)
        self.assertIn("not SWI", message)
        self.delayDisplay("Test passed")

    def test_CMBDetect_reviewDemoOutput(self) -> None:
        """The demo bundle finds the phantom's microbleeds; they go into the chosen point list and table."""
        import numpy as np

        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_swi_case
        from radtriage.tasks.result import to_plain

        self.delayDisplay("CMBDetect: demo detections")
        case = make_swi_case(seed=1)
        magnitude = image_to_volume_node(slicer.mrmlScene, case.magnitude, name="SWIPhantom")
        phase = image_to_volume_node(slicer.mrmlScene, case.phase, name="SWIPhantomPhase")
        logic = CMBDetectLogic()
        result = logic.run(magnitude, phase)
        data = to_plain(result.to_dict())
        chosen = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "My detections")
        nodes = logic.addResults(data, magnitude, result.volumes.get("cmb_heatmap"), chosen)
        detections = data["outputs"]["detections"]
        self.assertGreater(len(detections), 0, "the demo bundle found no microbleed on the phantom")
        self.assertIs(nodes["markups"], chosen)
        self.assertIsNotNone(nodes["heatmap"])
        points = cmb.read_cmb_markups(chosen)
        self.assertEqual([p["label"] for p in points], [d["label"] for d in detections])
        np.testing.assert_allclose([p["confidence"] for p in points], [d["confidence"] for d in detections], atol=1e-6)
        truth = np.array([focus.centre_ras for focus in case.microbleeds])
        for point in points:
            self.assertLess(float(np.min(np.linalg.norm(truth - point["center_ras"], axis=1))), 3.0)
        self.delayDisplay("Test passed")
