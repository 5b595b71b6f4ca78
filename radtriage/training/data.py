"""From datalist cases to training tensors: image loaders, patch preprocessing and MONAI augmentation.

A *loader* turns one case's channel entries (paths, arrays or :class:`~radtriage.image.Image`) into one array per
channel with ``spatial_dims`` axes, in ``[k, j, i]`` / ``[j, i]`` order as :attr:`Image.array` holds it. The
default loader reads files with :func:`radtriage.io.read_image` and drops singleton axes (a one-slice volume is a
2D image). :func:`preprocess_channels` then resizes (or centre-crops/pads) each channel to the patch size and
z-scores it; the same settings go into the bundle's ``inference.json`` (``preprocessing``) so inference matches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess.patch import PreprocessConfig, preprocess_channels, preprocess_label_map
from radtriage.training.datalist import Case
from radtriage.training.settings import AugmentConfig

log = logging.getLogger(__name__)

Loader = Callable[[Sequence[Any], int], Sequence[np.ndarray]]
"""``loader(channel_entries, spatial_dims) -> one array per channel`` (each with ``spatial_dims`` axes)."""

_LOADERS: dict[str, Loader] = {}


def register_loader(name: str, loader: Loader) -> Loader:
    """Make ``loader`` available by name (``radtriage train --loader NAME``); returns it."""
    if not name or not callable(loader):
        raise ValueError(f"register_loader needs a name and a callable, got {name!r}, {loader!r}")
    _LOADERS[name] = loader
    return loader


def get_loader(name: str | None) -> Loader:
    """The loader registered as ``name`` (``None`` or ``"default"``: :func:`default_loader`)."""
    if name in (None, "default"):
        return default_loader
    if name not in _LOADERS:
        raise KeyError(f"no image loader named {name!r}; registered: {', '.join(sorted(_LOADERS)) or 'none'}")
    return _LOADERS[name]


def _as_array(entry: Any) -> np.ndarray:
    if isinstance(entry, (str, Path)):
        from radtriage.io import read_image

        entry = read_image(entry)
    if isinstance(entry, Image):
        if entry.n_components != 1:
            raise ValueError(f"image has {entry.n_components} components per voxel; give one channel per entry")
        return np.asarray(entry.array)
    return np.asarray(entry)


def default_loader(entries: Sequence[Any], spatial_dims: int) -> list[np.ndarray]:
    """Read each channel (file path, array or Image) and drop singleton axes down to ``spatial_dims`` axes."""
    out = []
    for entry in entries:
        arr = _as_array(entry)
        while arr.ndim > spatial_dims and 1 in arr.shape:
            arr = np.squeeze(arr, axis=arr.shape.index(1))
        if arr.ndim != spatial_dims:
            raise ValueError(f"image of shape {arr.shape} cannot be a {spatial_dims}D patch")
        out.append(arr.astype(np.float32, copy=False))
    return out


def build_augmentation(
    config: AugmentConfig, spatial_dims: int, patch_size: Sequence[int], label_map: bool = False
) -> Any | None:
    """A MONAI ``Compose`` of random flips, affine, intensity scale/shift and noise on key ``image`` (or None);
    with ``label_map`` the flips and the affine move key ``label_map`` with the image (nearest neighbour)."""
    if not config.enabled:
        return None
    from monai.transforms import (
        Compose,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandScaleIntensityd,
        RandShiftIntensityd,
    )

    steps: list[Any] = []
    spatial = ["image", "label_map"] if label_map else ["image"]
    axes = range(spatial_dims) if config.flip_axes is None else config.flip_axes
    if config.flip_prob > 0:
        steps += [RandFlipd(spatial, prob=config.flip_prob, spatial_axis=int(a)) for a in axes]
    if config.affine_prob > 0:
        angle = float(np.deg2rad(config.rotate_deg))
        rotate = angle if spatial_dims == 2 else (angle, angle, angle)
        steps.append(
            RandAffined(
                spatial,
                mode=["bilinear", "nearest"][: len(spatial)],
                prob=config.affine_prob,
                rotate_range=rotate,
                scale_range=config.scale,
                translate_range=[config.translate * p for p in patch_size],
                padding_mode="zeros",
            )
        )
    if config.intensity_prob > 0:
        steps.append(RandScaleIntensityd("image", factors=config.intensity_scale, prob=config.intensity_prob))
        steps.append(RandShiftIntensityd("image", offsets=config.intensity_shift, prob=config.intensity_prob))
    if config.noise_prob > 0:
        steps.append(RandGaussianNoised("image", prob=config.noise_prob, std=config.noise_std))
    return Compose(steps) if steps else None


class CaseDataset(Dataset):
    """Preprocessed cases with their targets; ``transform`` (augmentation) is applied on every access.

    With ``cache`` (default) every case is loaded once, up front, so a broken file fails before training.
    Load errors become :class:`InputError` naming the datalist and the row.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        targets: Sequence[np.ndarray],
        loader: Loader,
        preprocess: PreprocessConfig,
        where: str,
        transform: Any | None = None,
        cache: bool = True,
    ) -> None:
        self.cases = list(cases)
        self.targets = [np.asarray(t) for t in targets]
        self.loader = loader
        self.preprocess = preprocess
        self.where = where
        self.transform = transform
        self.has_label_maps = any(c.label_map is not None for c in self.cases)  # all or none (read_datalist)
        self._cache = [self.load(i) for i in range(len(self.cases))] if cache else None
        self._maps = [self.load_label_map(i) for i in range(len(self.cases))] if cache and self.has_label_maps else None

    def load(self, index: int) -> np.ndarray:
        """The preprocessed ``(C, *patch)`` array of case ``index`` (no augmentation)."""
        case = self.cases[index]
        try:
            channels = list(self.loader(case.images, self.preprocess.spatial_dims))
            if len(channels) != len(case.images):
                raise ValueError(f"loader returned {len(channels)} channel(s) for {len(case.images)} image(s)")
            return preprocess_channels(channels, self.preprocess)
        except InputError as exc:
            raise InputError(self.where, f"{case.row}: {exc}") from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise InputError(self.where, f"{case.row}: cannot load image(s) {_names(case)}: {exc}") from exc

    def load_label_map(self, index: int) -> np.ndarray:
        """The ``(1, *patch)`` int64 label map of case ``index`` on the patch grid."""
        case = self.cases[index]
        try:
            (array,) = self.loader([case.label_map], self.preprocess.spatial_dims)
            return preprocess_label_map(array, self.preprocess)
        except InputError as exc:
            raise InputError(self.where, f"{case.row}: label_map: {exc}") from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise InputError(self.where, f"{case.row}: cannot load its label_map: {exc}") from exc

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        array = self._cache[index] if self._cache is not None else self.load(index)
        sample: dict[str, Any] = {"image": array.copy() if self.transform is not None else array}
        if self.has_label_maps:
            sample["label_map"] = self._maps[index] if self._maps is not None else self.load_label_map(index)
        if self.transform is not None:
            from monai.utils import convert_to_tensor

            sample = {k: convert_to_tensor(v, track_meta=False) for k, v in self.transform(sample).items()}
        out = {k: torch.as_tensor(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
               for k, v in sample.items()}
        out["image"] = out["image"].float()
        if "label_map" in out:
            out["label_map"] = out["label_map"].round().long()
        out["target"] = torch.as_tensor(self.targets[index])
        return out


def _names(case: Case) -> str:
    return ", ".join(str(e) if isinstance(e, (str, Path)) else f"<{type(e).__name__}>" for e in case.images)
