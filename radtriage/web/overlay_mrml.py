"""The web station's MRML side: a review case in the trame-slicer scene (through
:func:`radtriage.review.case_mrml.load_case`, the task modules' own builders), the heatmap opacity, CMB
confidence labels, the 3D rendering, and where the view is (slice index, heatmap peak on the axial slice)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from radtriage.mrml import get_slice_logic, ras_to_slice_pixel, slice_composite_nodes
from radtriage.mrml.geometry import slice_to_ras_rows, view_slice
from radtriage.mrml.volumes import volume_node_to_image, vtk_matrix_to_numpy

logger = logging.getLogger(__name__)

AXIAL = "Red"
SLICE_VIEWS = ("Red", "Yellow", "Green")
"""The slice views of the station's layout (axial, sagittal, coronal)."""
STACK_VIEW = "Yellow"
"""The view turned to the LGE short-axis reformat's slices."""
POSITIVE_LETTERS, NEGATIVE_LETTERS = "RAS", "LPI"


def set_overlay_opacity(scene: Any, opacity: float) -> None:
    """Foreground (heatmap) and label-layer (body regions) opacity in every slice view."""
    value = float(min(1.0, max(0.0, opacity)))
    for composite in slice_composite_nodes(scene):
        composite.SetForegroundOpacity(value)
        composite.SetLabelOpacity(value)


def label_cmb_confidences(markups: Any) -> int:
    """Show each CMB point's confidence in its label (``CMB-1 0.97``); returns how many points were labelled."""
    from radtriage.mrml import read_detections

    detections = read_detections(markups)
    for i, det in enumerate(detections):
        if np.isfinite(det.confidence):
            markups.SetNthControlPointLabel(i, f"{det.label} {det.confidence:.2f}")
    return len(detections)


def show_in_3d(slicer_app: Any, volume_node: Any, preset: str = "MR-Default") -> None:
    """Volume-render ``volume_node`` in the 3D view (trame-slicer's VolumeRendering)."""
    vr = slicer_app.volume_rendering
    display = vr.get_vr_display_node(volume_node) if vr.has_vr_display_node(volume_node) else \
        vr.create_display_node(volume_node, preset)
    display.SetVisibility(True)


def slice_plane(app_logic: Any, layout: str = AXIAL) -> tuple[list[float], list[float]]:
    """(centre, normal) of a slice view's plane in RAS."""
    slice_to_ras = vtk_matrix_to_numpy(get_slice_logic(app_logic, layout).GetSliceNode().GetSliceToRAS())
    return [float(v) for v in slice_to_ras[:3, 3]], [float(v) for v in slice_to_ras[:3, 2]]


def _view_slice(app_logic: Any, volume_node: Any, layout: str) -> tuple[int, int]:
    """(axis, index) of the plane of ``volume_node`` the view shows (:func:`radtriage.mrml.geometry.view_slice`)."""
    slice_node = get_slice_logic(app_logic, layout).GetSliceNode()
    return view_slice(volume_node, slice_to_ras_rows(slice_node))


def current_slice_index(app_logic: Any, volume_node: Any, layout: str = AXIAL) -> int | None:
    """Index of the volume slice (along the axis nearest the view normal) the view shows; None outside."""
    if volume_node is None or volume_node.GetImageData() is None:
        return None
    axis, index = _view_slice(app_logic, volume_node, layout)
    size = volume_node.GetImageData().GetDimensions()[axis]
    return index if 0 <= index < size else None


def heatmap_peak_on_slice(app_logic: Any, heatmap_node: Any, threshold: float, layout: str = AXIAL
                          ) -> dict[str, Any] | None:
    """Where the heatmap is hottest on the slice the view shows: value, RAS, and the point as fractions of the
    view (x from the left, y from the top) — what the panel reports and a browser test looks at. None when
    nothing on the slice reaches ``threshold``."""
    if heatmap_node is None:
        return None
    image = volume_node_to_image(heatmap_node, copy=False)  # runs on every slice move: no volume copy
    axis, index = _view_slice(app_logic, heatmap_node, layout)
    array = image.array  # [k, j, i]
    np_axis = 2 - axis
    if not 0 <= index < array.shape[np_axis]:
        return None
    plane = np.take(array, index, axis=np_axis)
    if plane.size == 0 or float(plane.max()) < threshold:
        return None
    flat = int(np.argmax(plane))
    rows, cols = np.unravel_index(flat, plane.shape)
    kji = [0, 0, 0]
    other = [a for a in range(3) if a != np_axis]
    kji[np_axis] = index
    kji[other[0]], kji[other[1]] = int(rows), int(cols)
    ijk = [kji[2], kji[1], kji[0]]
    ijk_to_ras = vtk_matrix_to_numpy(_ijk_to_ras_matrix(heatmap_node))
    ras = (ijk_to_ras @ np.array([*ijk, 1.0]))[:3]
    slice_logic = get_slice_logic(app_logic, layout)
    x, y, _ = ras_to_slice_pixel(slice_logic, tuple(ras))
    width, height, _ = slice_logic.GetSliceNode().GetDimensions()
    return {"value": float(plane.max()), "ras": [float(v) for v in ras], "ijk": ijk,
            "x": x / max(width, 1), "y": 1.0 - y / max(height, 1), "view_size": [int(width), int(height)]}


