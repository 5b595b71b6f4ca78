"""BodyRegion: per-slice body-region labels for CT and MR (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import itertools
import logging
import pathlib
from collections.abc import Mapping
from typing import Annotated, Any

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

logger = logging.getLogger(__name__)

TASK_NAME = "body_region"
AXIS_INDEX = {"i": 0, "j": 1, "k": 2}
RANGE_TABLE_HEADERS = ["Region", "Slices", "Superior mm", "Inferior mm", "Confidence"]

#
# BodyRegion
#


class BodyRegion(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Body Region")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Labels every slice of a CT or MR volume with the body region it shows (17 CT classes, 18 MR classes) "
            "and reports contiguous region ranges in millimetres and slice indices. "
            "The bundled demo model is trained on procedural phantoms only: demo, not for clinical use. "
            'See the <a href="https://github.com/SlicerRadTriage/SlicerRadTriage#bodyregion">documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "Part of SlicerRadTriage. Built on 3D Slicer, MONAI, SimpleITK and pydicom; "
            "the module layout follows Slicer's scripted-module template."
        )


#
# BodyRegionParameterNode
#


@parameterNodeWrapper
class BodyRegionParameterNode:
    """The parameters of the module, saved with the scene.

    inputVolume - the CT or MR volume to label slice by slice.
    modality - "auto" (from the DICOM tags kept with the volume), "CT" or "MR".
    minimumConfidence - slices whose best label is less confident than this are reported as uncertain.
    outputTable - table receiving the per-slice labels and region ranges.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    modality: Annotated[str, Choice(["auto", "CT", "MR"])] = "auto"
    minimumConfidence: Annotated[float, WithinRange(0, 1)] = 0.5
    outputTable: vtkMRMLTableNode


#
# BodyRegionWidget
#


class BodyRegionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: reads the .ui file and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._result = None
        self._resultVolume = None
        self._redSliceNode = None

    def setup(self) -> None:
        """Build the GUI from Resources/UI/BodyRegion.ui and connect it."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/BodyRegion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = BodyRegionLogic()

        from RadTriageCommonLib.job_controller import JobController

        self._jobs = JobController(
            self.ui.applyButton,
            self.ui.progressBar,
            self.ui.statusLabel,
            self.onJobFinished,
            failureMessage=_("Body-region labelling failed."),
            onStateChanged=lambda running: self._checkCanApply(),
        )

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.rangesTableWidget.connect("cellClicked(int,int)", self.onRangeClicked)
        self.ui.progressBar.setVisible(False)
        self._observeRedSlice()

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._jobs is not None:
            self._jobs.cancel()
        self._setCornerText("")
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
        self._result = None
        self._resultVolume = None
        self._setCornerText("")

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

    def setParameterNode(self, inputParameterNode: BodyRegionParameterNode | None) -> None:
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
            self.ui.applyButton.toolTip = _("Stop the running labelling")
            self.ui.applyButton.enabled = True
        elif self._parameterNode and self._parameterNode.inputVolume:
            self.ui.applyButton.toolTip = _("Label every slice of the input volume")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Select an input volume")
            self.ui.applyButton.enabled = False

    def onInputChanged(self, node) -> None:
        """Show the slice count and extent of the selected volume (geometry only, from the Logic)."""
        if node is None:
            self.ui.geometryLabel.text = ""
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot read the volume geometry."), waitCursor=True):
            geometry = self.logic.sliceGeometry(node)
            if geometry:
                first, last = geometry[0]["position_mm"], geometry[-1]["position_mm"]
                self.ui.geometryLabel.text = _("{count} slices, {first:.1f} to {last:.1f} mm").format(
                    count=len(geometry), first=first, last=last
                )

    def onApplyButton(self) -> None:
        """Start the task in a background process, or cancel the one running; results load when it ends."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if self._jobs.running:
            self._jobs.cancel()
            return
        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot start body-region labelling."), waitCursor=True):
            self._jobs.follow(
                self.logic.startJob(
                    self._parameterNode.inputVolume,
                    modality=self._parameterNode.modality,
                    minimumConfidence=self._parameterNode.minimumConfidence,
                )
            )

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Add the job's label map, tables and header-QA verdict to the scene and show them."""
        volumeNode = self._parameterNode.inputVolume
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.body_region.runner import LABEL_VOLUME

        result = readJobResult(outputs)
        nodes = self.logic.addResults(result, readJobVolume(outputs, LABEL_VOLUME), volumeNode)
        self.showResult(result, volumeNode, nodes)

    def showResult(self, result: Mapping[str, Any], volumeNode, nodes: Mapping[str, Any]) -> None:
        """Fill the ranges list, the per-slice table, the header-QA status and the notices."""
        self._result = result
        self._resultVolume = volumeNode
        self._parameterNode.outputTable = nodes["ranges_table"]
        self.ui.resultsTableView.setMRMLTableNode(nodes["slices_table"])
        ranges = self.logic.rangeTableCells(result["outputs"])
        self.ui.rangesTableWidget.clearContents()
        self.ui.rangesTableWidget.setColumnCount(len(RANGE_TABLE_HEADERS))
        self.ui.rangesTableWidget.setHorizontalHeaderLabels(RANGE_TABLE_HEADERS)
        self.ui.rangesTableWidget.setRowCount(len(ranges))
        for row, cells in enumerate(ranges):
            for column, text in enumerate(cells):
                self.ui.rangesTableWidget.setItem(row, column, qt.QTableWidgetItem(text))
        self.ui.rangesTableWidget.resizeColumnsToContents()
        qaText, flagged = self.logic.headerQaText(result["outputs"])
        self.ui.headerQaLabel.text = qaText
        self.ui.headerQaLabel.setStyleSheet("QLabel { color: #c00000; font-weight: bold; }" if flagged else "")
        self.ui.noticesLabel.text = "\n".join(result.get("notices") or [])
        self.ui.statusLabel.text = _("Done: {count} region range(s).").format(count=len(ranges))
        self.onRedSliceModified()

    def onRangeClicked(self, row: int, column: int) -> None:
        """Centre every slice view on the clicked region range."""
        if self._result is None or self._resultVolume is None:
            return
        ras = self.logic.rangeCentreRas(self._result["outputs"], row, self._resultVolume)
        if ras is not None:
            slicer.modules.markups.logic().JumpSlicesToLocation(ras[0], ras[1], ras[2], True)

    def _observeRedSlice(self) -> None:
        layoutManager = slicer.app.layoutManager()
        sliceWidget = layoutManager.sliceWidget("Red") if layoutManager is not None else None
        if sliceWidget is None:
            return
        self._redSliceNode = sliceWidget.mrmlSliceNode()
        self.addObserver(self._redSliceNode, vtk.vtkCommand.ModifiedEvent, self.onRedSliceModified)

    def onRedSliceModified(self, caller=None, event=None) -> None:
        """Show the body region of the slice the Red view shows (module panel and Red view corner)."""
        if self._result is None or self._resultVolume is None or self._redSliceNode is None:
            return
        sliceToRas = self._redSliceNode.GetSliceToRAS()
        ras = [sliceToRas.GetElement(row, 3) for row in range(3)]
        text = self.logic.regionTextAt(self._result["outputs"], self._resultVolume, ras)
        self.ui.currentRegionLabel.text = text
        self._setCornerText(text)

    def _setCornerText(self, text: str) -> None:
        layoutManager = slicer.app.layoutManager()
        sliceWidget = layoutManager.sliceWidget("Red") if layoutManager is not None else None
        if sliceWidget is None:
            return
        sliceView = sliceWidget.sliceView()
        sliceView.cornerAnnotation().SetText(vtk.vtkCornerAnnotation.UpperRight, text)
        sliceView.forceRender()


#
# BodyRegionLogic
#


