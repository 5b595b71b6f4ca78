"""``radtriage simulate``: replay study arrivals: first-come vs triaged reading, time-to-report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from radtriage.tasks.mri_triage.simulation import compare_orders, format_comparison, read_arrivals, read_urgency


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of the reading-order simulation command."""
    parser.add_argument("arrivals", help="CSV with study, arrival_time (minutes or ISO date-time), abnormal "
                                         "(truth 0/1) and optionally urgency")
    parser.add_argument("--worklist", help="worklist.csv/json from 'radtriage triage' giving each study's urgency")
    parser.add_argument("--reading-minutes", type=float, default=10.0, help="reading time per study (default 10)")
    parser.add_argument("--readers", type=int, default=1, help="number of readers (default 1)")
    parser.add_argument("--json-out", help="also write the full comparison as JSON here")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the simulation from parsed ``args``; prints the comparison table."""
    urgency = read_urgency(args.worklist) if getattr(args, "worklist", None) else None
    arrivals = read_arrivals(args.arrivals, urgency)
    result = compare_orders(arrivals, args.reading_minutes, args.readers)
    print(format_comparison(result))
    if getattr(args, "json_out", None):
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0
