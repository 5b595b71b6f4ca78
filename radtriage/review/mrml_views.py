"""The slice views of a review scene (MRML layer, no Qt): the crosshair position where the reader adds a missed
finding, and centring every slice view on a finding (what ``vtkSlicerMarkupsLogic::JumpSlicesToLocation`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def crosshair_ras(scene: Any) -> list[float]:
    """The crosshair position (RAS mm); ValueError when the scene has no crosshair node."""
    crosshair = scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    if crosshair is None:
        raise ValueError("the scene has no crosshair: Shift + mouse move in a slice view places it")
    return [float(v) for v in crosshair.GetCrosshairRAS()]


def jump_slices_to(scene: Any, ras: Sequence[float], centred: bool = True) -> int:
    """Move every slice view through ``ras`` (mm), as Slicer's Markups logic does (``vtkMRMLSliceNode::JumpAllSlices``):
    centred on it (``CenteredJumpSlice``), or ``centred=False`` only the slice offset (``OffsetJumpSlice``, the
    in-plane view stays); returns the number of slice views."""
    slice_nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    count = slice_nodes.GetNumberOfItems()
    if count:
        slice_class = type(slice_nodes.GetItemAsObject(0))
        r, a, s = (float(v) for v in ras)
        mode = slice_class.CenteredJumpSlice if centred else slice_class.OffsetJumpSlice
        slice_class.JumpAllSlices(scene, r, a, s, mode)
    return count
