"""``radtriage evaluate localisation``: the pointing game of the MRI triage heatmaps on fresh lesion phantoms."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from radtriage.tasks.mri_triage.localisation import DEFAULT_METHODS, HIT_MM, pointing_game


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``radtriage evaluate localisation``."""
    parser.add_argument("--bundle", default=None, help="mri_triage bundle name or folder (default: newest installed)")
    parser.add_argument("--phantoms", type=int, default=8, help="fresh phantoms per finding (default 8)")
    parser.add_argument("--first-seed", type=int, default=777_000, help="seed of the first phantom")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="saliency methods (default: evidence when the network writes evidence maps, then "
                        f"{', '.join(DEFAULT_METHODS)}); METHOD@LAYER picks a Grad-CAM layer, METHOD@all every layer")
    parser.add_argument("--hit-mm", type=float, default=HIT_MM, help="hit distance in mm (default 15)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, required=True, help="folder for localisation.json")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the pointing game the arguments ask for; prints one line per output and method."""
    from radtriage.evaluation.report import to_plain
    from radtriage.saliency import EVIDENCE, METHODS
    from radtriage.tasks.mri_triage.model import TriageModel

    for text in args.methods or ():
        if text.partition("@")[0] not in (*METHODS, EVIDENCE):
            from radtriage.errors import RadTriageError

            raise RadTriageError(f"--methods {text}: use one of {', '.join((*METHODS, EVIDENCE))} "
                                 "(optionally @LAYER or @all)")
    model = TriageModel.from_bundle(args.bundle, args.device)
    seeds = range(args.first_seed, args.first_seed + int(args.phantoms))
    result = pointing_game(model, seeds, args.methods, hit_mm=args.hit_mm)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "localisation.json"
    path.write_text(json.dumps(to_plain(result), indent=2) + "\n")
    for output, by_method in result["outputs"].items():
        for key, row in by_method.items():
            game, median = row["pointing_game"], row["median_peak_distance_mm"]
            print(f"{output:<18} {key:<28} pointing game {game['count']}/{game['of']} = {game['value']:.2f} "
                  f"(95% CI {game['ci_low']:.2f}-{game['ci_high']:.2f}), median peak distance "
                  + ("n/a" if median is None else f"{median:.0f} mm"))
    print(f"wrote {path}")
    return 0
