#!/usr/bin/env python
"""Train an LGE likelihood (+ certainty, when readers' ratings are given) bundle from 2D slices.

Data: an ``images/`` + ``masks/`` PNG folder (EMIDEC layout; LGE = any mask pixel 3 or 4) or a CSV
(``image, patient, label`` and/or ``rating_<reader>``, optional ``pixel_mm``). Splits are by patient.

    # the EMIDEC recipe (evaluation / recipe test only; the bundle carries CC BY-NC-SA 4.0 and stays outside
    # radtriage/bundles/):
    nice -n 10 .venv/bin/python scripts/train_lge_slices.py --data ../shared/data/EMIDEC --pixel-mm 1.5 \\
        --licence "CC BY-NC-SA 4.0 (EMIDEC)" --out /tmp/lge-emidec --cv 5

``--cv K`` first runs patient-level K-fold cross-validation (out-of-fold AUC with a patient-bootstrap CI,
written to ``<out>/cv.json``), then trains the bundle on a 70/15/15 patient split.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radtriage.evaluation import to_plain  # noqa: E402
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule  # noqa: E402
from radtriage.tasks.lge_certainty.prep import SlicePrep  # noqa: E402
from radtriage.tasks.lge_certainty.slices import load_slices  # noqa: E402
from radtriage.tasks.lge_certainty.train import LgeTrainSettings, cross_validate, train_lge_bundle  # noqa: E402

SHIPPED = (ROOT / "radtriage" / "bundles").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="images/+masks/ folder or CSV")
    parser.add_argument("--out", required=True, help="output folder (never radtriage/bundles for licensed data)")
    parser.add_argument("--name", default="lge-certainty-slices")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--licence", default=None, help="licence of the training data (stored in the bundle)")
    parser.add_argument("--pixel-mm", type=float, default=1.5, help="pixel size when the data has none")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patch", type=int, default=64, help="network input pixels (field of view --fov-mm)")
    parser.add_argument("--fov-mm", type=float, default=144.0)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--cv", type=int, default=0, help="patient-level K-fold CV first (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--band", nargs=2, type=float, default=(30.0, 70.0), metavar=("LO", "HI"))
    parser.add_argument("--max-disagreement", type=float, default=30.0)
    parser.add_argument("--no-bundle", action="store_true", help="only cross-validate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = Path(args.out).resolve()
    if args.licence and (out == SHIPPED or SHIPPED in out.parents):
        parser.error("a bundle trained on licensed data must not be written into radtriage/bundles/")
    settings = LgeTrainSettings(epochs=args.epochs, seed=args.seed, threads=args.threads,
                                default_pixel_mm=args.pixel_mm, patience=args.patience,
                                prep=SlicePrep(fov_mm=args.fov_mm, patch=args.patch),
                                rule=ReaderCertaintyRule(args.band[0], args.band[1], args.max_disagreement))
    records = load_slices(args.data)
    print(f"{len(records)} slices, {len({r.patient for r in records})} patients, "
          f"{sum(r.truth() for r in records)} LGE")
    out.mkdir(parents=True, exist_ok=True)
    if args.cv:
        cv = cross_validate(records, settings, args.cv)
        (out / "cv.json").write_text(json.dumps(to_plain(cv), indent=2) + "\n")
        auc = cv["roc_auc"]
        print(f"CV AUC {auc['value']:.3f} (95% CI {auc['ci'][0]:.3f}-{auc['ci'][1]:.3f}), "
              f"accuracy@50 {cv['accuracy_at_50']:.3f}, {cv['seconds']:.0f} s")
    if not args.no_bundle:
        note = f"{len(records)} slices from {args.data}" + (f"; licence {args.licence}" if args.licence else "")
        folder, report = train_lge_bundle(
            records, out, settings, name=args.name, version=args.version, demo=True, licence=args.licence,
            data_note=note,
            description="Research recipe, not for clinical use: per-slice LGE likelihood 0-100 trained on 2D slices.",
        )
        (folder / "docs" / "training.json").write_text(json.dumps(to_plain(report), indent=2) + "\n")
        print(f"bundle: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
