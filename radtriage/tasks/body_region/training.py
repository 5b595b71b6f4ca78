"""The training recipe of body-region bundles (one place for the demo script and cohort training).

Slices already on the task's canonical grid (:func:`radtriage.tasks.body_region.prepare_slices`) are the
datalist images; :func:`train_config` gives the ``radtriage.training`` configuration (patient-level splits,
class-balanced sampling, MONAI augmentation without anterior-posterior flips, which would break the fixed
orientation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radtriage.labelsets import body_region_labelset
from radtriage.nets.body_region import NETWORK_NAME
from radtriage.tasks.body_region.bundle_meta import DEMO_NOTICE, FEATURES, FOV_MM, SLICE_SIZE, bundle_name


def train_config(modality: str, work_dir: Path, *, epochs: int, seed: int = 0, demo: bool = True,
                 name: str | None = None, description: str | None = None, first_version: str = "0.1.0",
                 device: str = "cpu", patience: int = 4) -> Any:
    """A :class:`radtriage.training.TrainConfig` for a body-region bundle of ``modality`` in ``work_dir``."""
    from radtriage.training import AugmentConfig, TrainConfig

    labelset = body_region_labelset(modality)
    what = "synthetic body phantoms only" if demo else "a cohort of labelled scans"
    return TrainConfig(
        task="body_region",
        network=NETWORK_NAME,
        network_args={"features": list(FEATURES)},
        out_dir=Path(work_dir) / "out",
        checkpoint_dir=Path(work_dir) / "checkpoints",
        kind="multiclass",
        class_names=labelset.names,
        name=name or bundle_name(modality),
        first_version=first_version,
        description=description or (
            f"Per-slice body-region classifier for {modality} ({len(labelset)} regions, head to feet) with "
            f"head-to-feet smoothing; trained on {what}" + (f": {DEMO_NOTICE}." if demo else ".")),
        demo=demo,
        contrasts=[modality],
        modality=modality,
        spacing=[FOV_MM / SLICE_SIZE] * 2,
        patch_size=(SLICE_SIZE, SLICE_SIZE),
        normalize="none",
        seed=seed,
        max_epochs=epochs,
        batch_size=64,
        learning_rate=2e-3,
        patience=patience,
        augment=AugmentConfig(flip_prob=0.5, flip_axes=(1,), rotate_deg=8.0, scale=0.1, translate=0.05,
                              intensity_prob=0.5, intensity_scale=0.1, intensity_shift=0.05, noise_prob=0.2,
                              noise_std=0.03),
        device=device,
        progress="none",
        n_bootstrap=200,
    )
