"""``radtriage batch``: run a task over a case list (folder/CSV/DICOM): resumable, CSV/JSON results, optional Dask."""

from __future__ import annotations

import argparse
import json
from typing import Any

from radtriage.commands.common import at_least
from radtriage.errors import RadTriageError
from radtriage.runtime.events import PROGRESS_MODES


def _pairs(values: list[str] | None, what: str, as_json: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in values or ():
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise RadTriageError(f"{what} {value!r} must look like KEY=VALUE")
        if as_json:
            try:
                out[key] = json.loads(raw)
            except ValueError:
                out[key] = raw
        else:
            out[key] = raw
    return out


def check_batch_folder(out: str) -> None:
    """Refuse (one line, nothing written) a ``--out`` that is a file, lies under a file or cannot be written."""
    from radtriage.tasks.result import check_writable_folder, probe_output_folder

    folder = check_writable_folder(out)
    probe_output_folder(folder / "probe")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage batch``."""
    from radtriage.tasks import TASKS

    parser.add_argument("cases", help="case list: a folder (one case per sub-folder or image file), a CSV file "
                                      "(case_id + image columns) or a DICOM folder (one case per study)")
    parser.add_argument("--task", required=True, choices=[*TASKS, "auto"],
                        help="task to run; 'auto' = each case's case.json 'task' (or the CSV 'task' column)")
    parser.add_argument("--out", required=True, help="output folder: <out>/<case>/<task>/ + batch_results.csv/.jsonl")
    parser.add_argument("--kind", default="auto", choices=["auto", "folder", "csv", "dicom"],
                        help="how to read the case list (default: from what it is)")
    parser.add_argument("--bundle", help="model bundle (name or folder; default: the task's installed one)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--option", action="append", metavar="KEY=VALUE", help="task option (JSON value), repeatable")
    parser.add_argument("--input", action="append", metavar="KEY=GLOB",
                        help="pick a folder case's input KEY by file pattern (e.g. magnitude='*mag*'), repeatable")
    parser.add_argument("--exclude", action="append", metavar="GLOB",
                        help="folder files that are not inputs (default: *mask* *label* *seg* *truth*)")
    parser.add_argument("--dicom", action="store_true",
                        help="also write each case's results as DICOM (a TID 1500 SR + SEG objects) into its result "
                             "folder's dicom/, referencing the case's DICOM input (volume-file cases are refused)")
    parser.add_argument("--force", action="store_true", help="re-run cases that already have a result")
    parser.add_argument("--store", metavar="PROJECT_OR_URL",
                        help="also record model outputs as labels in this annotation store (project folder, "
                             ".sqlite file or postgresql:// URL), reader model:<bundle>:<version>")
    parser.add_argument("--scheduler", default="auto",
                        help="'none' = in this process with read-ahead; 'local' = a local Dask cluster of --workers "
                             "processes; tcp://host:port = a running Dask scheduler; 'auto' (default) = local "
                             "when --workers > 1, else none")
    parser.add_argument("--workers", type=at_least(int, 1), default=1,
                        help="worker processes of the local Dask cluster")
    parser.add_argument("--prefetch", type=at_least(int, 0), default=2,
                        help="cases read ahead while one runs (in-process only; 0 = no overlap)")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="text (a bar), JSON lines, none, or auto (JSON in a background job, text on a terminal)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``radtriage batch``; exit code 1 when any case failed."""
    from radtriage.batch.cohort import mode_text, run_cohort
    from radtriage.batch.inputs import DEFAULT_EXCLUDE

    if args.workers < 1:
        raise RadTriageError("--workers must be at least 1")
    options = _pairs(args.option, "--option", True)
    if args.task != "auto":  # refused before any case is read; with 'auto' each case is checked for its task
        from radtriage.tasks.options import validate_options

        options = validate_options(args.task, options)
    check_batch_folder(args.out)
    summary = run_cohort(
        args.cases, args.out, args.task, kind=args.kind, bundle=args.bundle, device=args.device,
        options=options, input_globs=_pairs(args.input, "--input", False),
        exclude=tuple(args.exclude) if args.exclude else DEFAULT_EXCLUDE, force=args.force, store=args.store,
        scheduler=args.scheduler, workers=args.workers, prefetch=args.prefetch, progress=args.progress,
        dicom=args.dicom,
    )
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items())) or "no cases"
    print(f"{summary.n_cases} case(s): {counts} in {summary.wall_s:.1f} s ({mode_text(summary.scheduler)}); "
          f"CPU busy {100 * summary.cpu_utilisation:.0f} % of {summary.cores} core(s); rows in {summary.csv_path}")
    return 1 if summary.failed else 0
