"""MRITriage: multi-contrast brain MRI triage with critical findings (3D Slicer scripted module).

Thin glue of its widgets and results on :mod:`RadTriageCommonLib.module_base`; the scene work is the core's
``radtriage.tasks.mri_triage.mrml``, imported inside methods so that this file loads before its dependencies.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

import qt
import slicer
from RadTriageCommonLib.module_base import ModuleLogicBase, ModuleTestBase, ModuleWidgetBase, resolveNodeIDs
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

TASK_NAME = "mri_triage"

HEATMAP_COLORMAPS = ("Iron", "ColdToHotRainbow", "Inferno", "PET-Heat")
"""Colour maps offered for the heatmap overlay (Slicer colour node names)."""

CRITICAL_STYLE = "QLabel { color: #c00000; font-weight: bold; }"

#
# MRITriage
#


class MRITriage(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MRI Triage")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = ["RadTriageCommon"]
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Triage of brain MRI from up to eight contrasts (any may be missing): probability of abnormal, acute "
            "infarct, acute haemorrhage and mass effect, with saliency heatmaps. Contrasts are detected from the "
            "DICOM tags (through Slicer's DICOM database), the file name or the volume name, and can be corrected "
            "in the table; the corrected contrasts are what the model gets. Results: a table (probability, "
            "decision, threshold), a red banner listing critical findings above threshold, the missing contrasts "
            "and notices, and a heatmap overlay per output, all under the study in the Data module. "
            "Needs 3D Slicer 5.12 or newer. "
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

    studyFolder - folder with the study's DICOM files or volume files ("" until chosen).
    useBundleThresholds - decide each output at the bundle's tuned thresholds ("balanced"), else at 0.5 ("default").
    outputTable - table receiving one row per output (a new one when none is chosen).
    heatmapOpacity - foreground opacity of the heatmap overlay in the slice views.
    heatmapColormap - colour map of the heatmap overlay.
    """

    studyFolder: str = ""
    useBundleThresholds: bool = True
    outputTable: vtkMRMLTableNode
    heatmapOpacity: Annotated[float, WithinRange(0, 1)] = 0.5
    heatmapColormap: Annotated[str, Choice(list(HEATMAP_COLORMAPS))] = "Iron"


#
# MRITriageWidget
#


