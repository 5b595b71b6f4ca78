"""Test helpers: an empty DICOM dataset of a SOP class, and an image written as an MR series (the node's writer)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.image import Image


def new_dataset(sop_class: str) -> Any:
    """An empty dataset of ``sop_class`` with its file meta and a fresh SOP instance UID (explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    return ds


def write_mr_series(
    image: Image, folder: Path, description: str, tags: Mapping[str, Any] | None = None, *, max_value: int = 65535
) -> dict[str, Path]:
    """Write ``image`` under ``folder`` as an MR series (series number 2) with ``description`` and extra ``tags``
    (keyword -> value), values clipped to 0..``max_value``, by the node's own phantom writer; returns
    {SOPInstanceUID: file} in slice order."""
    import pydicom

    from radtriage.dicom_node.phantom_series import write_series

    clipped = image.with_array(np.clip(image.array, 0, max_value))
    files = write_series(clipped, folder, modality="MR", description=description,
                         tags={"SeriesNumber": 2, **(tags or {})})
    return {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in files}
