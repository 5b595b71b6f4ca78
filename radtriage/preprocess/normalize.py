"""Intensity normalisation with MONAI transforms (z-score or percentile range), mask-aware."""

from __future__ import annotations

import logging

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image

logger = logging.getLogger(__name__)

METHODS = ("zscore", "percentile")


def _monai_transform(method: str, lower: float, upper: float, b_min: float, b_max: float, clip: bool):
    from monai.transforms import NormalizeIntensity, ScaleIntensityRangePercentiles

    if method == "zscore":
        return NormalizeIntensity(nonzero=False, channel_wise=True, dtype=np.float32)
    return ScaleIntensityRangePercentiles(
        lower=lower, upper=upper, b_min=b_min, b_max=b_max, clip=clip, channel_wise=True, dtype=np.float32
    )


def normalize_intensity(
    image: Image,
    method: str = "zscore",
    mask: Image | np.ndarray | None = None,
    nonzero: bool = False,
    lower: float = 1.0,
    upper: float = 99.0,
    b_min: float = 0.0,
    b_max: float = 1.0,
    clip: bool = True,
) -> Image:
    """Normalise intensities with MONAI; returns a float32 image on the same grid.

    ``"zscore"`` uses ``NormalizeIntensity`` (mean 0, std 1); ``"percentile"`` uses
    ``ScaleIntensityRangePercentiles`` (the ``lower``/``upper`` percentiles map to
    ``b_min``/``b_max``, clipped when ``clip``). With a ``mask`` (an image on the same grid
    or a ``[k, j, i]`` array) or ``nonzero=True`` (mask = voxels not 0), the statistics come
    from the masked voxels only, the mapping is applied to them, and every other voxel is set
    to 0. Each component of a multi-component image is normalised on its own.
    """
    if method not in METHODS:
        raise ValueError(f"unknown normalisation {method!r}; choose one of {', '.join(METHODS)}")
    if not 0 <= lower < upper <= 100:
        raise ValueError(f"need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
    arr = np.asarray(image.array, dtype=np.float32)
    channels = arr[np.newaxis] if image.n_components == 1 else np.moveaxis(arr, -1, 0)  # [C, k, j, i]
    if channels.size == 0:
        raise InputError(image.metadata.get("source_path"), "image is empty; nothing to normalise")

    region = _region(image, mask, nonzero, channels)
    transform = _monai_transform(method, lower, upper, b_min, b_max, clip)
    if region is None:
        out = np.asarray(transform(channels), dtype=np.float32)
    else:
        out = np.zeros_like(channels)
        for c in range(channels.shape[0]):
            inside = region[c]
            values = channels[c][inside]
            out[c][inside] = np.asarray(transform(values[np.newaxis]), dtype=np.float32)[0]
    result = out[0] if image.n_components == 1 else np.moveaxis(out, 0, -1)
    return image.with_array(np.ascontiguousarray(result, dtype=np.float32), normalization=method)


def _region(image: Image, mask: Image | np.ndarray | None, nonzero: bool, channels: np.ndarray) -> np.ndarray | None:
    """Boolean [C, k, j, i] region the statistics come from, or ``None`` for the whole image."""
    where = image.metadata.get("source_path")
    region = None
    if mask is not None:
        m = mask.array if isinstance(mask, Image) else np.asarray(mask)
        if isinstance(mask, Image) and not mask.same_geometry(image):
            raise InputError(where, "mask geometry (size, spacing, origin, direction) does not match the image")
        if m.shape != channels.shape[1:]:
            raise InputError(where, f"mask shape {m.shape} does not match the image array shape {channels.shape[1:]}")
        region = np.broadcast_to(m > 0, channels.shape)
    if nonzero:
        nz = channels != 0
        region = nz if region is None else (region & nz)
    if region is not None:
        empty = [c for c in range(channels.shape[0]) if not region[c].any()]
        if empty:
            raise InputError(where, f"normalisation mask selects no voxel (component(s) {empty})")
    return region
