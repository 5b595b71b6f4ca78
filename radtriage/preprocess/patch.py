"""The network-input patch: channels fitted to the patch size and normalised, the same for training and for
inference (the settings are stored in each bundle's ``inference.json`` ``preprocessing`` item)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESIZE_MODES = ("resize", "crop")
NORMALIZE_MODES = ("zscore", "none")


@dataclass(frozen=True)
class PreprocessConfig:
    """Patch size, how to reach it (``resize`` with MONAI ``Resize(mode="area")`` or centre ``crop``/pad) and the
    intensity normalisation (``zscore`` per channel with MONAI ``NormalizeIntensity``, or ``none``)."""

    patch_size: tuple[int, ...]
    resize: str = "resize"
    normalize: str = "zscore"

    def __post_init__(self) -> None:
        if len(self.patch_size) not in (2, 3) or any(int(p) < 1 for p in self.patch_size):
            raise ValueError(f"patch_size must be 2 or 3 positive integers, got {self.patch_size}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")

    @property
    def spatial_dims(self) -> int:
        """2 or 3."""
        return len(self.patch_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``inference.json``'s ``preprocessing`` item."""
        return {**asdict(self), "patch_size": list(self.patch_size), "array_order": "kji", "channel_first": True}


def _fit(config: PreprocessConfig, mode: str) -> Any:
    """The MONAI transform that brings one channel-first array to the patch size (``mode``: resize interpolation)."""
    from monai.transforms import Resize, ResizeWithPadOrCrop

    size = tuple(int(p) for p in config.patch_size)
    return Resize(spatial_size=size, mode=mode) if config.resize == "resize" else ResizeWithPadOrCrop(size)


def preprocess_channels(channels: Sequence[np.ndarray], config: PreprocessConfig) -> np.ndarray:
    """Channel arrays -> one float32 ``(C, *patch_size)`` array (resized/cropped, then normalised)."""
    from monai.transforms import NormalizeIntensity

    fit = _fit(config, "area")
    stacked = np.stack([np.asarray(fit(np.asarray(c, dtype=np.float32)[None]))[0] for c in channels])
    if config.normalize == "zscore":
        stacked = np.asarray(NormalizeIntensity(channel_wise=True)(stacked))
    return stacked.astype(np.float32, copy=False)


def preprocess_label_map(label_map: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """A label volume -> ``(1, *patch_size)`` int64 on the patch grid (nearest neighbour, no normalisation)."""
    return np.asarray(_fit(config, "nearest")(np.asarray(label_map, dtype=np.float32)[None])).round().astype(np.int64)
