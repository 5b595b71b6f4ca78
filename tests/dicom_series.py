"""One test helper that writes an image as a classic single-frame MR DICOM series (one file per k slice)."""

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
    """Write ``image`` (axial, identity orientation) under ``folder`` with ``description`` and extra ``tags``
    (keyword -> value); returns {SOPInstanceUID: file} in slice order."""
    from pydicom.uid import MRImageStorage, generate_uid

    folder.mkdir(parents=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    arr = np.clip(image.array, 0, max_value).astype(np.uint16)
    files: dict[str, Path] = {}
    for k in range(arr.shape[0]):
        ds = new_dataset(MRImageStorage)
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber = "MR", description, 2
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        for keyword, value in (tags or {}).items():
            setattr(ds, keyword, value)
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [f"{image.spacing[1]:g}", f"{image.spacing[0]:g}"]
        ds.SliceThickness = f"{image.spacing[2]:g}"
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in image.index_to_lps(np.array([[0, 0, k]]))[0]]
        ds.InstanceNumber = k + 1
        ds.PixelData = arr[k].tobytes()
        path = folder / f"s{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = path
    return files
