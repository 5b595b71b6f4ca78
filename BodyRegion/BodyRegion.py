"""BodyRegion: per-slice body-region labels for CT and MR (3D Slicer scripted module).

Thin glue of this module's widgets and results on :mod:`RadTriageCommonLib.module_base` (life cycle, parameter
node, background job, geometry); the Logic delegates to the slicer-free core (``radtriage``), imported inside
methods so that this file loads even before the core's dependencies are installed.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import slicer
from RadTriageCommonLib.module_base import TaskSelfTests, fillTable, inferArgv, setSliceViewText
from RadTriageCommonLib.scripted import RadTriageLogic, RadTriageModule, RadTriageTest, RadTriageWidget
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

TASK_NAME = "body_region"
RANGE_TABLE_HEADERS = ["Region", "Slices", "Superior mm", "Inferior mm", "Confidence"]


class BodyRegion(RadTriageModule):
    """Module description shown in Slicer's module panel."""

    title, anchor = _("Body Region"), "bodyregion"
    about = _(
        "Labels every slice of a CT or MR volume with the body region it shows (17 CT classes, 18 MR classes) "
        "and reports contiguous region ranges in millimetres and slice indices."
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
    outputTable - table receiving the region ranges (a new one when none is chosen).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    modality: Annotated[str, Choice(["auto", "CT", "MR"])] = "auto"
    minimumConfidence: Annotated[float, WithinRange(0, 1)] = 0.5
    outputTable: vtkMRMLTableNode


#
# BodyRegionWidget
#


class BodyRegionWidget(RadTriageWidget):
    """GUI of the module: its own widgets and results; the life cycle and the job are the base's."""

    optionWidgets: ClassVar[dict[str, str]] = {
        "modalityComboBox": "modality", "minimumConfidenceSliderWidget": "min_confidence"}

    failureMessage = _("Body-region labelling failed.")
    applyToolTip = _("Label every slice of the input volume")

    _result = None
    _resultVolume = None
    _redSliceNode = None

    def createLogic(self) -> BodyRegionLogic:
        return BodyRegionLogic()

    def setupWidgets(self) -> None:
        """Geometry of the selected input, range clicks, and the region of the slice the Red view shows."""
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.ui.rangesTableWidget.connect("cellClicked(int,int)", self.onRangeClicked)
        self._redSliceNode = self.observeSliceNode("Red", self.onRedSliceModified)

    def cleanupWidgets(self) -> None:
        setSliceViewText("Red", "")

    def clearResults(self) -> None:
        self._result = self._resultVolume = None
        setSliceViewText("Red", "")

    def onInputChanged(self, node) -> None:
        """Show the slice count and extent of the selected volume (geometry only, no voxel read)."""
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

    def startJob(self):
        node = self._parameterNode
        return self.logic.startJob(node.inputVolume, modality=node.modality, minimumConfidence=node.minimumConfidence)

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Add the label map, tables and header-QA verdict over the volume the job ran on, and show them."""
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.body_region.runner import LABEL_VOLUME

        volumeNode = inputs["inputVolume"]
        result = readJobResult(outputs)
        labels = readJobVolume(outputs, LABEL_VOLUME)
        nodes = self.logic.addResults(result, labels, volumeNode, self._parameterNode.outputTable)
        self.showResult(result, volumeNode, nodes)

    def showResult(self, result: Mapping[str, Any], volumeNode, nodes: Mapping[str, Any]) -> None:
        """Fill the ranges list, the per-slice table, the header-QA status and the notices."""
        from radtriage.tasks.body_region import mrml

        self._result, self._resultVolume = result, volumeNode
        self._parameterNode.outputTable = nodes["ranges_table"]
        self.ui.resultsTableView.setMRMLTableNode(nodes["slices_table"])
        ranges = mrml.range_table_cells(result["outputs"])
        fillTable(self.ui.rangesTableWidget, RANGE_TABLE_HEADERS, ranges)
        qaText, flagged = mrml.header_qa_text(result["outputs"])
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

    def onRedSliceModified(self, caller=None, event=None) -> None:
        """Show the body region of the slice the Red view shows (panel, and the Red view's top edge)."""
        if self._result is None or self._resultVolume is None or self._redSliceNode is None:
            return
        if slicer.mrmlScene.GetNodeByID(self._resultVolume.GetID()) is None:
            return
        sliceToRas = self._redSliceNode.GetSliceToRAS()
        ras = [sliceToRas.GetElement(row, 3) for row in range(3)]
        text = self.logic.regionTextAt(self._result["outputs"], self._resultVolume, ras)
        self.ui.currentRegionLabel.text = text
        setSliceViewText("Red", text)


#
# BodyRegionLogic
#


class BodyRegionLogic(RadTriageLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    taskName = TASK_NAME
    parameterNodeClass = BodyRegionParameterNode
    outputNamePrefix = "Body region "

    def sliceGeometry(self, volumeNode: vtkMRMLScalarVolumeNode) -> list[dict[str, Any]]:
        """Per-slice geometry along the volume's k axis: index, position in mm along it, RAS centre."""
        from radtriage.tasks.body_region.mrml import slice_geometry

        return slice_geometry(volumeNode)

    @staticmethod
    def buildArgv(
        inputPath: str | pathlib.Path, modality: str = "auto", minimumConfidence: float | None = None
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file (``--option modality=CT|MR`` unless "auto", and
        ``--option min_confidence=X`` when given). The job's output folder replaces ``{output_dir}``.
        """
        options = {
            "modality": None if modality == "auto" else modality,
            "min_confidence": None if minimumConfidence is None else float(minimumConfidence),
        }
        return inferArgv(TASK_NAME, str(inputPath), options)

    def startJob(
        self, volumeNode: vtkMRMLScalarVolumeNode, modality: str = "auto", minimumConfidence: float | None = None
    ):
        """Write the volume to a temporary NRRD and start the task on it in a background process (returned)."""
        return self.startTaskJob(
            {"image": self.volumeImage(volumeNode)},
            lambda paths: self.buildArgv(paths["image"], modality, minimumConfidence),
        )

    def addResults(self, result: Mapping[str, Any], labelImage, volumeNode, outputTable=None) -> dict:
        """Add the core's MRML outputs (colour band label map, ranges and per-slice tables, header-QA attributes).

        ``result`` is the ``result.json`` document; the label map is shown over ``volumeNode``; the ranges go into
        ``outputTable`` when the user chose one.
        """
        from radtriage.tasks.body_region.mrml import add_body_region_outputs

        return add_body_region_outputs(
            slicer.mrmlScene,
            result["outputs"],
            labelImage,
            patient_name="RadTriage",
            study_name=f"Body region: {volumeNode.GetName()}",
            reference_node=volumeNode,
            ranges_table=outputTable,
        )

    def regionTextAt(self, outputs: Mapping[str, Any], volumeNode, ras: list[float]) -> str:
        """ "slice k: <region> (confidence)" for the slice of ``volumeNode`` through ``ras`` ("" outside it)."""
        from radtriage.tasks.body_region.mrml import region_text_at

        return region_text_at(outputs, volumeNode, ras)

    def rangeCentreRas(self, outputs: Mapping[str, Any], row: int, volumeNode) -> list[float] | None:
        """RAS of the centre of range ``row`` in ``volumeNode`` (None when there is no such range)."""
        from radtriage.tasks.body_region.mrml import range_centre_ras

        return range_centre_ras(outputs, row, volumeNode)

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, modality: str = "auto") -> Any:
        """Run the core's body-region task on the volume in this process (a ``TaskResult``)."""
        return self.runTask({"image": self.volumeImage(volumeNode)}, modality=None if modality == "auto" else modality)


#
# BodyRegionTest
#


class BodyRegionTest(TaskSelfTests, RadTriageTest):
    """Self-test: runs the Logic on a body phantom generated in the test (skips when packages are missing)."""

    logicClass = BodyRegionLogic

    def phantomVolume(self):
        return self._phantomVolume()[1]

    def _phantomVolume(self):
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_body_case

        case = make_body_case(0, modality="CT")
        return case, image_to_volume_node(slicer.mrmlScene, case.image, name="BodyPhantom")

    def test_BodyRegion_resultsInScene(self) -> None:
        """The demo CT result becomes a label map and tables (into a chosen table); slice lookups agree."""
        from radtriage.tasks.result import to_plain

        self.delayDisplay("BodyRegion: results in the scene")
        case, volumeNode = self._phantomVolume()
        logic = BodyRegionLogic()
        result = logic.run(volumeNode, modality="CT")
        data = to_plain(result.to_dict())
        chosen = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "My ranges")
        nodes = logic.addResults(data, result.volumes.get("region_labels"), volumeNode, chosen)
        ranges = data["outputs"]["ranges"]
        self.assertIs(nodes["ranges_table"], chosen)
        self.assertEqual(chosen.GetNumberOfRows(), len(ranges))
        self.assertEqual(nodes["slices_table"].GetNumberOfRows(), case.image.size[2])
        for entry in logic.sliceGeometry(volumeNode):
            self.assertTrue(
                logic.regionTextAt(data["outputs"], volumeNode, entry["center_ras"]).startswith(
                    f"slice {entry['slice']}: "
                )
            )
        self.delayDisplay("Test passed")
