"""LGECertainty: per-slice LGE likelihood (0-100) and low-certainty flag (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping
from typing import Annotated, Any

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode
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

TASK_NAME = "lge_certainty"

#
# LGECertainty
#


class LGECertainty(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("LGE Certainty")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Scores every short-axis slice of a cardiac late-gadolinium-enhancement (LGE) stack: an LGE likelihood "
            "from 0 to 100 and a low-certainty flag for slices worth repeating or viewing again. "
            "The bundled demo model is trained on procedural phantoms only: demo, not for clinical use. "
            'See the <a href="https://github.com/SlicerRadTriage/SlicerRadTriage#lgecertainty">documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "Part of SlicerRadTriage. Built on 3D Slicer, MONAI, SimpleITK and pydicom; "
            "the module layout follows Slicer's scripted-module template."
        )


#
# LGECertaintyParameterNode
#


@parameterNodeWrapper
class LGECertaintyParameterNode:
    """The parameters of the module, saved with the scene.

    inputVolume - short-axis LGE stack (one slice per k index).
    useBundleCertaintyBand - use the low-certainty band stored with the model bundle.
    certaintyBandLow, certaintyBandHigh - otherwise, likelihoods inside this band are flagged low certainty.
    outputTable - table receiving one row per slice.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    useBundleCertaintyBand: bool = True
    certaintyBandLow: Annotated[float, WithinRange(0, 100)] = 25.0
    certaintyBandHigh: Annotated[float, WithinRange(0, 100)] = 75.0
    outputTable: vtkMRMLTableNode


#
# LGECertaintyWidget
#


class LGECertaintyWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: reads the .ui file and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        """Build the GUI from Resources/UI/LGECertainty.ui and connect it."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/LGECertainty.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = LGECertaintyLogic()

        from RadTriageCommonLib.job_controller import JobController

        self._jobs = JobController(
            self.ui.applyButton,
            self.ui.progressBar,
            self.ui.statusLabel,
            self.onJobFinished,
            failureMessage=_("LGE scoring failed."),
            onStateChanged=lambda running: self._checkCanApply(),
        )

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.ui.outputTableSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.ui.resultsTableView.setMRMLTableNode
        )
        self.ui.useBundleCertaintyBandCheckBox.connect("toggled(bool)", self._updateBandWidgets)
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

    def setParameterNode(self, inputParameterNode: LGECertaintyParameterNode | None) -> None:
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
        self._updateBandWidgets()
        bandOk = self._parameterNode is not None and (
            self._parameterNode.useBundleCertaintyBand
            or self._parameterNode.certaintyBandLow < self._parameterNode.certaintyBandHigh
        )
        if self._jobs is not None and self._jobs.running:
            self.ui.applyButton.toolTip = _("Stop the running scoring")
            self.ui.applyButton.enabled = True
        elif self._parameterNode and self._parameterNode.inputVolume and bandOk:
            self.ui.applyButton.toolTip = _("Score every slice of the stack")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Select an LGE stack (and a band whose start is below its end)")
            self.ui.applyButton.enabled = False

    def _updateBandWidgets(self, checked=None) -> None:
        custom = not self.ui.useBundleCertaintyBandCheckBox.checked
        self.ui.certaintyBandLowSliderWidget.enabled = custom
        self.ui.certaintyBandHighSliderWidget.enabled = custom

    def onInputChanged(self, node) -> None:
        """Show how many slices the selected stack has (from the Logic)."""
        if node is None:
            self.ui.sliceCountLabel.text = ""
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot read the stack."), waitCursor=True):
            self.ui.sliceCountLabel.text = _("{count} slices").format(count=self.logic.sliceCount(node))

    def onApplyButton(self) -> None:
        """Start the task in a background process, or cancel the one running; results load when it ends."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if self._jobs.running:
            self._jobs.cancel()
            return
        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot start LGE scoring."), waitCursor=True):
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
# LGECertaintyLogic
#


