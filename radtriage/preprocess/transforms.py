"""A bundle's intensity and array preprocessing as an allow-listed MONAI ``Compose`` in ``inference.json``.

Every task's bundle stores what happens to the array its geometric stage produces (registered channels on the
model grid, canonical slices, a slice at a fixed field of view, the working volume) in one item, the shape the
MONAI model zoo uses::

    "preprocessing": {"_target_": "Compose", "transforms": [
        {"_target_": "Resize", "spatial_size": [64, 64, 64], "mode": "area"},
        {"_target_": "NormalizeIntensity", "channel_wise": true}]}

The geometric stage itself needs patient geometry (registration, slice plane, millimetres), so it stays in the
task code and takes its grid from the metadata's ``radtriage.inputs`` (``spacing``, ``patch_size``). Targets must be
on :data:`ALLOWED_MONAI_TRANSFORMS` (array transforms of ``monai.transforms``, short or qualified names) or be one
of this module's own transforms (:data:`OWN_TRANSFORMS`); arguments must be plain JSON without config syntax, so
building a pipeline never runs code. Training and inference both build the pipeline here (:class:`Preprocessing`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PREPROCESSING_KEY = "preprocessing"
"""Item of ``configs/inference.json`` that holds the pipeline."""
COMPOSE = "Compose"
MONAI_TRANSFORMS_PREFIX = "monai.transforms."
ALLOWED_MONAI_TRANSFORMS: frozenset[str] = frozenset(
    {
        "CastToType",
        "CenterSpatialCrop",
        "ClipIntensityPercentiles",
        "DivisiblePad",
        "EnsureType",
        "Flip",
        "GaussianSmooth",
        "NormalizeIntensity",
        "Resize",
        "ResizeWithPadOrCrop",
        "ScaleIntensity",
        "ScaleIntensityRange",
        "ScaleIntensityRangePercentiles",
        "SpatialCrop",
        "SpatialPad",
        "ThresholdIntensity",
        "Transpose",
    }
)
"""Array transforms a bundle may name: deterministic, no file or network access, no code in their arguments."""
SPATIAL_TRANSFORMS: frozenset[str] = frozenset(
    {"CenterSpatialCrop", "DivisiblePad", "Flip", "Resize", "ResizeWithPadOrCrop", "SpatialCrop", "SpatialPad",
     "Transpose"}
)
"""The allow-listed transforms that move voxels (what a label map goes through, nearest neighbour)."""
OWN_PREFIX = "radtriage.preprocess.transforms."


class ScaleToForegroundPercentile:
    """Divide by a robust maximum of the whole array, then clip: MR intensities without a physical scale.

    The maximum is the ``percentile`` of the pixels above ``floor_fraction`` of a first ``percentile`` over all
    positive pixels (so a large dark background does not pull it down); negatives are set to 0 first; the result
    is clipped to ``[0, clip_max]``. One scale for the whole array keeps the contrast between its slices.
    """

    def __init__(self, percentile: float = 99.0, floor_fraction: float = 0.05, clip_max: float = 2.0) -> None:
        if not 0.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        if not 0.0 <= float(floor_fraction) < 1.0:
            raise ValueError(f"floor_fraction must be in [0, 1), got {floor_fraction}")
        if not float(clip_max) > 0.0:
            raise ValueError(f"clip_max must be positive, got {clip_max}")
        self.percentile, self.floor_fraction, self.clip_max = float(percentile), float(floor_fraction), float(clip_max)

    def __call__(self, data: Any) -> np.ndarray:
        x = np.maximum(np.asarray(data, dtype=np.float32), 0.0)
        fg = x[x > 0]
        hi = 1.0
        if fg.size:
            hi = float(np.percentile(fg, self.percentile))
            fg = fg[fg > self.floor_fraction * hi]
            hi = float(np.percentile(fg, self.percentile)) if fg.size else hi
        return np.clip(x / max(hi, 1e-6), 0.0, self.clip_max).astype(np.float32)


class DivideByForegroundMedian:
    """Divide by the median of the voxels above a SimpleITK Otsu threshold, so tissue reads ~1 and air ~0.

    Raises ``ValueError`` on an array without contrast or without positive foreground (the caller names the file).
    """

    def __init__(self, max_samples: int = 2_000_000) -> None:
        if int(max_samples) < 1000:
            raise ValueError(f"max_samples must be at least 1000, got {max_samples}")
        self.max_samples = int(max_samples)

    def reference(self, arr: np.ndarray) -> float:
        """The foreground median of ``arr``."""
        import SimpleITK as sitk

        finite = arr[np.isfinite(arr)]
        if finite.size == 0 or float(finite.max()) <= float(finite.min()):
            raise ValueError("the image has no contrast (constant or empty)")
        sample = finite if finite.size <= self.max_samples else finite[:: finite.size // self.max_samples + 1]
        otsu = sitk.OtsuThresholdImageFilter()
        otsu.SetInsideValue(0)
        otsu.SetOutsideValue(1)
        otsu.Execute(sitk.GetImageFromArray(sample.astype(np.float32).reshape(1, 1, -1)))
        above = sample[sample > otsu.GetThreshold()]
        ref = float(np.median(above)) if above.size else float(np.median(sample))
        if not ref > 0:
            raise ValueError("the image has no positive foreground signal")
        return ref

    def __call__(self, data: Any) -> np.ndarray:
        arr = np.asarray(data, dtype=np.float32)
        return (arr / np.float32(self.reference(arr))).astype(np.float32)


OWN_TRANSFORMS: dict[str, type] = {
    OWN_PREFIX + cls.__name__: cls for cls in (ScaleToForegroundPercentile, DivideByForegroundMedian)
}
"""This project's transforms a bundle may name (qualified names): intensity scalings MONAI has no class for."""


