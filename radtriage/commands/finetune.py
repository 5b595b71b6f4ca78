"""``radtriage finetune``: fine-tune a task's bundle on an exported cohort; registers a new version."""

from __future__ import annotations

import argparse
from pathlib import Path

from radtriage.commands.common import at_least, print_json
from radtriage.training.finetune import finetune_bundle


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``radtriage finetune`` (an export folder and the bundle to start from)."""
    p = parser
    p.add_argument("export", type=Path, help="folder written by 'radtriage export' (datalist.json + datasheet.json)")
    p.add_argument("--base", required=True, help="bundle folder, or task[/name][@version] to look up")
    p.add_argument("--model-dir", type=Path, help="where the new version goes (default: the user model folder)")
    p.add_argument("--name", help="bundle name of the new version (default: the base bundle's name)")
    p.add_argument("--epochs", dest="max_epochs", type=at_least(int, 1), default=2)
    p.add_argument("--batch-size", type=at_least(int, 1), default=8)
    p.add_argument("--lr", dest="learning_rate", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--bootstrap", dest="n_bootstrap", type=at_least(int, 1), default=200,
                   help="bootstrap resamples for CIs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``radtriage finetune`` from parsed ``args``; prints the new bundle."""
    options = ("model_dir", "name", "max_epochs", "batch_size", "learning_rate", "seed", "device", "n_bootstrap")
    result = finetune_bundle(args.export, args.base, **{k: getattr(args, k) for k in options})
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"new bundle {result.bundle.name} {result.bundle.version} at {result.bundle.path} "
              f"(from {result.base.name} {result.base.version})")  # fmt: skip
    return 0
