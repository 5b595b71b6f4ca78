"""Reorientation: permute/flip the voxel axes toward a named orientation, keeping every voxel in place."""

from __future__ import annotations

import logging

import numpy as np

from radtriage.image import Image
from radtriage.preprocess.grid import direction_from_orientation
from radtriage.preprocess.resample import sitk_compatible

logger = logging.getLogger(__name__)


def orientation_of(image: Image) -> str:
    """The closest three-letter orientation code of ``image`` (e.g. ``"LPS"``, ``"RAS"``)."""
    import SimpleITK as sitk

    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(tuple(image.direction.ravel()))


def reorient(image: Image, orientation: str = "LPS") -> Image:
    """Permute and flip the voxel axes so i, j, k point (as near as possible) toward ``orientation``.

    Uses SimpleITK's ``DICOMOrient``. Only the array layout and the geometry change:
    every voxel keeps its value and its LPS position, so an oblique image stays oblique.
    Multi-component images are supported; metadata is kept.
    """
    import SimpleITK as sitk

    code = orientation.upper()
    direction_from_orientation(code)  # validates the code with a clear message
    out = sitk.DICOMOrient(sitk_compatible(image).to_sitk(), code)
    result = Image.from_sitk(out, metadata=dict(image.metadata))
    logger.debug("reoriented %s -> %s", orientation_of(image), orientation_of(result))
    return result


def is_axis_aligned(image: Image, tol: float = 1e-4) -> bool:
    """True when every image axis is parallel to an LPS axis (no oblique rotation)."""
    d = np.abs(image.direction)
    return bool(np.all((d < tol) | (np.abs(d - 1.0) < tol)))
