"""``radtriage phantom``: write procedural phantom cases with ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("kind", choices=["brain", "swi", "lge", "body-ct", "body-mr"])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.phantom_export import export_phantom

    written = export_phantom(args.kind, Path(args.out), seed=args.seed, count=args.count)
    for path in written:
        print(path)
    return 0
