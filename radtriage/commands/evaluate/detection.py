"""``radtriage evaluate detection``: CMB detection FROC on phantoms or a folder of scans with truth JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from radtriage.tasks.cmb_detect.evaluate import (
    DEFAULT_MATCH_MM,
    evaluate_scans,
    folder_scans,
    operating_point_line,
    phantom_scans,
    write_evaluation,
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``radtriage evaluate detection``."""
    parser.add_argument("--bundle", default=None, help="cmb_detect bundle name or folder (default: newest installed)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--phantoms", type=int, default=None, metavar="N", help="evaluate on N seeded SWI phantoms")
    src.add_argument("--scans", type=Path, default=None, metavar="DIR",
                     help="folder of NAME.nii.gz scans with NAME.truth.json")
    parser.add_argument("--first-seed", type=int, default=10_000, help="seed of the first phantom")
    parser.add_argument("--match-mm", type=float, default=DEFAULT_MATCH_MM, help="hit distance in mm")
    parser.add_argument("--no-phase", action="store_true", help="ignore phase images (magnitude only)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, required=True, help="folder for cmb_froc.json and cmb_froc.png")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the evaluation the parsed ``args`` ask for; prints the sensitivity at 0.5/1/2/4 FP per scan."""
    from radtriage.tasks.cmb_detect.detector import CmbPipeline

    pipeline = CmbPipeline.from_bundle(args.bundle, args.device)
    if args.scans is not None:
        scans = folder_scans(args.scans)
    else:
        n = 10 if args.phantoms is None else int(args.phantoms)
        scans = phantom_scans(range(args.first_seed, args.first_seed + n))
    result = evaluate_scans(pipeline, scans, args.match_mm, use_phase=not args.no_phase)
    result["bundle"] = dict(pipeline.bundle_info)
    paths = write_evaluation(result, args.output)
    points = ", ".join(f"{p['fp_per_scan']:g} FP: {p['sensitivity']:.2f}" for p in result["sensitivity_at_fp"]
                       if p["sensitivity"] is not None)
    print(f"FROC on {len(scans)} scan(s): {points or 'no lesions'}; wrote {paths['json']}")
    print(operating_point_line(result["operating_point"]))
    return 0
