"""``radtriage options``: list each task's options: name, allowed values, default, help."""

from __future__ import annotations

import argparse

from radtriage.commands.common import print_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("task", nargs="?", help="one task (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.tasks.options import declared_options, options_help

    if args.json:
        from radtriage.tasks import TASKS

        tasks = [args.task] if args.task else list(TASKS)
        print_json({t: [o.to_dict() for o in declared_options(t)] for t in tasks})
    else:
        print(options_help(args.task))
    return 0
