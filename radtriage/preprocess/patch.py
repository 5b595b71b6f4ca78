"""The network-input patch: channels fitted to the patch size and normalised, the same for training and for
inference (the settings are stored in each bundle's ``inference.json`` ``preprocessing`` item)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radtriage.preprocess.transforms import Preprocessing, compose_config, transform_items

RESIZE_MODES = ("resize", "crop")
NORMALIZE_MODES = ("zscore", "none")


@dataclass(frozen=True)
class PreprocessConfig:
    """Patch size, how to reach it (``resize`` with MONAI ``Resize(mode="area")`` or centre ``crop``/pad) and the
    intensity normalisation (``zscore`` per channel with MONAI ``NormalizeIntensity``, or ``none``).

    ``pipeline`` is a bundle's ``preprocessing`` item to use as it is instead (fine-tuning keeps its base's);
    :meth:`to_config` is what the new bundle stores either way.
    """

    patch_size: tuple[int, ...]
    resize: str = "resize"
    normalize: str = "zscore"
    pipeline: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.patch_size) not in (2, 3) or any(int(p) < 1 for p in self.patch_size):
            raise ValueError(f"patch_size must be 2 or 3 positive integers, got {self.patch_size}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        if self.pipeline is not None:
            transform_items(self.pipeline)

    @property
    def spatial_dims(self) -> int:
        """2 or 3."""
        return len(self.patch_size)

    def to_config(self) -> dict[str, Any]:
        """The ``inference.json`` ``preprocessing`` item (an allow-listed MONAI ``Compose``)."""
        if self.pipeline is not None:
            return compose_config(transform_items(self.pipeline))
        size = [int(p) for p in self.patch_size]
        fit = ({"_target_": "Resize", "spatial_size": size, "mode": "area"} if self.resize == "resize"
               else {"_target_": "ResizeWithPadOrCrop", "spatial_size": size})
        steps = [fit] + ([{"_target_": "NormalizeIntensity", "channel_wise": True}] if self.normalize == "zscore"
                         else [])
        return compose_config(steps)

    def build(self) -> Preprocessing:
        """The pipeline, built."""
        return Preprocessing(self.to_config())


def apply_to_channels(channels: Sequence[np.ndarray], pipeline: Preprocessing) -> np.ndarray:
    """Channel arrays -> one float32 ``(C, *patch_size)`` array through ``pipeline``.

    Channels of one shape go through it stacked (channel-first); channels of different shapes (2D images of
    different sizes) go through it one by one, which gives the same answer for the per-channel transforms.
    """
    arrays = [np.asarray(c, dtype=np.float32) for c in channels]
    if len({a.shape for a in arrays}) == 1:
        return pipeline(np.stack(arrays))
    return np.concatenate([pipeline(a[None]) for a in arrays])


def preprocess_channels(channels: Sequence[np.ndarray], config: PreprocessConfig) -> np.ndarray:
    """Channel arrays -> one float32 ``(C, *patch_size)`` array (resized/cropped, then normalised)."""
    return apply_to_channels(channels, config.build())


def preprocess_label_map(label_map: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """A label volume -> ``(1, *patch_size)`` int64 on the patch grid (the pipeline's spatial steps, nearest)."""
    spatial = config.build().spatial_only()
    return spatial(np.asarray(label_map, dtype=np.float32)[None]).round().astype(np.int64)
