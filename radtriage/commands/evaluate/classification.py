"""``radtriage evaluate classification``: metrics, plots and a JSON summary from a predictions CSV."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from radtriage.commands.common import at_least
from radtriage.errors import InputError
from radtriage.evaluation.headline import headline_table
from radtriage.io.acquisition import SUBGROUP_COLUMNS
from radtriage.seed_papers import SEED_PAPERS


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage evaluate classification``."""
    parser.add_argument("csv", type=Path, help="predictions CSV, one row per case")
    parser.add_argument("--truth", required=True, help="column with the true label (0/1, or a class name)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--score", help="binary: column with the predicted probability of the positive class")
    group.add_argument("--predicted", help="multi-class: column with the predicted class name")
    parser.add_argument("--threshold", type=float, default=0.5, help="binary operating point (default 0.5)")
    parser.add_argument("--classes", nargs="+", help="multi-class: class names in order (default: sorted labels)")
    parser.add_argument("--bootstrap", type=at_least(int, 1), default=2000, help="bootstrap resamples for the AUC CI")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="output folder for metrics.json and PNG plots")
    parser.add_argument("--by", nargs="+", default=[], metavar="COLUMN",
                        help="also report the metrics per value of these columns, e.g. the acquisition subgroups "
                             f"radtriage batch writes: {' '.join(SUBGROUP_COLUMNS)}")
    parser.add_argument("--seed-paper", choices=sorted(SEED_PAPERS), default=None,
                        help="print the seed paper's reported figures beside ours")
    return parser


def _read_columns(path: Path, columns: list[str]) -> dict[str, list[str]]:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the predictions CSV: {exc}") from exc
    if not rows:
        raise InputError(path, "the predictions CSV has no rows")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; columns are {', '.join(rows[0])}")
    return {c: [row[c] for row in rows] for c in columns}


def _floats(path: Path, column: str, values: list[str]) -> list[float]:
    out = []
    for n, value in enumerate(values, start=2):
        try:
            out.append(float(value))
        except ValueError:
            raise InputError(path, f"row {n}, column {column}: {value!r} is not a number") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Evaluate a predictions CSV; writes ``metrics.json`` and the plots into ``args.out``."""
    from radtriage.evaluation import evaluate_binary, evaluate_multiclass, write_plots, write_summary
    from radtriage.evaluation.subgroups import by_subgroup

    by = list(dict.fromkeys(getattr(args, "by", None) or []))
    if args.score:
        cols = _read_columns(args.csv, [args.truth, args.score, *by])
        truth = [int(v) for v in _floats(args.csv, args.truth, cols[args.truth])]
        scores = _floats(args.csv, args.score, cols[args.score])

        def evaluate(rows: list[int]) -> dict[str, Any]:
            return evaluate_binary([truth[i] for i in rows], [scores[i] for i in rows], args.threshold,
                                   n_bootstrap=args.bootstrap, seed=args.seed)
    else:
        cols = _read_columns(args.csv, [args.truth, args.predicted, *by])
        classes = args.classes or sorted(set(cols[args.truth]) | set(cols[args.predicted]))

        def evaluate(rows: list[int]) -> dict[str, Any]:
            return evaluate_multiclass([cols[args.truth][i] for i in rows], [cols[args.predicted][i] for i in rows],
                                       classes)
    metrics: dict[str, Any] = evaluate(list(range(len(cols[args.truth]))))
    if by:
        metrics["subgroups"] = {column: by_subgroup(cols[column], evaluate) for column in by}
    if getattr(args, "seed_paper", None):
        metrics["seed_paper"] = SEED_PAPERS[args.seed_paper].to_dict()
    summary = write_summary(metrics, args.out)
    plots = write_plots(metrics, args.out)
    print(summary)
    for plot in plots:
        print(plot)
    print(headline_table(metrics))
    return 0
