"""Choosing the compute device, mixed precision on GPUs, and reproducible CPU runs."""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from radtriage.errors import RadTriageError

log = logging.getLogger(__name__)

DEVICE_ENV = "RADTRIAGE_DEVICE"
PREFERENCES = ("auto", "cuda", "mps", "cpu")


class DeviceUnavailableError(RadTriageError):
    """The requested compute device is not available on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(preference: str | None = "auto") -> torch.device:
    """The device to run on: ``"auto"`` picks CUDA, then MPS (Apple), then CPU.

    ``"cuda"``, ``"cuda:N"``, ``"mps"`` and ``"cpu"`` ask for that device and raise
    :class:`DeviceUnavailableError` if it is missing. When ``preference`` is ``"auto"`` (or None) the
    environment variable ``RADTRIAGE_DEVICE`` (same values), if set, is used instead.
    """
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        env = os.environ.get(DEVICE_ENV, "").strip().lower()
        if env:
            choice = env
            log.debug("device from $%s: %s", DEVICE_ENV, env)
    kind, _, index = choice.partition(":")
    source = f" (from ${DEVICE_ENV})" if preference in (None, "auto") and choice != "auto" else ""
    if kind not in PREFERENCES or (index and (kind != "cuda" or not index.isdigit())):
        raise DeviceUnavailableError(f"unknown device {choice!r}{source}; use one of auto, cuda, cuda:N, mps, cpu")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU/driver found"
            raise DeviceUnavailableError(f"device {choice!r}{source} requested but CUDA is unavailable: {why}")
        if index and int(index) >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device {choice!r}{source} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return torch.device(choice)
    if kind == "mps":
        if not _mps_available():
            raise DeviceUnavailableError(f"device 'mps'{source} requested but Apple MPS is unavailable here")
        return torch.device("mps")
    return torch.device("cpu")


def autocast_context(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Mixed precision for inference on a GPU (bfloat16 where CUDA supports it, else float16); a no-op on CPU."""
    device = torch.device(device)
    if not enabled or device.type not in ("cuda", "mps"):
        return contextlib.nullcontext()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return torch.autocast(device_type="mps", dtype=torch.float16)


def set_deterministic(seed: int, *, deterministic_algorithms: bool = True) -> None:
    """Seed Python, NumPy and torch and ask torch for deterministic kernels, for reproducible results.

    On CPU two runs after the same call give bit-identical outputs; on CUDA, cuDNN autotuning is turned off
    and ``CUBLAS_WORKSPACE_CONFIG`` is set so deterministic cuBLAS is possible.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic_algorithms, warn_only=True)


@contextlib.contextmanager
def inference_mode(device: torch.device | str, amp: bool = True) -> Iterator[None]:
    """``torch.inference_mode`` plus :func:`autocast_context` — the usual wrapper around a forward pass."""
    with torch.inference_mode(), autocast_context(device, amp):
        yield