class MRITriageWidget(ModuleWidgetBase, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: the contrast table and the results; the life cycle and the job are the base's."""

    optionWidgets: ClassVar[dict[str, str]] = {"useBundleThresholdsCheckBox": "operating_point"}

    failureMessage = _("MRI triage failed.")
    startErrorMessage = _("Cannot start the MRI triage.")
    applyToolTip = _("Triage the study from the assigned contrasts")
    runningToolTip = _("Stop the running triage")
    missingInputToolTip = _("Load a study or use loaded volumes, and assign at least one contrast")
    jobInputParameters = ()  # the job's volumes come from the contrast table, captured in startJob
    autoSelectParameters = ()
    pathParameters: ClassVar[Mapping[str, str]] = {"studyFolder": "studyFolderPathLineEdit"}
    CONTRAST_COLUMNS = ("Volume", "Contrast", "Confidence", "Why")

    _jobAssignment: Mapping[str, str] = {}  # {volume node ID: contrast} of the running/last job
    _background, _heatmapNodes = None, {}

    def createLogic(self) -> MRITriageLogic:
        return MRITriageLogic()

    def setupWidgets(self) -> None:
        """The contrast table, the study buttons, the output table view and the heatmap choice."""
        self.ui.contrastsTableWidget.setColumnCount(len(self.CONTRAST_COLUMNS))
        self.ui.contrastsTableWidget.setHorizontalHeaderLabels(list(self.CONTRAST_COLUMNS))
        self.ui.loadStudyButton.connect("clicked(bool)", self.onLoadStudyButton)
        self.ui.detectContrastsButton.connect("clicked(bool)", self.onDetectContrastsButton)
        self.ui.outputTableSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.ui.resultsTableView.setMRMLTableNode
        )
        self.ui.heatmapOutputComboBox.connect("currentIndexChanged(int)", self.onHeatmapChoiceChanged)

    def initializeParameterNode(self) -> None:
        """The base's parameter node set-up, then offer the heatmaps already in the scene (a reloaded scene)."""
        super().initializeParameterNode()
        heatmaps = {} if self._heatmapNodes else self.logic.heatmapsInScene()
        if heatmaps:
            self._showHeatmapChoices(heatmaps, None, None)

    def clearResults(self) -> None:
        self.ui.contrastsTableWidget.setRowCount(0)
        self._showFindings(None)

    def applyProblem(self) -> str:
        return "" if self._assignmentFromTable() else self.missingInputToolTip

    def onParameterNodeModified(self) -> None:
        folder = self._parameterNode.studyFolder
        self.ui.loadStudyButton.enabled = bool(folder) and pathlib.Path(folder).is_dir()
        self.onHeatmapChoiceChanged()

    def onLoadStudyButton(self) -> None:
        """Load every series of the study folder (the first one shown), then detect their contrasts."""
        if not self.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot load the study."), waitCursor=True):
            self._fillContrastTable(self.logic.loadStudyFolder(self._parameterNode.studyFolder))

    def onDetectContrastsButton(self) -> None:
        """Detect the contrast of every scalar volume already in the scene (label maps and heatmaps excluded)."""
        if not self.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot detect the contrasts."), waitCursor=True):
            self._fillContrastTable(self.logic.candidateVolumes())

    def _fillContrastTable(self, nodes: Sequence[vtkMRMLScalarVolumeNode]) -> None:
        """One row per volume: name, an editable contrast choice, the guess's confidence and explanation."""
        from radtriage.tasks.mri_triage.mrml import IGNORE_CONTRAST

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
            combo.setCurrentText(guess["choice"])
            combo.connect("currentIndexChanged(int)", self._checkCanApply)
            table.setCellWidget(row, 1, combo)
            table.setItem(row, 2, qt.QTableWidgetItem(f"{guess['confidence']:.2f}"))
            table.setItem(row, 3, qt.QTableWidgetItem(guess["explanation"]))
        table.resizeColumnsToContents()
        self.ui.statusLabel.text = _("{n} volumes; check the Contrast column before Apply.").format(n=len(nodes))
        self._checkCanApply()

    def _assignmentFromTable(self) -> dict[str, str]:
        """Volume node ID -> contrast chosen (or corrected) in the table; rows set to 'not used' are left out."""
        from radtriage.tasks.mri_triage.mrml import IGNORE_CONTRAST

        table = self.ui.contrastsTableWidget
        assignment = {}
        for row in range(table.rowCount):
            nameItem, combo = table.item(row, 0), table.cellWidget(row, 1)
            if nameItem is not None and combo is not None and combo.currentText != IGNORE_CONTRAST:
                assignment[nameItem.data(qt.Qt.UserRole)] = combo.currentText
        return assignment

    def startJob(self):
        """Start the triage on the table's volumes; they are kept (by ID) as the volumes this job ran on."""
        assignment = self._assignmentFromTable()
        operatingPoint = self.logic.operatingPointFor(self._parameterNode.useBundleThresholds)
        job = self.logic.startJob(assignment, operatingPoint)
        self._jobAssignment = dict(assignment)
        return job

    def jobInputNodes(self) -> dict[str, Any]:
        """{contrast: the volume the job ran on}, resolved now: the table may have changed since Apply."""
        ids = {contrast: nodeID for nodeID, contrast in self._jobAssignment.items()}
        return resolveNodeIDs(self.mrmlScene(), ids, required=ids)

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Put the job's results table and heatmaps under the study of the volumes it ran on, and show them."""
        from RadTriageCommonLib.job_files import readJobResult

        result = readJobResult(outputs)
        assignment = {node.GetID(): contrast for contrast, node in inputs.items()}
        nodes = self.logic.addResults(
            result,
            self.logic.readHeatmaps(outputs),
            assignment,
            self._parameterNode.heatmapOpacity,
            self._parameterNode.outputTable,
        )
        self.showResult(result, nodes)

    def showResult(self, result: Mapping[str, Any], nodes: Mapping[str, Any]) -> None:
        """Show the results table, the critical-finding banner, missing contrasts, notices and the heatmap."""
        self._showFindings(result)
        self._showHeatmapChoices(nodes["heatmaps"], nodes["background"], nodes["shown"])
        self._parameterNode.outputTable = nodes["table"]
        self.ui.resultsTableView.setMRMLTableNode(nodes["table"])
        self.ui.statusLabel.text = _("Done: results are under the study in the Data module.")

    def _showHeatmapChoices(self, heatmaps: Mapping[str, Any], background, shown: str | None) -> None:
        """Offer each output's heatmap in the combo box and show ``shown`` over ``background``."""
        self._background, self._heatmapNodes = background, dict(heatmaps)
        combo = self.ui.heatmapOutputComboBox
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        combo.addItems(list(self._heatmapNodes))
        if shown in self._heatmapNodes:
            combo.setCurrentText(shown)
        combo.blockSignals(wasBlocked)
        self.onHeatmapChoiceChanged()

    def _showFindings(self, result: Mapping[str, Any] | None) -> None:
        from radtriage.tasks.mri_triage import mrml

        if result is None:
            for label in (self.ui.criticalBannerLabel, self.ui.missingContrastsLabel, self.ui.noticesLabel):
                label.text = ""
            self.ui.criticalBannerLabel.setStyleSheet("")
            self._heatmapNodes, self._background = {}, None
            self.ui.heatmapOutputComboBox.clear()
            return
        text, critical = mrml.critical_banner(result["outputs"])
        self.ui.criticalBannerLabel.text = text
        self.ui.criticalBannerLabel.setStyleSheet(CRITICAL_STYLE if critical else "")
        self.ui.missingContrastsLabel.text = mrml.missing_contrasts_text(result["outputs"])
        self.ui.noticesLabel.text = mrml.notices_text(result)

    def onHeatmapChoiceChanged(self, index: int = -1) -> None:
        """Show the chosen output's heatmap with the chosen colour map and opacity in every slice view."""
        if self._parameterNode is None or not self._heatmapNodes:
            return
        heatmap = self._heatmapNodes.get(self.ui.heatmapOutputComboBox.currentText)
        if heatmap is None or self.mrmlScene().GetNodeByID(heatmap.GetID()) is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot show the heatmap."), waitCursor=False):
            node = self._parameterNode
            self.logic.showHeatmap(self._background, heatmap, node.heatmapOpacity, node.heatmapColormap)