class LGECertaintyLogic(ScriptedLoadableModuleLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self) -> LGECertaintyParameterNode:
        """The module's typed parameter node (created in the scene when missing)."""
        return LGECertaintyParameterNode(super().getParameterNode())

    def volumeImage(self, volumeNode: vtkMRMLScalarVolumeNode):
        """The stack as a ``radtriage.image.Image`` (exact geometry, LPS)."""
        from radtriage.mrml.volumes import volume_node_to_image

        if volumeNode is None:
            raise ValueError("no input volume selected")
        return volume_node_to_image(volumeNode)

    def sliceCount(self, volumeNode: vtkMRMLScalarVolumeNode) -> int:
        """Number of slices (k indices) in the stack."""
        return int(self.volumeImage(volumeNode).size[2])

    def sliceImages(self, volumeNode: vtkMRMLScalarVolumeNode) -> list:
        """Every slice of the stack as a one-slice ``Image`` that keeps its own position in space."""
        from radtriage.image import Image

        image = self.volumeImage(volumeNode)
        slices = []
        for k in range(image.size[2]):
            origin = image.index_to_lps([(0.0, 0.0, float(k))])[0]
            slices.append(
                Image(
                    array=image.array[k : k + 1],
                    spacing=image.spacing,
                    origin=tuple(float(v) for v in origin),
                    direction=image.direction,
                    metadata={**image.metadata, "slice_index": k},
                )
            )
        return slices

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

        return loadOutputs(outputs, namePrefix="LGE ")

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, certaintyBand: tuple[float, float] | None = None) -> Any:
        """Run the core's LGE task slice by slice; ``certaintyBand`` None means the bundle's own band."""
        from radtriage.tasks import run_task

        slices = self.sliceImages(volumeNode)
        logger.info("running %s on %d slices", TASK_NAME, len(slices))
        return run_task(TASK_NAME, slices=slices, certainty_band=certaintyBand)


#
# LGECertaintyTest
#


class LGECertaintyTest(ScriptedLoadableModuleTest):
    """Self-test: runs the Logic on a cardiac LGE phantom stack generated in the test."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_LGECertainty_slices()
        self.setUp()
        self.test_LGECertainty_runRefusesOrAnswers()
        self.setUp()
        self.test_LGECertainty_backgroundJob()

    def _phantomVolume(self):
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_lge_stack

        image, _truth = make_lge_stack(seed=0)
        return image, image_to_volume_node(slicer.mrmlScene, image, name="LGEPhantom")

    def test_LGECertainty_slices(self) -> None:
        """Slice count and per-slice images match the phantom stack voxel for voxel, each at its own position."""
        import numpy as np

        self.delayDisplay("LGE slice extraction")
        image, volumeNode = self._phantomVolume()
        logic = LGECertaintyLogic()
        self.assertEqual(logic.sliceCount(volumeNode), image.size[2])

        slices = logic.sliceImages(volumeNode)
        self.assertEqual(len(slices), image.size[2])
        for k, sliceImage in enumerate(slices):
            self.assertEqual(sliceImage.size[2], 1)
            np.testing.assert_allclose(sliceImage.array[0], image.array[k])
            np.testing.assert_allclose(sliceImage.origin, image.index_to_lps([(0, 0, k)])[0], atol=1e-3)
        self.delayDisplay("Test passed")

    def test_LGECertainty_runRefusesOrAnswers(self) -> None:
        """Run either answers or raises the core's error; it never leaves an invented table."""
        from radtriage.errors import RadTriageError

        self.delayDisplay("LGE run")
        _stack, volumeNode = self._phantomVolume()
        tablesBefore = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode")
        try:
            result = LGECertaintyLogic().run(volumeNode)
        except RadTriageError as error:
            self.assertIn("LGECertainty", str(error))
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode"), tablesBefore)
        else:
            self.assertIsNotNone(result)
        self.delayDisplay("Test passed")

    def test_LGECertainty_backgroundJob(self) -> None:
        """startJob writes the volume exactly and runs ``radtriage infer`` in a child: results or the CLI's error."""
        import numpy as np

        from radtriage.io import read_volume

        self.delayDisplay("LGECertainty: background job")
        volumeNode = self._phantomVolume()[1]
        logic = LGECertaintyLogic()
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
