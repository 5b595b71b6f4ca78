"""Siemens MOSAIC DICOM: several slices tiled into one 2D image, de-mosaiced with nibabel.

nibabel's ``MosaicWrapper`` cuts the tiles apart, corrects the position
Siemens stores for the whole mosaic to that of the first slice, and takes the
slice direction from the CSA header's ``SliceNormalVector`` (its sign decides
the slice order). The number of slices comes from the CSA header's
``NumberOfImagesInMosaic`` or, when that header is missing, from the public
private tag ``(0019,100A)``; without either the file is refused.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError, UnsupportedInputError
from radtriage.image import Image

log = logging.getLogger(__name__)

SIEMENS_N_MOSAIC_TAG = (0x0019, 0x100A)
"""Siemens ``NumberOfImagesInMosaic`` outside the CSA header (private creator 'SIEMENS MR HEADER')."""


def is_mosaic(dataset: Any) -> bool:
    """True when a dataset's ImageType says MOSAIC (Siemens tiled slices)."""
    image_type = dataset.get("ImageType", None) or []
    if isinstance(image_type, str):
        image_type = image_type.split("\\")
    return any(str(v).strip().upper() == "MOSAIC" for v in image_type)


def mosaic_slice_count(dataset: Any) -> int | None:
    """Number of slices in a MOSAIC from the CSA header, else from (0019,100A); None when neither says."""
    csareader, _ = _nicom()
    try:
        csa = csareader.get_csa_header(dataset)
        n = csareader.get_n_mosaic(csa) if csa else None
    except (csareader.CSAReadError, KeyError, ValueError):
        n = None
    if not n and SIEMENS_N_MOSAIC_TAG in dataset:
        n = dataset[SIEMENS_N_MOSAIC_TAG].value
        if isinstance(n, bytes):  # implicit VR files store it untyped: little-endian US
            n = int.from_bytes(n[:2], "little") if len(n) >= 2 else None
    return int(n) if n else None


def _nicom() -> tuple[Any, Any]:
    """nibabel's csareader and dicomwrappers, without the import-time 'experimental' warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from nibabel.nicom import csareader, dicomwrappers
    return csareader, dicomwrappers


def _wrapper(path: Path, dataset: Any) -> tuple[Any, str]:
    """nibabel's MosaicWrapper for one dataset and where its slice normal came from."""
    csareader, dicomwrappers = _nicom()

    try:
        csa = csareader.get_csa_header(dataset)
    except csareader.CSAReadError:
        csa = None
    n = mosaic_slice_count(dataset)
    if not n:
        raise UnsupportedInputError(
            path,
            "Siemens MOSAIC without NumberOfImagesInMosaic (neither CSA header nor tag (0019,100A)); "
            "cannot cut it into slices",
        )
    wrapper = dicomwrappers.MosaicWrapper(dataset, csa_header=csa or {}, n_mosaic=n)
    if bool(csa) and csareader.get_slice_normal(csa) is not None:
        return wrapper, "CSA SliceNormalVector"
    # No CSA normal: nibabel would use column x row; DICOM's convention (and dcm2niix's guess) is row x column.
    iop = _floats(dataset.get("ImageOrientationPatient", None))
    if iop is None or iop.size != 6:
        raise UnsupportedInputError(path, "MOSAIC without ImageOrientationPatient: cannot place its slices")
    wrapper.__dict__["slice_normal"] = np.cross(iop[:3], iop[3:])
    return wrapper, "ImageOrientationPatient cross product (no CSA normal; slice order assumed ascending)"


def _floats(value: Any) -> np.ndarray | None:
    try:
        return None if value is None else np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None


def read_mosaic(path: str | Path, dataset: Any) -> Image:
    """De-mosaic one Siemens MOSAIC dataset (with pixels) into a 3D ``Image`` in LPS."""
    WrapperError = _nicom()[1].WrapperError
    path = Path(path)
    wrapper, normal_source = _wrapper(path, dataset)
    rows, cols = int(dataset.Rows), int(dataset.Columns)
    if rows % wrapper.mosaic_size or cols % wrapper.mosaic_size:
        raise InputError(
            path,
            f"MOSAIC of {rows}x{cols} pixels cannot hold {wrapper.n_mosaic} slices on a "
            f"{wrapper.mosaic_size}x{wrapper.mosaic_size} grid of tiles",
        )
    try:
        data = np.asarray(wrapper.get_data())  # (rows, columns, slices), rescaled
        affine = np.asarray(wrapper.affine, dtype=float)  # (row, column, slice) index -> LPS
    except (WrapperError, AssertionError, ValueError, AttributeError) as exc:
        raise InputError(path, f"cannot de-mosaic this Siemens MOSAIC: {exc}") from exc
    # Image axes: i = column index, j = row index, k = slice.
    m = affine[:3, [1, 0, 2]]
    spacing = np.linalg.norm(m, axis=0)
    direction = m / spacing
    array = np.transpose(data, (2, 0, 1))
    image = Image(array, tuple(spacing), tuple(affine[:3, 3]), direction)
    image.metadata["mosaic_slice_normal_source"] = normal_source
    image.metadata["mosaic_slices"] = int(wrapper.n_mosaic)
    log.debug("de-mosaiced %s: %d slices of %dx%d", path.name, wrapper.n_mosaic, array.shape[2], array.shape[1])
    return image
