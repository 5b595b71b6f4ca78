"""Image I/O: volume files (NIfTI, NRRD, MetaImage) and DICOM series, all with exact LPS geometry.

``read_image`` is the one entry point: a volume file goes to :func:`read_volume`,
a DICOM file or a folder of DICOM files to :func:`read_dicom_series`.
"""

from __future__ import annotations

from pathlib import Path

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io.dicom import DicomSeries, is_probably_dicom, read_dicom_series, scan_dicom
from radtriage.io.png import PNG_SUFFIX, read_png
from radtriage.io.volume import VOLUME_SUFFIXES, read_volume, volume_suffix, write_volume

__all__ = [
    "VOLUME_SUFFIXES",
    "DicomSeries",
    "read_dicom_series",
    "read_image",
    "read_volume",
    "scan_dicom",
    "write_volume",
]


def _pick_series(folder: Path, series: list[DicomSeries], series_uid: str | None) -> DicomSeries:
    if not series:
        raise InputError(folder, "no DICOM image series found in this folder (nor in its sub-folders)")
    if series_uid is not None:
        for s in series:
            if s.series_uid == series_uid:
                return s
        known = "; ".join(s.summary() for s in series)
        raise InputError(folder, f"no series with SeriesInstanceUID {series_uid} here; found: {known}")
    if len(series) > 1:
        listing = "; ".join(s.summary() for s in series)
        raise InputError(folder, f"the folder holds {len(series)} DICOM series; pick one with --series UID "
                                 f"(batch: a series_uid column or case.json key): {listing}")
    return series[0]


def read_image(path: str | Path, series_uid: str | None = None) -> Image:
    """Load a volume file, a DICOM file or a DICOM folder into an ``Image`` (LPS geometry).

    A folder holding several series raises ``InputError`` listing them unless
    ``series_uid`` picks one. ``metadata['source_path']`` and ``metadata['format']``
    are always set; volume files also get ``metadata['description']`` (file name
    without extension).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file or folder does not exist")
    if path.is_dir():
        series = scan_dicom(path)
        volumes = [] if series_uid else sorted(p.name for p in path.rglob("*") if p.is_file() and volume_suffix(p))
        if volumes and series:
            raise InputError(path, f"the folder holds volume files ({', '.join(volumes[:3])}"
                                   f"{', ...' if len(volumes) > 3 else ''}) and {len(series)} DICOM series; "
                                   "ambiguous — give the volume file or the DICOM sub-folder itself")
        return read_dicom_series(_pick_series(path, series, series_uid))
    if volume_suffix(path) is not None:
        return read_volume(path)
    if path.suffix.lower() == PNG_SUFFIX:
        return read_png(path)
    if not is_probably_dicom(path):
        raise InputError(
            path, f"not a recognised image file: expected a volume ({', '.join(VOLUME_SUFFIXES)}), a DICOM file "
                  "or a PNG slice"
        )
    return read_dicom_series([path])
