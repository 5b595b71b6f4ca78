"""MRITriage: multi-contrast brain MRI triage with critical findings (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import qt
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

TASK_NAME = "mri_triage"

IGNORE_CONTRAST = "(not used)"
"""Choice in the contrast column that leaves a volume out of the triage."""

#
# MRITriage
#


class MRITriage(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MRI Triage")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Triage of brain MRI from up to eight contrasts (any may be missing): probability of abnormal, acute "
            "infarct, acute haemorrhage and mass effect, with saliency heatmaps. Contrasts are detected "
            "automatically and can be corrected in the table. "
            "The bundled demo model is trained on procedural phantoms only: demo, not for clinical use. "
            'See the <a href="https://github.com/SlicerRadTriage/SlicerRadTriage#mritriage">documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "Part of SlicerRadTriage. Built on 3D Slicer, MONAI, SimpleITK and pydicom; "
            "the module layout follows Slicer's scripted-module template."
        )


#
# MRITriageParameterNode
#


@parameterNodeWrapper
class MRITriageParameterNode:
    """The parameters of the module, saved with the scene.

    studyFolder - folder with the study's DICOM files or volume files.
    useBundleThresholds - decide at the operating points stored with the model bundle.
    decisionThreshold - otherwise, the probability above which an output is called positive.
    outputTable - table receiving one row per output (probability, decision, threshold).
    """

    studyFolder: pathlib.Path
    useBundleThresholds: bool = True
    decisionThreshold: Annotated[float, WithinRange(0, 1)] = 0.5
    outputTable: vtkMRMLTableNode


#
# MRITriageWidget
#


class MRITriageWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: reads the .ui file and calls the Logic."""

    CONTRAST_COLUMNS = ("Volume", "Contrast", "Confidence", "Why")

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        """Build the GUI from Resources/UI/MRITriage.ui and connect it."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MRITriage.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = MRITriageLogic()

        from RadTriageCommonLib.job_controller import JobController

        self._jobs = JobController(
            self.ui.applyButton,
            self.ui.progressBar,
            self.ui.statusLabel,
            self.onJobFinished,
            failureMessage=_("MRI triage failed."),
            onStateChanged=lambda running: self._checkCanApply(),
        )

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.contrastsTableWidget.setColumnCount(len(self.CONTRAST_COLUMNS))
        self.ui.contrastsTableWidget.setHorizontalHeaderLabels(list(self.CONTRAST_COLUMNS))
        self.ui.loadStudyButton.connect("clicked(bool)", self.onLoadStudyButton)
        self.ui.detectContrastsButton.connect("clicked(bool)", self.onDetectContrastsButton)
        self.ui.outputTableSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.ui.resultsTableView.setMRMLTableNode
        )
        self.ui.useBundleThresholdsCheckBox.connect("toggled(bool)", self._updateThresholdWidgets)
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
        self.ui.contrastsTableWidget.setRowCount(0)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists and is observed."""
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: MRITriageParameterNode | None) -> None:
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
        self._updateThresholdWidgets()
        folder = self._parameterNode.studyFolder if self._parameterNode else None
        self.ui.loadStudyButton.enabled = bool(folder and str(folder) not in ("", ".") and folder.is_dir())
        if self._jobs is not None and self._jobs.running:
            self.ui.applyButton.toolTip = _("Stop the running triage")
            self.ui.applyButton.enabled = True
        elif self._parameterNode and self._assignmentFromTable():
            self.ui.applyButton.toolTip = _("Triage the study from the assigned contrasts")
            self.ui.applyButton.enabled = True
        else:
            self.ui.applyButton.toolTip = _("Load a study or use loaded volumes, and assign at least one contrast")
            self.ui.applyButton.enabled = False

    def _updateThresholdWidgets(self, checked=None) -> None:
        self.ui.decisionThresholdSliderWidget.enabled = not self.ui.useBundleThresholdsCheckBox.checked

    def onLoadStudyButton(self) -> None:
        """Load every series of the study folder, then detect their contrasts."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot load the study."), waitCursor=True):
            nodes = self.logic.loadStudyFolder(self._parameterNode.studyFolder)
            self._fillContrastTable(nodes)

    def onDetectContrastsButton(self) -> None:
        """Detect the contrast of every scalar volume already in the scene (label maps excluded)."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if not ensureDependencies():
            return
        nodes = [
            node
            for node in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            if not node.IsA("vtkMRMLLabelMapVolumeNode")
        ]
        with slicer.util.tryWithErrorDisplay(_("Cannot detect the contrasts."), waitCursor=True):
            self._fillContrastTable(nodes)

    def _fillContrastTable(self, nodes: Sequence[vtkMRMLScalarVolumeNode]) -> None:
        """One row per volume: name, an editable contrast choice, the guess's confidence and explanation."""
        assignment = self.logic.assignContrasts(nodes)
        table = self.ui.contrastsTableWidget
        table.setRowCount(0)
        table.setRowCount(len(nodes))
        for row, node in enumerate(nodes):
            guess = assignment[node.GetID()]
            nameItem = qt.QTableWidgetItem(node.GetName())
            nameItem.setData(qt.Qt.UserRole, node.GetID())
            nameItem.setFlags(qt.Qt.ItemIsSelectable | qt.Qt.ItemIsEnabled)
            table.setItem(row, 0, nameItem)
            combo = qt.QComboBox()
            combo.addItems([*guess["choices"], IGNORE_CONTRAST])
            combo.setCurrentText(guess["contrast"])
            combo.connect("currentIndexChanged(int)", self._checkCanApply)
            table.setCellWidget(row, 1, combo)
            table.setItem(row, 2, qt.QTableWidgetItem(f"{guess['confidence']:.2f}"))
            table.setItem(row, 3, qt.QTableWidgetItem(guess["explanation"]))
        table.resizeColumnsToContents()
        self.ui.statusLabel.text = _("{count} volumes; check the Contrast column before Apply.").format(
            count=len(nodes)
        )
        self._checkCanApply()

    def _assignmentFromTable(self) -> dict[str, str]:
        """Volume node ID -> contrast chosen in the table (rows set to 'not used' are left out)."""
        table = self.ui.contrastsTableWidget
        assignment = {}
        for row in range(table.rowCount):
            nameItem = table.item(row, 0)
            combo = table.cellWidget(row, 1)
            if nameItem is None or combo is None or combo.currentText == IGNORE_CONTRAST:
                continue
            assignment[nameItem.data(qt.Qt.UserRole)] = combo.currentText
        return assignment

    def onApplyButton(self) -> None:
        """Start the triage in a background process, or cancel the one running; results load when it ends."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if self._jobs.running:
            self._jobs.cancel()
            return
        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot start the MRI triage."), waitCursor=True):
            self._jobs.follow(self.logic.startJob(self._assignmentFromTable()))

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Load the job's output files (tables, heatmaps) into the scene and show its table."""
        nodes = self.logic.loadJobOutputs(outputs)
        tables = [node for node in nodes.values() if node.IsA("vtkMRMLTableNode")]
        if tables:
            self._parameterNode.outputTable = tables[0]
            self.ui.resultsTableView.setMRMLTableNode(tables[0])
        self.ui.statusLabel.text = _("Done: {count} result(s) loaded.").format(count=len(nodes))


