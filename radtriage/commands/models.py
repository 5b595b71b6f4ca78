"""``radtriage models``: list the model bundles found (or the network classes a bundle may name)."""

from __future__ import annotations

import argparse

from radtriage.commands.common import print_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--networks", action="store_true",
                        help="list the network classes a bundle's network_def may name instead")
    return parser


def run(args: argparse.Namespace) -> int:
    from radtriage.models import allowed_network_names, list_bundles
    from radtriage.models.registry import default_bundles

    if args.networks:
        names = allowed_network_names()
        if args.json:
            print_json(names)
        else:
            print("\n".join(names))
        return 0
    bundles = list_bundles()
    defaults = {str(b.path) for b in default_bundles(bundles)}
    rows = [{**b.to_dict(), "default": str(b.path) in defaults} for b in bundles]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no model bundles found (searched the package's bundles/, the user folder, $RADTRIAGE_MODEL_DIR)")
        return 0
    for row in rows:
        flag = ("default, " if row["default"] else "") + ("DEMO, not for clinical use" if row.get("demo") else "")
        state = "ok" if row.get("valid") else f"INVALID: {row.get('reason')}"
        print(f"{row['task']:<14} {row['name']:<28} v{row['version']:<8} {state:<10} {flag}  {row['path']}")
    return 0
