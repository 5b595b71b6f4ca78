"""``radtriage evaluate body-region``: per-slice agreement with TotalSegmentator-derived truth, beside Raffy 2021."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from radtriage.tasks.body_region import evaluate as body_region_evaluation
from radtriage.tasks.body_region.evaluate import SHARED_CASES, RealCase, evaluate_case, format_table


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage evaluate body-region``."""
    parser.add_argument("--shared-data", type=Path, default=None,
                        help="folder with the TotalSegmentator examples (default: $RADTRIAGE_SHARED_DATA or "
                             "../shared/data)")
    parser.add_argument("--image", type=Path, action="append", default=[],
                        help="a scan of your own (repeat, with one --segmentation each)")
    parser.add_argument("--segmentation", type=Path, action="append", default=[],
                        help="its TotalSegmentator label map (total task for CT, total_mr for MR), same grid")
    parser.add_argument("--modality", choices=["CT", "MR"], default="CT", help="modality of --image scans")
    parser.add_argument("--patient", action="append", default=[],
                        help="patient of each --image (repeat, one per image; scans of one patient are one "
                             "cluster for the patient-level figures); default: each scan its own patient")
    parser.add_argument("--bundle", default=None, help="body-region bundle name or folder (default: newest)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json-out", type=Path, default=None,
                        help="also write JSON: per scan (its per-slice labels and truth) and the pooled summary")
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate the cases the arguments name; prints the table (and writes JSON when asked)."""
    from radtriage.bench.real_data import shared_data_dir
    from radtriage.errors import RadTriageError

    if len(args.image) != len(args.segmentation):
        raise RadTriageError("give one --segmentation per --image")
    if args.image:
        cases = [RealCase(Path(i).name, str(Path(i).resolve()), str(Path(s).resolve()), args.modality)
                 for i, s in zip(args.image, args.segmentation, strict=True)]
        root = Path("/")
    else:
        found = args.shared_data or shared_data_dir()
        if found is None:
            raise RadTriageError("no shared data folder: pass --shared-data DIR or --image/--segmentation pairs")
        cases, root = list(SHARED_CASES), Path(found)
    from radtriage.tasks.body_region.paper_metrics import format_summary, summarise

    if args.patient and len(args.patient) != len(args.image):
        raise RadTriageError("give one --patient per --image (or none: each scan its own patient)")
    cases = [replace(c, patient=p) for c, p in zip(cases, args.patient, strict=True)] if args.patient else cases
    rows = [evaluate_case(c, root, args.bundle, args.device) for c in cases]
    summary = summarise(rows)
    print(format_table(rows))
    print(format_summary(summary))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"scans": rows, "summary": summary}, indent=2) + "\n",
                                       encoding="utf-8")
    return 0


if __name__ == "__main__":  # python -m radtriage.commands.evaluate.body_region
    description = body_region_evaluation.__doc__.split("\n\n")[0]
    raise SystemExit(run(add_arguments(argparse.ArgumentParser(description=description)).parse_args()))
