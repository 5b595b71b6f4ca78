"""LGECertainty: per-slice LGE likelihood (0-100) and low-certainty flag (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic; the Logic converts MRML nodes to
``radtriage.image.Image`` and delegates to the slicer-free core (``radtriage``). The core is
imported inside methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import logging
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
        if self._parameterNode and self._parameterNode.inputVolume and bandOk:
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
        """Run the task through the Logic; any error (including 'not implemented yet') is shown as is."""
        band = None
        if not self._parameterNode.useBundleCertaintyBand:
            band = (self._parameterNode.certaintyBandLow, self._parameterNode.certaintyBandHigh)
        self.ui.progressBar.setVisible(True)
        self.ui.progressBar.setRange(0, 0)
        try:
            with slicer.util.tryWithErrorDisplay(_("LGE scoring failed."), waitCursor=True):
                result = self.logic.run(self._parameterNode.inputVolume, certaintyBand=band)
                self._showResult(result)
        finally:
            self.ui.progressBar.setVisible(False)

    def _showResult(self, result: Any) -> None:
        """Show a table the task returned; say so plainly when this version cannot display the result."""
        if isinstance(result, vtkMRMLTableNode):
            self._parameterNode.outputTable = result
            self.ui.resultsTableView.setMRMLTableNode(result)
            self.ui.statusLabel.text = _("Done.")
        else:
            self.ui.statusLabel.text = _("The task returned a {kind}; this module version cannot display it.").format(
                kind=type(result).__name__
            )


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
