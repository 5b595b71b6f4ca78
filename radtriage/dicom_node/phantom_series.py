"""Write a phantom (or any ``Image``) as a classic single-frame DICOM series: test and benchmark studies."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.image import Image

SOP_CLASSES = {"MR": "1.2.840.10008.5.1.4.1.1.4", "CT": "1.2.840.10008.5.1.4.1.1.2"}
PATIENT = {"PatientName": "Phantom^RadTriage", "PatientID": "PHANTOM-1", "PatientBirthDate": "19700101",
           "PatientSex": "O"}
"""The made-up patient of phantom studies."""


def write_series(
    image: Image,
    folder: str | Path,
    *,
    modality: str = "MR",
    description: str = "",
    study_uid: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``image`` (any orientation) as one file per k slice under ``folder``; CT is stored with a -1024
    intercept (values in HU), MR clipped to 0..65535. Returns the files in slice order."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series, frame, study = generate_uid(), generate_uid(), study_uid or generate_uid()
    offset = 1024.0 if modality == "CT" else 0.0
    arr = np.clip(np.rint(np.asarray(image.array, dtype=float) + offset), 0, 65535).astype(np.uint16)
    row, col = image.direction[:, 0], image.direction[:, 1]
    files: list[Path] = []
    for k in range(arr.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        for keyword, value in PATIENT.items():
            setattr(ds, keyword, value)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", "ACC1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber, ds.InstanceNumber = modality, description, 1, k + 1
        ds.Manufacturer = "RadTriage phantom"
        for keyword, value in (tags or {}).items():
            setattr(ds, keyword, value)
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [f"{image.spacing[1]:.6g}", f"{image.spacing[0]:.6g}"]
        ds.SliceThickness = f"{image.spacing[2]:.6g}"
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row, *col)]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in image.index_to_lps(np.array([[0, 0, k]]))[0]]
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.PixelData = arr[k].tobytes()
        path = folder / f"{modality.lower()}{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


BRAIN_SERIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("T1", "T1 MPRAGE", {}), ("T2", "T2 TSE", {}), ("FLAIR", "FLAIR", {}),
    ("DWI", "DWI b1000", {"DiffusionBValue": 1000}), ("SWI", "SWI", {"ImageType": ["ORIGINAL", "PRIMARY", "M", "SWI"]}),
)
"""The series of a phantom brain study: contrast of the phantom, SeriesDescription, extra tags."""


def write_brain_study(folder: str | Path, *, seed: int = 0, finding: str = "haemorrhage",
                      shape: tuple[int, int, int] = (48, 48, 32), with_swi: bool = True) -> list[Path]:
    """A brain MR phantom study (T1, T2, FLAIR, DWI and SWI series, one StudyInstanceUID); returns every file."""
    from pydicom.uid import generate_uid

    from radtriage.phantoms import make_brain_case

    case = make_brain_case(seed, finding, shape=shape)
    study, files = generate_uid(), []
    for n, (contrast, description, tags) in enumerate(BRAIN_SERIES):
        if contrast == "SWI" and not with_swi:
            continue
        files += write_series(case.images[contrast], Path(folder) / contrast, description=description,
                              study_uid=study, tags={"SeriesNumber": n + 1, "BodyPartExamined": "BRAIN", **tags})
    return files


def write_body_series(folder: str | Path, *, seed: int = 0, modality: str = "CT", n_slices: int = 30) -> list[Path]:
    """A body phantom series (its own study); returns the files."""
    from radtriage.phantoms import make_body_case

    case = make_body_case(seed, modality, n_slices=n_slices)
    return write_series(case.image, folder, modality=modality, description=f"{modality} body")


def write_lge_series(folder: str | Path, *, seed: int = 0, n_slices: int = 6) -> list[Path]:
    """A short-axis LGE phantom stack (its own study); returns the files."""
    from radtriage.phantoms import make_lge_stack

    stack, _ = make_lge_stack(seed, n_slices=n_slices)
    return write_series(stack, folder, description="LGE PSIR SAX", tags={"InversionTime": 300,
                                                                          "BodyPartExamined": "HEART"})
