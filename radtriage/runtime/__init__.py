"""Runtime machinery: compute-device choice and background jobs that report progress as JSON lines.

The job runner and the event protocol import no torch; the device helpers (``select_device``,
``autocast_context``, ``set_deterministic``, ...) import torch when first used.
"""

from __future__ import annotations

from typing import Any

from radtriage.runtime.events import (
    OUTPUT_DIR_ENV,
    Event,
    emit_error,
    emit_log,
    emit_progress,
    emit_result,
    job_output_dir,
    parse_line,
)
from radtriage.runtime.runner import (
    OUTPUT_DIR_PLACEHOLDER,
    BackgroundJob,
    JobState,
    kill_process_tree,
    radtriage_argv,
)

_DEVICE_NAMES = {"DeviceUnavailableError", "autocast_context", "inference_mode", "select_device", "set_deterministic"}


def __getattr__(name: str) -> Any:
    if name in _DEVICE_NAMES:
        from radtriage.runtime import device

        return getattr(device, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OUTPUT_DIR_ENV",
    "OUTPUT_DIR_PLACEHOLDER",
    "BackgroundJob",
    "DeviceUnavailableError",
    "Event",
    "JobState",
    "autocast_context",
    "emit_error",
    "emit_log",
    "emit_progress",
    "emit_result",
    "inference_mode",
    "job_output_dir",
    "kill_process_tree",
    "parse_line",
    "radtriage_argv",
    "select_device",
    "set_deterministic",
]
