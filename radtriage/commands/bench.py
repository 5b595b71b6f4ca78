"""``radtriage bench``: time every task on phantoms of realistic sizes against the project targets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = parser
    p.add_argument("--task", action="append", help="task to benchmark (repeatable; default: all with a benchmark)")
    p.add_argument("--repeats", type=int, default=5, help="runs per stage; the median is reported")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--json-out", help="also write the report as JSON to this file")
    p.add_argument("--dicom-node", action="store_true", help="instead: last instance received -> SR in the PACS, "
                                                             "per task, through radtriage listen (Orthanc if present)")
    return p


def run(args: argparse.Namespace) -> int:
    from radtriage.bench import format_report, run_benchmarks

    if args.dicom_node:
        from radtriage.bench.dicom_node import format_node_report, run_node_benchmark
        from radtriage.dicom_node.requirements import require_node_packages

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
