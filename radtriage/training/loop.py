"""The epoch loop: class-balanced training, validation, early stopping with patience, checkpoint every epoch.

Randomness is reproducible and resumable: the sampler and the augmentation draw from generators seeded with
(seed, epoch), and the global torch/NumPy/Python states (dropout etc.) are saved in every checkpoint, so a run
resumed from epoch *e* on CPU ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from radtriage.training.checkpoint import (
    CheckpointError,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from radtriage.training.data import CaseDataset
from radtriage.training.progress import Progress
from radtriage.training.sampling import balanced_sampler
from radtriage.training.settings import LoopSettings
from radtriage.training.taskspec import TrainTaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did."""

    epoch: int
    train_loss: float
    val_loss: float
    val_metric: float | None
    monitor_value: float
    improved: bool
    epochs_without_improvement: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (non-finite numbers as None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass
class FitResult:
    """The outcome of :func:`fit`: the best weights (CPU tensors), when they were reached, and the history."""

    best_weights: dict[str, torch.Tensor]
    best_epoch: int
    best_value: float
    monitor: str
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    epochs_run: int = 0
    resumed_from: int | None = None


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for (run seed, epoch, stream), independent of anything run before."""
    return int(np.random.SeedSequence([int(seed) % 2**32, epoch, stream]).generate_state(2, np.uint64)[0] >> 1)


def _loader(dataset: CaseDataset, settings: LoopSettings, sampler: Any, seed: int, drop_last: bool) -> DataLoader:
    from monai.data import DataLoader as MonaiDataLoader

    generator = torch.Generator().manual_seed(seed)  # seeds the augmentation (MONAI set_rnd / worker_init_fn)
    return MonaiDataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=sampler,
        num_workers=settings.num_workers,
        generator=generator,
        drop_last=drop_last,
    )


def _move(batch: Mapping[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return batch["image"].to(device), batch["target"].to(device)


def predict(
    model: torch.nn.Module, dataset: CaseDataset, task: TrainTaskSpec, device: torch.device, batch_size: int = 8
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss, targets and probabilities of ``model`` over ``dataset`` (eval mode, no augmentation)."""
    if len(dataset) == 0:
        return float("nan"), np.zeros((0,)), np.zeros((0, task.out_channels))
    loss_fn = task.loss()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator().manual_seed(0))
    total, targets, probs = 0.0, [], []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            x, y = _move(batch, device)
            logits = model(x)
            total += float(loss_fn(logits, task.loss_target(y))) * x.shape[0]
            targets.append(y.cpu().numpy())
            probs.append(task.probabilities(logits.float()).cpu().numpy())
    return total / len(dataset), np.concatenate(targets), np.concatenate(probs)


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    dataset: CaseDataset,
    keys: Sequence[Any],
    task: TrainTaskSpec,
    settings: LoopSettings,
    epoch: int,
    device: torch.device,
    progress: Progress,
) -> float:
    sampler_gen = torch.Generator().manual_seed(epoch_seed(settings.seed, epoch, 0))
    if settings.balance:
        sampler: Any = balanced_sampler(keys, sampler_gen)
    else:
        sampler = RandomSampler(dataset, generator=sampler_gen)
    n = len(dataset)
    loader = _loader(
        dataset,
        settings,
        sampler,
        epoch_seed(settings.seed, epoch, 1),
        n > settings.batch_size and n % settings.batch_size == 1,
    )
    loss_fn = task.loss()
    model.train()
    total, seen = 0.0, 0
    for step, batch in enumerate(loader, start=1):
        x, y = _move(batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss = _training_loss(model, x, y, batch.get("label_map"), task, loss_fn, settings.evidence_weight, device)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss became {float(loss)} in epoch {epoch + 1}; lower the learning rate"
            )
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * x.shape[0]
        seen += x.shape[0]
        progress.step(epoch, step, float(loss.detach()))
    return total / max(1, seen)


def _training_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, label_map: torch.Tensor | None,
                   task: TrainTaskSpec, loss_fn: torch.nn.Module, evidence_weight: float,
                   device: torch.device) -> torch.Tensor:
    """The task loss; with a batch ``label_map`` (for a network that :func:`writes_evidence`), plus
    ``evidence_weight`` times its dense evidence loss (deep supervision)."""
    if label_map is None or evidence_weight <= 0:
        return loss_fn(model(x), task.loss_target(y))
    logits, maps = model.forward_with_evidence(x)
    return loss_fn(logits, task.loss_target(y)) + evidence_weight * model.evidence_loss(maps, label_map.to(device))


