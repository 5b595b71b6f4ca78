"""``radtriage demo``: run the embedded demo on phantom cases and write a report and a Slicer scene."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", default="radtriage-demo", help="output folder (default: ./radtriage-demo)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.demo import run_demo

    report = run_demo(Path(args.out), seed=args.seed)
    print(f"demo report: {report}")
    return 0
