"""Per-slice preparation: resample a 2D slice to a fixed in-plane field of view (mm), then percentile-normalise.

A slice is taken around its centre (for a SAX reformat, the long axis): the output is ``patch x patch`` pixels of
``fov_mm / patch`` mm, so every slice shows the same physical extent whatever its acquired pixel size. When that
shrinks the image, a Gaussian (sigma = (factor - 1) / 2 input pixels) is applied first against aliasing. Then the
bundle's preprocessing pipeline runs on the slice; the one training writes maps intensities linearly from the
slice's own ``lower``..``upper`` percentiles to 0..1 and clips (MONAI ``ScaleIntensityRangePercentiles``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radtriage.image import Image
from radtriage.preprocess.transforms import Preprocessing, compose_config
from radtriage.settings_keys import known_settings


@dataclass(frozen=True)
class SlicePrep:
    """In-plane field of view (mm), patch size (pixels) and the normalisation percentiles."""

    fov_mm: float = 144.0
    patch: int = 96
    lower: float = 1.0
    upper: float = 99.0

    @property
    def pixel_mm(self) -> float:
        """Output pixel size in mm."""
        return self.fov_mm / self.patch

    def pipeline_config(self) -> dict[str, Any]:
        """The ``inference.json`` ``preprocessing`` item: per-slice percentiles to 0..1, clipped."""
        return compose_config([{"_target_": "ScaleIntensityRangePercentiles", "lower": self.lower,
                                "upper": self.upper, "b_min": 0.0, "b_max": 1.0, "clip": True}])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the training settings; bundles before the preprocessing ``Compose`` stored it in
        ``radtriage.outputs.preprocessing``)."""
        return {
            **asdict(self),
            "pixel_mm": self.pixel_mm,
            "resample": "linear around slice centre",
            "normalize": "per-slice percentiles to 0..1, clipped",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SlicePrep:
        """From :meth:`to_dict` output (missing keys take the defaults; unknown ones are refused)."""
        written = ("pixel_mm", "resample", "normalize")  # what to_dict adds for readers
        return cls(**known_settings(cls, data, "LGE slice preprocessing", written=written))


def slice_pixel_spacing(image: Image) -> tuple[float, float]:
    """``(i, j)`` pixel spacing of a one-slice image."""
    return float(image.spacing[0]), float(image.spacing[1])


def prepare_slice(slice2d: np.ndarray, pixel_spacing: Sequence[float], prep: SlicePrep = SlicePrep(),
                  pipeline: Preprocessing | None = None) -> np.ndarray:
    """A ``(patch, patch)`` float32 array from a ``(J, I)`` slice with ``pixel_spacing`` = (i, j) mm, through the
    bundle's ``pipeline`` (default: ``prep``'s :meth:`SlicePrep.pipeline_config`)."""
    out = resample_slice(slice2d, pixel_spacing, prep)
    return (pipeline or Preprocessing(prep.pipeline_config()))(out)


def resample_slice(slice2d: np.ndarray, pixel_spacing: Sequence[float], prep: SlicePrep = SlicePrep()) -> np.ndarray:
    """The geometric part of :func:`prepare_slice` (anti-aliasing, fixed-FOV resampling around the centre), no
    intensity change; also what puts a slice's mask on the network's grid."""
    img = np.asarray(slice2d, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(f"a slice must be a 2D (J, I) array, got shape {img.shape}")
    if not np.isfinite(img).all():
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    si, sj = (float(s) for s in pixel_spacing)
    if si <= 0 or sj <= 0:
        raise ValueError(f"pixel spacing must be positive, got {pixel_spacing}")
    out_mm = prep.pixel_mm
    scale = np.array([out_mm / sj, out_mm / si])  # input pixels per output pixel along (j, i)
    sigma = np.maximum(0.0, (scale - 1.0) / 2.0)
    if (sigma > 0.1).any():
        img = ndimage.gaussian_filter(img, sigma=sigma, mode="nearest")
    centre_in = (np.array(img.shape, dtype=float) - 1.0) / 2.0
    centre_out = (prep.patch - 1.0) / 2.0
    offset = centre_in - scale * centre_out
    out = ndimage.affine_transform(
        img,
        scale,
        offset=offset,
        output_shape=(prep.patch, prep.patch),
        order=1,
        mode="constant",
        cval=float(img.min()),
    )
    return out.astype(np.float32)
