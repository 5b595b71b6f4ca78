"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint ``<dir>/<name>.safetensors`` + ``<dir>/<name>.json`` holds the model, the optimizer state, the best
weights so far, the random number generator states (torch CPU/CUDA, NumPy, Python) and the loop state
(epoch, best metric, patience counter, history, settings). The JSON records the SHA-256 of the tensor file, so a
half-written pair is refused. Files are written to a temporary name and renamed, so a crash keeps the old pair.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radtriage.errors import InputError
from radtriage.models.bundle import sha256_file

log = logging.getLogger(__name__)

FORMAT = "radtriage-checkpoint/1"
LAST = "last"


class CheckpointError(InputError):
    """A checkpoint is missing, corrupt or belongs to a different training run; the message names the file."""


def _tensor_copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous().clone()


def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch (CPU and CUDA), NumPy and Python random states as (tensors, JSON)."""
    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state.clone()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    tensors["rng.numpy.keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    plain = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }
    return tensors, plain


def restore_rng_state(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> None:
    """Undo :func:`capture_rng_state` (CUDA states only where the same number of GPUs is present)."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k[9:]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([t.to(torch.uint8) for t in cuda])
    np_state = plain["numpy"]
    keys = tensors["rng.numpy.keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    py = plain["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = _tensor_copy(value)
            else:
                plain_state.setdefault(str(pid), {})[key] = value
    groups = json.loads(json.dumps(state["param_groups"]))  # tuples (betas) become lists; refuses non-JSON values
    return tensors, {"param_groups": groups, "plain_state": plain_state}


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value.clone()
    for pid, entries in plain["plain_state"].items():
        state.setdefault(int(pid), {}).update(entries)
    groups = [dict(g) for g in plain["param_groups"]]
    for group, current in zip(groups, optimizer.param_groups, strict=True):
        for key, value in current.items():
            if isinstance(value, tuple) and isinstance(group.get(key), list):
                group[key] = tuple(group[key])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loop_state: Mapping[str, Any],
    best_weights: Mapping[str, torch.Tensor] | None = None,
    name: str = LAST,
) -> Path:
    """Write the checkpoint pair ``<name>.safetensors`` + ``<name>.json`` in ``folder``; returns the JSON path."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": _tensor_copy(v) for k, v in model.state_dict().items()}
    for k, v in (best_weights or {}).items():
        tensors[f"best.{k}"] = _tensor_copy(v)
    optim_tensors, optim_plain = _optimizer_parts(optimizer)
    rng_tensors, rng_plain = capture_rng_state()
    tensors.update(optim_tensors)
    tensors.update(rng_tensors)
    weights, meta = folder / f"{name}.safetensors", folder / f"{name}.json"
    tmp_weights, tmp_meta = weights.with_suffix(".safetensors.tmp"), meta.with_suffix(".json.tmp")
    save_file(tensors, str(tmp_weights), metadata={"format": FORMAT})
    record = {
        "format": FORMAT,
        "tensors_file": weights.name,
        "tensors_sha256": sha256_file(tmp_weights),
        "has_best": bool(best_weights),
        "optimizer": optim_plain,
        "rng": rng_plain,
        "loop": dict(loop_state),
    }
    tmp_meta.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp_weights, weights)
    os.replace(tmp_meta, meta)
    log.debug("checkpoint written: %s (epoch %s)", meta, loop_state.get("epoch"))
    return meta


def checkpoint_exists(folder: str | Path, name: str = LAST) -> bool:
    """Whether ``folder`` holds the checkpoint pair ``name``."""
    folder = Path(folder)
    return (folder / f"{name}.json").is_file() and (folder / f"{name}.safetensors").is_file()


def read_checkpoint(folder: str | Path, name: str = LAST) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the JSON record of a checkpoint, after checking the format and the tensor file's hash."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta, weights = folder / f"{name}.json", folder / f"{name}.safetensors"
    if not meta.is_file() or not weights.is_file():
        raise CheckpointError(folder, f"no checkpoint to resume from ({meta.name} and {weights.name} are needed)")
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(meta, f"not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(meta, f"not a {FORMAT} checkpoint")
    if sha256_file(weights) != record.get("tensors_sha256"):
        raise CheckpointError(weights, "SHA-256 does not match its JSON record (a partial or changed checkpoint)")
    try:
        tensors = load_file(str(weights), device="cpu")
    except Exception as exc:  # corrupt safetensors
        raise CheckpointError(weights, f"cannot read the checkpoint tensors: {exc}") from exc
    return tensors, record


def restore_checkpoint(
    tensors: Mapping[str, torch.Tensor],
    record: Mapping[str, Any],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> dict[str, torch.Tensor] | None:
    """Load model, optimizer and RNG states from a read checkpoint; returns the best weights (or None)."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    _restore_optimizer(optimizer, tensors, record["optimizer"])
    restore_rng_state(tensors, record["rng"])
    if not record.get("has_best"):
        return None
    return {k[5:]: v.clone() for k, v in tensors.items() if k.startswith("best.")}
