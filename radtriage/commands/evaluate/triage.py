"""``radtriage evaluate triage``: the MRI triage model on fresh MNI-anatomy phantoms, and which evidence it uses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from radtriage.tasks.mri_triage.evidence import EVAL_GRID, FIRST_SEED, markdown, run_phantoms, summarise


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage evaluate triage``."""
    parser.add_argument("--bundle", default=None, help="mri_triage bundle name or folder (default: newest installed)")
    parser.add_argument("--phantoms", type=int, default=40, help="fresh phantoms (default 40)")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="seed of the cohort")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, required=True, help="folder for triage_phantoms.json")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; print the tables and write ``triage_phantoms.json``."""
    from radtriage.errors import RadTriageError
    from radtriage.evaluation.report import to_plain
    from radtriage.tasks.mri_triage.model import TriageModel

    if args.phantoms < 4:
        raise RadTriageError(f"--phantoms {args.phantoms}: use at least 4 (one of each finding type)")
    model = TriageModel.from_bundle(args.bundle, args.device)
    records = run_phantoms(model, args.phantoms, args.first_seed)
    summary = summarise(records, model.thresholds, model.requirements)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "triage_phantoms.json"
    path.write_text(json.dumps(to_plain({"bundle": model.bundle_info, "first_seed": args.first_seed,
                                         "grid": EVAL_GRID, "summary": summary, "cases": records}), indent=2) + "\n")
    print(markdown(summary), end="")
    print(f"wrote {path}")
    return 0