#
# MRITriageLogic
#


class MRITriageLogic(ScriptedLoadableModuleLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self) -> MRITriageParameterNode:
        """The module's typed parameter node (created in the scene when missing)."""
        return MRITriageParameterNode(super().getParameterNode())

    def volumeImage(self, volumeNode: vtkMRMLScalarVolumeNode):
        """The volume as a ``radtriage.image.Image`` (exact geometry, LPS)."""
        from radtriage.mrml.volumes import volume_node_to_image

        if volumeNode is None:
            raise ValueError("no volume given")
        return volume_node_to_image(volumeNode)

    def assignContrasts(self, volumeNodes: Sequence[vtkMRMLScalarVolumeNode]) -> dict[str, dict[str, Any]]:
        """Contrast of each volume from the core: node ID -> contrast, confidence, explanation, choices."""
        from radtriage.io.contrast import assign_contrasts
        from radtriage.labelsets import MR_CONTRASTS

        volumeNodes = list(volumeNodes)
        images = {node.GetID(): self.volumeImage(node) for node in volumeNodes}
        guesses = assign_contrasts(images)
        if not isinstance(guesses, Mapping):
            guesses = dict(zip(images, guesses, strict=True))
        result = {}
        for nodeID, guess in guesses.items():
            contrast = guess.contrast
            label = str(getattr(contrast, "value", contrast))
            choices = [str(c.value) for c in type(contrast)] if hasattr(contrast, "value") else list(MR_CONTRASTS)
            result[nodeID] = {
                "contrast": label,
                "confidence": float(guess.confidence),
                "explanation": str(guess.explanation),
                "choices": choices if label in choices else [*choices, label],
            }
        return result

    def loadStudyFolder(self, path: str | pathlib.Path) -> list[vtkMRMLScalarVolumeNode]:
        """Read every DICOM series and volume file of a study folder into the scene; returns the new nodes."""
        from radtriage.errors import InputError
        from radtriage.io import VOLUME_SUFFIXES, read_image, scan_dicom
        from radtriage.mrml.volumes import image_to_volume_node

        folder = pathlib.Path(path)
        if not folder.is_dir():
            raise InputError(folder, "is not a folder")
        named_images = []
        for index, series in enumerate(scan_dicom(folder)):
            name = series.series_description or f"Series {index + 1}"
            named_images.append((name, read_image(folder, series_uid=series.series_uid)))
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.name.lower().endswith(VOLUME_SUFFIXES):
                image = read_image(file)
                named_images.append((image.metadata.get("description") or file.name, image))
        if not named_images:
            raise InputError(folder, "holds no DICOM series and no NIfTI / NRRD / MHA volume")
        logger.info("loaded %d volumes from a study folder", len(named_images))
        return [image_to_volume_node(slicer.mrmlScene, image, name=name) for name, image in named_images]

    def imagesByContrast(self, assignment: Mapping[str, str]) -> dict[str, Any]:
        """{contrast: Image} from {volume node ID: contrast}; refuses a contrast given to two volumes."""
        images = {}
        owners: dict[str, str] = {}
        for nodeID, contrast in assignment.items():
            node = slicer.mrmlScene.GetNodeByID(nodeID)
            if node is None:
                raise ValueError(f"volume {nodeID} is no longer in the scene")
            if contrast in owners:
                other = slicer.mrmlScene.GetNodeByID(owners[contrast]).GetName()
                raise ValueError(f"{node.GetName()} and {other} are both assigned {contrast}; keep one")
            owners[contrast] = nodeID
            images[contrast] = self.volumeImage(node)
        if not images:
            raise ValueError("no volume is assigned a contrast")
        return images

    @staticmethod
    def buildArgv(inputPaths: Mapping[str, str | pathlib.Path]) -> list[str]:
        """``python -m radtriage infer`` on {contrast: volume file} (``--input CONTRAST=PATH ...``)."""
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        inputs = [f"{contrast}={path}" for contrast, path in inputPaths.items()]
        return radtriage_argv("infer", "--task", TASK_NAME, "--input", *inputs, "--output", OUTPUT_DIR_PLACEHOLDER)

    def startJob(self, assignment: Mapping[str, str]):
        """Write each assigned volume to a temporary NRRD and start the triage in a background process (returned)."""
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        paths, outputDir = writeJobInputs(TASK_NAME, self.imagesByContrast(assignment))
        logger.info("starting %s on contrasts %s in a background process", TASK_NAME, ", ".join(sorted(paths)))
        return BackgroundJob(self.buildArgv(paths), outputDir).start()

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load the finished job's tables and heatmap volumes into the scene: {output key: node}."""
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="MRI triage ")

    def run(self, assignment: Mapping[str, str], decisionThreshold: float | None = None) -> Any:
        """Run the core's triage task on {volume node ID: contrast}; ``decisionThreshold`` None = bundle's own."""
        from radtriage.tasks import run_task

        images = self.imagesByContrast(assignment)
        logger.info("running %s on contrasts %s", TASK_NAME, ", ".join(sorted(images)))
        return run_task(TASK_NAME, images=images, decision_threshold=decisionThreshold)


