"""Task volumes as DICOM SEG: the body-region label map and thresholded heatmaps, on the source series' grid."""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from radtriage import __version__
from radtriage.dicom_out import codes as c
from radtriage.dicom_out.source import SourceSeries
from radtriage.image import Image
from radtriage.tasks.result import TaskResult

SEG_SERIES_NUMBER = 9902
HEATMAP_THRESHOLD = 0.5
"""Heatmap voxels at or above this fraction of the heatmap's maximum form the segment."""


def _on_grid(volume: Image, series: SourceSeries, interpolator: str) -> np.ndarray:
    """``volume``'s voxels on the source series' grid ([k, j, i]), resampled when the grids differ."""
    if volume.same_geometry(series.image, tol=1e-3):
        return np.asarray(volume.array)
    from radtriage.preprocess.resample import resample

    return np.asarray(resample(volume, series.image, interpolator=interpolator).array)


def _algorithm(result: TaskResult) -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(
        name=str(result.bundle.get("name", result.task)), family=codes.DCM.ArtificialIntelligence,
        version=str(result.bundle.get("version", "?")))


def _segment(number: int, label: str, category: Any, kind: Any, result: TaskResult) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(number, label[:64], category, kind, hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                                     algorithm_identification=_algorithm(result))


def _heatmap_segments(result: TaskResult, series: SourceSeries) -> tuple[np.ndarray, list[Any]] | None:
    """Each heatmap thresholded at ``HEATMAP_THRESHOLD`` x its maximum as one binary segment (empty ones left out)."""
    masks, descriptions = [], []
    for name, volume in result.volumes.items():
        if not name.endswith("heatmap") and not name.startswith("heatmap"):
            continue
        values = _on_grid(volume, series, "linear")
        peak = float(np.nanmax(values)) if values.size else 0.0
        mask = values >= HEATMAP_THRESHOLD * peak if peak > 0 else np.zeros(values.shape, bool)
        if not mask.any():
            continue
        masks.append(mask)
        descriptions.append(_segment(len(masks), f"{name} >= {HEATMAP_THRESHOLD:g} max",
                                     codes.SCT.MorphologicallyAbnormalStructure, c.private(name[:16], name), result))
    if not masks:
        return None
    return np.stack(masks, axis=-1).astype(np.uint8), descriptions


def _region_segments(result: TaskResult, series: SourceSeries) -> tuple[np.ndarray, list[Any]] | None:
    """The body-region label volume, one segment per region present (SNOMED coded)."""
    volume = result.volumes.get("region_labels")
    if volume is None:
        return None
    labels = _on_grid(volume, series, "nearest").astype(np.int64)
    labelset = result.outputs.get("labelset") or {}
    names, snomed = labelset.get("display_names") or [], labelset.get("snomed") or []
    offset = 1  # the label volume holds class index + 1 (0: none)
    out = np.zeros(labels.shape, np.uint16)
    descriptions = []
    for value in sorted(int(v) for v in np.unique(labels) if v >= offset):
        index = value - offset
        if index >= len(names):
            continue
        code = snomed[index] if index < len(snomed) else None
        kind = hd.sr.CodedConcept(code["code"], code["scheme"], code["meaning"]) if code else c.private(names[index])
        descriptions.append(_segment(len(descriptions) + 1, names[index], codes.SCT.AnatomicalStructure, kind, result))
        out[labels == value] = len(descriptions)
    return (out, descriptions) if descriptions else None


def build_segs(result: TaskResult, series: SourceSeries, *, series_number: int = SEG_SERIES_NUMBER,
               ) -> list[hd.seg.Segmentation]:
    """SEG objects of ``result``'s volumes over ``series`` (a classic series): regions and/or heatmaps."""
    if series.by_slice is None:
        return []
    segs = []
    for what, built in (("body regions", _region_segments(result, series)),
                        ("heatmaps", _heatmap_segments(result, series))):
        if built is None:
            continue
        pixels, descriptions = built
        seg = hd.seg.Segmentation(
            source_images=series.by_slice, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=series_number + len(segs),
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer=c.MANUFACTURER,
            manufacturer_model_name=str(result.bundle.get("name", result.task))[:64],
            software_versions=f"radtriage {__version__}", device_serial_number="0",
            content_label=what.upper().replace(" ", "_")[:16], content_description=f"RadTriage {result.task} {what}")
        demo = " DEMO not for clinical use" if result.bundle.get("demo") else ""
        seg.SeriesDescription = f"RadTriage {result.task} {what}{demo}"[:64]
        segs.append(seg)
    return segs