class BodyRegionLogic(ScriptedLoadableModuleLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self) -> BodyRegionParameterNode:
        """The module's typed parameter node (created in the scene when missing)."""
        return BodyRegionParameterNode(super().getParameterNode())

    def volumeImage(self, volumeNode: vtkMRMLScalarVolumeNode):
        """The volume as a ``radtriage.image.Image`` (exact geometry, LPS)."""
        from radtriage.mrml.volumes import volume_node_to_image

        if volumeNode is None:
            raise ValueError("no input volume selected")
        return volume_node_to_image(volumeNode)

    def sliceGeometry(self, volumeNode: vtkMRMLScalarVolumeNode) -> list[dict[str, Any]]:
        """Per-slice geometry along the volume's k axis: index, position in mm along that axis, and RAS centre."""
        image = self.volumeImage(volumeNode)
        i_size, j_size, k_size = image.size
        centres_ijk = [((i_size - 1) / 2.0, (j_size - 1) / 2.0, float(k)) for k in range(k_size)]
        centres_lps = image.index_to_lps(centres_ijk)
        centres_ras = image.index_to_ras(centres_ijk)
        k_axis = image.direction[:, 2]
        return [
            {
                "slice": k,
                "position_mm": float(centres_lps[k] @ k_axis),
                "center_ras": tuple(float(v) for v in centres_ras[k]),
            }
            for k in range(k_size)
        ]

    @staticmethod
    def buildArgv(
        inputPath: str | pathlib.Path, modality: str = "auto", minimumConfidence: float | None = None
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file (``--option modality=CT|MR`` unless "auto", and
        ``--option min_confidence=X`` when given). The job's output folder replaces ``{output_dir}``.
        """
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        options = [] if modality == "auto" else ["--option", f"modality={modality}"]
        if minimumConfidence is not None:
            options += ["--option", f"min_confidence={float(minimumConfidence)}"]
        return radtriage_argv(
            "infer", "--task", TASK_NAME, "--input", str(inputPath), "--output", OUTPUT_DIR_PLACEHOLDER, *options
        )

    def startJob(
        self, volumeNode: vtkMRMLScalarVolumeNode, modality: str = "auto", minimumConfidence: float | None = None
    ):
        """Write the volume to a temporary NRRD and start the task on it in a background process (returned)."""
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        paths, outputDir = writeJobInputs(TASK_NAME, {"image": self.volumeImage(volumeNode)})
        logger.info("starting %s in a background process", TASK_NAME)
        return BackgroundJob(self.buildArgv(paths["image"], modality, minimumConfidence), outputDir).start()

    def addResults(self, result: Mapping[str, Any], labelImage, volumeNode: vtkMRMLScalarVolumeNode) -> dict:
        """Add the core's MRML outputs (colour band label map, ranges and per-slice tables, header-QA attributes).

        ``result`` is the ``result.json`` document; the label map is shown over ``volumeNode``.
        """
        from radtriage.tasks.body_region.mrml import add_body_region_outputs

        return add_body_region_outputs(
            slicer.mrmlScene,
            result["outputs"],
            labelImage,
            patient_name="RadTriage",
            study_name=f"Body region: {volumeNode.GetName()}",
            reference_node=volumeNode,
        )

    @staticmethod
    def rasToIjkRows(volumeNode) -> list[list[float]]:
        """The volume's RAS-to-IJK matrix as four rows."""
        matrix = vtk.vtkMatrix4x4()
        volumeNode.GetRASToIJKMatrix(matrix)
        return [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]

    @staticmethod
    def sliceIndexAt(rasToIjk: list[list[float]], ras: list[float], axis: int) -> int:
        """The slice index along ``axis`` (0=i, 1=j, 2=k) of the RAS point, rounded to the nearest slice."""
        point = [float(ras[0]), float(ras[1]), float(ras[2]), 1.0]
        return round(sum(rasToIjk[axis][c] * point[c] for c in range(4)))

    @staticmethod
    def sliceRow(outputs: Mapping[str, Any], index: int) -> dict[str, Any] | None:
        """The per-slice row of ``index`` (native index along the slice axis), or None outside the volume."""
        return next((row for row in outputs.get("slices", []) if int(row["index"]) == index), None)

    @staticmethod
    def displayName(outputs: Mapping[str, Any], region: str) -> str:
        """The label set's display name of a region (the region code when it has none)."""
        for entry in outputs.get("ranges", []):
            if entry.get("region") == region and entry.get("display_name"):
                return str(entry["display_name"])
        return region

    def regionTextAt(self, outputs: Mapping[str, Any], volumeNode, ras: list[float]) -> str:
        """ "slice k: <region> (confidence)" for the slice of ``volumeNode`` through ``ras`` ("" outside it)."""
        index = self.sliceIndexAt(self.rasToIjkRows(volumeNode), ras, AXIS_INDEX[outputs.get("slice_axis", "k")])
        row = self.sliceRow(outputs, index)
        if row is None:
            return ""
        region = self.displayName(outputs, str(row["region"]))
        return f"slice {index}: {region} ({float(row['confidence']):.2f})"

    @staticmethod
    def rangeTableCells(outputs: Mapping[str, Any]) -> list[list[str]]:
        """One row of texts per region range: region, slice indices, superior/inferior z (mm), confidence."""
        return [
            [
                str(r.get("display_name") or r["region"]),
                f"{r['first_index']}-{r['last_index']}",
                f"{float(r['superior_z_mm']):.1f}",
                f"{float(r['inferior_z_mm']):.1f}",
                f"{float(r['mean_confidence']):.2f}",
            ]
            for r in outputs.get("ranges", [])
        ]

    @staticmethod
    def rangeCentreIjk(outputs: Mapping[str, Any], row: int, dimensions: list[int]) -> list[float] | None:
        """IJK of the centre of range ``row``: its middle slice along the slice axis, the volume centre across it."""
        ranges = outputs.get("ranges", [])
        if not 0 <= row < len(ranges):
            return None
        entry = ranges[row]
        centre = [(d - 1) / 2.0 for d in dimensions]
        centre[AXIS_INDEX[outputs.get("slice_axis", "k")]] = (entry["first_index"] + entry["last_index"]) / 2.0
        return centre

    def rangeCentreRas(self, outputs: Mapping[str, Any], row: int, volumeNode) -> list[float] | None:
        """RAS of the centre of range ``row`` in ``volumeNode`` (None when there is no such range)."""
        ijk = self.rangeCentreIjk(outputs, row, list(volumeNode.GetImageData().GetDimensions()))
        if ijk is None:
            return None
        matrix = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(matrix)
        return list(matrix.MultiplyPoint([*ijk, 1.0])[:3])

    @staticmethod
    def headerQaText(outputs: Mapping[str, Any]) -> tuple[str, bool]:
        """The header-QA status line and whether it is flagged."""
        qa = outputs.get("header_qa") or {}
        status = str(qa.get("status", "")) or "not checked"
        message = str(qa.get("message", ""))
        return (f"{status}: {message}" if message else status), bool(qa.get("flag"))

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load the finished job's tables, volumes and markups into the scene: {output key: node}."""
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="Body region ")

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, modality: str = "auto") -> Any:
        """Run the core's body-region task on the volume in this process (a ``TaskResult``)."""
        from radtriage.tasks import run_task

        image = self.volumeImage(volumeNode)
        logger.info("running %s on a %s volume", TASK_NAME, "x".join(str(s) for s in image.size))
        return run_task(TASK_NAME, inputs={"image": image}, modality=None if modality == "auto" else modality)