#
# MRITriageTest
#


class MRITriageTest(ScriptedLoadableModuleTest):
    """Self-test: runs the Logic on a multi-contrast brain phantom generated in the test."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_MRITriage_loadStudyFolder()
        self.setUp()
        self.test_MRITriage_assignContrasts()
        self.setUp()
        self.test_MRITriage_runRefusesOrAnswers()
        self.setUp()
        self.test_MRITriage_backgroundJob()

    def _brainNodes(self) -> dict[str, vtkMRMLScalarVolumeNode]:
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_brain_case

        case = make_brain_case(seed=0)
        return {
            contrast: image_to_volume_node(slicer.mrmlScene, image, name=f"Phantom {contrast}")
            for contrast, image in case.images.items()
        }

    def test_MRITriage_loadStudyFolder(self) -> None:
        """Volumes written to a folder come back as one node each, with their exact geometry."""
        import tempfile

        import numpy as np

        from radtriage.io import write_volume
        from radtriage.phantoms import make_brain_case

        self.delayDisplay("MRI triage: load a study folder")
        case = make_brain_case(seed=0)
        with tempfile.TemporaryDirectory() as folder:
            for contrast, image in case.images.items():
                write_volume(image, pathlib.Path(folder) / f"{contrast}.nrrd")
            nodes = MRITriageLogic().loadStudyFolder(folder)
        self.assertEqual(len(nodes), len(case.images))
        expected = next(iter(case.images.values()))
        matrix = vtk.vtkMatrix4x4()
        nodes[0].GetIJKToRASMatrix(matrix)
        actual = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
        np.testing.assert_allclose(actual, expected.ijk_to_ras, atol=1e-3)
        self.delayDisplay("Test passed")

    def test_MRITriage_assignContrasts(self) -> None:
        """Every phantom contrast is recognised, with a confidence in [0, 1] and an explanation."""
        self.delayDisplay("MRI triage: contrast assignment")
        nodes = self._brainNodes()
        assignment = MRITriageLogic().assignContrasts(list(nodes.values()))
        self.assertEqual(set(assignment), {node.GetID() for node in nodes.values()})
        for contrast, node in nodes.items():
            guess = assignment[node.GetID()]
            self.assertEqual(guess["contrast"], contrast)
            self.assertGreaterEqual(guess["confidence"], 0.0)
            self.assertLessEqual(guess["confidence"], 1.0)
            self.assertIn(contrast, guess["choices"])
            self.assertTrue(guess["explanation"])
        self.delayDisplay("Test passed")

    def test_MRITriage_runRefusesOrAnswers(self) -> None:
        """Duplicate contrasts are refused; run either answers or raises the core's error, never inventing output."""
        from radtriage.errors import RadTriageError

        self.delayDisplay("MRI triage: run")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        first, second = list(nodes.values())[:2]
        with self.assertRaises(ValueError):
            logic.run({first.GetID(): "T1", second.GetID(): "T1"})

        tablesBefore = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode")
        try:
            result = logic.run({node.GetID(): contrast for contrast, node in nodes.items()})
        except RadTriageError as error:
            self.assertIn("MRITriage", str(error))
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode"), tablesBefore)
        else:
            self.assertIsNotNone(result)
        self.delayDisplay("Test passed")

    def test_MRITriage_backgroundJob(self) -> None:
        """startJob writes every contrast exactly and runs ``radtriage infer`` in a child (results or its error)."""
        import numpy as np

        from radtriage.io import read_volume

        self.delayDisplay("MRI triage: background job")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        job = logic.startJob({node.GetID(): contrast for contrast, node in nodes.items()})
        self.assertEqual(job.argv[3:6], ["infer", "--task", TASK_NAME])
        start, end = job.argv.index("--input") + 1, job.argv.index("--output")
        written = dict(value.split("=", 1) for value in job.argv[start:end])
        self.assertEqual(set(written), set(nodes))
        for contrast, path in written.items():
            np.testing.assert_allclose(read_volume(path).array, logic.volumeImage(nodes[contrast]).array)
        state = job.wait(timeout=300)
        self.assertTrue(state.done, "the job did not finish within 5 minutes")
        if state.value == "succeeded":
            self.assertIsInstance(job.outputs, dict)
        else:
            self.assertIn("error", (job.error or "").lower())  # the CLI's own message, which the widget shows
        self.delayDisplay("Test passed")
