"""Plain settings of a training run (no torch import, so ``radtriage --help`` stays fast)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from radtriage.labelsets import LGE_DEFAULT_CERTAINTY_BAND
from radtriage.settings_keys import known_settings

KINDS = ("multilabel", "multiclass", "score")
DEFAULT_KIND = {
    "mri_triage": "multilabel",
    "cmb_detect": "multilabel",
    "lge_certainty": "score",
    "body_region": "multiclass",
}
"""Training kind of each radtriage task when none is given."""
MONITORS = ("metric", "loss")
DEFAULT_CERTAINTY_BAND = LGE_DEFAULT_CERTAINTY_BAND
"""Low-certainty band (score units) written for ``lge_certainty`` bundles when none is given."""


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation for training (MONAI transforms); validation and test data are never augmented.

    Probabilities are per transform; ``flip_axes`` are spatial axes (``None``: all); ``rotate_deg`` is the
    largest rotation (about every axis in 3D), ``scale`` the largest relative zoom, ``translate`` the largest
    shift as a fraction of the patch; intensity scale/shift are relative; ``noise_std`` is in z-score units.
    """

    enabled: bool = True
    flip_prob: float = 0.5
    flip_axes: tuple[int, ...] | None = None
    affine_prob: float = 0.5
    rotate_deg: float = 10.0
    scale: float = 0.1
    translate: float = 0.05
    intensity_prob: float = 0.5
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1
    noise_prob: float = 0.2
    noise_std: float = 0.05

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> AugmentConfig:
        """From a plain dict (unknown keys refused); ``None`` gives the defaults."""
        values = known_settings(cls, values, "augmentation")
        if values.get("flip_axes") is not None:
            values["flip_axes"] = tuple(int(a) for a in values["flip_axes"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out = asdict(self)
        out["flip_axes"] = None if self.flip_axes is None else list(self.flip_axes)
        return out


@dataclass
class LoopSettings:
    """Optimisation settings (Adam-W); ``patience`` <= 0 disables early stopping; ``monitor`` is the validation
    ``metric`` of the task (higher is better) or the validation ``loss``."""

    max_epochs: int = 50
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    min_delta: float = 0.0
    seed: int = 0
    balance: bool = True
    num_workers: int = 0
    monitor: str = "metric"
    evidence_weight: float = 1.0
    """Weight of the dense evidence loss when the datalist gives label maps (0: image labels only)."""

    def __post_init__(self) -> None:
        if self.evidence_weight < 0:
            raise ValueError(f"evidence_weight must be >= 0, got {self.evidence_weight}")
        if self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError(f"max_epochs and batch_size must be >= 1, got {self.max_epochs}, {self.batch_size}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)


@dataclass(kw_only=True)
class TrainConfig(LoopSettings):
    """Everything that defines a training run (see ``radtriage train --help`` for each option): the epoch-loop
    settings it inherits from :class:`LoopSettings` and the data, bundle and run settings below."""

    task: str
    network: str
    out_dir: Path
    network_args: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    class_names: Sequence[str] | None = None
    name: str | None = None
    first_version: str = "0.1.0"
    description: str = ""
    demo: bool = False
    contrasts: Sequence[str] | None = None
    modality: str = "MR"
    spacing: Sequence[float] | None = None
    patch_size: Sequence[int] = (64, 64)
    resize: str = "resize"
    normalize: str = "zscore"
    preprocessing: Mapping[str, Any] | None = None
    """A bundle's ``preprocessing`` item to train with instead of ``resize``/``normalize`` (fine-tuning keeps its
    base's); checked against the transform allow-list."""
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    threshold: float = 0.5
    score_max: float = 100.0
    positive_at: float = 50.0
    certainty_band: Sequence[float] | None = None
    device: str = "auto"
    cache: bool = True
    checkpoint_dir: Path | None = None
    resume: bool = False
    init_bundle: Path | None = None  # warm start: begin from this bundle's verified weights (fine-tuning)
    progress: str = "auto"
    n_bootstrap: int = 1000
    loader: str | Callable[..., Any] | None = None
    base_dir: Path | None = None

    @property
    def bundle_name(self) -> str:
        """The bundle's name (default ``<task>-custom``)."""
        return self.name or f"{self.task}-custom"

    @property
    def checkpoint_folder(self) -> Path:
        """Where checkpoints go (default ``<out_dir>/<name>.checkpoints``)."""
        return (
            Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.out_dir) / f"{self.bundle_name}.checkpoints"
        )

    def loop_settings(self) -> LoopSettings:
        """The epoch-loop part of the settings (every LoopSettings field, taken from this config)."""
        return LoopSettings(**{f.name: getattr(self, f.name) for f in fields(LoopSettings)})

    def settings_record(self) -> dict[str, Any]:
        """Plain-JSON training settings for the model card (paths and callables as text)."""
        out = {}
        for key, value in asdict(self).items():
            if key in ("out_dir", "checkpoint_dir", "base_dir", "resume", "progress", "init_bundle"):
                continue
            if key == "augment":
                value = self.augment.to_dict()
            elif key == "loader":
                value = value if isinstance(value, str) or value is None else getattr(value, "__name__", "custom")
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out
