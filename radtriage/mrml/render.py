"""Slice rendering without OpenGL: the slice logic's blended RGBA image and RAS <-> slice-pixel mapping."""

from __future__ import annotations

from typing import Any

import numpy as np
from vtkmodules.util import numpy_support

from radtriage.mrml.volumes import vtk_matrix_to_numpy


def show_slice_through(slice_logic: Any, ras: tuple[float, float, float], size: tuple[int, int] = (256, 256)) -> None:
    """Size the slice view to ``size`` (width, height) pixels, fit it to its background and move it through ``ras``."""
    slice_logic.ResizeSliceNode(int(size[0]), int(size[1]))
    slice_logic.FitSliceToBackground(int(size[0]), int(size[1]))
    slice_node = slice_logic.GetSliceNode()
    slice_node.JumpSliceByOffsetting(*[float(v) for v in ras])


def blended_slice_rgba(slice_logic: Any) -> np.ndarray:
    """The slice view's blended layers (background, foreground, label) as an ``(height, width, 4)`` uint8 array.

    Row 0 is the bottom of the view (VTK's image origin), so pixel (x, y) is ``array[y, x]``.
    """
    connection = slice_logic.GetImageDataConnection()
    if connection is None:
        raise RuntimeError("the slice logic has no blended image (is a volume shown in this view?)")
    producer = connection.GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(connection.GetIndex())
    width, height, _ = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    array = numpy_support.vtk_to_numpy(scalars).reshape(height, width, scalars.GetNumberOfComponents())
    return array.copy()


def ras_to_slice_pixel(slice_logic: Any, ras: tuple[float, float, float]) -> tuple[float, float, float]:
    """The slice view's (x, y, z) pixel coordinates of an RAS point (z is 0 on the displayed slice)."""
    xy_to_ras = vtk_matrix_to_numpy(slice_logic.GetSliceNode().GetXYToRAS())
    xyz = np.linalg.inv(xy_to_ras) @ np.array([*ras, 1.0])
    return (float(xyz[0]), float(xyz[1]), float(xyz[2]))
