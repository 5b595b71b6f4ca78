"""Plain-dict descriptions of images and DICOM series for the CLI and reports (no patient identity)."""

from __future__ import annotations

from typing import Any

import numpy as np

from radtriage.image import Image


def orientation_code(direction: np.ndarray) -> str:
    """Three-letter code of the axes' closest anatomical directions in ITK's convention (e.g. 'LPS')."""
    import SimpleITK as sitk

    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(tuple(np.asarray(direction).ravel()))


def describe_image(image: Image) -> dict[str, Any]:
    """Geometry, intensity range and contrast guess of an image as JSON-friendly values."""
    from radtriage.io.contrast import classify_image

    guess = classify_image(image)
    finite = image.array[np.isfinite(image.array)] if image.array.dtype.kind == "f" else image.array
    meta = image.metadata
    return {
        "source": meta.get("source_path", ""),
        "format": meta.get("format", ""),
        "modality": meta.get("modality", ""),
        "size_ijk": list(image.size),
        "components": image.n_components,
        "spacing_mm": [round(s, 6) for s in image.spacing],
        "origin_lps_mm": [round(o, 4) for o in image.origin],
        "orientation": orientation_code(image.direction),
        "oblique": bool(not np.allclose(np.abs(image.direction), np.round(np.abs(image.direction)), atol=1e-3)),
        "dtype": str(image.array.dtype),
        "value_range": [float(finite.min()), float(finite.max())] if finite.size else None,
        "contrast": guess.contrast.value,
        "contrast_confidence": round(float(guess.confidence), 3),
        "contrast_explanation": guess.explanation,
    }


def describe_series(series: Any) -> dict[str, Any]:
    """One DICOM series (from ``radtriage.io.scan_dicom``) as a JSON-friendly row with its contrast guess."""
    from radtriage.io.contrast import classify_tags

    guess = classify_tags(series.tags)
    return {
        "patient_key": series.patient_key,
        "study_uid": series.study_uid,
        "series_uid": series.series_uid,
        "modality": series.modality,
        "series_description": series.series_description,
        "n_images": len(series.files),
        "contrast": guess.contrast.value,
        "contrast_confidence": float(guess.confidence),
        "contrast_explanation": guess.explanation,
    }
