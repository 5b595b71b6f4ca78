"""Training from keyword options (the command line's spelling): a :class:`TrainConfig` from them, and the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from radtriage.training.loop import EpochRecord
    from radtriage.training.pipeline import TrainResult

from radtriage.training.settings import AugmentConfig, TrainConfig

CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}
"""The :class:`TrainConfig` fields a keyword option may set."""


def config_from_options(task: str, network_name: str, out_dir: str | Path, **opts: Any) -> TrainConfig:
    """A :class:`TrainConfig` from keyword options (``augment`` may be an :class:`AugmentConfig` or a dict;
    ``augment_enabled``/``augment_settings`` are the CLI's spelling). Unknown options are refused."""
    opts = {k: v for k, v in opts.items() if v is not None}
    augment = opts.pop("augment", None)
    settings = dict(opts.pop("augment_settings", {}) or {})
    enabled = opts.pop("augment_enabled", None)
    if not isinstance(augment, AugmentConfig):
        settings = {**dict(augment or {}), **settings}
        if enabled is not None:
            settings["enabled"] = bool(enabled)
        augment = AugmentConfig.from_dict(settings)
    unknown = set(opts) - CONFIG_FIELDS
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    for key in ("patch_size", "spacing", "class_names", "contrasts", "certainty_band"):
        if key in opts:
            opts[key] = tuple(opts[key])
    return TrainConfig(task=task, network=network_name, out_dir=Path(out_dir), augment=augment, **opts)


def train_from_args(
    datalist: Any,
    task: str,
    network_name: str,
    out_dir: str | Path,
    *,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
    **opts: Any,
) -> TrainResult:
    """Train and write a new bundle version; ``opts`` are :class:`TrainConfig` fields
    (see :func:`config_from_options`). Returns the :class:`TrainResult`."""
    from radtriage.training.pipeline import train_bundle

    config = config_from_options(task, network_name, out_dir, **opts)
    return train_bundle(datalist, config, on_epoch_end=on_epoch_end)
