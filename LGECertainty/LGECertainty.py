"""LGECertainty: per-slice LGE likelihood (0-100) and low-certainty flag (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import json
import logging
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

TASK_NAME = "lge_certainty"
SLICE_TABLE_HEADERS = ["Slice", "Likelihood", "Certainty", "Reading", "Hint", "Your rating"]
MODEL_COLUMNS = (1, 2, 3, 4)
"""Columns hidden from a blinded reader until the slice is rated."""
HIDDEN_TEXT = "(rate first)"
LOW_CERTAINTY_COLOUR = (255, 224, 150)

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
            "Readers can rate each slice 0-100 (optionally blinded to the model) with the keyboard: arrows change "
            "the rating, digits 0-9 set 0-90, N or Enter save it and show the next slice. "
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
    longAxisPoints - optional two points (RAS): apex, then mitral-valve centre; the stack is reformatted to them.
    outputTable - table receiving one row per slice.
    readerId - the reader's pseudonym (one rating sheet per reader).
    blinded - hide the model's columns for a slice until the reader has rated it.
    ratingsFolder - where rating sheets are saved (empty: beside the saved scene).
    rating - the reader's 0-100 LGE rating of the current slice.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    useBundleCertaintyBand: bool = True
    certaintyBandLow: Annotated[float, WithinRange(0, 100)] = 25.0
    certaintyBandHigh: Annotated[float, WithinRange(0, 100)] = 75.0
    longAxisPoints: vtkMRMLMarkupsFiducialNode
    outputTable: vtkMRMLTableNode
    readerId: str = ""
    blinded: bool = True
    ratingsFolder: pathlib.Path
    rating: Annotated[float, WithinRange(0, 100)] = 50.0


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
        self._result = None
        self._stackNode = None
        self._sheet = None
        self._sheetKey = None
        self._currentSlice = None
        self._redSliceNode = None
        self._shortcuts = []

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
        self.ui.useBundleCertaintyBandCheckBox.connect("toggled(bool)", self._updateBandWidgets)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.saveRatingButton.connect("clicked(bool)", self.onSaveRatingAndNext)
        self.ui.sliceTableWidget.connect("cellClicked(int,int)", self.onSliceClicked)
        self.ui.progressBar.setVisible(False)
        self._observeRedSlice()
        self._createShortcuts()

        self.initializeParameterNode()

    def _createShortcuts(self) -> None:
        """Rating keys, active while the focus is in this module's panel."""
        keys = {
            "Up": lambda: self._stepRating(1),
            "Right": lambda: self._stepRating(1),
            "Down": lambda: self._stepRating(-1),
            "Left": lambda: self._stepRating(-1),
            "N": self.onSaveRatingAndNext,
            "Return": self.onSaveRatingAndNext,
            "Enter": self.onSaveRatingAndNext,
        }
        for digit in range(10):
            keys[str(digit)] = lambda value=10 * digit: self._setRating(value)
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

    def _setRating(self, value: float) -> None:
        if self._parameterNode is not None:
            self._parameterNode.rating = float(min(100.0, max(0.0, value)))

    def _stepRating(self, step: float) -> None:
        if self._parameterNode is not None:
            self._setRating(self._parameterNode.rating + step)

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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onReaderSettingsModified)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)
        self._result = self._stackNode = self._sheet = self._sheetKey = self._currentSlice = None

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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onReaderSettingsModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onReaderSettingsModified)
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
            node = self._parameterNode
            band = None if node.useBundleCertaintyBand else (node.certaintyBandLow, node.certaintyBandHigh)
            self._jobs.follow(self.logic.startJob(node.inputVolume, band, node.longAxisPoints))

    def onJobFinished(self, outputs: Mapping[str, Any]) -> None:
        """Add the per-slice table (and the short-axis reformat) to the scene and show the scores."""
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.lge_certainty.runner import SAX_VOLUME

        result = readJobResult(outputs)
        nodes = self.logic.addResults(result, readJobVolume(outputs, SAX_VOLUME), self._parameterNode.inputVolume)
        self._parameterNode.outputTable = nodes["table"]
        sax = nodes["sax_volume"]
        self.showResult(result, sax if sax is not None else self._parameterNode.inputVolume)

    def showResult(self, result: Mapping[str, Any], stackNode) -> None:
        """Show ``result`` (result.json) scored on ``stackNode`` in the Red view, the table and the labels."""
        self._result = result
        self._stackNode = stackNode
        self.ui.noticesLabel.text = "\n".join(result.get("notices") or [])
        slicer.util.setSliceViewerLayers(background=stackNode, fit=True)
        if self._redSliceNode is not None:
            self._redSliceNode.RotateToVolumePlane(stackNode)
        self._sheetKey = None
        self._onReaderSettingsModified()
        self.onRedSliceModified()

    def _readerSettings(self) -> tuple[str, str, bool]:
        node = self._parameterNode
        return node.readerId.strip(), str(node.ratingsFolder or ""), bool(node.blinded)

    def _onReaderSettingsModified(self, caller=None, event=None) -> None:
        """Open the reader's sheet when the reader or the folder changed; redraw when blinding changed."""
        if self._parameterNode is None or self._result is None or self._stackNode is None:
            return
        key = self._readerSettings()
        if key == self._sheetKey:
            return
        reader, _folder, blinded = key
        self._sheetKey = key
        self._sheet = None
        from radtriage.errors import RadTriageError

        if reader:
            try:
                self._sheet = self.logic.openRatingSheet(
                    self._sheetPath(), reader, blinded, self._stackNode.GetName(), self._result
                )
                self.ui.ratingStatusLabel.text = _("Ratings of {reader}: {count} slice(s)").format(
                    reader=reader, count=len(self._sheet.ratings)
                )
            except (ValueError, OSError, RadTriageError) as error:
                self.ui.ratingStatusLabel.text = str(error)
        else:
            self.ui.ratingStatusLabel.text = _("Enter a reader code to rate slices.")
        self._refreshSliceTable()

    def _sheetPath(self) -> pathlib.Path:
        reader, folder, _blinded = self._readerSettings()
        sceneFile = slicer.mrmlScene.GetURL() or ""
        fallback = slicer.mrmlScene.GetRootDirectory() or slicer.app.temporaryPath
        return self.logic.ratingSheetPath(folder, sceneFile, fallback, self._stackNode.GetName(), reader)

    def _ratings(self) -> dict[int, float]:
        if self._sheet is None:
            return {}
        return {int(key): float(entry["rating"]) for key, entry in self._sheet.ratings.items() if key.isdigit()}

    def _refreshSliceTable(self) -> None:
        table = self.ui.sliceTableWidget
        table.clearContents()
        if self._result is None:
            table.setRowCount(0)
            return
        blinded = self._parameterNode.blinded
        self.ui.resultsTableView.setMRMLTableNode(None if blinded else self._parameterNode.outputTable)
        rows = self.logic.displayRows(self._result, self._ratings(), blinded)
        table.setColumnCount(len(SLICE_TABLE_HEADERS))
        table.setHorizontalHeaderLabels(SLICE_TABLE_HEADERS)
        table.setRowCount(len(rows))
        colour = qt.QColor(*LOW_CERTAINTY_COLOUR)
        for r, row in enumerate(rows):
            for c, text in enumerate(row["cells"]):
                item = qt.QTableWidgetItem(text)
                if row["highlight"]:
                    item.setBackground(qt.QBrush(colour))
                table.setItem(r, c, item)
        table.resizeColumnsToContents()

    def _observeRedSlice(self) -> None:
        layoutManager = slicer.app.layoutManager()
        sliceWidget = layoutManager.sliceWidget("Red") if layoutManager is not None else None
        if sliceWidget is None:
            return
        self._redSliceNode = sliceWidget.mrmlSliceNode()
        self.addObserver(self._redSliceNode, vtk.vtkCommand.ModifiedEvent, self.onRedSliceModified)

    def onRedSliceModified(self, caller=None, event=None) -> None:
        """Show the score of the slice the Red view shows (hidden from a blinded reader until rated)."""
        if self._result is None or self._stackNode is None or self._redSliceNode is None:
            return
        sliceToRas = self._redSliceNode.GetSliceToRAS()
        ras = [sliceToRas.GetElement(row, 3) for row in range(3)]
        index = self.logic.sliceIndexAt(self.logic.rasToIjkRows(self._stackNode), ras)
        row = self.logic.sliceRow(self._result, index)
        self._currentSlice = index if row is not None else None
        if row is None:
            self.ui.currentSliceLabel.text = _("outside the scored stack")
            return
        rating = self._ratings().get(index)
        self.ui.currentSliceLabel.text = self.logic.sliceSummary(row, rating, self._parameterNode.blinded)
        if rating is not None and rating != self._parameterNode.rating:
            self._parameterNode.rating = rating

    def onSliceClicked(self, row: int, column: int) -> None:
        """Show the clicked slice in the Red view."""
        self._jumpToSlice(row)

    def _jumpToSlice(self, index: int) -> None:
        ras = self.logic.sliceCentreRas(self._result, index) if self._result is not None else None
        if ras is not None and self._redSliceNode is not None:
            self._redSliceNode.JumpSliceByOffsetting(ras[0], ras[1], ras[2])

    def onSaveRatingAndNext(self) -> None:
        """Save the reader's rating of the current slice and move to the next slice."""
        if self._sheet is None or self._currentSlice is None:
            self.ui.ratingStatusLabel.text = _("Score a stack and enter a reader code, then browse to a slice.")
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot save the rating."), waitCursor=True):
            self._sheet.blinded = bool(self._parameterNode.blinded)
            self._sheet.rate(self._currentSlice, self._parameterNode.rating)
            path = self._sheet.save(self._sheetPath())
            self.ui.ratingStatusLabel.text = _("Saved slice {index} ({count} rated) to {path}").format(
                index=self._currentSlice, count=len(self._sheet.ratings), path=path
            )
            self._refreshSliceTable()
            self._jumpToSlice(self._currentSlice + 1)
            self.onRedSliceModified()


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
    def buildArgv(
        inputPath: str | pathlib.Path,
        certaintyBand: tuple[float, float] | None = None,
        longAxis: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file; the job's output folder replaces ``{output_dir}``.

        ``certaintyBand`` (lo, hi) and ``longAxis`` ({"apex", "base", "coordinates"}) become ``--option``s.
        """
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        options: dict[str, Any] = {}
        if certaintyBand is not None:
            options["certainty_band"] = [float(v) for v in certaintyBand]
        options.update(longAxis or {})
        extra = [arg for key, value in options.items() for arg in ("--option", f"{key}={json.dumps(value)}")]
        return radtriage_argv(
            "infer", "--task", TASK_NAME, "--input", str(inputPath), "--output", OUTPUT_DIR_PLACEHOLDER, *extra
        )

    @staticmethod
    def longAxisOptions(points: list[list[float]]) -> dict[str, Any] | None:
        """Task options for a user long axis from two RAS points (apex, then mitral-valve centre); else None."""
        if len(points) != 2:
            return None
        return {"apex": [float(v) for v in points[0]], "base": [float(v) for v in points[1]], "coordinates": "RAS"}

    @staticmethod
    def markupsPoints(markupsNode) -> list[list[float]]:
        """The world (RAS) positions of a markups node's control points."""
        if markupsNode is None:
            return []
        points = []
        for index in range(markupsNode.GetNumberOfControlPoints()):
            position = [0.0, 0.0, 0.0]
            markupsNode.GetNthControlPointPositionWorld(index, position)
            points.append(position)
        return points

    def startJob(
        self,
        volumeNode: vtkMRMLScalarVolumeNode,
        certaintyBand: tuple[float, float] | None = None,
        longAxisNode=None,
    ):
        """Write the volume to a temporary NRRD and start the task on it in a background process (returned).

        With a ``longAxisNode`` of exactly two points (apex, mitral-valve centre) the stack is reformatted to them.
        """
        from RadTriageCommonLib.job_files import writeJobInputs

        from radtriage.runtime.runner import BackgroundJob

        points = self.markupsPoints(longAxisNode)
        if longAxisNode is not None and len(points) != 2:
            raise ValueError(
                f"the long-axis markups need exactly 2 points (apex, mitral-valve centre), not {len(points)}"
            )
        paths, outputDir = writeJobInputs(TASK_NAME, {"image": self.volumeImage(volumeNode)})
        logger.info("starting %s in a background process", TASK_NAME)
        argv = self.buildArgv(paths["image"], certaintyBand, self.longAxisOptions(points))
        return BackgroundJob(argv, outputDir).start()

    def addResults(self, result: Mapping[str, Any], saxImage, volumeNode: vtkMRMLScalarVolumeNode) -> dict:
        """Add the core's per-slice table (and the short-axis reformat) under the study; {"table", "sax_volume"}."""
        from radtriage.tasks.lge_mrml import add_lge_outputs

        return add_lge_outputs(
            slicer.mrmlScene, result, "RadTriage", f"LGE: {volumeNode.GetName()}", sax_image=saxImage
        )

    @staticmethod
    def rasToIjkRows(volumeNode) -> list[list[float]]:
        """The volume's RAS-to-IJK matrix as four rows."""
        matrix = vtk.vtkMatrix4x4()
        volumeNode.GetRASToIJKMatrix(matrix)
        return [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]

    @staticmethod
    def sliceIndexAt(rasToIjk: list[list[float]], ras: list[float]) -> int:
        """The k (slice) index of the RAS point in the stack, rounded to the nearest slice."""
        point = [float(ras[0]), float(ras[1]), float(ras[2]), 1.0]
        return round(sum(rasToIjk[2][c] * point[c] for c in range(4)))

    @staticmethod
    def sliceRow(result: Mapping[str, Any], index: int) -> dict[str, Any] | None:
        """The core's table row (slice, likelihood, certainty, reading, flag, hint) of slice ``index``, or None."""
        from radtriage.tasks.lge_mrml import table_rows

        return next((row for row in table_rows(result["outputs"]) if row["slice"] == index), None)

    @staticmethod
    def sliceCentreRas(result: Mapping[str, Any], index: int) -> list[float] | None:
        """The RAS centre of slice ``index`` of the scored stack, or None outside it."""
        slices = result["outputs"]["slices"]
        entry = next((s for s in slices if int(s["index"]) == index), None)
        return None if entry is None else [float(v) for v in entry["centre_ras"]]

    @staticmethod
    def hiddenFromReader(blinded: bool, rating: float | None) -> bool:
        """Whether the model's answer for a slice is hidden: blinded and not rated yet."""
        return bool(blinded) and rating is None

    @staticmethod
    def displayRows(result: Mapping[str, Any], ratings: Mapping[int, float], blinded: bool) -> list[dict[str, Any]]:
        """One row per slice for the panel: ``cells`` (texts of SLICE_TABLE_HEADERS) and ``highlight``.

        Low-certainty rows are highlighted; a blinded reader sees the model columns only for rated slices.
        """
        from radtriage.tasks.lge_mrml import table_rows

        rows = []
        for row in table_rows(result["outputs"]):
            rating = ratings.get(row["slice"])
            hidden = LGECertaintyLogic.hiddenFromReader(blinded, rating)
            model = [f"{row['likelihood']:.1f}", row["certainty"], row["reading"], row["hint"]]
            cells = [str(row["slice"]), *([HIDDEN_TEXT] * len(model) if hidden else model)]
            cells.append("" if rating is None else f"{rating:g}")
            rows.append({"slice": row["slice"], "cells": cells, "highlight": bool(row["flag"]) and not hidden})
        return rows

    @staticmethod
    def sliceSummary(row: Mapping[str, Any], rating: float | None, blinded: bool) -> str:
        """ "slice k: likelihood L (certainty)" plus the hint and the reader's rating; hidden when blinded."""
        if LGECertaintyLogic.hiddenFromReader(blinded, rating):
            return f"slice {row['slice']}: rate it first (blinded)"
        text = f"slice {row['slice']}: likelihood {row['likelihood']:.1f} ({row['certainty']} certainty)"
        if row["hint"]:
            text += f" - {row['hint']}"
        return text if rating is None else f"{text}; your rating {rating:g}"

    @staticmethod
    def ratingSheetPath(folder: str, sceneFile: str, fallbackFolder: str, seriesName: str, reader: str):
        """Where ``reader``'s sheet for the series lives: the chosen folder, else beside the scene file."""
        from radtriage.tasks.lge_certainty.ratings import sidecar_path

        chosen = folder.strip() not in ("", ".")
        base = pathlib.Path(folder) if chosen else pathlib.Path(sceneFile).parent if sceneFile else None
        base = base if base is not None else pathlib.Path(fallbackFolder)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", seriesName).strip("_") or "series"
        return sidecar_path(base / stem, reader)

    @staticmethod
    def openRatingSheet(path, reader: str, blinded: bool, seriesName: str, result: Mapping[str, Any]):
        """The reader's existing sheet at ``path`` or a new one (raises ValueError for a bad reader code)."""
        from radtriage.tasks.lge_certainty.ratings import RatingSheet

        if pathlib.Path(path).is_file():
            sheet = RatingSheet.load(path)
            if sheet.reader != reader:
                raise ValueError(f"{path} belongs to another reader")
            return sheet
        return RatingSheet(reader, blinded, seriesName, tuple(result["outputs"]["certainty_band"]))

    def loadJobOutputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Load the finished job's tables, volumes and markups into the scene: {output key: node}."""
        from RadTriageCommonLib.job_files import loadOutputs

        return loadOutputs(outputs, namePrefix="LGE ")

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, certaintyBand: tuple[float, float] | None = None) -> Any:
        """Run the core's LGE task in this process (a ``TaskResult``); ``certaintyBand`` None: the bundle's band."""
        from radtriage.tasks import run_task

        image = self.volumeImage(volumeNode)
        logger.info("running %s on %d slices", TASK_NAME, image.size[2])
        return run_task(TASK_NAME, inputs={"image": image}, certainty_band=certaintyBand)


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
        self.test_LGECertainty_runAnswers()
        self.setUp()
        self.test_LGECertainty_backgroundJob()
        self.setUp()
        self.test_LGECertainty_resultsAndRatings()

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

    def test_LGECertainty_runAnswers(self) -> None:
        """Logic.run answers in process with the installed demo bundle, labelled as a demo."""
        from RadTriageCommonLib.testing import assertDemoAnswer

        self.delayDisplay("LGE run")
        _stack, volumeNode = self._phantomVolume()
        result = LGECertaintyLogic().run(volumeNode)
        assertDemoAnswer(self, result, TASK_NAME)
        self.delayDisplay("Test passed")

    def test_LGECertainty_backgroundJob(self) -> None:
        """startJob writes the volume exactly and ``radtriage infer`` answers in a child process."""
        from RadTriageCommonLib.testing import assertJobRunsTask

        self.delayDisplay("LGECertainty: background job")
        volumeNode = self._phantomVolume()[1]
        logic = LGECertaintyLogic()
        job = logic.startJob(volumeNode)
        assertJobRunsTask(self, job, TASK_NAME, {"image": logic.volumeImage(volumeNode).array})
        self.delayDisplay("Test passed")

    def test_LGECertainty_resultsAndRatings(self) -> None:
        """The demo bundle's scores reach the table, the slice lookup, the blinded view and a reader's sheet."""
        import json
        import tempfile

        from radtriage.tasks.result import to_plain

        self.delayDisplay("LGECertainty: results, slice lookup and ratings")
        volumeNode = self._phantomVolume()[1]
        logic = LGECertaintyLogic()

        points = vtkMRMLMarkupsFiducialNode()
        slicer.mrmlScene.AddNode(points)
        points.AddControlPoint(10.0, 20.0, 30.0)
        points.AddControlPoint(-5.0, 0.0, 60.0)
        axis = logic.longAxisOptions(logic.markupsPoints(points))
        self.assertEqual(axis, {"apex": [10.0, 20.0, 30.0], "base": [-5.0, 0.0, 60.0], "coordinates": "RAS"})
        argv = logic.buildArgv("image.nrrd", (20, 80), axis)
        options = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--option"]
        self.assertEqual(json.loads(options[0].partition("=")[2]), [20.0, 80.0])
        self.assertIn('coordinates="RAS"', options)

        result = logic.run(volumeNode, (30.0, 70.0))
        data = to_plain(result.to_dict())
        nodes = logic.addResults(data, result.volumes.get("lge_sax"), volumeNode)
        stack = nodes["sax_volume"] or volumeNode
        slices = data["outputs"]["slices"]
        self.assertEqual(nodes["table"].GetNumberOfRows(), len(slices))
        self.assertIn("demo, not for clinical use", data["notices"])

        rasToIjk = logic.rasToIjkRows(stack)
        for entry in slices:
            index = logic.sliceIndexAt(rasToIjk, logic.sliceCentreRas(data, entry["index"]))
            self.assertEqual(index, entry["index"])
            summary = logic.sliceSummary(logic.sliceRow(data, index), None, False)
            self.assertIn(f"likelihood {entry['likelihood']:.1f}", summary)
        self.assertIsNone(logic.sliceRow(data, len(slices)))

        nLow = data["outputs"]["summary"]["n_low_certainty"]
        open_rows = logic.displayRows(data, {}, blinded=False)
        self.assertEqual(sum(row["highlight"] for row in open_rows), nLow)
        self.assertTrue(all(row["cells"][4] == "consider repeat / extra view" for row in open_rows if row["highlight"]))
        blind_rows = logic.displayRows(data, {}, blinded=True)
        self.assertTrue(all(row["cells"][1] == HIDDEN_TEXT and not row["highlight"] for row in blind_rows))

        with tempfile.TemporaryDirectory() as folder:
            path = logic.ratingSheetPath(folder, "", "", volumeNode.GetName(), "R1")
            sheet = logic.openRatingSheet(path, "R1", True, volumeNode.GetName(), data)
            sheet.rate(0, 40)
            sheet.save(path)
            again = logic.openRatingSheet(path, "R1", True, volumeNode.GetName(), data)
            self.assertEqual(again.rating(0), 40.0)
            rated = logic.displayRows(data, {0: 40.0}, blinded=True)
            self.assertEqual(rated[0]["cells"][1], f"{slices[0]['likelihood']:.1f}")
            self.assertEqual(rated[0]["cells"][5], "40")
            self.assertEqual(rated[1]["cells"][1], HIDDEN_TEXT)
            with self.assertRaises(ValueError):
                logic.openRatingSheet(path, "R2", True, volumeNode.GetName(), data)
        self.delayDisplay("Test passed")
