"""The whole training run: datalist -> patient splits -> training -> test metrics -> a new versioned bundle."""

from __future__ import annotations

import datetime as _dt
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.preprocess.patch import PreprocessConfig
from radtriage.training.data import CaseDataset, build_augmentation, get_loader
from radtriage.training.datalist import Case, Datalist, read_datalist
from radtriage.training.loop import EpochRecord, FitResult, fit, predict, writes_evidence
from radtriage.training.model_card import code_version, data_summary, render_model_card
from radtriage.training.settings import DEFAULT_CERTAINTY_BAND, DEFAULT_KIND, TrainConfig
from radtriage.training.splits import assign_splits, split_fingerprint
from radtriage.training.taskspec import LabelError, TrainTaskSpec, infer_class_names
from radtriage.training.versioning import next_bundle_version

log = logging.getLogger(__name__)

_CHANNEL_ARGS = (("in_channels", "n_input_channels"), ("out_channels", "num_classes", "classes"), ("spatial_dims",))


@dataclass
class TrainResult:
    """What a run produced: the bundle, its version, the test metrics and the training history."""

    bundle_path: Path
    version: str
    test_metrics: dict[str, Any]
    data: dict[str, Any]
    fit: FitResult
    spec: TrainTaskSpec

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``emit_result`` / ``--json``)."""
        return {
            "bundle": str(self.bundle_path),
            "version": self.version,
            "best_epoch": self.fit.best_epoch,
            "epochs_run": self.fit.epochs_run,
            "stopped_early": self.fit.stopped_early,
            "data": self.data,
        }


@dataclass
class PreparedData:
    """A checked datalist with encoded targets and the split of every case."""

    datalist: Datalist
    spec: TrainTaskSpec
    targets: list[np.ndarray]
    splits: list[str]

    def indices(self, split: str) -> list[int]:
        """Positions of the cases in ``split``."""
        return [i for i, s in enumerate(self.splits) if s == split]

    def cases(self, split: str) -> list[Case]:
        """The cases in ``split``."""
        return [self.datalist.cases[i] for i in self.indices(split)]

    def split_targets(self, split: str) -> list[np.ndarray]:
        """The targets of the cases in ``split``."""
        return [self.targets[i] for i in self.indices(split)]


def prepare_cases(datalist: Datalist, config: TrainConfig) -> PreparedData:
    """Encode every label for the task (a bad one raises :class:`InputError` naming the row) and split by patient."""
    kind = config.kind or DEFAULT_KIND.get(config.task, "multilabel")
    names = config.class_names or infer_class_names(kind, [c.label for c in datalist.cases], datalist.label_columns)
    try:
        spec = TrainTaskSpec(
            kind,
            tuple(str(n) for n in names),
            score_max=config.score_max,
            positive_at=config.positive_at,
            threshold=config.threshold,
        )
    except ValueError as exc:
        raise InputError(datalist.where, f"cannot set up the task: {exc}") from exc
    targets = []
    for case in datalist.cases:
        try:
            targets.append(spec.encode(case.label))
        except LabelError as exc:
            raise InputError(datalist.where, f"{case.row}: bad label: {exc}") from exc
    fractions = {
        "train": 1.0 - config.val_fraction - config.test_fraction,
        "val": config.val_fraction,
        "test": config.test_fraction,
    }
    splits = assign_splits(datalist.cases, [spec.stratum(t) for t in targets], fractions, config.seed, datalist.where)
    prepared = PreparedData(datalist, spec, targets, splits)
    for split in ("train", "val"):
        if not prepared.indices(split):
            raise InputError(
                datalist.where,
                f"no {split} cases after splitting {len(set(c.patient_id for c in datalist.cases))} "
                "patient(s); add cases, give the split in the datalist, or change the split fractions",
            )
    return prepared


def network_definition(
    network: str, args: Mapping[str, Any], in_channels: int, out_channels: int, patch_size: Sequence[int]
) -> dict[str, Any]:
    """``{"_target_": network, **args}`` with channel/dimension arguments the class takes filled in when not given
    (``in_channels``/``n_input_channels``, ``out_channels``/``num_classes``/``classes``, ``spatial_dims``,
    ``in_shape``). ``network`` must be allow-listed (registered, or a MONAI network)."""
    from radtriage.models.networks import resolve_network

    cls = resolve_network(network, "--network")
    params = inspect.signature(cls).parameters
    fill: dict[str, Any] = {}
    for names, value in zip(_CHANNEL_ARGS, (in_channels, out_channels, len(patch_size)), strict=True):
        name = next((n for n in names if n in params), None)
        if name is not None and not any(n in args for n in names):
            fill[name] = value
    if "in_shape" in params and "in_shape" not in args:
        fill["in_shape"] = [in_channels, *[int(p) for p in patch_size]]
    return {"_target_": network, **fill, **dict(args)}


def _build_model(network_def: Mapping[str, Any]) -> Any:
    import torch

    from radtriage.models.networks import build_network

    model = build_network({"network_def": dict(network_def)}, "--network")
    if not isinstance(model, torch.nn.Module):
        raise InputError("--network", f"{network_def['_target_']} built a {type(model).__name__}, not a torch module")
    return model


def _thresholds(spec: TrainTaskSpec) -> dict[str, Any]:
    if spec.kind == "multilabel":
        return {c: {"balanced": spec.threshold} for c in spec.class_names}
    if spec.kind == "score":
        return {spec.class_names[0]: {"balanced": spec.positive_at}}
    return {}


def _previous_changelog(out_dir: Path, name: str) -> dict[str, str]:
    from radtriage.models.bundle import read_metadata
    from radtriage.training.versioning import bundle_folder_name, existing_versions

    versions = existing_versions(out_dir, name)
    if not versions:
        return {}
    folder = out_dir / bundle_folder_name(name, str(versions[-1]))
    try:
        return dict(read_metadata(folder).raw.get("changelog", {}))
    except InputError:
        return {}


def _write_docs(folder: Path, test_metrics: Mapping[str, Any], training: Mapping[str, Any]) -> None:
    from radtriage.evaluation import EvaluationError, write_plots, write_summary

    docs = folder / "docs"
    write_summary(test_metrics, docs, "test_metrics.json")
    write_summary(training, docs, "training.json")
    parts: list[tuple[str, Mapping[str, Any]]] = []
    if test_metrics.get("kind") == "multilabel":
        parts = [(f"test_{name}_", m) for name, m in test_metrics["per_class"].items()]
    elif test_metrics.get("n"):
        parts = [("test_", test_metrics)]
    for prefix, metrics in parts:
        try:
            write_plots(metrics, docs, prefix=prefix)
        except (EvaluationError, ValueError) as exc:
            log.warning("could not draw test plots %s: %s", prefix, exc)


def _load_init_weights(model: Any, bundle: Path) -> dict[str, Any]:
    """Load a bundle's checked weights into ``model`` (same architecture, or one the network's
    ``adapt_init_state`` maps them onto, e.g. a widened head); returns the bundle's identity."""
    from radtriage.models import check_state_dict, read_metadata, read_state_dict, verify_weights

    meta = read_metadata(bundle)
    weights = verify_weights(bundle, meta)
    state = read_state_dict(weights, meta.weights.format)
    adapt = getattr(model, "adapt_init_state", None)
    if callable(adapt):
        state = adapt(dict(state))
    check_state_dict(model, state, weights)
    model.load_state_dict(state, strict=True)
    return {"name": meta.name, "version": meta.version, "weights_sha256": meta.weights.sha256}


