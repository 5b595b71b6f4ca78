"""A 2D slice stored as a PNG picture (e.g. a screen capture or a dataset's exported slices): grey values, no
voxel size. It is read as a one-slice image marked ``spacing_unknown``; the tasks that can read a single slice
take the pixel size from an option (``lge_certainty``: ``--option pixel_mm=``), the others refuse it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image

PNG_SUFFIX = ".png"
ASSUMED_PIXEL_MM = 1.0
SLICE_THICKNESS_MM = 8.0
"""Nominal slice thickness of a lone slice (a typical cardiac short-axis slice)."""


def read_png_array(path: str | Path) -> np.ndarray:
    """A grey 2D float32 array from a PNG (colour images are averaged over RGB; alpha dropped)."""
    from PIL import Image as PILImage

    path = Path(path)
    try:
        with PILImage.open(path) as im:
            arr = np.asarray(im)
    except FileNotFoundError as exc:
        raise InputError(path, "slice image not found") from exc
    except OSError as exc:
        raise InputError(path, f"not a readable PNG image: {exc}") from exc
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2)
    if arr.ndim != 2:
        raise InputError(path, f"a slice image must be 2D, got shape {arr.shape}")
    return arr.astype(np.float32)


def read_png(path: str | Path, pixel_mm: float | None = None) -> Image:
    """One PNG slice as a ``(1, J, I)`` :class:`Image`; without ``pixel_mm`` the spacing is 1 mm and the image is
    marked ``spacing_unknown``."""
    arr = read_png_array(path)
    mm = ASSUMED_PIXEL_MM if pixel_mm is None else float(pixel_mm)
    meta = {"source_path": str(path), "format": "png", "description": Path(path).stem}
    if pixel_mm is None:
        meta["spacing_unknown"] = True
    return Image(arr[None], (mm, mm, SLICE_THICKNESS_MM), metadata=meta)
