"""The one ``python -m radtriage infer`` command line every front end starts (the Slicer modules, CaseReview,
the web station): inputs as ``KEY=PATH``, the job's output folder placeholder, and the task options checked
against the task's declaration (:mod:`radtriage.tasks.options`) before anything starts, so a bad option is
refused in the front end with the allowed values instead of in a child process after the inputs were written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtriage.runtime.events import PROGRESS_MODES
from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv
from radtriage.tasks.options import validate_options


def option_argument(name: str, value: Any) -> str:
    """``KEY=VALUE`` for ``--option``: text as is, anything else as JSON (what ``radtriage infer`` reads back)."""
    return f"{name}={value if isinstance(value, str) else json.dumps(value)}"


def input_arguments(inputs: str | Path | Mapping[str, str | Path]) -> list[str]:
    """``--input`` values: one ``PATH``, or ``KEY=PATH`` per named input (a key may not hold ``=``)."""
    if not isinstance(inputs, Mapping):
        return [str(inputs)]
    pairs = []
    for key, path in inputs.items():
        if not key or "=" in key:
            raise ValueError(f"input name {key!r} cannot be passed as KEY=PATH")
        pairs.append(f"{key}={path}")
    if not pairs:
        raise ValueError("no input to run on")
    return pairs


def infer_argv(task: str, inputs: str | Path | Mapping[str, str | Path], *,
               options: Mapping[str, Any] | None = None, device: str | None = None, bundle: str | Path | None = None,
               progress: str | None = None) -> list[str]:
    """The ``radtriage infer`` argv of one run; the job's output folder replaces ``{output_dir}``.

    Options whose value is None are left out (None means "the default"); the others must pass
    :func:`~radtriage.tasks.options.validate_options` (an ``OptionError`` names the allowed values).
    """
    if progress is not None and progress not in PROGRESS_MODES:
        raise ValueError(f"progress must be one of {', '.join(PROGRESS_MODES)}, got {progress!r}")
    checked = validate_options(task, {k: v for k, v in (options or {}).items() if v is not None})
    argv = radtriage_argv("infer", "--task", task, "--input", *input_arguments(inputs),
                          "--output", OUTPUT_DIR_PLACEHOLDER)
    if progress is not None:
        argv += ["--progress", progress]
    if device is not None:
        argv += ["--device", device]
    if bundle is not None:
        argv += ["--bundle", str(bundle)]
    for name, value in checked.items():
        argv += ["--option", option_argument(name, value)]
    return argv
