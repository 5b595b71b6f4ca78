"""A loaded bundle's preprocessing pipeline (its ``inference.json`` ``preprocessing`` item), built safely."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtriage.models.bundle import BundleError
from radtriage.preprocess.patch import PreprocessConfig
from radtriage.preprocess.transforms import PREPROCESSING_KEY, Preprocessing


def bundle_preprocessing(
    config: Mapping[str, Any], where: str | Path, legacy: Mapping[str, Any] | None = None
) -> Preprocessing:
    """The bundle's pipeline, checked against the transform allow-list and built.

    A bundle written before preprocessing became a ``Compose`` (December 2026) still loads: ``legacy`` (the
    task's pipeline for such bundles, read from where the task kept its settings) is used, or, without one, its
    plain ``{"patch_size", "resize", "normalize"}`` item is read as :class:`PreprocessConfig`. Anything else is
    a :class:`BundleError` naming the file and the bad item.
    """
    item = config.get(PREPROCESSING_KEY)
    try:
        if isinstance(item, Mapping) and "_target_" in item:
            return Preprocessing(item)
        if legacy is not None:
            return Preprocessing(legacy)
        if isinstance(item, Mapping) and "patch_size" in item:
            size = tuple(int(p) for p in item["patch_size"])
            resize, normalize = str(item.get("resize", "resize")), str(item.get("normalize", "zscore"))
            return PreprocessConfig(size, resize, normalize).build()
    except (TypeError, ValueError) as exc:
        raise BundleError(where, f"inference.json {PREPROCESSING_KEY}: {exc}") from exc
    raise BundleError(where, f"inference.json has no '{PREPROCESSING_KEY}' item "
                             "({\"_target_\": \"Compose\", \"transforms\": [...]}); add the task's pipeline")
