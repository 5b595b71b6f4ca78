"""Fine-tuning in place: a task's bundle trained further on a cohort exported from the review tools'
labels (:mod:`radtriage.export`), evaluated on the export's held-out test split and registered as a new bundle
version in the user model folder, where :func:`radtriage.models.find_bundle` and ``radtriage models`` find it.

The warm start is the trainer's own (``TrainConfig.init_bundle``: the base bundle's verified weights);
``docs/finetune.json`` of the new bundle records the base bundle (name, version, weights SHA-256) and the export.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from radtriage.errors import InputError

if TYPE_CHECKING:
    from radtriage.models import BundleInfo
    from radtriage.training.pipeline import TrainResult

log = logging.getLogger(__name__)

PROVENANCE_FILE = "docs/finetune.json"


@dataclass
class FinetuneResult:
    """The new bundle (as the registry sees it), the bundle it started from, and the training run."""

    bundle: BundleInfo
    base: BundleInfo
    train: TrainResult

    @property
    def test_metrics(self) -> dict[str, Any]:
        """Metrics of the new bundle on the export's held-out test split."""
        return self.train.test_metrics

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "bundle": str(self.bundle.path),
            "name": self.bundle.name,
            "version": self.bundle.version,
            "base": f"{self.base.name} {self.base.version}",
            **{k: v for k, v in self.train.to_dict().items() if k in ("best_epoch", "epochs_run", "data")},
        }


def resolve_base(base: str | Path | BundleInfo) -> BundleInfo:
    """The bundle to start from: a ``BundleInfo``, a bundle folder, or ``task[/name][@version]`` looked up with
    :func:`radtriage.models.find_bundle` (newest valid one)."""
    from radtriage.models import BundleInfo, BundleNotFoundError, find_bundle, inspect_bundle
    from radtriage.task_specs import TASKS

    if isinstance(base, BundleInfo):
        info = base
    elif Path(base).is_dir():
        info = inspect_bundle(base)
    else:
        text, _, version = str(base).partition("@")
        task, _, name = text.partition("/")
        if task not in TASKS:
            raise InputError(str(base), "is neither a bundle folder nor task[/name][@version] of a known task")
        info = find_bundle(task, name or None, version or None)
    if not info.valid or info.meta is None:
        raise BundleNotFoundError(f"base bundle {info.path} is not usable: {info.reason}")
    return info


def _read_export(export: Path) -> tuple[Path, dict[str, Any]]:
    from radtriage.export import DATALIST_FILE, DATASHEET_FILE

    datalist, sheet_path = export / DATALIST_FILE, export / DATASHEET_FILE
    if not datalist.is_file() or not sheet_path.is_file():
        raise InputError(export, f"not a trainable radtriage export (needs {DATALIST_FILE} and {DATASHEET_FILE})")
    return datalist, json.loads(sheet_path.read_text(encoding="utf-8"))


def _check_compatible(base: BundleInfo, sheet: Mapping[str, Any], export: Path) -> None:
    meta = base.meta
    assert meta is not None
    problems = []
    if sheet.get("task") != meta.task:
        problems.append(f"the export is for task {sheet.get('task')!r}, the bundle for {meta.task!r}")
    if list(sheet.get("class_names") or []) != list(meta.class_names):
        problems.append(f"export classes {sheet.get('class_names')} differ from the bundle's {list(meta.class_names)}")
    kind = meta.outputs.get("kind")
    if kind and kind != sheet.get("training_kind"):
        problems.append(f"export labels are {sheet.get('training_kind')}, the bundle outputs {kind}")
    if problems:
        raise InputError(export, f"cannot fine-tune {meta.name} {meta.version} on it: " + "; ".join(problems))


def _next_version(version: str) -> str:
    v = Version(version)
    major, minor, micro = [*v.release, 0, 0, 0][:3]
    return f"{major}.{minor}.{micro + 1}"


