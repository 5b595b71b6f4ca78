"""``radtriage`` command line: inspect images and DICOM folders, list models, make phantoms, run the demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radtriage.errors import InputError, RadTriageError
from radtriage.runtime.events import PROGRESS_MODES

log = logging.getLogger("radtriage")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _cmd_info(args: argparse.Namespace) -> int:
    from radtriage.describe import describe_image
    from radtriage.io import read_image

    image = read_image(args.path, series_uid=args.series)
    info = describe_image(image)
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>20}: {value}")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from radtriage.describe import describe_series
    from radtriage.io import scan_dicom

    series = scan_dicom(args.folder)
    rows = [describe_series(s) for s in series]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no DICOM image series found under {args.folder}")
        return 1
    for row in rows:
        print(
            f"patient {row['patient_key']}  study …{row['study_uid'][-8:]}  series …{row['series_uid'][-8:]}  "
            f"{row['modality']:<3} {row['n_images']:>4} images  {row['contrast']:<7} "
            f"({row['contrast_confidence']:.2f})  {row['series_description']}"
        )
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from radtriage.models import allowed_network_names, list_bundles
    from radtriage.models.registry import default_bundles

    if args.networks:
        names = allowed_network_names()
        if args.json:
            _print_json(names)
        else:
            print("\n".join(names))
        return 0
    bundles = list_bundles()
    defaults = {str(b.path) for b in default_bundles(bundles)}
    rows = [{**b.to_dict(), "default": str(b.path) in defaults} for b in bundles]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no model bundles found (searched the package's bundles/, the user folder, $RADTRIAGE_MODEL_DIR)")
        return 0
    for row in rows:
        flag = ("default, " if row["default"] else "") + ("DEMO, not for clinical use" if row.get("demo") else "")
        state = "ok" if row.get("valid") else f"INVALID: {row.get('reason')}"
        print(f"{row['task']:<14} {row['name']:<28} v{row['version']:<8} {state:<10} {flag}  {row['path']}")
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    from radtriage.phantom_export import export_phantom

    written = export_phantom(args.kind, Path(args.out), seed=args.seed, count=args.count)
    for path in written:
        print(path)
    return 0


def _progress_printer(mode: str) -> Any:
    """A progress callback for a resolved ``--progress`` mode: JSON lines (the job runner reads them), plain
    lines on stderr, or nothing."""
    from radtriage.runtime.events import emit_progress

    def report(fraction: float, message: str = "") -> None:
        if mode == "json":
            emit_progress(fraction, message)
        elif mode == "text":
            print(f"[{100 * fraction:5.1f}%] {message}", file=sys.stderr)

    return report


def _parse_inputs(values: Sequence[str]) -> dict[str, Path]:
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


def _parse_dicom_sources(values: Sequence[str] | None, dicom_out: str | None) -> dict[str, Path]:
    """``--dicom-source KEY=DICOM_PATH`` pairs (only with ``--dicom-out``; each path must exist)."""
    sources: dict[str, Path] = {}
    for value in values or ():
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise RadTriageError(f"--dicom-source {value!r} must look like KEY=DICOM_FOLDER")
        if not Path(path).exists():
            raise InputError(path, "no such DICOM file or folder (--dicom-source); give the series the input was "
                                   "exported from")
        sources[key] = Path(path)
    if sources and not dicom_out:
        raise RadTriageError("--dicom-source is only used with --dicom-out DIR; add it or leave --dicom-source out")
    return sources


def _parse_options(values: Sequence[str] | None) -> dict[str, Any]:
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


def _series_choices(values: Sequence[str] | None, paths: dict[str, Path]) -> dict[str, str]:
    """``--series`` values: ``UID`` (every input that is a DICOM folder) or ``KEY=UID`` (that input)."""
    chosen: dict[str, str] = {}
    for value in values or ():
        key, sep, uid = value.partition("=")
        if not sep:
            folders = [k for k, p in paths.items() if p.is_dir()]
            if not folders:
                raise RadTriageError(f"--series {value} given but no input is a DICOM folder")
            chosen.update(dict.fromkeys(folders, value))
        elif key not in paths or not uid:
            raise RadTriageError(f"--series {value!r}: KEY must name an input ({', '.join(paths)}) and UID be given")
        else:
            chosen[key] = uid
    return chosen


def _cmd_options(args: argparse.Namespace) -> int:
    from radtriage.tasks.options import declared_options, options_help

    if args.json:
        from radtriage.tasks import TASKS

        tasks = [args.task] if args.task else list(TASKS)
        _print_json({t: [o.to_dict() for o in declared_options(t)] for t in tasks})
    else:
        print(options_help(args.task))
    return 0


def _cmd_infer(args: argparse.Namespace) -> int:
    import os

    from radtriage.io import read_image
    from radtriage.runtime.events import OUTPUT_DIR_ENV, emit_result, resolve_progress
    from radtriage.tasks import run_task
    from radtriage.tasks.options import validate_options
    from radtriage.tasks.result import check_output_folder, probe_output_folder, write_result_staged

    mode = "json" if os.environ.get(OUTPUT_DIR_ENV) else resolve_progress(args.progress)  # a job's runner reads JSON
    as_job = mode == "json"
    progress = _progress_printer(mode)
    paths = _parse_inputs(args.input)
    options = validate_options(args.task, _parse_options(args.option))  # refused before any work
    output = check_output_folder(args.output, paths.values())
    probe_output_folder(output)
    series = _series_choices(args.series, paths)
    progress(0.0, f"reading {len(paths)} input(s)")
    images = {key: read_image(path, series_uid=series.get(key)) for key, path in paths.items()}
    dicom_paths = _parse_dicom_sources(args.dicom_source, args.dicom_out)
    if args.dicom_out:
        from radtriage.dicom_out import dicom_sources_of

        dicom_sources = dicom_sources_of(images, dicom_paths)  # refused before the task runs
    result = run_task(args.task, inputs=images, bundle=args.bundle, device=args.device, progress=progress, **options)
    written = write_result_staged(result, output)
    if args.dicom_out:
        from radtriage.dicom_out import write_dicom_results

        for n, path in enumerate(write_dicom_results(result, dicom_sources, args.dicom_out)):
            written[f"dicom_{n}"] = path
    progress(1.0, "done")
    if as_job:
        emit_result({role: str(path) for role, path in written.items()})
    else:
        print(written["result"])
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from radtriage.bench import format_report, run_benchmarks

    if args.dicom_node:
        from radtriage.bench.dicom_node import format_node_report, run_node_benchmark
        from radtriage.dicom_node.command import require_node_packages

        require_node_packages()
        node_report = run_node_benchmark(device=args.device)
        print(format_node_report(node_report))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(node_report, indent=2, default=str))
        return 1 if any(r.get("error") for r in node_report["tasks"].values()) else 0
    report = run_benchmarks(args.task or None, repeats=args.repeats, device=args.device)
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str))
        print(f"\nJSON written to {args.json_out}")
    return 1 if any("error" in r for r in report["results"].values()) else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from radtriage.demo import run_demo

    report = run_demo(Path(args.out), seed=args.seed)
    print(f"demo report: {report}")
    return 0


DELEGATED_COMMANDS: tuple[tuple[str, str, str, str, str], ...] = (
    # (command, help, module, function adding its arguments, function running it)
    ("train", "train a model bundle from a MONAI-style datalist (JSON/CSV)",
     "radtriage.training", "add_train_arguments", "run_train_command"),
    ("labels", "reader labels in an annotation store: list, history, agreement, progress",
     "radtriage.annotations", "add_annotations_arguments", "run_annotations"),
    ("triage", "rank every brain MRI study in a folder by urgency; CSV/JSON worklist + reports",
     "radtriage.tasks.mri_triage.worklist", "add_triage_arguments", "run_triage"),
    ("simulate", "replay study arrivals: first-come vs triaged reading, time-to-report",
     "radtriage.tasks.mri_triage.simulation", "add_simulate_arguments", "run_simulate"),
    ("export", "export labelled cases as a cohort: NIfTI, CSV/JSON, MONAI datalist, datasheet",
     "radtriage.export", "add_export_arguments", "run_export"),
    ("finetune", "fine-tune a task's bundle on an exported cohort; registers a new version",
     "radtriage.training.finetune", "add_finetune_arguments", "run_finetune"),
    ("batch", "run a task over a case list (folder/CSV/DICOM): resumable, CSV/JSON results, optional Dask cluster",
     "radtriage.batch", "add_batch_arguments", "run_batch"),
    ("serve", "web review station in a browser (trame-slicer): slice/3D views, tasks, overlays, labels",
     "radtriage.web", "add_serve_arguments", "run_serve"),
    ("listen", "DICOM node: receive studies (C-STORE), run the routed tasks, send SR/SEG back to the PACS",
     "radtriage.dicom_node", "add_listen_arguments", "run_listen"),
    ("train-body-region", "train a body-region bundle on scans + TotalSegmentator label maps (per-slice truth)",
     "radtriage.tasks.body_region.cohort", "add_train_body_region_arguments", "run_train_body_region"),
    ("doctor", "the Slicer modules' dependency check: what is missing, the install plan, offline or not",
     "radtriage.doctor", "add_doctor_arguments", "run_doctor"),
)
"""Subcommands whose arguments and behaviour live in the module that does the work."""

EVALUATE_COMMANDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("classification", "ROC AUC with bootstrap CI, operating points, confusion, plots",
     "radtriage.evaluation.command", "add_evaluate_classification_arguments", "run_evaluate_classification"),
    ("ratings", "two readers' 0-100 slice ratings: Bland-Altman, ICC, kappa on certainty",
     "radtriage.tasks.lge_certainty.ratings", "add_evaluate_ratings_arguments", "run_evaluate_ratings"),
    ("detection", "CMB detection FROC on phantoms or a folder of scans with truth JSON",
     "radtriage.tasks.cmb_detect", "add_evaluate_detection_arguments", "run_evaluate_detection"),
    ("localisation", "MRI triage heatmaps: pointing game (peak within 15 mm of the lesion) per output and method",
     "radtriage.tasks.mri_triage.localisation", "add_evaluate_localisation_arguments", "run_evaluate_localisation"),
    ("triage", "MRI triage on fresh MNI-anatomy phantoms: AUC and operating point per contrast subset, ablation",
     "radtriage.tasks.mri_triage.evidence", "add_evaluate_triage_arguments", "run_evaluate_triage"),
    ("body-region", "body-region per-slice agreement with TotalSegmentator-derived truth, beside Raffy 2021",
     "radtriage.tasks.body_region.evaluate", "add_evaluate_body_region_arguments", "run_evaluate_body_region"),
)


def _add_delegated(
    sub: Any, name: str, help_text: str, module: str, add_arguments: str, run: str, load: bool
) -> None:
    """Add subcommand ``name`` whose arguments and runner come from ``module``.

    ``module`` is imported only when ``load`` is true (the command being run), so other commands don't pay for
    its imports (scipy, matplotlib, ...) at start-up — every Slicer background job starts this CLI.
    """
    parser = sub.add_parser(name, help=help_text)
    if load:
        import importlib

        target = importlib.import_module(module)
        getattr(target, add_arguments)(parser)
        parser.set_defaults(func=getattr(target, run))


def _list_options_in_help(parser: argparse.ArgumentParser) -> None:
    """Append every task's declared options to ``parser``'s ``--help`` (read only when help is shown)."""
    plain = parser.format_help

    def format_help() -> str:
        from radtriage.tasks.options import options_help

        return plain() + "\n" + options_help() + "\n"

    parser.format_help = format_help  # type: ignore[method-assign]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``radtriage`` command.

    ``command`` names the subcommand about to run: only its module is imported (None imports them all).
    """
    parser = argparse.ArgumentParser(prog="radtriage", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="load an image file or DICOM series and describe its geometry and contrast")
    p.add_argument("path", help="NIfTI/NRRD/MHA file, a DICOM file or a DICOM folder")
    p.add_argument("--series", help="SeriesInstanceUID to pick when a folder holds several series")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("scan", help="group the DICOM files under a folder into patient / study / series")
    p.add_argument("folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser("models", help="list the model bundles found")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--networks", action="store_true",
                   help="list the network classes a bundle's network_def may name instead")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("phantom", help="write procedural phantom cases with ground truth")
    p.add_argument("kind", choices=["brain", "swi", "lge", "body-ct", "body-mr"])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    p.set_defaults(func=_cmd_phantom)

    p = sub.add_parser("infer", help="run one task on one study / volume and write result.json plus volumes")
    p.add_argument("--task", required=True, help="mri_triage, cmb_detect, lge_certainty or body_region")
    p.add_argument("--input", required=True, nargs="+", help="PATH or KEY=PATH (KEY e.g. a contrast name)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--bundle", help="model bundle name (default: the newest valid bundle for the task)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                   help="text lines, JSON lines, none, or auto (JSON in a background job, text on a terminal)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="task option, e.g. decision_threshold=0.4 or certainty_band=[30,70] (repeatable; each "
                        "task's options and allowed values: radtriage options TASK, and below)")
    p.add_argument("--series", action="append", metavar="[KEY=]UID",
                   help="SeriesInstanceUID to read when an input folder holds several series (KEY=UID: that input)")
    p.add_argument("--dicom-out", metavar="DIR", help="also write a DICOM SR (+ SEG of the volumes) into DIR "
                                                      "(DICOM input, or --dicom-source)")
    p.add_argument("--dicom-source", action="append", metavar="KEY=DICOM_FOLDER",
                   help="the DICOM series a volume-file input was exported from (e.g. by Slicer): the SR and SEG "
                        "reference its instances; its slices must lie on the input's grid (repeatable)")
    p.set_defaults(func=_cmd_infer)
    _list_options_in_help(p)

    p = sub.add_parser("options", help="list each task's options: name, allowed values, default, help")
    p.add_argument("task", nargs="?", help="one task (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_options)

    for name, help_text, module, add_arguments, run in DELEGATED_COMMANDS:
        _add_delegated(sub, name, help_text, module, add_arguments, run, command in (None, name))

    p = sub.add_parser("evaluate", help="evaluation reports: classification, detection FROC, reader agreement")
    evaluate = p.add_subparsers(dest="evaluate_command", required=True)
    for name, help_text, module, add_arguments, run in EVALUATE_COMMANDS:
        _add_delegated(evaluate, name, help_text, module, add_arguments, run, command in (None, "evaluate"))

    p = sub.add_parser("bench", help="time every task on phantoms of realistic sizes against the project targets")
    p.add_argument("--task", action="append", help="task to benchmark (repeatable; default: all with a benchmark)")
    p.add_argument("--repeats", type=int, default=5, help="runs per stage; the median is reported")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--json-out", help="also write the report as JSON to this file")
    p.add_argument("--dicom-node", action="store_true", help="instead: last instance received -> SR in the PACS, "
                                                             "per task, through radtriage listen (Orthanc if present)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("demo", help="run the embedded demo on phantom cases and write a report and a Slicer scene")
    p.add_argument("--out", default="radtriage-demo", help="output folder (default: ./radtriage-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
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
