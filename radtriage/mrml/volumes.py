"""Conversion between :class:`radtriage.image.Image` and MRML volume nodes with exact IJKToRAS geometry."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from radtriage.image import Image

INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"
"""Node attribute Slicer's DICOM scalar volume plugin sets: the slices' SOP instance UIDs, space-separated, in the
node's k order (``DICOMScalarVolumePlugin.py:496-510`` at v5.12.3: reversed with the slices of a left-handed
series)."""
INSTANCE_UIDS_METADATA = "dicom_instance_uids"
"""The :class:`Image` metadata key that keeps a node's ``DICOM.instanceUIDs`` (a list, one per k)."""

logger = logging.getLogger(__name__)

GREY_COLOR_NODE_ID = "vtkMRMLColorTableNodeGrey"
LABELS_COLOR_NODE_ID = "vtkMRMLColorTableNodeLabels"
GENERIC_ANATOMY_COLOR_NODE_ID = "vtkMRMLColorTableNodeFileGenericAnatomyColors.txt"
_LPS_RAS_3 = np.diag([-1.0, -1.0, 1.0])


def numpy_to_vtk_matrix(matrix: np.ndarray) -> vtkMatrix4x4:
    """A ``vtkMatrix4x4`` holding the given 4x4 array."""
    vtk_matrix = vtkMatrix4x4()
    vtk_matrix.DeepCopy([float(v) for v in np.asarray(matrix, dtype=float).reshape(16)])
    return vtk_matrix


def vtk_matrix_to_numpy(vtk_matrix: vtkMatrix4x4) -> np.ndarray:
    """The 4x4 array held by a ``vtkMatrix4x4``."""
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _voxel_array_for_vtk(image: Image, labelmap: bool) -> np.ndarray:
    """The voxel array in a dtype VTK and Slicer's writers handle (bool -> uint8, float16 -> float32)."""
    array = image.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    if labelmap and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"a labelmap needs integer voxels, got {array.dtype}")
    if labelmap and image.n_components != 1:
        raise ValueError("a labelmap must have one component per voxel")
    return np.ascontiguousarray(array)


def image_to_vtk_image_data(image: Image, labelmap: bool = False) -> vtkImageData:
    """A ``vtkImageData`` with the image's voxels and MRML's unit spacing / zero origin (geometry lives on the node)."""
    array = _voxel_array_for_vtk(image, labelmap)
    flat = array.reshape(-1, image.n_components) if image.n_components > 1 else array.reshape(-1)
    vtk_array = numpy_support.numpy_to_vtk(flat, deep=True)
    vtk_array.SetName("ImageScalars")
    image_data = vtkImageData()
    image_data.SetDimensions(*image.size)
    image_data.GetPointData().SetScalars(vtk_array)
    return image_data


def default_color_node_id(scene: Any, labelmap: bool) -> str | None:
    """Slicer's default colour node for a volume (grey) or a labelmap, when that node is in the scene.

    Labelmaps get GenericAnatomyColors inside Slicer; a headless scene has no colour files, so 'Labels' there.
    """
    candidates = [GENERIC_ANATOMY_COLOR_NODE_ID, LABELS_COLOR_NODE_ID] if labelmap else [GREY_COLOR_NODE_ID]
    for node_id in candidates:
        if scene.GetNodeByID(node_id) is not None:
            return node_id
    return None


def set_volume_geometry(node: Any, image: Image) -> None:
    """Set the node's IJKToRAS from the image's spacing, origin and direction."""
    node.SetIJKToRASMatrix(numpy_to_vtk_matrix(image.ijk_to_ras))
    # SetIJKToRASMatrix recovers spacing from column norms; set the exact values too.
    node.SetSpacing(*image.spacing)
    ras_directions = _LPS_RAS_3 @ image.direction
    node.SetIToRASDirection(*[float(v) for v in ras_directions[:, 0]])
    node.SetJToRASDirection(*[float(v) for v in ras_directions[:, 1]])
    node.SetKToRASDirection(*[float(v) for v in ras_directions[:, 2]])
    ras_origin = _LPS_RAS_3 @ np.asarray(image.origin)
    node.SetOrigin(*[float(v) for v in ras_origin])


def image_to_volume_node(scene: Any, image: Image, name: str, labelmap: bool = False) -> Any:
    """Add a volume node for ``image`` to ``scene``: scalar (or labelmap, or vector for multi-component images).

    The node gets exact IJKToRAS geometry, a display node and a colour node (grey, or the default labelmap colours).
    """
    if labelmap:
        class_name = "vtkMRMLLabelMapVolumeNode"
    elif image.n_components > 1:
        class_name = "vtkMRMLVectorVolumeNode"
    else:
        class_name = "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(class_name, name)
    set_volume_geometry(node, image)
    node.SetAndObserveImageData(image_to_vtk_image_data(image, labelmap))
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    color_id = default_color_node_id(scene, labelmap)
    if display is not None and color_id is not None and class_name != "vtkMRMLVectorVolumeNode":
        if not display.GetColorNodeID():
            display.SetAndObserveColorNodeID(color_id)
        if not labelmap:
            display.AutoWindowLevelOn()
    return node


def volume_node_to_image(node: Any, copy: bool = True) -> Image:
    """The node's voxels and geometry as an :class:`Image` (LPS; parent transforms are not applied). With
    ``copy=False`` the array is a read-only view of the node's voxels (for a quick look; it changes with them)."""
    image_data = node.GetImageData()
    if image_data is None:
        raise ValueError(f"volume node {node.GetName()!r} has no image data")
    if node.GetParentTransformNode() is not None:
        logger.warning("volume node %s is under a transform; its local geometry is returned", node.GetID())
    i, j, k = image_data.GetDimensions()
    scalars = image_data.GetPointData().GetScalars()
    array = numpy_support.vtk_to_numpy(scalars)
    if copy:
        array = array.copy()
    else:
        array.flags.writeable = False
    n_components = scalars.GetNumberOfComponents()
    array = array.reshape((k, j, i, n_components) if n_components > 1 else (k, j, i))

    direction_rows = [[0.0] * 3 for _ in range(3)]
    node.GetIJKToRASDirections(direction_rows)  # rows R, A, S; columns i, j, k
    direction = _LPS_RAS_3 @ np.asarray(direction_rows)
    origin = _LPS_RAS_3 @ np.asarray(node.GetOrigin())
    metadata: dict[str, Any] = {"name": node.GetName()}
    if uids := (node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or "").split():
        metadata[INSTANCE_UIDS_METADATA] = uids
    return Image(array, tuple(node.GetSpacing()), tuple(origin), direction, metadata)


def show_volume(app_logic: Any, node: Any) -> None:
    """Show ``node`` in every slice view as ``slicer.util.loadVolume`` does: make it the active (label) volume of
    the selection node and propagate the selection (slice views fitted to it)."""
    selection = app_logic.GetSelectionNode()
    if selection is None:
        raise RuntimeError("the application logic has no selection node")
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        selection.SetActiveLabelVolumeID(node.GetID())
    else:
        selection.SetActiveVolumeID(node.GetID())
    app_logic.PropagateVolumeSelection()
