"""CMBDetect: cerebral microbleed detection on SWI / T2*-GRE (3D Slicer scripted module).

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
    confidenceThreshold - detections below this confidence are not shown.
    outputDetections - point list receiving one control point per detection.
    outputTable - table receiving the detections.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    confidenceThreshold: Annotated[float, WithinRange(0, 1)] = 0.5
    outputDetections: vtkMRMLMarkupsFiducialNode
    outputTable: vtkMRMLTableNode


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
            self._jobs.follow(self.logic.startJob(volumeNode))

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Load the job's output files into the scene and show its table."""
        nodes = self.logic.loadJobOutputs(outputs)
        tables = [node for node in nodes.values() if node.IsA("vtkMRMLTableNode")]
        if tables:
            self._parameterNode.outputTable = tables[0]
            self.ui.resultsTableView.setMRMLTableNode(tables[0])
        self.ui.statusLabel.text = _("Done: {count} result(s) loaded.").format(count=len(nodes))


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

        return loadOutputs(outputs, namePrefix="CMB ")

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, confidenceThreshold: float = 0.5) -> Any:
        """Run the core's microbleed-detection task on the volume; raises when the task is not available."""
        from radtriage.tasks import run_task

        image = self.volumeImage(volumeNode)
        logger.info("running %s on a %s volume", TASK_NAME, "x".join(str(s) for s in image.size))
        return run_task(TASK_NAME, image=image, confidence_threshold=confidenceThreshold)


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
        self.test_CMBDetect_runRefusesOrAnswers()
        self.setUp()
        self.test_CMBDetect_backgroundJob()

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

    def test_CMBDetect_runRefusesOrAnswers(self) -> None:
        """Run either answers or raises the core's error; it never leaves invented markups."""
        from radtriage.errors import RadTriageError

        self.delayDisplay("CMB run")
        volumeNode = self._swiVolume()
        markupsBefore = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode")
        try:
            result = CMBDetectLogic().run(volumeNode)
        except RadTriageError as error:
            self.assertIn("CMBDetect", str(error))
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode"), markupsBefore)
        else:
            self.assertIsNotNone(result)
        self.delayDisplay("Test passed")

    def test_CMBDetect_backgroundJob(self) -> None:
        """startJob writes the volume exactly and runs ``radtriage infer`` in a child: results or the CLI's error."""
        import numpy as np

        from radtriage.io import read_volume

        self.delayDisplay("CMBDetect: background job")
        volumeNode = self._swiVolume()
        logic = CMBDetectLogic()
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
