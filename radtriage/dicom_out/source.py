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


def _slice_order(image: Image, datasets: list[Any]) -> list[Any] | None:
    """The datasets in the image's k order, or None when they are not one classic slice per k."""
    if len(datasets) != image.size[2] or any("ImagePositionPatient" not in ds for ds in datasets):
        return None
    normal, origin = image.direction[:, 2], np.asarray(image.origin)
    step = image.spacing[2]
    slots: list[Any] = [None] * len(datasets)
    for ds in datasets:
        k = round(float((np.asarray(ds.ImagePositionPatient, dtype=float) - origin) @ normal) / step)
        if not 0 <= k < len(slots) or slots[k] is not None:
            return None
        slots[k] = ds
    return slots


def load_source(key: str, image: Image) -> SourceSeries | None:
    """The source series of a DICOM-read ``image`` (None for volume files); InputError when its files are gone."""
    import pydicom

    from radtriage.io import scan_dicom

    meta = image.metadata
    if meta.get("format") != "dicom" or not meta.get("series_uid"):
        return None
    source = Path(meta["source_path"])
    folder = source if source.is_dir() else source.parent
    files = [f for s in scan_dicom(folder) if s.series_uid == meta["series_uid"] for f in s.files]
    if not files:
        raise InputError(source, "the DICOM files this result was computed from are gone; cannot write DICOM results")
    datasets = [pydicom.dcmread(f) for f in files]
    return SourceSeries(key, image, datasets, _slice_order(image, datasets))


def load_sources(images: Mapping[str, Image]) -> dict[str, SourceSeries]:
    """Every DICOM input of a task run, by input key (volume-file inputs are left out)."""
    out: dict[str, SourceSeries] = {}
    for key, image in images.items():
        if (series := load_source(key, image)) is not None:
            out[key] = series
    return out


def primary_series(outputs: Mapping[str, Any], sources: Mapping[str, SourceSeries]) -> SourceSeries:
    """The series a task's per-slice outputs, points and volumes refer to: its input, or mri_triage's reference."""
    contrasts = outputs.get("contrasts") or {}
    key = outputs.get("input") or contrasts.get("reference")
    key = (contrasts.get("inputs") or {}).get(key, key)
    return sources[key] if key in sources else next(iter(sources.values()))