#
# MRITriageLogic
#


class MRITriageLogic(ModuleLogicBase, ScriptedLoadableModuleLogic):
    """Everything the module computes, usable without the GUI; the scene work is in the core."""

    taskName = TASK_NAME
    parameterNodeClass = MRITriageParameterNode
    outputNamePrefix = "MRI triage "

    def assignContrasts(self, volumeNodes: Sequence[vtkMRMLScalarVolumeNode]) -> dict[str, dict[str, Any]]:
        """Node ID -> contrast, confidence, explanation, usable, choices: the core's guess from the node's DICOM
        tags (through ``slicer.dicomDatabase``), series description, file name and name."""
        from radtriage.tasks.mri_triage.mrml import contrast_table

        return contrast_table(volumeNodes, getattr(slicer, "dicomDatabase", None))

    def loadStudyFolder(self, path: str | pathlib.Path) -> list[vtkMRMLScalarVolumeNode]:
        """Read every DICOM series and volume file of a study folder into the scene, the first one shown."""
        from radtriage.tasks.mri_triage.mrml import load_study_nodes

        app = getattr(slicer, "app", None)
        return load_study_nodes(slicer.mrmlScene, path, app.applicationLogic() if app is not None else None)

    def candidateVolumes(self) -> list[vtkMRMLScalarVolumeNode]:
        """The scene's scalar volumes the triage can take (label maps and heatmaps left out)."""
        from radtriage.tasks.mri_triage.mrml import triage_candidates

        return triage_candidates(slicer.mrmlScene)

    def imagesByContrast(self, assignment: Mapping[str, str]) -> dict[str, Any]:
        """{contrast: Image} from {volume node ID: contrast}; refuses a contrast given to two volumes."""
        from radtriage.tasks.mri_triage.mrml import images_by_contrast

        return images_by_contrast(slicer.mrmlScene, assignment)

    @staticmethod
    def operatingPointFor(useBundleThresholds: bool) -> str:
        """The bundle's operating point: its tuned thresholds, or the fixed 0.5 for every output."""
        from radtriage.tasks.mri_triage.mrml import operating_point_for

        return operating_point_for(useBundleThresholds)

    @staticmethod
    def buildArgv(inputPaths: Mapping[str, str | pathlib.Path], operatingPoint: str | None = None) -> list[str]:
        """``python -m radtriage infer`` on {contrast: volume file} (``--input CONTRAST=PATH ...``); each key is
        the contrast the user chose, which the core takes as an override of its own guess."""
        return ModuleLogicBase.inferArgv(TASK_NAME, dict(inputPaths), {"operating_point": operatingPoint})

    def startJob(self, assignment: Mapping[str, str], operatingPoint: str | None = None):
        """Write each assigned volume to a temporary NRRD and start the triage in a background process (returned)."""
        return self.startTaskJob(self.imagesByContrast(assignment), lambda paths: self.buildArgv(paths, operatingPoint))

    @staticmethod
    def readHeatmaps(outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The job's heatmap volumes as ``Image``s: {``heatmap_<output>``: Image}."""
        from RadTriageCommonLib.job_files import readJobVolume

        return {key: readJobVolume(outputs, key) for key in outputs if str(key).startswith("heatmap_")}

    def addResults(self, result, heatmaps, assignment, opacity: float = 0.5, outputTable=None) -> dict[str, Any]:
        """The results table (into ``outputTable`` when chosen) and heatmaps under the study of the volumes the job
        ran on (``assignment``: {volume node ID: contrast}, kept from its start)."""
        from radtriage.tasks.mri_triage.mrml import add_results

        return add_results(slicer.mrmlScene, result, heatmaps, assignment, opacity, outputTable)

    def heatmapsInScene(self) -> dict[str, Any]:
        """{output: heatmap node} this module left in the scene (e.g. from a reloaded .mrb)."""
        from radtriage.tasks.mri_triage.mrml import heatmaps_in_scene

        return heatmaps_in_scene(slicer.mrmlScene)

    def showHeatmap(self, background, heatmap, opacity: float, colormap: str) -> None:
        """Show ``heatmap`` over ``background`` in every slice view with ``colormap`` and foreground ``opacity``."""
        from radtriage.tasks.mri_triage.mrml import show_heatmap

        show_heatmap(slicer.mrmlScene, background, heatmap, opacity, colormap)

    def run(self, assignment: Mapping[str, str], operatingPoint: str | None = None) -> Any:
        """Run the core's triage task in this process on {volume node ID: contrast} (a ``TaskResult``)."""
        options = {} if operatingPoint is None else {"operating_point": operatingPoint}
        return self.runTask(self.imagesByContrast(assignment), **options)


#
# MRITriageTest
#


class MRITriageTest(ModuleTestBase, ScriptedLoadableModuleTest):
    """Self-test on a multi-contrast brain phantom made in the test (skips when packages are missing)."""

    def _brainNodes(self) -> dict[str, vtkMRMLScalarVolumeNode]:
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_brain_case

        case = make_brain_case(seed=0, shape=(48, 48, 32))
        return {c: image_to_volume_node(slicer.mrmlScene, image, name=image.metadata["description"])
                for c, image in case.images.items()}  # fmt: skip

    def test_MRITriage_loadStudyAndContrasts(self) -> None:
        """A study folder loads one node per file, the first shown; every contrast is detected from its file."""
        import tempfile

        import numpy as np

        from radtriage.io import write_volume
        from radtriage.phantoms import make_brain_case

        self.delayDisplay("MRI triage: load a study folder and detect its contrasts")
        case = make_brain_case(seed=0, shape=(32, 32, 16))
        names = {"T1": "t1_mprage", "T1post": "t1_mprage_post_gd", "FLAIR": "t2_flair_tra", "SWI": "swi_tra"}
        logic = MRITriageLogic()
        with tempfile.TemporaryDirectory() as folder:
            for contrast, name in names.items():
                write_volume(case.images[contrast], pathlib.Path(folder) / f"{name}.nii.gz")
            nodes = logic.loadStudyFolder(folder)
        self.assertEqual(sorted(node.GetName() for node in nodes), sorted(names.values()))
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        self.assertEqual(composite.GetBackgroundVolumeID(), nodes[0].GetID())
        guesses = logic.assignContrasts(nodes)
        byName = {node.GetName(): guesses[node.GetID()]["contrast"] for node in nodes}
        self.assertEqual(byName, {name: contrast for contrast, name in names.items()})
        np.testing.assert_allclose(logic.volumeImage(nodes[0]).ijk_to_ras, case.images["T1"].ijk_to_ras, atol=1e-3)
        self.delayDisplay("Test passed")

    def test_MRITriage_backgroundJob(self) -> None:
        """startJob writes every contrast exactly and ``radtriage infer`` answers in a child process."""
        from RadTriageCommonLib.testing import assertJobRunsTask

        from radtriage.labelsets import BRAIN_FINDINGS

        self.delayDisplay("MRI triage: background job")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        job = logic.startJob({node.GetID(): contrast for contrast, node in nodes.items()})
        expected = {contrast: logic.volumeImage(node).array for contrast, node in nodes.items()}
        result = assertJobRunsTask(self, job, TASK_NAME, expected)
        self.assertEqual(set(result["outputs"]["probabilities"]), set(BRAIN_FINDINGS))
        self.delayDisplay("Test passed")

    def test_MRITriage_resultsInScene(self) -> None:
        """The in-process demo answer reaches the chosen table, and heatmaps on the reference grid under its study."""
        import numpy as np
        from RadTriageCommonLib.testing import assertDemoAnswer

        from radtriage.mrml import patient_and_study_of, rows_from_table
        from radtriage.tasks.result import to_plain

        self.delayDisplay("MRI triage: results in the scene")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        first, second = list(nodes.values())[:2]
        with self.assertRaises(ValueError):  # one volume per contrast
            logic.run({first.GetID(): "T1", second.GetID(): "T1"})
        assignment = {node.GetID(): contrast for contrast, node in nodes.items()}
        result = logic.run(assignment, logic.operatingPointFor(True))
        assertDemoAnswer(self, result, TASK_NAME)
        outputs = (data := to_plain(result.to_dict()))["outputs"]
        chosen = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "My triage table")
        added = logic.addResults(data, result.volumes, assignment, 0.4, chosen)
        self.assertIs(added["table"], chosen)
        self.assertEqual([r["output"] for r in rows_from_table(chosen)], [f["output"] for f in outputs["findings"]])
        background = added["background"]
        self.assertIs(background, nodes[data["outputs"]["contrasts"]["reference"]])
        study = patient_and_study_of(slicer.mrmlScene, chosen)
        for heatmap in added["heatmaps"].values():
            self.assertEqual(patient_and_study_of(slicer.mrmlScene, heatmap), study)
            np.testing.assert_allclose(logic.volumeImage(heatmap).ijk_to_ras, logic.volumeImage(background).ijk_to_ras)
        logic.showHeatmap(background, added["heatmaps"]["mass_effect"], 0.3, "PET-Heat")
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        self.assertEqual(composite.GetForegroundVolumeID(), added["heatmaps"]["mass_effect"].GetID())
        self.assertAlmostEqual(composite.GetForegroundOpacity(), 0.3)
        self.delayDisplay("Test passed")
