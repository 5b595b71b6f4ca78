"""``radtriage`` command line: inspect images and DICOM folders, list models, make phantoms, run the demo."""

# The module docstring above is the description ``radtriage --help`` shows. This module is the registry: which
# commands exist, their one-line help, and the module under radtriage.commands holding each command's argparse
# setup (``add_arguments``) next to its handler (``run``).

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from radtriage.errors import RadTriageError

log = logging.getLogger("radtriage")

COMMANDS: tuple[tuple[str, str, str], ...] = (
    # (command, help, module with its add_arguments and run), in the order --help lists them
    ("info", "load an image file or DICOM series and describe its geometry and contrast", "radtriage.commands.info"),
    ("scan", "group the DICOM files under a folder into patient / study / series", "radtriage.commands.scan"),
    ("models", "list the model bundles found", "radtriage.commands.models"),
    ("phantom", "write procedural phantom cases with ground truth", "radtriage.commands.phantom"),
    ("infer", "run one task on one study / volume and write result.json plus volumes", "radtriage.commands.infer"),
    ("options", "list each task's options: name, allowed values, default, help", "radtriage.commands.options"),
    ("train", "train a model bundle from a MONAI-style datalist (JSON/CSV)", "radtriage.commands.train"),
    ("labels", "reader labels in an annotation store: list, history, agreement, progress",
     "radtriage.commands.labels"),
    ("triage", "rank every brain MRI study in a folder by urgency; CSV/JSON worklist + reports",
     "radtriage.commands.triage"),
    ("simulate", "replay study arrivals: first-come vs triaged reading, time-to-report",
     "radtriage.commands.simulate"),
    ("export", "export labelled cases as a cohort: NIfTI, CSV/JSON, MONAI datalist, datasheet",
     "radtriage.commands.export"),
    ("finetune", "fine-tune a task's bundle on an exported cohort; registers a new version",
     "radtriage.commands.finetune"),
    ("batch", "run a task over a case list (folder/CSV/DICOM): resumable, CSV/JSON results, optional Dask cluster",
     "radtriage.commands.batch"),
    ("serve", "web review station in a browser (trame-slicer): slice/3D views, tasks, overlays, labels",
     "radtriage.commands.serve"),
    ("listen", "DICOM node: receive studies (C-STORE), run the routed tasks, send SR/SEG back to the PACS",
     "radtriage.commands.listen"),
    ("train-body-region", "train a body-region bundle on scans + TotalSegmentator label maps (per-slice truth)",
     "radtriage.commands.train_body_region"),
    ("doctor", "the Slicer modules' dependency check: what is missing, the install plan, offline or not",
     "radtriage.commands.doctor"),
    ("evaluate", "evaluation reports: classification, detection FROC, reader agreement", "radtriage.commands.evaluate"),
    ("bench", "time every task on phantoms of realistic sizes against the project targets", "radtriage.commands.bench"),
    ("demo", "run the embedded demo on phantom cases and write a report and a Slicer scene",
     "radtriage.commands.demo"),
    ("worker", "the warm inference worker the Slicer modules and the web station start (JSON lines on its pipes)",
     "radtriage.commands.worker"),
)
"""The top-level commands. Help texts live here, so ``radtriage --help`` imports no command module."""

EVALUATE_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("classification", "ROC AUC with bootstrap CI, operating points, confusion, plots",
     "radtriage.commands.evaluate.classification"),
    ("ratings", "two readers' 0-100 slice ratings: Bland-Altman, ICC, kappa on certainty",
     "radtriage.commands.evaluate.ratings"),
    ("detection", "CMB detection FROC on phantoms or a folder of scans with truth JSON",
     "radtriage.commands.evaluate.detection"),
    ("localisation", "MRI triage heatmaps: pointing game (peak within 15 mm of the lesion) per output and method",
     "radtriage.commands.evaluate.localisation"),
    ("triage", "MRI triage on fresh MNI-anatomy phantoms: AUC and operating point per contrast subset, ablation",
     "radtriage.commands.evaluate.triage"),
    ("body-region", "body-region per-slice agreement with TotalSegmentator-derived truth, beside Raffy 2021",
     "radtriage.commands.evaluate.body_region"),
)
"""The subcommands of ``radtriage evaluate`` (the package of their modules is the ``evaluate`` row's module)."""

GROUPS: dict[str, tuple[tuple[str, str, str], ...]] = {"evaluate": EVALUATE_COMMANDS}
"""Commands that are a group of subcommands (``radtriage evaluate classification ...``): command -> its table."""

OPTIONS_IN_HELP = ("infer",)
"""Commands whose ``--help`` ends with every task's declared options."""


def _add_command(sub: Any, name: str, help_text: str, module: str, load: bool) -> argparse.ArgumentParser:
    """Add subcommand ``name``; with ``load``, its arguments and handler from ``module``.

    ``module`` is imported only when ``load`` is true (the command being run), so other commands don't pay for
    its imports (scipy, matplotlib, ...) at start-up — every Slicer background job starts this CLI.
    """
    parser = sub.add_parser(name, help=help_text)
    if load:
        import importlib

        target = importlib.import_module(module)
        target.add_arguments(parser)
        parser.set_defaults(func=target.run)
        if name in OPTIONS_IN_HELP:
            _list_options_in_help(parser)
    return parser


def _list_options_in_help(parser: argparse.ArgumentParser) -> None:
    """Append every task's declared options to ``parser``'s ``--help`` (read only when help is shown)."""
    plain = parser.format_help

    def format_help() -> str:
        from radtriage.tasks.options import options_help

        return plain() + "\n" + options_help() + "\n"

    parser.format_help = format_help  # type: ignore[method-assign]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``radtriage`` command.

    ``command`` names the subcommand about to run: only its module is imported (None imports them all; a group
    such as ``evaluate`` imports the modules of all its subcommands).
    """
    parser = argparse.ArgumentParser(prog="radtriage", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, module in COMMANDS:
        load = command in (None, name)
        if name not in GROUPS:
            _add_command(sub, name, help_text, module, load)
            continue
        group = sub.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_command", required=True)
        for sub_name, sub_help, sub_module in GROUPS[name]:
            _add_command(group, sub_name, sub_help, sub_module, load)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((w for w in words if not w.startswith("-")), "")
    try:
        args = build_parser(command).parse_args(words)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
        return int(args.func(args))
    except RadTriageError as exc:
        print(f"radtriage: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # whoever read the output stopped early (``| head``): not a bug, no crash log
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's shutdown flush goes nowhere
        return 1
    except Exception as exc:
        from radtriage.dependencies import missing_extra_message

        # a package of an optional extra (radtriage[eval], [batch], ...) is one line like any refusal
        if isinstance(exc, ModuleNotFoundError) and (message := missing_extra_message(exc)) is not None:
            print(f"radtriage: error: {message}", file=sys.stderr)
            return 2
        print(f"radtriage: internal error: {type(exc).__name__}: {exc} — this is a bug; please report it "
              f"with the details in {_crash_log(exc)}", file=sys.stderr)
        return 3


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a file in the temporary folder; returns its path."""
    import tempfile
    import time
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"radtriage-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log")
    with open(fd, "w", encoding="utf-8") as log:
        log.write("".join(traceback.format_exception(exc)))
    return path


if __name__ == "__main__":
    raise SystemExit(main())