#
# BodyRegionTest
#


class BodyRegionTest(ScriptedLoadableModuleTest):
    """Self-test: runs the Logic on a body phantom generated in the test."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_BodyRegion_sliceGeometry()
        self.setUp()
        self.test_BodyRegion_runAnswers()
        self.setUp()
        self.test_BodyRegion_backgroundJob()
        self.setUp()
        self.test_BodyRegion_resultsInScene()

    def _phantomVolume(self):
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_body_case

        case = make_body_case(0, modality="CT")
        return case, image_to_volume_node(slicer.mrmlScene, case.image, name="BodyPhantom")

    def test_BodyRegion_sliceGeometry(self) -> None:
        """Slice positions follow the phantom's k axis: one per slice, evenly spaced by the slice spacing."""
        self.delayDisplay("Body-region slice geometry")
        case, volumeNode = self._phantomVolume()
        geometry = BodyRegionLogic().sliceGeometry(volumeNode)

        image = case.image
        self.assertEqual(len(geometry), image.size[2])
        self.assertEqual([g["slice"] for g in geometry], list(range(image.size[2])))
        steps = [b["position_mm"] - a["position_mm"] for a, b in itertools.pairwise(geometry)]
        for step in steps:
            self.assertAlmostEqual(step, image.spacing[2], places=3)
        firstCentre = image.index_to_ras([((image.size[0] - 1) / 2.0, (image.size[1] - 1) / 2.0, 0.0)])[0]
        for expected, actual in zip(firstCentre, geometry[0]["center_ras"], strict=True):
            self.assertAlmostEqual(expected, actual, places=3)
        self.delayDisplay("Test passed")

    def test_BodyRegion_runAnswers(self) -> None:
        """Logic.run answers in process with the installed demo bundle, labelled as a demo."""
        from RadTriageCommonLib.testing import assertDemoAnswer

        self.delayDisplay("Body-region run")
        _case, volumeNode = self._phantomVolume()
        result = BodyRegionLogic().run(volumeNode)
        assertDemoAnswer(self, result, TASK_NAME)
        self.delayDisplay("Test passed")

    def test_BodyRegion_backgroundJob(self) -> None:
        """startJob writes the volume exactly and ``radtriage infer`` answers in a child process."""
        from RadTriageCommonLib.testing import assertJobRunsTask

        self.delayDisplay("BodyRegion: background job")
        volumeNode = self._phantomVolume()[1]
        logic = BodyRegionLogic()
        job = logic.startJob(volumeNode)
        assertJobRunsTask(self, job, TASK_NAME, {"image": logic.volumeImage(volumeNode).array})
        self.delayDisplay("Test passed")

    def test_BodyRegion_resultsInScene(self) -> None:
        """The demo CT bundle's result becomes a label map, a ranges table and per-slice lookups that agree."""
        from radtriage.tasks.result import to_plain

        self.delayDisplay("BodyRegion: results in the scene")
        case, volumeNode = self._phantomVolume()
        logic = BodyRegionLogic()
        argv = logic.buildArgv("image.nrrd", "CT")
        self.assertEqual(argv[argv.index("--option") + 1], "modality=CT")
        self.assertNotIn("--option", logic.buildArgv("image.nrrd"))

        result = logic.run(volumeNode, modality="CT")
        data = to_plain(result.to_dict())
        nodes = logic.addResults(data, result.volumes.get("region_labels"), volumeNode)
        outputs = data["outputs"]
        ranges = outputs["ranges"]
        self.assertGreater(len(ranges), 0)
        self.assertEqual(nodes["ranges_table"].GetNumberOfRows(), len(ranges))
        self.assertEqual(nodes["slices_table"].GetNumberOfRows(), case.image.size[2])
        qaStatus = nodes["ranges_table"].GetAttribute("RadTriage.HeaderQA.Status")
        self.assertEqual(qaStatus, outputs["header_qa"]["status"])
        self.assertEqual(len(logic.rangeTableCells(outputs)), len(ranges))
        self.assertTrue(logic.headerQaText(outputs)[0])

        # Every slice centre maps back to its own index and region; a range centre lies inside the range.
        rasToIjk = logic.rasToIjkRows(volumeNode)
        axis = AXIS_INDEX[outputs["slice_axis"]]
        for entry in logic.sliceGeometry(volumeNode):
            self.assertEqual(logic.sliceIndexAt(rasToIjk, entry["center_ras"], axis), entry["slice"])
            row = logic.sliceRow(outputs, entry["slice"])
            text = logic.regionTextAt(outputs, volumeNode, entry["center_ras"])
            self.assertTrue(text.startswith(f"slice {entry['slice']}: {logic.displayName(outputs, row['region'])}"))
        for row, entry in enumerate(ranges):
            centre = logic.rangeCentreRas(outputs, row, volumeNode)
            index = logic.sliceIndexAt(rasToIjk, centre, axis)
            self.assertLessEqual(min(entry["first_index"], entry["last_index"]), index)
            self.assertLessEqual(index, max(entry["first_index"], entry["last_index"]))
        self.assertIsNone(logic.rangeCentreRas(outputs, len(ranges), volumeNode))
        self.delayDisplay("Test passed")
