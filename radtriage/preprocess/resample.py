"""Resampling onto a target grid (optionally through a spatial transform) with SimpleITK."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec

logger = logging.getLogger(__name__)


def block_mean(array: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Mean (float32) of non-overlapping blocks of ``factors[a]`` samples along each array axis ``a``; a remainder
    that does not fill a block is dropped."""
    shape: list[int] = []
    reduce_axes: list[int] = []
    keep: list[slice] = []
    for n, f in zip(array.shape, factors, strict=True):
        whole = (n // f) * f
        keep.append(slice(0, whole))
        if f > 1:
            shape += [whole // f, f]
            reduce_axes.append(len(shape) - 1)
        else:
            shape.append(whole)
    return array[tuple(keep)].reshape(shape).mean(axis=tuple(reduce_axes), dtype=np.float32)

INTERPOLATORS = ("linear", "nearest", "bspline", "label_gaussian")


def sitk_interpolator(name: str) -> int:
    """The SimpleITK interpolator constant for ``"linear"``, ``"nearest"``, ``"bspline"`` or ``"label_gaussian"``."""
    import SimpleITK as sitk

    table = {
        "linear": sitk.sitkLinear,
        "nearest": sitk.sitkNearestNeighbor,
        "bspline": sitk.sitkBSpline,
        "label_gaussian": sitk.sitkLabelGaussian,
    }
    if name not in table:
        raise ValueError(f"unknown interpolator {name!r}; choose one of {', '.join(INTERPOLATORS)}")
    return table[name]


def sitk_compatible(image: Image) -> Image:
    """``image`` with a voxel type SimpleITK accepts (bool -> uint8, float16 -> float32)."""
    if image.array.dtype == bool:
        return image.with_array(image.array.astype(np.uint8))
    if image.array.dtype == np.float16:
        return image.with_array(image.array.astype(np.float32))
    return image


def _output_pixel_type(image: Any, interpolator: str) -> int:
    """Keep the input type for nearest/label interpolation; use float32 (float64 stays) otherwise."""
    import SimpleITK as sitk

    if interpolator in ("nearest", "label_gaussian"):
        return image.GetPixelID()
    vector = image.GetNumberOfComponentsPerPixel() > 1
    if image.GetPixelID() in (sitk.sitkFloat64, sitk.sitkVectorFloat64):
        return sitk.sitkVectorFloat64 if vector else sitk.sitkFloat64
    return sitk.sitkVectorFloat32 if vector else sitk.sitkFloat32


def resample(
    image: Image,
    grid: GridSpec | Image,
    transform: Any | None = None,
    interpolator: str = "linear",
    default: float = 0.0,
) -> Image:
    """Resample ``image`` onto ``grid`` with SimpleITK's ``ResampleImageFilter``.

    ``transform`` (a ``SimpleITK.Transform``) maps points of the *output* grid's space to
    the input image's space, as SimpleITK defines it; the transform returned by
    :func:`~radtriage.preprocess.register.register_rigid` for (moving, fixed) is exactly
    what resamples the moving image onto the fixed image's space. Voxels that map outside
    the input get ``default``. Linear and B-spline output is float32 (float64 input stays
    float64); nearest and label-Gaussian keep the input type. Multi-component images are
    resampled component-wise; bool and float16 voxels are
    read as uint8 and float32. Metadata is kept.
    """
    import SimpleITK as sitk

    target = grid if isinstance(grid, GridSpec) else GridSpec.from_image(grid)
    src = sitk_compatible(image).to_sitk()
    if interpolator in ("linear", "bspline") and src.GetPixelID() not in (
        sitk.sitkFloat32,
        sitk.sitkFloat64,
        sitk.sitkVectorFloat32,
        sitk.sitkVectorFloat64,
    ):
        src = sitk.Cast(src, _output_pixel_type(src, interpolator))
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in target.size])
    f.SetOutputSpacing(target.spacing)
    f.SetOutputOrigin(target.origin)
    f.SetOutputDirection(tuple(float(v) for v in target.direction.ravel()))
    f.SetInterpolator(sitk_interpolator(interpolator))
    f.SetDefaultPixelValue(float(default))
    f.SetOutputPixelType(_output_pixel_type(src, interpolator))
    f.SetTransform(transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity))
    out = f.Execute(src)
    result = Image.from_sitk(out, metadata=dict(image.metadata))
    # Keep the target geometry bit-for-bit (SimpleITK round-trips doubles, but be explicit).
    result.spacing, result.origin, result.direction = target.spacing, target.origin, np.array(target.direction)
    return result
