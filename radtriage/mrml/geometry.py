"""Where a volume node's voxels are: IJK/RAS matrices, slice counts and the slice a view shows.

Reads only the node's matrices and image-data dimensions (no voxel is copied). Works on ``slicer.mrmlScene``
nodes in the application and on a headless scene from :func:`radtriage.mrml.create_headless_scene`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vtkmodules.vtkCommonMath import vtkMatrix4x4

Rows = list[list[float]]


def _rows(matrix: vtkMatrix4x4) -> Rows:
    return [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]


def ras_to_ijk_rows(node: Any) -> Rows:
    """The volume's RAS-to-IJK matrix as four rows."""
    matrix = vtkMatrix4x4()
    node.GetRASToIJKMatrix(matrix)
    return _rows(matrix)


def ijk_to_ras_rows(node: Any) -> Rows:
    """The volume's IJK-to-RAS matrix as four rows."""
    matrix = vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return _rows(matrix)


def dimensions(node: Any) -> tuple[int, int, int]:
    """(i, j, k) voxel counts from the node's image data (no voxel is copied)."""
    image_data = node.GetImageData() if node is not None else None
    if image_data is None:
        name = node.GetName() if node is not None else "none"
        raise ValueError(f"volume {name!r} has no image data: load the volume again")
    i, j, k = image_data.GetDimensions()
    return int(i), int(j), int(k)


def ijk_to_ras(node: Any, ijk: Sequence[float]) -> list[float]:
    """RAS of a (fractional) IJK position in the volume."""
    matrix = vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return list(matrix.MultiplyPoint([float(ijk[0]), float(ijk[1]), float(ijk[2]), 1.0])[:3])


def slice_index_at(ras_to_ijk: Sequence[Sequence[float]], ras: Sequence[float], axis: int = 2) -> int:
    """The index along IJK ``axis`` (0=i, 1=j, 2=k) of the RAS point, rounded to the nearest voxel."""
    point = [float(ras[0]), float(ras[1]), float(ras[2]), 1.0]
    return round(sum(float(ras_to_ijk[axis][c]) * point[c] for c in range(4)))


def slice_axis_for_normal(ijk_to_ras: Sequence[Sequence[float]], normal_ras: Sequence[float]) -> int:
    """The IJK axis (0, 1 or 2) whose direction is closest to a view's normal (RAS), whatever its sign.

    A view shows i-, j- or k-planes of a volume depending on how the volume lies and how the view is turned
    (``RotateToVolumePlane`` picks the closest of axial/sagittal/coronal, not the volume's k axis), so the slice a
    view shows is an index along this axis.
    """
    norm = math.sqrt(sum(float(v) ** 2 for v in normal_ras[:3])) or 1.0

    def score(axis: int) -> float:
        column = [float(ijk_to_ras[row][axis]) for row in range(3)]
        length = math.sqrt(sum(v * v for v in column)) or 1.0
        return abs(sum(c * float(n) for c, n in zip(column, normal_ras[:3], strict=True))) / (length * norm)

    return max(range(3), key=score)


def slice_to_ras_rows(slice_node: Any) -> Rows:
    """A slice node's SliceToRAS matrix as four rows (column 2: the normal, column 3: the view centre)."""
    return _rows(slice_node.GetSliceToRAS())


def view_slice(node: Any, slice_to_ras: Sequence[Sequence[float]]) -> tuple[int, int]:
    """(axis, index): the volume's IJK axis closest to the view normal and the index of the plane shown."""
    normal = [float(slice_to_ras[row][2]) for row in range(3)]
    centre = [float(slice_to_ras[row][3]) for row in range(3)]
    axis = slice_axis_for_normal(ijk_to_ras_rows(node), normal)
    return axis, slice_index_at(ras_to_ijk_rows(node), centre, axis)