def heatmap_peak_ras(heatmap_node: Any | None) -> list[float] | None:
    """RAS (mm) of the hottest voxel of the whole heatmap volume (None without a heatmap): where a reader wants
    the views after a run."""
    if heatmap_node is None:
        return None
    array = volume_node_to_image(heatmap_node, copy=False).array  # [k, j, i]
    if array.size == 0:
        return None
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    ras = vtk_matrix_to_numpy(_ijk_to_ras_matrix(heatmap_node)) @ np.array([i, j, k, 1.0])
    return [float(v) for v in ras[:3]]


def _ijk_to_ras_matrix(volume_node: Any) -> Any:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return matrix


def shown_heatmap(scene: Any) -> Any | None:
    """The heatmap volume shown as foreground of the axial view (None when none is)."""
    for composite in slice_composite_nodes(scene):
        if composite.GetLayoutName() == AXIAL and composite.GetForegroundVolumeID():
            return scene.GetNodeByID(composite.GetForegroundVolumeID())
    return None


def direction_letter(direction: Any) -> str:
    """The anatomical letter of a RAS direction (its largest component): R/L, A/P, S/I."""
    d = np.asarray(direction, dtype=float)
    axis = int(np.argmax(np.abs(d)))
    return (POSITIVE_LETTERS if d[axis] > 0 else NEGATIVE_LETTERS)[axis]


def view_info(app_logic: Any, volume_node: Any, layout: str) -> dict[str, Any]:
    """One slice view's orientation letters (at its right and top edges), slice offset in mm and the slice of
    ``volume_node`` it shows (1-based, of how many; None when between or outside its slices)."""
    logic = get_slice_logic(app_logic, layout)
    slice_to_ras = vtk_matrix_to_numpy(logic.GetSliceNode().GetSliceToRAS())
    index = current_slice_index(app_logic, volume_node, layout)
    axis, _ = _view_slice(app_logic, volume_node, layout)
    right, up = direction_letter(slice_to_ras[:3, 0]), direction_letter(slice_to_ras[:3, 1])
    flip = dict(zip(POSITIVE_LETTERS + NEGATIVE_LETTERS, NEGATIVE_LETTERS + POSITIVE_LETTERS, strict=True))
    return {"right": right, "left": flip[right], "top": up, "bottom": flip[up],
            "offset_mm": round(float(logic.GetSliceOffset()), 1),
            "slice": None if index is None else index + 1,
            "of": int(volume_node.GetImageData().GetDimensions()[axis])}


def views_info(app_logic: Any, volume_node: Any) -> dict[str, dict[str, Any]]:
    """:func:`view_info` of every slice view, by layout name."""
    return {layout: view_info(app_logic, volume_node, layout) for layout in SLICE_VIEWS}


def view_showing_stack(app_logic: Any, stack_node: Any) -> str | None:
    """The slice view that shows the stack's own (k) slices — the LGE short-axis slices the task rated."""
    from radtriage.tasks.lge_certainty.mrml import slice_in_view

    for layout in SLICE_VIEWS:
        if slice_in_view(stack_node, get_slice_logic(app_logic, layout).GetSliceNode()) is not None:
            return layout
    return None


def show_stack_in(app_logic: Any, stack_node: Any, layout: str) -> None:
    """Turn a slice view to the stack's own slices (the LGE task's) and centre it on the stack."""
    from radtriage.tasks.lge_certainty.mrml import show_stack_slices

    logic = get_slice_logic(app_logic, layout)
    show_stack_slices(logic.GetSliceNode(), stack_node)
    logic.FitSliceToBackground()
    logic.SnapSliceOffsetToIJK()


def show_slice_intersections(scene: Any, app_logic: Any, visible: bool = True) -> None:
    """Draw in each slice view where the other views cut it (the crosshair linking the three planes), as
    trame-slicer's MPR button does."""
    app_logic.SetIntersectingSlicesEnabled(app_logic.IntersectingSlicesVisibility, visible)
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceDisplayNode")):
        scene.GetNthNodeByClass(i, "vtkMRMLSliceDisplayNode").SetIntersectingSlicesVisibility(visible)


def place_crosshair(scene: Any, ras: Sequence[float]) -> list[float]:
    """Show Slicer's crosshair at ``ras`` (mm) in every view and move every slice view through that point (the
    crosshair node's cursor position, as Shift+move does in Slicer); returns the point."""
    from radtriage.review.mrml_views import jump_slices_to

    point = [float(v) for v in ras]
    node = scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    if node is not None:
        node.SetCrosshairMode(node.ShowBasic)
        node.SetCrosshairRAS(*point)
    jump_slices_to(scene, point)
    return point


def xy_to_ras(app_logic: Any, layout: str, x: float, y: float) -> list[float]:
    """The RAS point (mm) under pixel (x, y) of a slice view (VTK display coordinates, origin bottom left)."""
    xy_to_ras_matrix = vtk_matrix_to_numpy(get_slice_logic(app_logic, layout).GetSliceNode().GetXYToRAS())
    return [float(v) for v in (xy_to_ras_matrix @ np.array([float(x), float(y), 0.0, 1.0]))[:3]]
