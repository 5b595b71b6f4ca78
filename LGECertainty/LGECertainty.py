"""LGECertainty: per-slice LGE likelihood (0-100) and low-certainty flag (3D Slicer scripted module).

Thin glue of this module's widgets, ratings and results on :mod:`RadTriageCommonLib.module_base`; the Logic
delegates to the slicer-free core (``radtriage``), imported inside methods so that this file loads even before
the core's dependencies are installed.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import slicer
from RadTriageCommonLib.module_base import LazyModule, TaskSelfTests, fillTable, inferArgv
from RadTriageCommonLib.scripted import RadTriageLogic, RadTriageModule, RadTriageTest, RadTriageWidget
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

TASK_NAME = "lge_certainty"
lge = LazyModule("radtriage.tasks.lge_certainty.mrml")  # the core's scene and rating helpers, imported on first use
LOW_CERTAINTY_COLOUR = (255, 224, 150)


class LGECertainty(RadTriageModule):
    """Module description shown in Slicer's module panel."""

    title, anchor = _("LGE Certainty"), "lgecertainty"
    about = _(
        "Scores every short-axis slice of a cardiac late-gadolinium-enhancement (LGE) stack: an LGE likelihood "
        "from 0 to 100 and a low-certainty flag for slices worth repeating or viewing again. "
        "Readers can rate each slice 0-100 (optionally blinded to the model) with the keyboard: arrows change "
        "the rating, digits 0-9 set 0-90, N or Enter save it and show the next slice "
        "(not while typing in a field)."
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
    ratingsFolder - where rating sheets are saved (empty: beside the saved scene); shown by the base, never ".".
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
    ratingsFolder: str = ""
    rating: Annotated[float, WithinRange(0, 100)] = 50.0


#
# LGECertaintyWidget
#


class LGECertaintyWidget(RadTriageWidget):
    """GUI of the module: its own widgets, ratings and results; the life cycle and the job are the base's."""

    optionWidgets: ClassVar[dict[str, str]] = {
        "certaintyBandLowSliderWidget": "certainty_band", "certaintyBandHighSliderWidget": "certainty_band"}

    failureMessage = _("LGE scoring failed.")
    applyToolTip = _("Score every slice of the stack")
    missingInputToolTip = _("Select an LGE stack (and a band whose start is below its end)")
    pathParameters = (("ratingsFolder", "ratingsFolderPathLineEdit"),)

    _result = _stackNode = _sheet = _sheetKey = _currentSlice = _redSliceNode = None

    def createLogic(self) -> LGECertaintyLogic:
        return LGECertaintyLogic()

    def setupWidgets(self) -> None:
        """Stack size, band widgets, rating buttons, slice clicks and the slice the Red view shows."""
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.ui.useBundleCertaintyBandCheckBox.connect("toggled(bool)", self._updateBandWidgets)
        self.ui.saveRatingButton.connect("clicked(bool)", self.onSaveRatingAndNext)
        self.ui.sliceTableWidget.connect("cellClicked(int,int)", self.onSliceClicked)
        self._redSliceNode = self.observeSliceNode("Red", self.onRedSliceModified)

    def shortcuts(self) -> dict:
        """Rating keys: arrows change the rating, digits set 0-90, N / Enter save and go to the next slice."""
        keys = {"Up": 1, "Right": 1, "Down": -1, "Left": -1}
        shortcuts = {key: (lambda step=step: self._stepRating(step)) for key, step in keys.items()}
        shortcuts.update({key: self.onSaveRatingAndNext for key in ("N", "Return", "Enter")})
        shortcuts.update({str(digit): (lambda value=10 * digit: self._setRating(value)) for digit in range(10)})
        return shortcuts

    def _setRating(self, value: float) -> None:
        if self._parameterNode is not None:
            self._parameterNode.rating = float(min(100.0, max(0.0, value)))

    def _stepRating(self, step: float) -> None:
        if self._parameterNode is not None:
            self._setRating(self._parameterNode.rating + step)

    def clearResults(self) -> None:
        self._result = self._stackNode = self._sheet = self._sheetKey = self._currentSlice = None

    def applyProblem(self) -> str:
        node = self._parameterNode
        problem = super().applyProblem()
        if problem or node.useBundleCertaintyBand or node.certaintyBandLow < node.certaintyBandHigh:
            return problem
        return self.missingInputToolTip

    def onParameterNodeModified(self) -> None:
        self._updateBandWidgets()
        self._onReaderSettingsModified()

    def _updateBandWidgets(self, checked=None) -> None:
        custom = not self.ui.useBundleCertaintyBandCheckBox.checked
        self.ui.certaintyBandLowSliderWidget.enabled = custom
        self.ui.certaintyBandHighSliderWidget.enabled = custom

    def onInputChanged(self, node) -> None:
        """Show how many slices the selected stack has (from the image dimensions; no voxel is read)."""
        if node is None:
            self.ui.sliceCountLabel.text = ""
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot read the stack."), waitCursor=True):
            self.ui.sliceCountLabel.text = _("{count} slices").format(count=self.logic.sliceCount(node))

    def startJob(self):
        node = self._parameterNode
        band = None if node.useBundleCertaintyBand else (node.certaintyBandLow, node.certaintyBandHigh)
        return self.logic.startJob(node.inputVolume, band, node.longAxisPoints)

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Add the per-slice table (and the short-axis reformat) for the stack the job ran on, and show it."""
        from RadTriageCommonLib.job_files import readJobResult, readJobVolume

        from radtriage.tasks.lge_certainty.runner import SAX_VOLUME

        stack = inputs["inputVolume"]
        result = readJobResult(outputs)
        sax = readJobVolume(outputs, SAX_VOLUME)
        nodes = self.logic.addResults(result, sax, stack, self._parameterNode.outputTable)
        self._parameterNode.outputTable = nodes["table"]
        self.showResult(result, nodes["sax_volume"] if nodes["sax_volume"] is not None else stack)

    def showResult(self, result: Mapping[str, Any], stackNode) -> None:
        """Show ``result`` (result.json) scored on ``stackNode`` in the Red view, the table and the labels."""
        self._result = result
        self._stackNode = stackNode
        self.ui.noticesLabel.text = "\n".join(result.get("notices") or [])
        slicer.util.setSliceViewerLayers(background=stackNode, fit=True)
        if self._redSliceNode is not None:
            lge.show_stack_slices(self._redSliceNode, stackNode)
        self._sheetKey = None
        self._onReaderSettingsModified()
        self.onRedSliceModified()

    def _readerSettings(self) -> tuple[str, str, bool]:
        node = self._parameterNode
        return node.readerId.strip(), node.ratingsFolder.strip(), bool(node.blinded)

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
                self._sheet = lge.open_rating_sheet(
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
        return lge.rating_sheet_path(folder, sceneFile, fallback, self._stackNode.GetName(), reader)

    def _ratings(self) -> dict[int, float]:
        if self._sheet is None:
            return {}
        return {int(key): float(entry["rating"]) for key, entry in self._sheet.ratings.items() if key.isdigit()}

    def _refreshSliceTable(self) -> None:
        if self._result is None:
            self.ui.sliceTableWidget.setRowCount(0)
            return
        blinded = self._parameterNode.blinded
        self.ui.resultsTableView.setMRMLTableNode(None if blinded else self._parameterNode.outputTable)
        rows = lge.display_rows(self._result, self._ratings(), blinded)
        colours = [LOW_CERTAINTY_COLOUR if row["highlight"] else None for row in rows]
        fillTable(self.ui.sliceTableWidget, lge.SLICE_TABLE_HEADERS, [row["cells"] for row in rows], colours)

    def onRedSliceModified(self, caller=None, event=None) -> None:
        """Show the score of the slice the Red view shows (hidden from a blinded reader until rated)."""
        if self._result is None or self._stackNode is None or self._redSliceNode is None:
            return
        if slicer.mrmlScene.GetNodeByID(self._stackNode.GetID()) is None:
            return
        index = lge.slice_in_view(self._stackNode, self._redSliceNode)
        row = lge.slice_row(self._result, index) if index is not None else None
        self._currentSlice = index if row is not None else None
        if row is None:
            self.ui.currentSliceLabel.text = (
                _("outside the scored stack")
                if index is not None
                else _("the Red view cuts across the stack's slices; score again to turn it back")
            )
            return
        rating = self._ratings().get(index)
        self.ui.currentSliceLabel.text = lge.slice_summary(row, rating, self._parameterNode.blinded)
        if rating is not None and rating != self._parameterNode.rating:
            self._parameterNode.rating = rating

    def onSliceClicked(self, row: int, column: int) -> None:
        """Show the clicked slice in the Red view."""
        self._jumpToSlice(row)

    def _jumpToSlice(self, index: int) -> None:
        ras = lge.slice_centre_ras(self._result, index) if self._result is not None else None
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


class LGECertaintyLogic(RadTriageLogic):
    """Everything the module computes, usable without the GUI; delegates to ``radtriage``."""

    taskName = TASK_NAME
    parameterNodeClass = LGECertaintyParameterNode
    outputNamePrefix = "LGE "

    @staticmethod
    def buildArgv(
        inputPath: str | pathlib.Path,
        certaintyBand: tuple[float, float] | None = None,
        longAxis: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """``python -m radtriage infer`` on one volume file; the job's output folder replaces ``{output_dir}``.

        ``certaintyBand`` (lo, hi) and ``longAxis`` ({"apex", "base", "coordinates"}) become ``--option``s.
        """
        options: dict[str, Any] = {}
        if certaintyBand is not None:
            options["certainty_band"] = [float(v) for v in certaintyBand]
        options.update(longAxis or {})
        return inferArgv(TASK_NAME, str(inputPath), options)

    def startJob(
        self,
        volumeNode: vtkMRMLScalarVolumeNode,
        certaintyBand: tuple[float, float] | None = None,
        longAxisNode=None,
    ):
        """Write the volume to a temporary NRRD and start the task on it in a background process (returned).

        With a ``longAxisNode`` of exactly two points (apex, mitral-valve centre) the stack is reformatted to them.
        """
        points = lge.markups_points(longAxisNode)
        if longAxisNode is not None and len(points) != 2:
            raise ValueError(
                f"the long-axis markups need exactly 2 points (apex, mitral-valve centre), not {len(points)}"
            )
        axis = lge.long_axis_options(points)
        return self.startTaskJob(
            {"image": self.volumeImage(volumeNode)}, lambda paths: self.buildArgv(paths["image"], certaintyBand, axis)
        )

    def addResults(self, result: Mapping[str, Any], saxImage, volumeNode, outputTable=None) -> dict:
        """Add the core's per-slice table (into ``outputTable`` when chosen) and the short-axis reformat under
        the study; {"table", "sax_volume"}."""
        from radtriage.tasks.lge_certainty.mrml import add_lge_outputs

        return add_lge_outputs(
            slicer.mrmlScene, result, "RadTriage", f"LGE: {volumeNode.GetName()}", sax_image=saxImage,
            table_node=outputTable,
        )  # fmt: skip

    def run(self, volumeNode: vtkMRMLScalarVolumeNode, certaintyBand: tuple[float, float] | None = None) -> Any:
        """Run the core's LGE task in this process (a ``TaskResult``); ``certaintyBand`` None: the bundle's band."""
        return self.runTask({"image": self.volumeImage(volumeNode)}, certainty_band=certaintyBand)


#
# LGECertaintyTest
#


class LGECertaintyTest(TaskSelfTests, RadTriageTest):
    """Self-test: runs the Logic on a cardiac LGE phantom stack generated in the test (skips when packages are
    missing)."""

    logicClass = LGECertaintyLogic

    def phantomVolume(self):
        return self._phantomVolume()[1]

    def _phantomVolume(self):
        from radtriage.mrml.volumes import image_to_volume_node
        from radtriage.phantoms import make_lge_stack

        image, _truth = make_lge_stack(seed=0)
        return image, image_to_volume_node(slicer.mrmlScene, image, name="LGEPhantom")

    def test_LGECertainty_slices(self) -> None:
        """Slice count (no voxel copy) and per-slice images match the phantom stack, each at its own position."""
        import numpy as np

        self.delayDisplay("LGE slice extraction")
        image, volumeNode = self._phantomVolume()
        self.assertEqual(LGECertaintyLogic().sliceCount(volumeNode), image.size[2])
        slices = lge.slice_images(volumeNode)
        self.assertEqual(len(slices), image.size[2])
        for k, sliceImage in enumerate(slices):
            np.testing.assert_allclose(sliceImage.array[0], image.array[k])
            np.testing.assert_allclose(sliceImage.origin, image.index_to_lps([(0, 0, k)])[0], atol=1e-3)
        self.delayDisplay("Test passed")

    def test_LGECertainty_resultsAndRatings(self) -> None:
        """The demo scores reach the chosen table, the Red view's slice lookup and the blinded panel rows."""
        from radtriage.tasks.result import to_plain

        self.delayDisplay("LGECertainty: results and slice lookup")
        volumeNode, logic = self._phantomVolume()[1], LGECertaintyLogic()
        result = logic.run(volumeNode, (30.0, 70.0))
        data = to_plain(result.to_dict())
        chosen = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "My LGE table")
        nodes = logic.addResults(data, result.volumes.get("lge_sax"), volumeNode, chosen)
        stack, slices = nodes["sax_volume"] or volumeNode, data["outputs"]["slices"]
        self.assertIs(nodes["table"], chosen)
        self.assertEqual(chosen.GetNumberOfRows(), len(slices))
        red = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
        lge.show_stack_slices(red, stack)
        for entry in slices:
            red.JumpSliceByOffsetting(*lge.slice_centre_ras(data, entry["index"]))
            self.assertEqual(lge.slice_in_view(stack, red), entry["index"])
        self.assertTrue(all(row["cells"][1] == lge.HIDDEN_TEXT for row in lge.display_rows(data, {}, True)))
        self.delayDisplay("Test passed")
