"""The DICOM datasets an image was read from, in the image's slice order (what SR and SEG reference)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image


@dataclass
class SourceSeries:
    """One input series: its image and its datasets; ``by_slice[k]`` is the dataset of slice k (classic series)."""

    key: str
    image: Image
    datasets: list[Any]
    by_slice: list[Any] | None

    @property
    def frame_of_reference_uid(self) -> str:
        """The series' FrameOfReferenceUID ('' when absent)."""
        return str(self.datasets[0].get("FrameOfReferenceUID", "") or "")


POSITION_TOLERANCE = 0.25
"""How far (in voxels, along each axis) a slice's ImagePositionPatient may lie from its slot on the image grid: a
crop or a resampling moves slices by a voxel or a fraction of one, rounding in the headers by far less."""


def _slice_order(image: Image, datasets: list[Any]) -> list[Any] | None:
    """The datasets in the image's k order, or None when they are not one classic slice per k of its grid."""
    if len(datasets) != image.size[2] or any("ImagePositionPatient" not in ds for ds in datasets):
        return None
    origin, steps = np.asarray(image.origin, dtype=float), image.direction * np.asarray(image.spacing, dtype=float)
    slots: list[Any] = [None] * len(datasets)
    for ds in datasets:
        ijk = np.linalg.solve(steps, np.asarray(ds.ImagePositionPatient, dtype=float) - origin)
        k = round(float(ijk[2]))
        if (np.abs(ijk - (0.0, 0.0, k)) > POSITION_TOLERANCE).any() or not 0 <= k < len(slots) or slots[k] is not None:
            return None
        slots[k] = ds
    return slots


def load_source(key: str, image: Image, dicom_path: str | Path | None = None) -> SourceSeries | None:
    """The source series of ``image``: the DICOM series it was read from (None for a volume file), or the one series
    at ``dicom_path`` (a volume exported from it, e.g. by Slicer), whose slices must lie on ``image``'s grid.
    InputError (one line) when the files are gone or do not fit."""
    import pydicom

    from radtriage.io import scan_dicom

    meta = image.metadata
    if dicom_path is None:
        if meta.get("format") != "dicom" or not meta.get("series_uid"):
            return None
        source, series_uid = Path(meta["source_path"]), meta["series_uid"]
    else:
        source, series_uid = Path(dicom_path), None
    if dicom_path is None and meta.get("dicom_files"):  # the reader's own list: no second scan of the folder
        files = [Path(f) for f in meta["dicom_files"] if Path(f).is_file()]
        files = files if len(files) == len(meta["dicom_files"]) else []
    else:
        folder = source if source.is_dir() else source.parent
        found = [s for s in scan_dicom(folder) if series_uid is None or s.series_uid == series_uid]
        if dicom_path is not None and len(found) != 1:
            raise InputError(source, f"holds {len(found)} DICOM series; give the folder of the one series input "
                                     f"{key!r} was loaded from")
        files = [f for s in found for f in s.files]
    if not files:
        raise InputError(source, "the DICOM files this result was computed from are gone; cannot write DICOM results")
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]  # headers: all SR and SEG need
    by_slice = _slice_order(image, datasets)
    if dicom_path is not None and by_slice is None:
        raise InputError(source, f"its slices do not lie on the grid of input {key!r} (cropped, resampled or another "
                                 "series?); DICOM results must reference the series the input was loaded from")
    return SourceSeries(key, image, datasets, by_slice)


def load_sources(images: Mapping[str, Image],
                 dicom_sources: Mapping[str, str | Path] | None = None) -> dict[str, SourceSeries]:
    """Every DICOM input of a task run, by input key (volume-file inputs are left out unless ``dicom_sources``
    names the series they were exported from)."""
    out: dict[str, SourceSeries] = {}
    for key, image in images.items():
        if (series := load_source(key, image, (dicom_sources or {}).get(key))) is not None:
            out[key] = series
    return out


def primary_series(outputs: Mapping[str, Any], sources: Mapping[str, SourceSeries]) -> SourceSeries:
    """The series a task's per-slice outputs, points and volumes refer to: its input, or mri_triage's reference."""
    contrasts = outputs.get("contrasts") or {}
    key = outputs.get("input") or contrasts.get("reference")
    key = (contrasts.get("inputs") or {}).get(key, key)
    return sources[key] if key in sources else next(iter(sources.values()))
