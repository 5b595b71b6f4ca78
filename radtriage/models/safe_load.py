"""Load a model bundle without running anything it contains.

Order of checks in :func:`load_bundle`: metadata (fields, task, MONAI version, input spec), the inference
config (allow-listed network, no expressions), the network's channel/dimension arguments against the input
spec, the SHA-256 of the weights file, then weights-only deserialisation (safetensors, or ``torch.load`` with
``weights_only=True``), then state-dict keys and shapes against the network. Each refusal is a
:class:`~radtriage.models.bundle.BundleError` naming the file.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from radtriage.models.bundle import (
    INFERENCE_FILE,
    METADATA_FILE,
    BundleError,
    BundleMeta,
    check_monai_version,
    file_stamps,
    read_inference_config,
    read_metadata,
    sha256_file,
    weights_path,
)
from radtriage.models.networks import build_network, network_args

log = logging.getLogger(__name__)

# Constructor arguments that carry the input channels / spatial dims / output channels in MONAI-style nets.
_IN_CHANNEL_ARGS = ("in_channels", "n_input_channels")
_OUT_CHANNEL_ARGS = ("out_channels", "num_classes")
_DIM_ARGS = ("spatial_dims",)


@dataclass
class LoadedBundle:
    """A bundle ready for inference: checked metadata, the network in eval mode on ``device``."""

    meta: BundleMeta
    network: torch.nn.Module
    device: torch.device
    path: Path
    config: dict[str, Any] = field(default_factory=dict, repr=False)


def verify_weights(folder: str | Path, meta: BundleMeta) -> Path:
    """The weights file after checking it exists and its SHA-256 equals the metadata's (tampered files refused)."""
    path = weights_path(folder, meta)
    if not path.is_file():
        raise BundleError(path, "weights file is missing")
    actual = sha256_file(path)
    if actual != meta.weights.sha256:
        raise BundleError(
            path,
            f"SHA-256 mismatch: metadata says {meta.weights.sha256}, file has {actual}; "
            "the weights were changed or corrupted — refused",
        )
    return path


def read_state_dict(path: str | Path, fmt: str) -> dict[str, torch.Tensor]:
    """Deserialise a state dict without executing code: safetensors, or ``torch.load(weights_only=True)``."""
    path = Path(path)
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        elif fmt == "pytorch":
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise BundleError(path, f"unknown weights format {fmt!r}")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            path, f"refused: the pickle holds objects other than tensors (weights-only load failed: {first})"
        ) from exc
    except BundleError:
        raise
    except Exception as exc:  # corrupt or truncated file
        raise BundleError(path, f"cannot read {fmt} weights: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise BundleError(path, "weights file must hold a flat state dict {name: tensor}")
    return dict(state)


def _preview(items: Iterable[str], limit: int = 5) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_state_dict(network: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str | Path) -> None:
    """Refuse a state dict whose keys or tensor shapes differ from ``network``'s; the message names ``where``."""
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = [f"{k} {got[k]} != {expected[k]}" for k in sorted(set(got) & set(expected)) if got[k] != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing keys: {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_preview(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches (file != network): {_preview(wrong)}")
    if problems:
        raise BundleError(where, f"weights do not match the network {type(network).__name__}: " + "; ".join(problems))


def check_compatibility(
    meta: BundleMeta,
    args: Mapping[str, Any],
    where: str | Path,
    *,
    task: str | None = None,
    contrasts: Iterable[str] | None = None,
) -> None:
    """Refuse a bundle for another task, missing input contrasts, or a network whose channels/dims contradict it.

    ``args`` are the resolved ``network_def`` arguments; ``contrasts`` (optional) are those the caller has.
    """
    if task is not None and meta.task != task:
        raise BundleError(where, f"bundle is for task {meta.task!r}, not {task!r}")
    if contrasts is not None:
        have = {c.upper() for c in contrasts}
        lacking = [c for c in meta.inputs.contrasts if c.upper() not in have]
        if lacking:
            raise BundleError(where, f"bundle needs contrast(s) {', '.join(lacking)}, which the input does not have")
    checks = (
        (_IN_CHANNEL_ARGS, meta.inputs.channels, "input channels (one per contrast in radtriage.inputs.contrasts)"),
        (_DIM_ARGS, meta.inputs.spatial_dims, "spatial dims (length of radtriage.inputs.patch_size)"),
        (_OUT_CHANNEL_ARGS, meta.output_channels, "output channels (radtriage.outputs.channels or class_names)"),
    )
    for names, expected, what in checks:
        for name in names:
            if name in args and args[name] != expected:
                raise BundleError(
                    where,
                    f"network_def {name}={args[name]!r} contradicts the metadata: {what} = {expected}",
                )


def load_bundle(
    path: str | Path,
    device: str | torch.device | None = None,
    *,
    task: str | None = None,
    contrasts: Iterable[str] | None = None,
) -> LoadedBundle:
    """Check and load the bundle at ``path`` onto ``device`` (default: :func:`radtriage.runtime.select_device`).

    ``task`` and ``contrasts`` (optional) are checked against the bundle; see :func:`check_compatibility`.
    With :func:`keep_loaded_bundles` on, an unchanged bundle already loaded in this process is returned as is.
    """
    folder = Path(path)
    if not (folder / METADATA_FILE).is_file():
        raise BundleError(folder, f"not a model bundle (no {METADATA_FILE})")
    key = _cache_key(folder, device, task, contrasts) if _CACHE_SIZE else None
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    loaded = _load(folder, device, task, contrasts)
    if key is not None:
        _CACHE[key] = loaded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


_CACHE: OrderedDict[tuple[Any, ...], LoadedBundle] = OrderedDict()
_CACHE_SIZE = 0


def keep_loaded_bundles(size: int = 4) -> None:
    """Keep up to ``size`` loaded bundles in this process (least recently used dropped first), so a long-lived
    process — the DICOM node, a batch worker — loads each model once; 0 turns it off (the default: a process
    that trains or fine-tunes changes the networks it loaded). A bundle whose files change is loaded again."""
    global _CACHE_SIZE
    _CACHE_SIZE = max(0, int(size))
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _cache_key(folder: Path, device: Any, task: str | None, contrasts: Iterable[str] | None) -> tuple[Any, ...]:
    chosen = tuple(contrasts) if contrasts is not None else None
    return (str(folder.resolve()), file_stamps(folder), str(device), task, chosen)


def _load(folder: Path, device: Any, task: str | None, contrasts: Iterable[str] | None) -> LoadedBundle:
    from radtriage.runtime.device import select_device

    meta = read_metadata(folder)
    check_monai_version(meta, folder / METADATA_FILE)
    config = read_inference_config(folder)
    inference = folder / INFERENCE_FILE
    check_compatibility(meta, network_args(config, str(inference)), inference, task=task, contrasts=contrasts)
    file = verify_weights(folder, meta)
    state = read_state_dict(file, meta.weights.format)
    network = build_network(config, str(inference))
    if not isinstance(network, torch.nn.Module):
        raise BundleError(inference, f"network_def built a {type(network).__name__}, not a torch.nn.Module")
    check_state_dict(network, state, file)
    network.load_state_dict(state, strict=True)
    dev = device if isinstance(device, torch.device) else select_device(device or "auto")
    network = network.to(dev).eval()
    log.info("loaded bundle %s %s (%s) on %s", meta.name, meta.version, meta.task, dev)
    return LoadedBundle(meta=meta, network=network, device=dev, path=folder, config=config)
