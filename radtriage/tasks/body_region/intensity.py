"""Modality of the input (CT or MR) and the intensity scaling of canonical slices for the network."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess.transforms import OWN_PREFIX, Preprocessing, compose_config

logger = logging.getLogger(__name__)

CT_FILL = -1024.0
"""Value outside a CT volume (air, HU)."""
MR_FILL = 0.0
"""Value outside an MR volume."""
CT_AIR_BELOW = -300.0
"""A volume whose 0.5th percentile is below this many 'HU' is taken for CT (MR has no such negatives)."""


def fill_value(modality: str) -> float:
    """The background value used outside the volume for this modality."""
    return CT_FILL if modality == "CT" else MR_FILL


def normalise_modality(text: str | None) -> str | None:
    """``"CT"`` / ``"MR"`` from a DICOM Modality or a user option (``"MRI"``, ``"ct"``...); None if neither."""
    if text is None:
        return None
    key = str(text).strip().upper()
    if key == "CT":
        return "CT"
    if key in ("MR", "MRI"):
        return "MR"
    return None


def determine_modality(image: Image, requested: str | None = None) -> tuple[str, str]:
    """The input's modality and where it came from: ``("CT"|"MR", "option"|"dicom"|"metadata"|"intensity")``.

    An explicit ``requested`` modality wins; then DICOM ``Modality``, then ``metadata["modality"]``; otherwise
    CT is assumed when the volume has air-like values below -300 (HU) and MR when it has none (a reported guess).
    """
    if requested is not None:
        mod = normalise_modality(requested)
        if mod is None:
            raise InputError(image.metadata.get("source_path"), f"modality must be CT or MR, got {requested!r}")
        return mod, "option"
    tags = image.metadata.get("dicom_tags") or {}
    for value, source in ((tags.get("Modality"), "dicom"), (image.metadata.get("modality"), "metadata")):
        mod = normalise_modality(value)
        if mod is not None:
            return mod, source
        if value:
            raise InputError(
                image.metadata.get("source_path"),
                f"modality {value!r} is neither CT nor MR; the body-region task reads CT and MR only",
            )
    arr = image.array if image.array.ndim == 3 else image.array[..., 0]
    sample = arr.reshape(-1)[:: max(1, arr.size // 200_000)]
    low = float(np.percentile(sample, 0.5)) if sample.size else 0.0
    return ("CT" if low < CT_AIR_BELOW else "MR"), "intensity"


def intensity_config(modality: str) -> dict[str, Any]:
    """The ``inference.json`` ``preprocessing`` item of a body-region bundle: the intensity scaling of the
    canonical slice stack ``[n, H, W]``. CT: HU/1024 clipped to [-1, 1.5] (MONAI ``ScaleIntensityRange``);
    MR: divided by the 99th percentile of the volume's non-background pixels (one scale for the whole volume
    keeps the contrast between slices), clipped to [0, 2]."""
    if modality == "CT":
        step = {"_target_": "ScaleIntensityRange", "a_min": -1024.0, "a_max": 1536.0, "b_min": -1.0, "b_max": 1.5,
                "clip": True}
    else:
        step = {"_target_": OWN_PREFIX + "ScaleToForegroundPercentile", "percentile": 99.0, "floor_fraction": 0.05,
                "clip_max": 2.0}
    return compose_config([step])


def scale_slices(slices: np.ndarray, modality: str, pipeline: Preprocessing | None = None) -> np.ndarray:
    """Network input from canonical slices ``[n, H, W]`` through ``pipeline`` (default: the modality's
    :func:`intensity_config`, what a body-region bundle stores)."""
    return (pipeline or Preprocessing(intensity_config(modality)))(slices)