def train_bundle(
    datalist: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    config: TrainConfig,
    *,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train a model from ``datalist`` and write it as a new bundle version in ``config.out_dir``.

    Steps: read and check the datalist; encode labels; patient-level seeded stratified splits (given splits
    honoured); train with class-balanced sampling and augmentation, checkpointing every epoch and stopping early on
    the validation metric; evaluate the best epoch on the held-out test split; write the bundle (weights,
    metadata, ``inference.json`` with the preprocessing) with a model card, ``docs/test_metrics.json``,
    ``docs/training.json`` and test plots.
    """
    from radtriage.models.bundle import default_metadata
    from radtriage.models.writer import write_bundle
    from radtriage.runtime.device import select_device, set_deterministic

    out_dir = Path(config.out_dir)
    dl = read_datalist(datalist, config.base_dir)
    prepared = prepare_cases(dl, config)
    spec = prepared.spec
    preprocess = PreprocessConfig(tuple(int(p) for p in config.patch_size), config.resize, config.normalize,
                                  config.preprocessing)
    n_channels = len(dl.cases[0].images)
    contrasts = list(config.contrasts or dl.channel_keys)
    if len(contrasts) != n_channels:
        raise InputError(
            dl.where, f"{n_channels} image channel(s) per case but {len(contrasts)} contrast name(s) given"
        )
    network_def = network_definition(
        config.network, config.network_args, n_channels, spec.out_channels, preprocess.patch_size
    )
    loader = config.loader if callable(config.loader) else get_loader(config.loader)

    set_deterministic(config.seed)
    device = select_device(config.device)
    log.info(
        "training %s (%s, %d classes) on %s: %s",
        config.bundle_name,
        spec.kind,
        len(spec.class_names),
        device,
        {s: len(prepared.indices(s)) for s in ("train", "val", "test")},
    )
    has_maps = dl.cases[0].label_map is not None  # all cases or none (read_datalist)
    model = _build_model(network_def)  # before any image is loaded: a network that cannot learn the maps fails fast
    if has_maps and config.evidence_weight > 0 and not writes_evidence(model):
        raise InputError(dl.where, f"the cases give label_map volumes but {config.network} with these network "
                         "args writes no evidence maps to supervise: use a network that does (e.g. MriTriageNet "
                         "with encoder 'evidence' and evidence_labels), or --evidence-weight 0")
    augment = build_augmentation(config.augment, preprocess.spatial_dims, preprocess.patch_size, label_map=has_maps)
    datasets = {
        split: CaseDataset(
            prepared.cases(split),
            prepared.split_targets(split),
            loader,
            preprocess,
            dl.where,
            transform=augment if split == "train" else None,
            cache=config.cache,
        )
        for split in ("train", "val", "test")
    }
    init = _load_init_weights(model, config.init_bundle) if config.init_bundle else None
    model = model.to(device)
    fingerprint = {
        "task": config.task,
        "kind": spec.kind,
        "class_names": list(spec.class_names),
        "network": network_def,
        "preprocess": preprocess.to_config(),
        "augment": config.augment.to_dict(),
        "splits": split_fingerprint(dl.cases, prepared.splits),
        "init_weights_sha256": init["weights_sha256"] if init else None,
    }
    result = fit(
        model,
        spec,
        datasets["train"],
        datasets["val"],
        config.loop_settings(),
        device,
        config.checkpoint_folder,
        fingerprint=fingerprint,
        resume=config.resume,
        progress=config.progress,
        on_epoch_end=on_epoch_end,
    )
    model.load_state_dict(result.best_weights)
    _, test_t, test_p = predict(model, datasets["test"], spec, device, config.batch_size)
    test_metrics = spec.evaluate(test_t, test_p, n_bootstrap=config.n_bootstrap, seed=config.seed)

    summary = data_summary(dl.cases, prepared.targets, prepared.splits, spec)
    version, folder = next_bundle_version(out_dir, config.bundle_name, config.first_version)
    date = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    code = code_version()
    band = config.certainty_band or (DEFAULT_CERTAINTY_BAND if config.task == "lge_certainty" else None)
    changelog = {
        **_previous_changelog(out_dir, config.bundle_name),
        version: f"trained with radtriage train on {date} (best epoch {result.best_epoch})"
        + (f", warm-started from {init['name']} {init['version']}" if init else ""),
    }
    meta = default_metadata(
        config.bundle_name,
        config.task,
        version=version,
        description=config.description or f"{config.task} model trained with radtriage train ({spec.kind}).",
        class_names=list(spec.class_names),
        inputs={
            "contrasts": contrasts,
            "modality": config.modality,
            "spacing": [float(s) for s in (config.spacing or [1.0] * preprocess.spatial_dims)],
            "patch_size": list(preprocess.patch_size),
        },
        demo=config.demo,
        outputs=spec.outputs_metadata(),
        thresholds=_thresholds(spec),
        certainty_band=band,
        changelog=changelog,
    )
    training = {
        "date": date,
        "code": code,
        "settings": config.settings_record(),
        "network_def": network_def,
        "data": summary,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_value": result.best_value if result.monitor == "metric" else -result.best_value,
        "monitor": spec.metric_name if result.monitor == "metric" else "loss",
        "stopped_early": result.stopped_early,
        "epochs_run": result.epochs_run,
        "resumed_from": result.resumed_from,
    }
    meta["radtriage"]["training"] = {"date": date, "code": code, "data": summary, "best_epoch": result.best_epoch}
    card = render_model_card(
        name=config.bundle_name,
        version=version,
        task=config.task,
        description=meta["description"],
        demo=config.demo,
        spec=spec,
        summary=summary,
        test_metrics=test_metrics,
        settings=config.settings_record(),
        training=training,
        date=date,
        code=code,
    )
    model.cpu()
    write_bundle(
        folder, model, meta, network_def, model_card_text=card, extra_config={"preprocessing": preprocess.to_config()}
    )
    _write_docs(folder, test_metrics, training)
    log.info("wrote %s version %s to %s", config.bundle_name, version, folder)
    return TrainResult(folder, version, test_metrics, summary, result, spec)