def finetune_bundle(
    export: str | Path,
    base: str | Path | BundleInfo,
    *,
    model_dir: str | Path | None = None,
    name: str | None = None,
    max_epochs: int = 2,
    batch_size: int = 8,
    learning_rate: float = 1e-4,
    seed: int = 0,
    device: str = "auto",
    progress: str = "none",
    n_bootstrap: int = 200,
    on_epoch_end: Callable[..., None] | None = None,
    **train_options: Any,
) -> FinetuneResult:
    """Fine-tune ``base`` on the export folder ``export`` and register the result.

    The network, preprocessing, input spec, class names and demo flag come from the base bundle; the splits are
    the export's (train / val for training and early stopping, test for the model card's metrics). The new bundle
    is ``name`` (default: the base's name) at the next version above both the base and anything already in
    ``model_dir`` (default: :func:`radtriage.models.user_model_dir`). ``train_options`` are further
    :class:`radtriage.training.TrainConfig` fields (e.g. ``augment``, ``patience``, ``weight_decay``).
    """
    from radtriage.models import bundle_preprocessing, inspect_bundle, read_inference_config, user_model_dir
    from radtriage.training import config_from_options, train_bundle

    export = Path(export)
    datalist, sheet = _read_export(export)
    info = resolve_base(base)
    meta = info.meta
    assert meta is not None
    _check_compatible(info, sheet, export)
    inference = read_inference_config(info.path)
    network_def = dict(inference["network_def"])
    target = network_def.pop("_target_")
    pipeline = bundle_preprocessing(inference, info.path)
    out_dir = Path(model_dir) if model_dir is not None else user_model_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "network_args": network_def,
        "kind": meta.outputs.get("kind") or sheet["training_kind"],
        "class_names": list(meta.class_names),
        "name": name or meta.name,
        "first_version": _next_version(meta.version),
        "description": f"{meta.name} {meta.version} fine-tuned in place on a {sheet['schema']['name']} export "
        f"({sheet['counts']['total']['cases']} cases)",
        "demo": meta.demo,
        "contrasts": list(meta.inputs.contrasts),
        "modality": meta.inputs.modality,
        "spacing": list(meta.inputs.spacing),
        "patch_size": list(meta.inputs.patch_size),
        "preprocessing": pipeline.config,
        "certainty_band": list(meta.certainty_band) if meta.certainty_band else None,
        "score_max": float(meta.outputs.get("scale") or sheet.get("score_max") or 100.0),
        "seed": seed,
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "device": device,
        "progress": progress,
        "n_bootstrap": n_bootstrap,
        **train_options,
    }
    if "positive_at" in meta.outputs:
        options.setdefault("positive_at", float(meta.outputs["positive_at"]))
    with tempfile.TemporaryDirectory(prefix="radtriage-finetune-") as checkpoints:
        config = config_from_options(
            meta.task, target, out_dir, checkpoint_dir=Path(checkpoints), init_bundle=Path(info.path), **options
        )
        result = train_bundle(datalist, config, on_epoch_end=on_epoch_end)
    provenance = {
        "method": "warm start from the base bundle's verified weights, trained on the export's train "
        "split, early stopping on its val split, metrics on its test split",
        "base": {"name": meta.name, "version": meta.version, "task": meta.task, "weights_sha256": meta.weights.sha256},
        "export": {k: sheet.get(k) for k in ("created", "task", "training_kind", "consensus", "splits", "counts")},
        "test_metrics": "docs/test_metrics.json",
    }
    (result.bundle_path / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    registered = inspect_bundle(result.bundle_path)
    if not registered.valid:
        raise InputError(result.bundle_path, f"the new bundle does not pass the registry's checks: {registered.reason}")
    log.info("fine-tuned %s %s -> %s %s in %s", meta.name, meta.version, registered.name, registered.version, out_dir)
    return FinetuneResult(registered, info, result)
