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
        self.ui.progressBar.setVisible(False)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._jobs is not None:
            self._jobs.cancel()
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
            self._jobs.follow(self.logic.startJob(self._parameterNode.inputVolume))

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Load the job's output files into the scene and show its table."""
        nodes = self.logic.loadJobOutputs(outputs)
        tables = [node for node in nodes.values() if node.IsA("vtkMRMLTableNode")]
        if tables:
            self._parameterNode.outputTable = tables[0]
            self.ui.resultsTableView.setMRMLTableNode(tables[0])
        self.ui.statusLabel.text = _("Done: {count} result(s) loaded.").format(count=len(nodes))


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
    def buildArgv(inputPath: str | pathlib.Path) -> list[str]:
        """``python -m radtriage infer`` on one volume file; the job's output folder replaces ``{output_dir}``."""
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        return radtriage_argv(
            "infer", "--task", TASK_NAME, "--input", str(inputPath), "--output", OUTPUT_DIR_PLACEHOLDER
        )

    def startJob(self, volumeNode: vtkMRMLScalarVolumeNode):
        """Write the volume to a temporary NRRD and start the task on it in a background process (returned)."""
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        paths, outputDir = writeJobInputs(TASK_NAME, {"image": self.volumeImage(volumeNode)})
        logger.info("starting %s in a background process", TASK_NAME)
        return BackgroundJob(self.buildArgv(paths["image"]), outputDir).start()

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load the finished job's tables, volumes and markups into the scene: {output key: node}."""
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="Body region ")

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, modality: str = "auto", minimumConfidence: float = 0.5) -> Any:
        """Run the core's body-region task on the volume; raises when the task is not available."""
        from radtriage.tasks import run_task

        image = self.volumeImage(volumeNode)
        logger.info("running %s on a %s volume", TASK_NAME, "x".join(str(s) for s in image.size))
        return run_task(TASK_NAME, image=image, modality=modality, min_confidence=minimumConfidence)


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
        self.test_BodyRegion_runRefusesOrAnswers()
        self.setUp()
        self.test_BodyRegion_backgroundJob()

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

    def test_BodyRegion_runRefusesOrAnswers(self) -> None:
        """Run either answers for every slice or raises the core's error; it never leaves invented output."""
        from radtriage.errors import RadTriageError

        self.delayDisplay("Body-region run")
        _case, volumeNode = self._phantomVolume()
        tablesBefore = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode")
        try:
            result = BodyRegionLogic().run(volumeNode)
        except RadTriageError as error:
            self.assertIn("BodyRegion", str(error))
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode"), tablesBefore)
        else:
            self.assertIsNotNone(result)
        self.delayDisplay("Test passed")

    def test_BodyRegion_backgroundJob(self) -> None:
        """startJob writes the volume exactly and runs ``radtriage infer`` in a child: results or the CLI's error."""
        import numpy as np

        from radtriage.io import read_volume

        self.delayDisplay("BodyRegion: background job")
        volumeNode = self._phantomVolume()[1]
        logic = BodyRegionLogic()
        job = logic.startJob(volumeNode)
        self.assertEqual(job.argv[3:6], ["infer", "--task", TASK_NAME])
        written = read_volume(job.argv[job.argv.index("--input") + 1])
        np.testing.assert_allclose(written.array, logic.volumeImage(volumeNode).array)
        state = job.wait(timeout=300)
        self.assertTrue(state.done, "the job did not finish within 5 minutes")
        if state.value == "succeeded":
            self.assertIsInstance(job.outputs, dict)
        else:
            self.assertIn("error", (job.error or "").lower())  # the CLI's own message, which the widget shows
        self.delayDisplay("Test passed")
