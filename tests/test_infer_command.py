"""The one ``radtriage infer`` command line of every front end: options checked against the task's declaration
before a job starts, read back by the CLI as typed values, and a case's ``case.json`` options carried into the
review run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from radtriage.cli import build_parser
from radtriage.commands.common import parse_options
from radtriage.runtime.infer_command import infer_argv
from radtriage.tasks.options import OptionError

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _options(argv: list[str]) -> dict:
    return parse_options([argv[i + 1] for i, arg in enumerate(argv) if arg == "--option"])


def test_options_are_checked_typed_and_read_back_by_the_cli(tmp_path: Path) -> None:
    argv = infer_argv("lge_certainty", tmp_path / "lge.nrrd", device="cpu", progress="json",
                      options={"certainty_band": "[20, 80]", "apex": [1, 2, 3], "base": [4, 5, 6],
                               "coordinates": "ras", "reformat": None})  # fmt: skip
    args = build_parser().parse_args(argv[3:])
    assert (args.task, args.device, args.progress, args.output) == ("lge_certainty", "cpu", "json", "{output_dir}")
    assert args.input == [str(tmp_path / "lge.nrrd")]
    assert _options(argv) == {"certainty_band": [20.0, 80.0], "apex": [1.0, 2.0, 3.0], "base": [4.0, 5.0, 6.0],
                              "coordinates": "RAS"}  # None left out; the choice in its declared spelling


@pytest.mark.parametrize(("task", "options", "expected"), [
    ("cmb_detect", {"threshold": 2}, r"threshold=2 is not allowed: use a number in \[0, 1\]"),
    ("cmb_detect", {"treshold": 0.5}, "has no option 'treshold'; its options are: heatmap, phase_sign, threshold"),
    ("lge_certainty", {"certainty_band": [80, 20]}, "with 0 <= lo < hi <= 100"),
    ("mri_triage", {"operating_point": "fast"}, "one of balanced, default"),
    ("body_region", {"modality": "PET"}, "one of CT, MR"),
])  # fmt: skip
def test_a_bad_option_is_refused_before_any_job_starts(task: str, options: dict, expected: str) -> None:
    with pytest.raises(OptionError, match=expected):
        infer_argv(task, "x.nrrd", options=options)


def test_bad_input_names_and_progress_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="KEY=PATH"):
        infer_argv("body_region", {"a=b": "x.nrrd"})
    with pytest.raises(ValueError, match="no input"):
        infer_argv("body_region", {})
    with pytest.raises(ValueError, match="progress must be one of auto, text, json, none"):
        infer_argv("body_region", "x.nrrd", progress="tqdm")


@pytest.mark.parametrize("command", ["infer", "batch", "train"])
def test_every_command_takes_the_one_progress_vocabulary(command) -> None:
    from radtriage.runtime.events import PROGRESS_MODES

    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    action = next(a for a in sub._actions if "--progress" in a.option_strings)
    assert tuple(action.choices) == PROGRESS_MODES and action.default == "auto"


def test_auto_progress_is_json_in_a_job_text_on_a_terminal_and_none_otherwise(monkeypatch) -> None:
    from radtriage.runtime import events

    monkeypatch.delenv(events.OUTPUT_DIR_ENV, raising=False)
    monkeypatch.setattr(events.sys.stderr, "isatty", lambda: False)
    assert events.resolve_progress("auto") == "none"
    monkeypatch.setattr(events.sys.stderr, "isatty", lambda: True)
    assert events.resolve_progress("auto") == "text" and events.resolve_progress("none") == "none"
    monkeypatch.setenv(events.OUTPUT_DIR_ENV, "/tmp/x")
    assert events.resolve_progress("auto") == "json" and events.resolve_progress("text") == "text"
    with pytest.raises(ValueError, match="auto, text, json, none"):
        events.resolve_progress("tqdm")
