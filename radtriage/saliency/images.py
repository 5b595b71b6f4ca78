"""Put saliency maps into patient space: on the model grid, back on the native volume, or on one slice.

A 2D classifier run over every k-slice of a volume gives maps ``[K, j, i]`` that are already on
that volume's grid: ``heatmap_image(maps, model_grid_image=volume)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.preprocess.prepare import PreparedInputs

logger = logging.getLogger(__name__)


def _squeeze_leading(array: np.ndarray, ndim: int) -> np.ndarray:
    """Drop leading singleton axes (batch, channel) until ``array`` has ``ndim`` axes."""
    while array.ndim > ndim and array.shape[0] == 1:
        array = array[0]
    return array


def _geometry_only(array: np.ndarray, like: Image, metadata: Mapping[str, Any] | None) -> Image:
    """A new image of ``array`` with ``like``'s geometry and only the given metadata."""
    return Image(array, like.spacing, like.origin, like.direction.copy(), dict(metadata or {}))


def heatmap_image(
    map_on_model_grid: np.ndarray | Image,
    prepared: PreparedInputs | None = None,
    model_grid_image: Image | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Image:
    """A saliency map as an :class:`Image`, in the reference's native geometry when ``prepared`` is given.

    ``map_on_model_grid`` is a ``[k, j, i]`` array (leading singleton batch/channel axes are
    dropped; a 2D ``[j, i]`` map is a one-slice grid) or an :class:`Image`. Its geometry comes
    from ``model_grid_image`` or else from ``prepared.grid``. With ``prepared`` the map is then
    resampled (linear, 0 outside) onto the native grid of the reference series with
    :meth:`PreparedInputs.to_native`, so it overlays the native volume exactly.
    """
    if isinstance(map_on_model_grid, Image):
        image = map_on_model_grid
        if metadata:
            image = image.with_array(image.array, **dict(metadata))
    else:
        array = np.asarray(map_on_model_grid, dtype=np.float32)
        array = _squeeze_leading(array, 3)
        if array.ndim == 2:
            array = array[np.newaxis]
        if array.ndim != 3:
            raise ValueError(f"saliency map must be [k, j, i] (or [j, i]), got shape {np.shape(map_on_model_grid)}")
        if model_grid_image is not None:
            if array.shape != model_grid_image.array.shape[:3]:
                grid_shape = model_grid_image.array.shape[:3]
                raise ValueError(f"map shape {array.shape} does not match the model grid {grid_shape}")
            image = _geometry_only(array, model_grid_image, metadata)
        elif prepared is not None:
            if array.shape != prepared.grid.shape:
                raise ValueError(f"map shape {array.shape} does not match the model grid {prepared.grid.shape}")
            image = _geometry_only(array, prepared.grid.empty_image(), metadata)
        else:
            raise ValueError("heatmap_image needs the map's geometry: give prepared or model_grid_image")
    if prepared is None:
        return image
    native = prepared.to_native(image, interpolator="linear", default=0.0)
    logger.debug("heatmap mapped from %s onto native grid %s", image.size, native.size)
    return native


def slice_heatmap_image(map2d: np.ndarray, slice_image: Image, *, metadata: Mapping[str, Any] | None = None) -> Image:
    """The saliency map of a 2D slice classifier as a one-slice :class:`Image` with ``slice_image``'s geometry.

    ``map2d`` is ``[j, i]`` (leading singleton axes are dropped). When its size differs from the
    slice, the model is taken to have read the whole slice resized to its input size, and the
    map is resized back (bilinear, voxel edges aligned).
    """
    if slice_image.array.shape[0] != 1:
        raise ValueError(f"slice_image must have exactly one slice, got {slice_image.array.shape[0]}")
    array = _squeeze_leading(np.asarray(map2d, dtype=np.float32), 2)
    if array.ndim != 2:
        raise ValueError(f"slice saliency map must be [j, i], got shape {np.shape(map2d)}")
    target = tuple(slice_image.array.shape[1:3])
    if array.shape != target:
        import torch

        resized = torch.nn.functional.interpolate(
            torch.from_numpy(array)[None, None], size=target, mode="bilinear", align_corners=False
        )
        array = resized[0, 0].numpy()
    return _geometry_only(array[np.newaxis], slice_image, metadata)
