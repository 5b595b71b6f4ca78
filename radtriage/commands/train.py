"""``radtriage train``: train a model bundle from a MONAI-style datalist (JSON/CSV)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from radtriage.commands.common import at_least, print_json
from radtriage.preprocess.patch import NORMALIZE_MODES, RESIZE_MODES
from radtriage.runtime.events import PROGRESS_MODES
from radtriage.task_specs import TASKS
from radtriage.training.from_options import CONFIG_FIELDS, train_from_args
from radtriage.training.settings import KINDS, MONITORS, AugmentConfig


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"features\": 8}'")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``radtriage train`` options to ``parser`` (a subparser); returns it."""
    p = parser
    p.add_argument(
        "datalist",
        help="MONAI decathlon-style JSON ('training'/'validation'/'test') or CSV datalist "
        "(columns image[,image2...], label or one column per class, patient_id[, split])",
    )
    p.add_argument("--task", required=True, choices=list(TASKS), help="the radtriage task the bundle is for")
    p.add_argument(
        "--network",
        default="monai.networks.nets.DenseNet121",
        help="allow-listed network class (registered name or monai.networks.nets.X)",
    )
    p.add_argument(
        "--network-args",
        type=_json_object,
        default={},
        metavar="JSON",
        help="extra constructor arguments; channel/dimension arguments are filled in",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder; the bundle goes to <out>/<name>-<version>")
    p.add_argument("--name", help="bundle name (default <task>-custom); a new run gets the next version")
    p.add_argument("--first-version", default="0.1.0", help="version of the first bundle of this name")
    p.add_argument("--description", default="", help="one-line description for the metadata and model card")
    p.add_argument("--demo", action="store_true", help="mark the bundle a demo model, not for clinical use")
    p.add_argument("--kind", choices=KINDS, help="training kind (default from the task: multilabel, multiclass, score)")
    p.add_argument("--class-names", nargs="+", metavar="NAME", help="class names in output order (default: inferred)")
    p.add_argument("--contrasts", nargs="+", metavar="NAME", help="name of each input channel, e.g. T1 FLAIR")
    p.add_argument("--modality", default="MR", choices=["MR", "CT"])
    p.add_argument("--spacing", nargs="+", type=float, metavar="MM", help="voxel spacing the inputs are expected at")
    p.add_argument("--patch-size", nargs="+", type=int, default=[64, 64], metavar="N", help="2 or 3 sizes")
    p.add_argument(
        "--resize", choices=RESIZE_MODES, default="resize", help="reach the patch size by resize or crop/pad"
    )
    p.add_argument("--normalize", choices=NORMALIZE_MODES, default="zscore")
    p.add_argument("--loader", help="name of a registered image loader (default: read_image)")
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--test-fraction", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", dest="max_epochs", type=at_least(int, 1), default=50, help="maximum number of epochs")
    p.add_argument("--batch-size", type=at_least(int, 1), default=8)
    p.add_argument("--lr", dest="learning_rate", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs (0: off)")
    p.add_argument("--min-delta", type=float, default=0.0, help="smallest improvement that resets the patience")
    p.add_argument("--evidence-weight", type=at_least(float, 0.0), default=1.0,
                   help="weight of the dense evidence loss when the datalist gives label_map volumes (0: off)")
    p.add_argument("--monitor", choices=MONITORS, default="metric", help="validation metric or loss for early stopping")
    p.add_argument("--no-balance", dest="balance", action="store_false", help="plain shuffling, no class balancing")
    p.add_argument("--no-augment", dest="augment_enabled", action="store_false", help="no training augmentation")
    p.add_argument(
        "--augment",
        dest="augment_settings",
        type=_json_object,
        default={},
        metavar="JSON",
        help=f"augmentation settings, keys: {', '.join(f.name for f in fields(AugmentConfig))}",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="probability operating point (multilabel)")
    p.add_argument("--score-max", type=float, default=100.0, help="top of the score scale (score kind)")
    p.add_argument("--positive-at", type=float, default=50.0, help="score counted positive from here (score kind)")
    p.add_argument("--certainty-band", nargs=2, type=float, metavar=("LOW", "HIGH"))
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--workers", dest="num_workers", type=at_least(int, 0), default=0,
                   help="data loader worker processes")
    p.add_argument("--no-cache", dest="cache", action="store_false", help="load images on every access")
    p.add_argument("--checkpoint-dir", type=Path, help="default <out>/<name>.checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--init-bundle", type=Path, help="warm start (fine-tune) from this bundle's verified weights")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                   help="text (a bar), JSON lines, none, or auto (JSON in a background job, text on a terminal)")
    p.add_argument("--bootstrap", dest="n_bootstrap", type=at_least(int, 1), default=1000,
                   help="bootstrap resamples for CIs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """What ``radtriage train`` runs: train from the parsed ``args`` and report the bundle (JSON ``result`` event
    when run as a background job)."""
    from radtriage.runtime.events import OUTPUT_DIR_ENV, emit_result

    wanted = CONFIG_FIELDS | {"augment_enabled", "augment_settings"}
    values = {k: v for k, v in vars(args).items() if k in wanted and k not in ("task", "network", "out_dir")}
    result = train_from_args(args.datalist, args.task, args.network, args.out, **values)
    if os.environ.get(OUTPUT_DIR_ENV):
        emit_result({"bundle": str(result.bundle_path)}, version=result.version)
    elif getattr(args, "json", False):
        print_json(result.to_dict())
    else:
        print(
            f"bundle {result.bundle_path} (version {result.version}; best epoch {result.fit.best_epoch} of "
            f"{result.fit.epochs_run}{', stopped early' if result.fit.stopped_early else ''})"
        )
    return 0
