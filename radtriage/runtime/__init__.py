"""Runtime machinery: compute-device choice and background jobs that report progress as JSON lines.

The event protocol imports nothing beyond the standard library; the job runner (psutil) and the device helpers
(``select_device``, ``autocast_context``, ``set_deterministic``, ..., torch) are imported when first used.
"""

from __future__ import annotations

from radtriage.lazy_exports import lazy_exports
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

# imported on first use: the job runner needs psutil, the device helpers torch; the event protocol needs neither
# (the CLI's option tables read it, and ``radtriage doctor`` runs in a bare Slicer)
__getattr__ = lazy_exports(
    __name__,
    {
        "device": (
            "DeviceUnavailableError", "autocast_context", "inference_mode", "select_device", "set_deterministic"
        ),
        "runner": ("OUTPUT_DIR_PLACEHOLDER", "BackgroundJob", "JobState", "kill_process_tree", "radtriage_argv"),
    },
)

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
