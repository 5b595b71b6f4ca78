"""``radtriage train-body-region``: train a body-region bundle on scans + TotalSegmentator label maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from radtriage.commands.common import at_least
from radtriage.tasks.body_region.cohort import train_cohort


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage train-body-region``."""
    parser.add_argument("--images", type=Path, required=True, help="folder of scans (files or DICOM folders)")
    parser.add_argument("--segmentations", type=Path, required=True,
                        help="folder of TotalSegmentator label maps, one per scan, same name")
    parser.add_argument("--modality", choices=["CT", "MR"], required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder the new bundle is written into")
    parser.add_argument("--epochs", type=at_least(int, 1), default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="bundle name (default body-region-<ct|mr>-cohort)")
    parser.add_argument("--device", default="cpu")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train on the cohort the arguments name; prints the bundle folder."""
    target = train_cohort(args.images, args.segmentations, args.modality, args.out, epochs=args.epochs,
                          seed=args.seed, name=args.name, device=args.device)
    print(f"bundle: {target}")
    return 0
