"""``radtriage doctor``: the Slicer modules' dependency check: what is missing, the install plan, offline or not."""

from __future__ import annotations

import argparse
import json

from radtriage.doctor import diagnose, format_report


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``radtriage doctor`` options."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON (schema: radtriage.doctor)")
    parser.add_argument("--no-network", action="store_true", help="do not probe the package sources")
    parser.add_argument("--torch-extension", choices=["auto", "yes", "no"], default="auto",
                        help="plan torch through Slicer's PyTorch extension (auto: when PyTorchUtils is importable)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the report; 0 when nothing is missing, 1 otherwise."""
    report = diagnose(torch_extension=args.torch_extension, network=not args.no_network)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["ok"] else 1