def writes_evidence(model: torch.nn.Module) -> bool:
    """Whether ``model`` writes evidence maps it can be supervised on (``writes_evidence`` and
    ``forward_with_evidence`` / ``evidence_loss``, e.g. MriTriageNet's ``evidence`` encoder with labels)."""
    return bool(getattr(model, "writes_evidence", False))


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches in one training epoch (a last batch of one is dropped: BatchNorm cannot train on it)."""
    drop = n_train > batch_size and n_train % batch_size == 1
    return n_train // batch_size if drop else math.ceil(n_train / batch_size)


def _resume_state(
    checkpoint_dir: Path, fingerprint: Mapping[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    tensors, record = read_checkpoint(checkpoint_dir)
    loop = record["loop"]
    saved = loop.get("fingerprint", {})
    changed = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if changed:
        raise CheckpointError(
            checkpoint_dir / "last.json",
            f"checkpoint belongs to a run with different settings or data ({', '.join(changed)}); "
            "resume with the same datalist and settings, or start a new run in another checkpoint folder",
        )
    best = restore_checkpoint(tensors, record, model=model, optimizer=optimizer)
    state = dict(loop)
    state["best_value"] = -math.inf if state.get("best_value") is None else float(state["best_value"])
    state["best_loss"] = math.inf if state.get("best_loss") is None else float(state["best_loss"])
    return state, best


def fit(
    model: torch.nn.Module,
    task: TrainTaskSpec,
    train_set: CaseDataset,
    val_set: CaseDataset,
    settings: LoopSettings,
    device: torch.device,
    checkpoint_dir: str | Path,
    *,
    fingerprint: Mapping[str, Any] | None = None,
    resume: bool = False,
    progress: str = "auto",
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train ``model`` (already on ``device``) and return the weights of its best validation epoch.

    A checkpoint is written to ``checkpoint_dir`` after every epoch; ``resume`` continues from it (refused when
    ``fingerprint``, the settings and split that define the run, differs). ``on_epoch_end`` is called after each
    epoch's checkpoint is written (an exception there stops training; the checkpoint stays usable).
    """
    checkpoint_dir = Path(checkpoint_dir)
    fingerprint = dict(fingerprint or {})
    fingerprint["loop"] = {k: v for k, v in settings.to_dict().items() if k not in ("max_epochs", "num_workers")}
    fingerprint = json.loads(json.dumps(fingerprint))  # compare as it will read back (tuples become lists)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    keys = [task.stratum(t) for t in train_set.targets]
    monitor = settings.monitor
    if monitor == "metric" and not task.metric_defined(val_set.targets):
        log.warning(
            "validation %s is undefined on this validation split (a class is missing); "
            "early stopping uses the validation loss",
            task.metric_name,
        )
        monitor = "loss"
    state: dict[str, Any] = {
        "epoch": 0,
        "best_value": -math.inf,
        "best_loss": math.inf,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "monitor": monitor,
        "stopped_early": False,
    }
    best: dict[str, torch.Tensor] | None = None
    resumed_from = None
    if resume:
        state, best = _resume_state(checkpoint_dir, fingerprint, model, optimizer)
        resumed_from = int(state["epoch"])
        log.info("resuming after epoch %d of %d", resumed_from, settings.max_epochs)
    start = int(state["epoch"])
    bar = Progress(progress, settings.max_epochs, steps_per_epoch(len(train_set), settings.batch_size), start)
    try:
        for epoch in range(start, settings.max_epochs):
            if state["stopped_early"]:
                break
            train_loss = _train_epoch(model, optimizer, train_set, keys, task, settings, epoch, device, bar)
            val_loss, val_t, val_p = predict(model, val_set, task, device, settings.batch_size)
            val_metric = task.metric(val_t, val_p) if state["monitor"] == "metric" else None
            value = val_metric if state["monitor"] == "metric" and val_metric is not None else -val_loss
            # a better monitored value, or (metric monitor) an equal metric with a lower validation loss
            tie_better = state["monitor"] == "metric" and value >= state["best_value"] and val_loss < state["best_loss"]
            improved = bool(value > state["best_value"] + settings.min_delta or tie_better) or best is None
            if improved:
                best = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
                state.update(best_value=float(value), best_loss=float(val_loss), best_epoch=epoch + 1, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            record = EpochRecord(
                epoch + 1, train_loss, val_loss, val_metric, float(value), improved, state["bad_epochs"]
            )
            state["history"].append(record.to_dict())
            state["epoch"] = epoch + 1
            state["stopped_early"] = 0 < settings.patience <= state["bad_epochs"]
            save_checkpoint(
                checkpoint_dir,
                model=model,
                optimizer=optimizer,
                best_weights=best,
                loop_state={
                    **state,
                    "best_value": _finite(state["best_value"]),
                    "best_loss": _finite(state["best_loss"]),
                    "fingerprint": fingerprint,
                },
            )
            metric_text = "" if val_metric is None else f", val {task.metric_name} {val_metric:.4f}"
            bar.epoch_end(
                epoch,
                f"epoch {epoch + 1}/{settings.max_epochs}: train loss {train_loss:.4f}, "
                f"val loss {val_loss:.4f}{metric_text}{' (best)' if improved else ''}",
            )
            if on_epoch_end is not None:
                on_epoch_end(record)
            if state["stopped_early"]:
                log.info(
                    "early stopping: no improvement for %d epoch(s); best epoch %d",
                    state["bad_epochs"],
                    state["best_epoch"],
                )
    finally:
        bar.close()
    if best is None:  # resumed from a run that had already finished, without best weights
        best = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    return FitResult(
        best_weights=best,
        best_epoch=int(state["best_epoch"]),
        best_value=float(state["best_value"]) if state["best_value"] is not None else float("nan"),
        monitor=str(state["monitor"]),
        history=list(state["history"]),
        stopped_early=bool(state["stopped_early"]),
        epochs_run=int(state["epoch"]),
        resumed_from=resumed_from,
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
