"""The images of an exported case: read from the case's sources, written as NIfTI (always) and as de-identified
DICOM (optional). NIfTI files hold voxels and geometry only; their header text fields are checked empty."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radtriage.annotations import CaseRef
from radtriage.errors import InputError
from radtriage.image import Image

log = logging.getLogger(__name__)

NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "db_name", "intent_name")
"""NIfTI-1 header fields that can hold free text; an export leaves them empty."""


@dataclass
class Channel:
    """One image of a case (a volume file or a DICOM series) and, for DICOM, the files it came from."""

    image: Image
    dicom_files: tuple[Path, ...] = ()


def read_case_channels(case: CaseRef) -> list[Channel]:
    """Every image of ``case``: each volume file, each DICOM file, and each DICOM series in each folder of its
    ``image_paths`` (only the case's ``series_uids`` when it names any). ``InputError`` when there is none."""
    from radtriage.io import read_dicom_series, read_volume, scan_dicom
    from radtriage.io.dicom import is_probably_dicom
    from radtriage.io.volume import volume_suffix

    channels: list[Channel] = []
    wanted = set(case.series_uids)
    for text in case.image_paths:
        path = Path(text)
        if path.is_dir():
            series = [s for s in scan_dicom(path) if not wanted or s.series_uid in wanted]
            series.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30, s.series_uid))
            channels += [Channel(read_dicom_series(s), tuple(s.files)) for s in series]
        elif path.is_file() and volume_suffix(path) is not None:
            channels.append(Channel(read_volume(path)))
        elif path.is_file() and is_probably_dicom(path):
            channels.append(Channel(read_dicom_series([path]), (path,)))
        else:
            raise InputError(path, f"case {case.case_id!r}: image path is not a volume file, DICOM file or folder")
    if not channels:
        raise InputError(None, f"case {case.case_id!r} has no readable image (image paths: {len(case.image_paths)})")
    return channels


def slice_image(image: Image, k: int) -> Image:
    """Slice ``k`` of ``image`` as a one-slice volume at its true place in space."""
    if not 0 <= k < image.array.shape[0]:
        raise IndexError(f"slice {k} is outside the volume's {image.array.shape[0]} slices")
    origin = tuple(float(v) for v in image.index_to_lps(np.array([0.0, 0.0, float(k)])).reshape(-1)[:3])
    return Image(image.array[k : k + 1].copy(), image.spacing, origin, image.direction)


def write_nifti(image: Image, path: Path) -> Path:
    """Write voxels and geometry only (no metadata) as NIfTI and check the header's text fields are empty."""
    import nibabel as nib

    from radtriage.io import write_volume

    write_volume(Image(image.array, image.spacing, image.origin, image.direction), path)
    header = nib.load(str(path)).header
    filled = [f for f in NIFTI_TEXT_FIELDS if bytes(np.asarray(header[f]).item()).strip(b"\x00 ")]
    if filled or len(header.extensions):
        raise InputError(path, f"NIfTI header carries text ({filled or 'extensions'}); refusing to export it")
    return path
