"""``radtriage infer``: run one task on one study / volume and write result.json plus volumes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from radtriage.commands.common import parse_inputs, parse_options, progress_printer
from radtriage.errors import InputError, RadTriageError
from radtriage.runtime.events import PROGRESS_MODES


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = parser
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
    return p


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


def run(args: argparse.Namespace) -> int:
    import os

    from radtriage.io import read_image
    from radtriage.runtime.events import OUTPUT_DIR_ENV, emit_result, resolve_progress
    from radtriage.tasks import run_task
    from radtriage.tasks.options import validate_options
    from radtriage.tasks.result import check_output_folder, probe_output_folder, write_result_staged

    mode = "json" if os.environ.get(OUTPUT_DIR_ENV) else resolve_progress(args.progress)  # a job's runner reads JSON
    as_job = mode == "json"
    progress = progress_printer(mode)
    paths = parse_inputs(args.input)
    options = validate_options(args.task, parse_options(args.option))  # refused before any work
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
