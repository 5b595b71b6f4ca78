"""``radtriage labels ...``: list current labels, show history, reader agreement and progress from a store."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from radtriage.commands.common import print_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``labels`` sub-commands (list, history, agreement, progress, schemas) to ``parser``."""
    sub = parser.add_subparsers(dest="labels_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("store", help="project folder, .sqlite file or postgresql:// URL of the annotation store")
        p.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (("list", "current labels"), ("history", "every history entry, retractions included")):
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("--case", help="only this case id")
        p.add_argument("--reader", help="only this reader id")
        p.add_argument("--schema", help="only this label schema")

    p = sub.add_parser("agreement", help="inter-reader agreement for one label schema (JSON)")
    common(p)
    p.add_argument("--schema", required=True, help="label schema, e.g. mri_normal_abnormal")
    p.add_argument("--readers", help="comma-separated reader ids (default: all with labels)")

    p = sub.add_parser("progress", help="done / remaining cases per reader for a case list")
    common(p)
    p.add_argument("--cases", required=True, help="case list: folder, CSV file or DICOM folder")
    p.add_argument("--kind", default="auto", choices=("auto", "folder", "csv", "dicom"))
    p.add_argument("--schemas", help="comma-separated schemas a case needs to count as done (default: any)")

    p = sub.add_parser("schemas", help="the label schemas in the store")
    common(p)
    return parser


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run(args: argparse.Namespace) -> int:
    """Run one ``labels`` sub-command; returns the exit code."""
    from radtriage.annotations.store import open_store

    with open_store(args.store) as store:
        out: Any
        if args.labels_command in ("list", "history"):
            read = store.current_labels if args.labels_command == "list" else store.history
            entries = read(case_id=args.case, reader_id=args.reader, schema=args.schema)
            if not args.json:
                for e in entries:
                    value = "RETRACTED" if e.action == "retract" else json.dumps(e.value)
                    print(
                        f"{e.entry_id:>6} {e.created_at} {e.case_id} {e.reader_id} {e.schema} "
                        f"{e.target or '-'} {value} [{e.model_version}]"
                    )
                return 0
            out = [asdict(e) for e in entries]
        elif args.labels_command == "agreement":
            from radtriage.annotations.agreement import store_agreement
            from radtriage.evaluation import to_plain

            out = to_plain(store_agreement(store, args.schema, _split(args.readers)))
        elif args.labels_command == "progress":
            from radtriage.annotations.caselist import open_case_list
            from radtriage.annotations.progress import progress

            out = progress(open_case_list(args.cases, args.kind), store, schemas=_split(args.schemas))
            if not args.json:
                for reader, p in out.items():
                    print(f"{reader}: {p['done']} done, {p['remaining']} remaining of {p['total']}")
                return 0
        else:
            out = [s.to_definition() for s in store.schemas()]
            if not args.json:
                for s in store.schemas():
                    print(f"{s.name:<24} task {s.task:<14} {s.kind:<10} target {s.target}")
                return 0
        print_json(out)
    return 0
