"""Parsing and printing helpers shared by several commands: ``--input``/``--option`` values, JSON, progress lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radtriage.errors import RadTriageError


def at_least(kind: type, minimum: float) -> Any:
    """An argparse ``type`` that reads ``kind`` (int or float) and refuses values below ``minimum``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if not value >= minimum:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (what ``--json`` prints)."""
    print(json.dumps(obj, indent=2, default=str))


def progress_printer(mode: str) -> Any:
    """A progress callback for a resolved ``--progress`` mode: JSON lines (the job runner reads them), plain
    lines on stderr, or nothing."""
    from radtriage.runtime.events import emit_progress

    def report(fraction: float, message: str = "") -> None:
        if mode == "json":
            emit_progress(fraction, message)
        elif mode == "text":
            print(f"[{100 * fraction:5.1f}%] {message}", file=sys.stderr)

    return report


def parse_inputs(values: Sequence[str]) -> dict[str, Path]:
    """``--input`` values: ``PATH`` or ``KEY=PATH`` (KEY names the input, e.g. a contrast); keys are unique."""
    inputs: dict[str, Path] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or Path(value).exists():
            key, path = Path(value).name.split(".")[0], value
        if key in inputs:
            raise RadTriageError(f"two inputs are named {key!r}; name them KEY=PATH")
        inputs[key] = Path(path)
    return inputs


def parse_options(values: Sequence[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` pairs; VALUE is read as JSON when it parses (numbers, lists, true/false), else text."""
    options: dict[str, Any] = {}
    for value in values or ():
        key, sep, raw = value.partition("=")
        if not sep or not key.isidentifier():
            raise RadTriageError(f"--option {value!r} must look like KEY=VALUE with KEY a Python identifier")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options
