"""The progress protocol between a background job and its parent: one JSON object per stdout line.

Child side: call :func:`emit_progress`, :func:`emit_log`, :func:`emit_result`, :func:`emit_error`, and write
output files under :func:`job_output_dir`. Parent side: :func:`parse_line` turns each stdout line into an
:class:`Event` (a line that is not a JSON event becomes a ``log`` event).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

OUTPUT_DIR_ENV = "RADTRIAGE_JOB_OUTPUT_DIR"
"""Environment variable naming the folder a job writes its outputs to (a staging folder, moved on success)."""

PROGRESS_MODES = ("auto", "text", "json", "none")
"""The one ``--progress`` vocabulary of every command: ``text`` for a person (a bar or lines on stderr),
``json`` for the job runner (``progress`` events on stdout), ``none``; ``auto`` = :func:`resolve_progress`."""


def resolve_progress(mode: str = "auto") -> str:
    """``text``, ``json`` or ``none`` for a ``--progress`` value: ``auto`` is ``json`` inside a background job
    (``$RADTRIAGE_JOB_OUTPUT_DIR`` set), ``text`` when stderr is a terminal, else ``none``."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    if os.environ.get(OUTPUT_DIR_ENV):
        return "json"
    return "text" if sys.stderr.isatty() else "none"


EVENT_KINDS = ("progress", "log", "result", "error", "finished")


@dataclass(frozen=True)
class Event:
    """One message from a job: ``kind`` is progress/log/result/error (or ``finished``, added by the parent)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time, compare=False)

    @property
    def message(self) -> str:
        """The event's ``message`` field ("" if none)."""
        return str(self.data.get("message", ""))

    @property
    def fraction(self) -> float | None:
        """Progress fraction 0..1 of a progress event, else None."""
        value = self.data.get("fraction")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object for this event (as written on the wire)."""
        return {"event": self.kind, **self.data}


def parse_line(line: str, stream: str = "stdout") -> Event | None:
    """The event on one line of a job's output; plain text becomes a ``log`` event; blank lines give None."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    if stream == "stdout" and text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj.get("event") in EVENT_KINDS[:4]:
            data = {k: v for k, v in obj.items() if k != "event"}
            return Event(str(obj["event"]), data)
    return Event("log", {"message": text, "level": "info" if stream == "stdout" else "stderr", "stream": stream})


def _emit(kind: str, stream: TextIO | None, **data: Any) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps({"event": kind, **data}, default=str) + "\n")
    out.flush()


def emit_progress(fraction: float, message: str = "", *, stream: TextIO | None = None) -> None:
    """Report progress ``fraction`` (clipped to 0..1) with a short message."""
    value = float(fraction)
    value = 0.0 if math.isnan(value) else min(1.0, max(0.0, value))
    _emit("progress", stream, fraction=value, message=message)


def emit_log(message: str, level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send a log line to the parent (never put patient names or IDs in it)."""
    _emit("log", stream, message=message, level=level)


def emit_result(outputs: Mapping[str, Any], *, stream: TextIO | None = None, **extra: Any) -> None:
    """Report the job's outputs (e.g. ``{"report": "<path>"}``); paths in the staging folder are remapped."""
    _emit("result", stream, outputs=dict(outputs), **extra)


def emit_error(message: str, *, stream: TextIO | None = None, **extra: Any) -> None:
    """Report why the job failed (the parent marks the job failed even if the exit code is 0)."""
    _emit("error", stream, message=message, **extra)


def job_output_dir(default: str | Path | None = None) -> Path:
    """Where a job writes its output files: ``$RADTRIAGE_JOB_OUTPUT_DIR``, else ``default`` (created)."""
    value = os.environ.get(OUTPUT_DIR_ENV) or (str(default) if default is not None else None)
    if value is None:
        raise RuntimeError(f"${OUTPUT_DIR_ENV} is not set and no default output folder was given")
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path
