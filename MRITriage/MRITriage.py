"""MRITriage: multi-contrast brain MRI triage with critical findings (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Mapping, Sequence
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

TASK_NAME = "mri_triage"

IGNORE_CONTRAST = "(not used)"
"""Choice in the contrast column that leaves a volume out of the triage."""

TUNED_OPERATING_POINT = "balanced"
FIXED_OPERATING_POINT = "default"
"""Operating points stored with the model bundle: thresholds tuned per output, or 0.5 for every output."""

HEATMAP_COLORMAPS = ("Iron", "ColdToHotRainbow", "Inferno", "PET-Heat")
"""Colour maps offered for the heatmap overlay (Slicer colour node names)."""

CRITICAL_OUTPUTS = ("acute_infarct", "acute_haemorrhage", "mass_effect")
"""The outputs that make a study critical when positive (as in radtriage.tasks.mri_triage)."""

NO_CRITICAL_TEXT = "No critical finding above threshold"
CRITICAL_STYLE = "QLabel { color: #c00000; font-weight: bold; }"
DEFAULT_PATIENT = "RadTriage"

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
            "automatically and can be corrected in the table; the corrected contrasts are what the model gets. "
            "Results: a table (probability, decision, threshold), a red banner listing critical findings above "
            "threshold, the missing contrasts and notices, and a heatmap overlay per output (choose the output, "
            "colour map and opacity). Everything is placed under the study in the Data module and saved with the "
            "scene. "
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
    useBundleThresholds - decide each output at the bundle's tuned thresholds ("balanced"), else at 0.5 ("default").
    outputTable - table receiving one row per output (probability, decision, threshold).
    heatmapOpacity - foreground opacity of the heatmap overlay in the slice views.
    heatmapColormap - colour map of the heatmap overlay.
    """

    studyFolder: pathlib.Path
    useBundleThresholds: bool = True
    outputTable: vtkMRMLTableNode
    heatmapOpacity: Annotated[float, WithinRange(0, 1)] = 0.5
    heatmapColormap: Annotated[str, Choice(list(HEATMAP_COLORMAPS))] = "Iron"


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
        self._jobAssignment: dict[str, str] = {}
        self._background = None
        self._heatmapNodes: dict[str, Any] = {}

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
        self.ui.heatmapOutputComboBox.connect("currentIndexChanged(int)", self._updateHeatmapDisplay)
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateHeatmapDisplay)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)
        self.ui.contrastsTableWidget.setRowCount(0)
        self._showFindings(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists and is observed; offer heatmaps already in the scene."""
        self.setParameterNode(self.logic.getParameterNode())
        self._restoreHeatmapsFromScene()

    def setParameterNode(self, inputParameterNode: MRITriageParameterNode | None) -> None:
        """Connect the GUI to ``inputParameterNode`` (widgets carry a SlicerParameterName property)."""
        if self._parameterNode:
            if self._parameterNodeGuiTag is not None:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateHeatmapDisplay)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateHeatmapDisplay)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
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

    def onLoadStudyButton(self) -> None:
        """Load every series of the study folder, then detect their contrasts."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot load the study."), waitCursor=True):
            nodes = self.logic.loadStudyFolder(self._parameterNode.studyFolder)
            self._fillContrastTable(nodes)

    def onDetectContrastsButton(self) -> None:
        """Detect the contrast of every scalar volume already in the scene (label maps and heatmaps excluded)."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if not ensureDependencies():
            return
        nodes = [
            node
            for node in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            if not node.IsA("vtkMRMLLabelMapVolumeNode") and node.GetAttribute("RadTriage.Role") != "heatmap"
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
        """Volume node ID -> contrast chosen (or corrected) in the table; rows set to 'not used' are left out."""
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
            assignment = self._assignmentFromTable()
            operatingPoint = self.logic.operatingPointFor(self.ui.useBundleThresholdsCheckBox.checked)
            job = self.logic.startJob(assignment, operatingPoint)
            self._jobAssignment = assignment
            self._jobs.follow(job)

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Put the job's results table and heatmaps under the study and show the findings."""
        from RadTriageCommonLib.job_files import readJobResult

        result = readJobResult(outputs)
        background = self.logic.referenceNode(result["outputs"], self._jobAssignment)
        inputNodes = [slicer.mrmlScene.GetNodeByID(nodeID) for nodeID in self._jobAssignment]
        nodes = self.logic.addResults(
            slicer.mrmlScene,
            result,
            self.logic.readHeatmaps(outputs),
            background,
            [node for node in inputNodes if node is not None],
            self._parameterNode.heatmapOpacity,
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
        self._background = background
        self._heatmapNodes = dict(heatmaps)
        combo = self.ui.heatmapOutputComboBox
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        combo.addItems(list(self._heatmapNodes))
        if shown in self._heatmapNodes:
            combo.setCurrentText(shown)
        combo.blockSignals(wasBlocked)
        self._updateHeatmapDisplay()

    def _restoreHeatmapsFromScene(self) -> None:
        """After a scene is loaded, offer the heatmaps saved in it (nodes tagged by the core's MRML builder)."""
        if self._heatmapNodes:
            return
        heatmaps = {
            node.GetAttribute("RadTriage.Output"): node
            for node in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            if node.GetAttribute("RadTriage.Role") == "heatmap" and node.GetAttribute("RadTriage.Output")
        }
        if heatmaps:
            self._showHeatmapChoices(heatmaps, None, None)

    def _showFindings(self, result: Mapping[str, Any] | None) -> None:
        if result is None:
            self.ui.criticalBannerLabel.text = ""
            self.ui.criticalBannerLabel.setStyleSheet("")
            self.ui.missingContrastsLabel.text = ""
            self.ui.noticesLabel.text = ""
            self._heatmapNodes = {}
            self._background = None
            self.ui.heatmapOutputComboBox.clear()
            return
        text, critical = self.logic.criticalBanner(result["outputs"])
        self.ui.criticalBannerLabel.text = text
        self.ui.criticalBannerLabel.setStyleSheet(CRITICAL_STYLE if critical else "")
        self.ui.missingContrastsLabel.text = self.logic.missingContrastsText(result["outputs"])
        self.ui.noticesLabel.text = self.logic.noticesText(result)

    def _updateHeatmapDisplay(self, caller=None, event=None) -> None:
        """Show the chosen output's heatmap with the chosen colour map and opacity in every slice view."""
        if self._parameterNode is None or not self._heatmapNodes:
            return
        heatmap = self._heatmapNodes.get(self.ui.heatmapOutputComboBox.currentText)
        if heatmap is None or slicer.mrmlScene.GetNodeByID(heatmap.GetID()) is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot show the heatmap."), waitCursor=False):
            self.logic.showHeatmap(
                slicer.mrmlScene,
                self._background,
                heatmap,
                self._parameterNode.heatmapOpacity,
                self._parameterNode.heatmapColormap,
            )


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

    @staticmethod
    def contrastOwners(assignment: Mapping[str, str], names: Mapping[str, str] | None = None) -> dict[str, str]:
        """{contrast: volume node ID} from the table's {volume node ID: contrast}; refuses a contrast given twice.

        ``names`` (node ID -> volume name) makes the refusal name the volumes; rows set to "(not used)" are skipped.
        """
        names = names or {}
        owners: dict[str, str] = {}
        for nodeID, contrast in assignment.items():
            if contrast == IGNORE_CONTRAST:
                continue
            if contrast in owners:
                first, second = names.get(owners[contrast], owners[contrast]), names.get(nodeID, nodeID)
                raise ValueError(f"{second} and {first} are both assigned {contrast}; keep one")
            owners[contrast] = nodeID
        if not owners:
            raise ValueError("no volume is assigned a contrast")
        return owners

    def imagesByContrast(self, assignment: Mapping[str, str]) -> dict[str, Any]:
        """{contrast: Image} from {volume node ID: contrast}; refuses a contrast given to two volumes."""
        names = {}
        for nodeID in assignment:
            node = slicer.mrmlScene.GetNodeByID(nodeID)
            if node is None:
                raise ValueError(f"volume {nodeID} is no longer in the scene")
            names[nodeID] = node.GetName()
        owners = self.contrastOwners(assignment, names)
        return {contrast: self.volumeImage(slicer.mrmlScene.GetNodeByID(nodeID)) for contrast, nodeID in owners.items()}

    @staticmethod
    def buildArgv(inputPaths: Mapping[str, str | pathlib.Path], operatingPoint: str | None = None) -> list[str]:
        """``python -m radtriage infer`` on {contrast: volume file} (``--input CONTRAST=PATH ...``).

        Each input's key is the contrast the user chose, which the core takes as an override of its own guess.
        ``operatingPoint`` (a name stored in the bundle, see :meth:`operatingPointFor`) becomes
        ``--option operating_point=...``.
        """
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        inputs = [f"{contrast}={path}" for contrast, path in inputPaths.items()]
        extra = [] if operatingPoint is None else ["--option", f"operating_point={json.dumps(operatingPoint)}"]
        return radtriage_argv(
            "infer", "--task", TASK_NAME, "--input", *inputs, "--output", OUTPUT_DIR_PLACEHOLDER, *extra
        )

    def startJob(self, assignment: Mapping[str, str], operatingPoint: str | None = None):
        """Write each assigned volume to a temporary NRRD and start the triage in a background process (returned)."""
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        paths, outputDir = writeJobInputs(TASK_NAME, self.imagesByContrast(assignment))
        logger.info("starting %s on contrasts %s in a background process", TASK_NAME, ", ".join(sorted(paths)))
        return BackgroundJob(self.buildArgv(paths, operatingPoint), outputDir).start()

    @staticmethod
    def operatingPointFor(useBundleThresholds: bool) -> str:
        """The bundle's operating point: its tuned thresholds, or the fixed 0.5 for every output."""
        return TUNED_OPERATING_POINT if useBundleThresholds else FIXED_OPERATING_POINT

    @staticmethod
    def readHeatmaps(outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The job's heatmap volumes as ``Image``s: {``heatmap_<output>``: Image}."""
        from radtriage.io import read_volume

        return {key: read_volume(path) for key, path in outputs.items() if str(key).startswith("heatmap_")}

    @staticmethod
    def referenceInputKey(outputs: Mapping[str, Any]) -> str | None:
        """The input key (the contrast the user assigned) of the study's reference contrast: the heatmaps' grid."""
        contrasts = outputs.get("contrasts") or {}
        reference = contrasts.get("reference")
        return (contrasts.get("inputs") or {}).get(reference) if reference else None

    @staticmethod
    def referenceNodeID(outputs: Mapping[str, Any], assignment: Mapping[str, str]) -> str | None:
        """The volume node (ID) the heatmaps are shown over: the one assigned the reference input's contrast."""
        key = MRITriageLogic.referenceInputKey(outputs)
        return next((nodeID for nodeID, contrast in assignment.items() if contrast == key), None)

    def referenceNode(self, outputs: Mapping[str, Any], assignment: Mapping[str, str]):
        """The reference volume node of a finished triage (None when it left the scene)."""
        nodeID = self.referenceNodeID(outputs, assignment)
        return slicer.mrmlScene.GetNodeByID(nodeID) if nodeID else None

    @staticmethod
    def outputLabel(output: str) -> str:
        """``acute_haemorrhage`` -> ``acute haemorrhage``."""
        return output.replace("_", " ")

    @staticmethod
    def criticalFindings(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The critical outputs (acute infarct, acute haemorrhage, mass effect) decided positive, in that order."""
        findings = {f["output"]: f for f in outputs.get("findings", [])}
        return [
            findings[name]
            for name in CRITICAL_OUTPUTS
            if name in findings and findings[name]["decision"] and findings[name].get("critical", True)
        ]

    @staticmethod
    def criticalBanner(outputs: Mapping[str, Any]) -> tuple[str, bool]:
        """The banner text and whether it is critical: each positive critical finding with its probability."""
        found = MRITriageLogic.criticalFindings(outputs)
        if not found:
            return NO_CRITICAL_TEXT, False
        parts = [
            f"{MRITriageLogic.outputLabel(f['output'])} (p = {float(f['probability']):.2f} >= "
            f"{float(f['threshold']):.2f})"
            for f in found
        ]
        return "CRITICAL finding above threshold: " + ", ".join(parts), True

    @staticmethod
    def missingContrastsText(outputs: Mapping[str, Any]) -> str:
        """Which contrasts were used and which were missing (their channels are left empty, never filled)."""
        used = (outputs.get("contrasts") or {}).get("used") or []
        missing = outputs.get("missing_contrasts") or []
        text = f"Used: {', '.join(used) or 'none'}."
        return f"{text} Missing contrasts: {', '.join(missing)}." if missing else f"{text} No contrast missing."

    @staticmethod
    def noticesText(result: Mapping[str, Any]) -> str:
        """The result's notices (demo disclaimer, missing contrasts, unused inputs...), one a line."""
        return "\n".join(str(notice) for notice in result.get("notices") or [])

    @staticmethod
    def heatmapForOutput(heatmaps: Mapping[str, Any], output: str):
        """The heatmap of ``output`` among {output: node} or {``heatmap_<output>``: node}; None when there is none."""
        return heatmaps.get(output, heatmaps.get(f"heatmap_{output}"))

    @staticmethod
    def studyNames(scene: Any, node: Any) -> tuple[str, str]:
        """(patient, study) of ``node`` in the subject hierarchy; a RadTriage patient and a named study otherwise."""
        from radtriage.mrml import patient_and_study_of

        patient, study = patient_and_study_of(scene, node) if node is not None else (None, None)
        if patient and study:
            return patient, study
        return patient or DEFAULT_PATIENT, f"MRI triage: {node.GetName() if node is not None else 'study'}"

    @staticmethod
    def addResults(
        scene: Any,
        result: Mapping[str, Any],
        heatmaps: Mapping[str, Any],
        background: Any,
        inputNodes: Sequence[Any] = (),
        opacity: float = 0.5,
    ) -> dict[str, Any]:
        """Put the core's results table and heatmap overlays, and the input volumes, under the study.

        ``result`` is ``result.json`` (or a TaskResult), ``heatmaps`` {``heatmap_<output>``: Image}, ``background``
        the reference volume node. Returns the core's {"table", "heatmaps", "background", "shown"}.
        """
        from radtriage.mrml import place_under_study
        from radtriage.tasks.mri_triage.mrml import add_mri_triage_outputs

        patient, study = MRITriageLogic.studyNames(scene, background)
        nodes = add_mri_triage_outputs(scene, result, background, patient, study, heatmaps=heatmaps, opacity=opacity)
        for node in inputNodes:
            place_under_study(scene, node, patient, study)
        return nodes

    @staticmethod
    def showHeatmap(scene: Any, background: Any, heatmap: Any, opacity: float, colormap: str) -> None:
        """Show ``heatmap`` over ``background`` in every slice view with ``colormap`` and foreground ``opacity``."""
        from radtriage.mrml import find_color_node, show_in_slice_views

        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be within [0, 1], got {opacity}")
        heatmap.GetDisplayNode().SetAndObserveColorNodeID(find_color_node(scene, colormap).GetID())
        show_in_slice_views(scene, background, heatmap, opacity)

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load a finished job's files into the scene as they are, without the study hierarchy: {output key: node}.

        The widget uses :meth:`addResults` instead (table and heatmaps under the study, overlay shown); this is
        for opening the raw files of a job.
        """
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="MRI triage ")

    def run(self, assignment: Mapping[str, str], operatingPoint: str | None = None) -> Any:
        """Run the core's triage task in this process on {volume node ID: contrast} (a ``TaskResult``)."""
        from radtriage.tasks import run_task

        images = self.imagesByContrast(assignment)
        options = {} if operatingPoint is None else {"operating_point": operatingPoint}
        logger.info("running %s on contrasts %s", TASK_NAME, ", ".join(sorted(images)))
        return run_task(TASK_NAME, inputs=images, **options)


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
        self.test_MRITriage_runAnswers()
        self.setUp()
        self.test_MRITriage_backgroundJob()
        self.setUp()
        self.test_MRITriage_resultsInScene()

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

    def test_MRITriage_runAnswers(self) -> None:
        """Logic.run answers in process with the installed demo bundle, labelled as a demo."""
        self.delayDisplay("MRI triage: run")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        first, second = list(nodes.values())[:2]
        with self.assertRaises(ValueError):
            logic.run({first.GetID(): "T1", second.GetID(): "T1"})

        from RadTriageCommonLib.testing import assertDemoAnswer

        result = logic.run({node.GetID(): contrast for contrast, node in nodes.items()})
        assertDemoAnswer(self, result, TASK_NAME)
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
        """The demo bundle's answer on a phantom reaches the table, the banner and heatmaps on the input's grid."""
        import numpy as np

        from radtriage.mrml import patient_and_study_of, rows_from_table
        from radtriage.tasks.mri_triage.mrml import table_rows
        from radtriage.tasks.result import to_plain

        self.delayDisplay("MRI triage: results in the scene")
        nodes = self._brainNodes()
        logic = MRITriageLogic()
        assignment = {node.GetID(): contrast for contrast, node in nodes.items()}
        result = logic.run(assignment, logic.operatingPointFor(True))
        data = to_plain(result.to_dict())
        outputs = data["outputs"]
        self.assertEqual(len(outputs["probabilities"]), 4)
        for probability in outputs["probabilities"].values():
            self.assertGreaterEqual(probability, 0.0)
            self.assertLessEqual(probability, 1.0)
        self.assertIn("demo, not for clinical use", logic.noticesText(data))

        background = slicer.mrmlScene.GetNodeByID(logic.referenceNodeID(outputs, assignment))
        self.assertIs(background, nodes[outputs["contrasts"]["reference"]])
        added = logic.addResults(slicer.mrmlScene, data, result.volumes, background, list(nodes.values()), 0.4)
        rows = rows_from_table(added["table"])
        self.assertEqual([row["output"] for row in rows], [row["output"] for row in table_rows(outputs)])
        for row, want in zip(rows, table_rows(outputs), strict=True):
            self.assertEqual(row["decision"], want["decision"])
            self.assertAlmostEqual(row["probability"], want["probability"], places=5)
            self.assertAlmostEqual(row["threshold"], want["threshold"], places=5)
        self.assertEqual(set(added["heatmaps"]), set(outputs["probabilities"]))
        study = patient_and_study_of(slicer.mrmlScene, added["table"])
        self.assertEqual(study, logic.studyNames(slicer.mrmlScene, background))
        expected = logic.volumeImage(background).ijk_to_ras
        for heatmap in [*added["heatmaps"].values(), *nodes.values()]:
            self.assertEqual(patient_and_study_of(slicer.mrmlScene, heatmap), study)
        for heatmap in added["heatmaps"].values():
            np.testing.assert_allclose(logic.volumeImage(heatmap).ijk_to_ras, expected, atol=1e-3)

        text, critical = logic.criticalBanner(outputs)
        self.assertEqual(critical, any(outputs["decisions"][name] for name in CRITICAL_OUTPUTS))
        self.assertTrue(critical or text == NO_CRITICAL_TEXT)
        heatmap = logic.heatmapForOutput(added["heatmaps"], "mass_effect")
        logic.showHeatmap(slicer.mrmlScene, background, heatmap, 0.3, "PET-Heat")
        self.assertEqual(heatmap.GetDisplayNode().GetColorNode().GetName(), "PET-Heat")
        for composite in slicer.util.getNodesByClass("vtkMRMLSliceCompositeNode"):
            self.assertEqual(composite.GetForegroundVolumeID(), heatmap.GetID())
            self.assertAlmostEqual(composite.GetForegroundOpacity(), 0.3)
        self.delayDisplay("Test passed")