def _monai_name(name: str) -> str | None:
    short = name[len(MONAI_TRANSFORMS_PREFIX):] if name.startswith(MONAI_TRANSFORMS_PREFIX) else name
    return short if short in ALLOWED_MONAI_TRANSFORMS else None


def is_allowed_transform(name: Any) -> bool:
    """Whether ``name`` may be a ``_target_`` inside the preprocessing item (``Compose`` only at its top)."""
    return isinstance(name, str) and (name in OWN_TRANSFORMS or _monai_name(name) is not None)


def allowed_transform_names() -> list[str]:
    """Every transform ``_target_`` a bundle may use (MONAI's short names, then this project's)."""
    return sorted(ALLOWED_MONAI_TRANSFORMS) + sorted(OWN_TRANSFORMS)


def _plain(value: Any, where: str) -> None:
    if isinstance(value, str) and value.startswith(("$", "@", "%")):
        raise ValueError(f"{where} = {value!r} uses config syntax (expression, reference or macro); refused")
    if isinstance(value, Mapping):
        for key, sub in value.items():
            if not isinstance(key, str) or key.startswith(("_", "$", "@", "%")):
                raise ValueError(f"{where}: unknown special key {key!r} among a transform's arguments (it could run "
                                 "code or change how the config is read); refused")
            _plain(sub, f"{where}::{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _plain(sub, f"{where}::{i}")
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise ValueError(f"{where}: value of type {type(value).__name__} is not plain JSON data; refused")


def transform_items(config: Any) -> list[dict[str, Any]]:
    """The checked transform items of a preprocessing config (``{"_target_": "Compose", "transforms": [...]}``).

    Raises ``ValueError`` (one line, naming the item) for any other shape, a target off the allow-list, a special
    key (``_requires_``, ``_disabled_``, ...) or an argument using config syntax.
    """
    if not isinstance(config, Mapping) or config.get("_target_") not in (COMPOSE, MONAI_TRANSFORMS_PREFIX + COMPOSE):
        raise ValueError(f"'{PREPROCESSING_KEY}' must be {{\"_target_\": \"Compose\", \"transforms\": [...]}}")
    extra = sorted(set(config) - {"_target_", "transforms"})
    if extra:
        raise ValueError(f"'{PREPROCESSING_KEY}' has keys {extra} besides _target_ and transforms; refused")
    items = config.get("transforms")
    if not isinstance(items, list):
        raise ValueError(f"'{PREPROCESSING_KEY}::transforms' must be a list of transforms")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"{PREPROCESSING_KEY}::transforms::{i}"
        if not isinstance(item, Mapping) or not is_allowed_transform(item.get("_target_")):
            target = item.get("_target_") if isinstance(item, Mapping) else item
            raise ValueError(f"{where}: _target_ {target!r} is not an allowed transform; refused. Allowed: "
                             f"{', '.join(allowed_transform_names())}")
        args = {k: v for k, v in item.items() if k != "_target_"}
        _plain(args, where)
        out.append({"_target_": item["_target_"], **args})
    return out


def _build_one(item: Mapping[str, Any]) -> Any:
    name = item["_target_"]
    args = {k: v for k, v in item.items() if k != "_target_"}
    if name in OWN_TRANSFORMS:
        cls = OWN_TRANSFORMS[name]
    else:
        import monai.transforms

        cls = getattr(monai.transforms, _monai_name(name) or "")
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot build {name} with arguments {args}: {exc}") from exc


class Preprocessing:
    """A built, checked preprocessing pipeline: call it on a channel-first array; ``config`` is what it came from.

    The steps run in order, as MONAI's ``Compose`` of array transforms would run them; MONAI is imported only
    when a step is one of its transforms (its import costs seconds, and this project's own steps need none).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.items = transform_items(config)
        self.steps = [_build_one(item) for item in self.items]

    @property
    def config(self) -> dict[str, Any]:
        """The ``inference.json`` item (a fresh copy)."""
        return compose_config(self.items)

    def __call__(self, array: np.ndarray) -> np.ndarray:
        """The array through every step, as float32 numpy (MONAI's divide-by-zero warning on a flat array is
        silenced: the range transforms return zeros there, which is the intended answer)."""
        out: Any = np.asarray(array, dtype=np.float32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Dd]ivide by zero.*")
            for step in self.steps:
                out = step(out)
        if hasattr(out, "as_tensor"):
            out = out.as_tensor()
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        return np.asarray(out, dtype=np.float32)

    def spatial_only(self) -> Preprocessing:
        """Only the voxel-moving steps, resizing by nearest neighbour: what a label map goes through."""
        kept = []
        for item in self.items:
            name = _monai_name(item["_target_"])
            if name in SPATIAL_TRANSFORMS:
                kept.append({**item, "mode": "nearest"} if name == "Resize" else dict(item))
        return Preprocessing(compose_config(kept))


def compose_config(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``inference.json`` item for a list of transform items."""
    return {"_target_": COMPOSE, "transforms": [dict(item) for item in items]}
