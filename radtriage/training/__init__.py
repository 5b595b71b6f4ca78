"""Training machinery shared by every task: datalists, patient splits, balanced sampling, the resumable epoch loop,
checkpoints and writing the result as a new versioned bundle with a model card.

Entry points: :func:`train_bundle` (with a :class:`TrainConfig`) and :func:`train_from_args` (keyword options, what
``radtriage train`` calls; its command line is :mod:`radtriage.commands.train`).
Names are imported on first use, so importing the package does not import torch.
"""

from __future__ import annotations

from radtriage.lazy_exports import lazy_exports

_MODULES = {
    "checkpoint": ("CheckpointError", "checkpoint_exists", "read_checkpoint", "restore_checkpoint", "save_checkpoint"),
    "data": (
        "CaseDataset",
        "build_augmentation",
        "default_loader",
        "get_loader",
        "register_loader",
    ),
    "datalist": ("SPLIT_NAMES", "Case", "Datalist", "read_datalist"),
    "finetune": ("FinetuneResult", "finetune_bundle"),
    "from_options": ("config_from_options", "train_from_args"),
    "loop": ("EpochRecord", "FitResult", "fit", "predict"),
    "model_card": ("DEMO_WARNING", "code_version", "data_summary", "git_commit"),
    "pipeline": ("PreparedData", "TrainResult", "network_definition", "prepare_cases", "train_bundle"),
    "sampling": ("balanced_sampler", "balancing_weights"),
    "settings": (
        "DEFAULT_CERTAINTY_BAND",
        "DEFAULT_KIND",
        "KINDS",
        "AugmentConfig",
        "LoopSettings",
        "TrainConfig",
    ),
    "splits": ("assign_splits", "split_fingerprint", "stratified_patient_split"),
    "taskspec": ("LabelError", "TrainTaskSpec", "infer_class_names"),
    "versioning": ("next_bundle_version",),
}
__getattr__ = lazy_exports(__name__, _MODULES)

__all__ = sorted(name for names in _MODULES.values() for name in names)
