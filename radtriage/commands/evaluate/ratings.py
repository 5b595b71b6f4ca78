"""``radtriage evaluate ratings``: two readers' 0-100 slice ratings: Bland-Altman, ICC, kappa on certainty."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from radtriage.errors import InputError
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule
from radtriage.tasks.lge_certainty.ratings import (
    RatingSheet,
    agreement_report,
    inter_reader_certainty,
    model_certainty_report,
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage evaluate ratings``."""
    parser.add_argument("--a", required=True, help="reader A's rating sheet (JSON)")
    parser.add_argument("--b", required=True, help="reader B's rating sheet (JSON)")
    parser.add_argument("--out", required=True, help="output folder for agreement.json and the plots")
    parser.add_argument(
        "--band",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="certainty band (default: reader A's sheet, else 30 70)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="an lge_certainty result.json: adds the seed's certainty-class metrics of the model vs the readers",
    )
    parser.add_argument(
        "--max-disagreement",
        type=float,
        default=30.0,
        help="readers differing by more than this make a slice low certainty (with --model; default 30)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Write ``agreement.json``, ``bland_altman.png`` and ``certainty_agreement.png`` into ``args.out``."""
    from radtriage.evaluation import write_plots, write_summary

    a, b = RatingSheet.load(args.a), RatingSheet.load(args.b)
    band = tuple(args.band) if getattr(args, "band", None) else None
    try:
        report = agreement_report(a, b, band)
    except ValueError as exc:
        raise InputError(args.b, str(exc)) from exc
    report["inter_reader_certainty"] = inter_reader_certainty(
        [a.ratings[k]["rating"] for k in report["slice_keys"]],
        [b.ratings[k]["rating"] for k in report["slice_keys"]],
        tuple(report["certainty_band"]),
    )
    if getattr(args, "model", None):
        try:
            result = json.loads(Path(args.model).read_text(encoding="utf-8"))
            slices = (result.get("outputs") or result)["slices"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(args.model, f"not an lge_certainty result.json: {exc}") from exc
        lo, hi = report["certainty_band"]
        rule = ReaderCertaintyRule(lo, hi, float(getattr(args, "max_disagreement", 30.0)))
        try:
            report["model_certainty"] = model_certainty_report(a, b, slices, rule)
        except ValueError as exc:
            raise InputError(args.model, str(exc)) from exc
    out = Path(args.out)
    path = write_summary(report, out, "agreement.json")
    plots = write_plots(report, out)
    print(path)
    for p in plots:
        print(p)
    return 0
