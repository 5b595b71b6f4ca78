#!/usr/bin/env python
"""Train the demo LGECertainty bundle on domain-randomised cardiac LGE phantoms (demo, not for clinical use).

One seeded command (CPU; see the model card for the time it took)::

    nice -n 10 .venv/bin/python scripts/train_demo_lge_certainty.py   # writes radtriage/bundles/lge-certainty-demo-<v>

As Zaman et al. 2024 (JCMR) train from readers: every phantom slice (:func:`radtriage.phantoms.make_lge_slice`
with ``randomize=True``: PSIR or magnitude appearance, nulling error, coil bias, ghosting, noise, resolution,
padded borders; grades none / clear / subtle in turn, random pixel size 0.9-2.2 mm) carries two simulated
blinded readers' 0-100 ratings. The likelihood target is their mean; the certainty class follows the
:class:`ReaderCertaintyRule` (low when the mean lies in [30, 70] or the readers differ by more than 30). A
two-head :class:`radtriage.nets.lge.LgeEfficientNetV2` is trained on a 70/15/15 split by phantom heart
(:func:`radtriage.tasks.lge_certainty.train.train_lge_bundle`), its likelihood temperature fitted on validation.
``--emidec DIR`` then scores real EMIDEC slices (evaluation only, never training) and writes the AUC into the card.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radtriage.evaluation import to_plain  # noqa: E402
from radtriage.phantoms import make_lge_slice  # noqa: E402
from radtriage.tasks.lge_certainty.slices import SliceRecord, load_slice_folder  # noqa: E402
from radtriage.tasks.lge_certainty.train import (  # noqa: E402
    LgeTrainSettings,
    evaluate_bundle_on_slices,
    train_lge_bundle,
)

log = logging.getLogger("train_demo_lge_certainty")

BUNDLE_NAME = "lge-certainty-demo"
GRADES = ("none", "clear", "subtle")
DESCRIPTION = (
    "DEMO, not for clinical use: per-slice LGE likelihood 0-100 (temperature-calibrated) and a learned high/low "
    "certainty head (trained from simulated readers' ratings), a tiny EfficientNetV2-style 2D network trained "
    "only on synthetic, domain-randomised cardiac LGE phantoms."
)


def phantom_records(n: int, seed: int, randomize: bool = True) -> list[SliceRecord]:
    """``n`` phantom slices with two simulated readers each (one heart per slice)."""
    rng = np.random.default_rng(seed)
    records = []
    for s in range(n):
        pixel = float(rng.uniform(0.9, 2.2))
        size = round(float(rng.uniform(150.0, 180.0)) / pixel)
        sl = make_lge_slice(10_000 * seed + s, GRADES[s % 3], size=(size, size), spacing=(pixel, pixel),
                            randomize=randomize)
        records.append(SliceRecord(f"phantom-{s}", f"lge-phantom-{s}", sl.image.array[0], pixel,
                                   int(sl.has_enhancement), dict(sl.reader_ratings)))
    return records


def emidec_section(report: dict) -> str:
    """Model-card markdown for the EMIDEC evaluation."""
    auc = report["roc_auc"]
    return (
        "\n## Real-data check: EMIDEC (evaluation only, never used for training)\n\n"
        f"- {report['n']} short-axis slices of {auc['n_patients']} EMIDEC patients ({auc['n_positive']} with LGE, "
        f"label: any infarct/no-reflow pixel), pixel size assumed {report['pixel_mm']} mm.\n"
        f"- Likelihood ROC AUC {auc['value']:.3f} (95% CI {auc['ci'][0]:.3f}-{auc['ci'][1]:.3f}, bootstrap over "
        f"patients); accuracy at 50: {report['accuracy_at_50']:.3f}; flagged low certainty: "
        f"{report['fraction_low_certainty']:.2f}.\n"
        "- EMIDEC (Lalande et al. 2020) is CC BY-NC-SA 4.0; only these numbers come from it, no weights.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "radtriage" / "bundles"), help="bundles folder")
    parser.add_argument("--n-slices", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default="0.2.0")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--emidec", default=None, help="EMIDEC images/+masks/ folder to evaluate on (optional)")
    parser.add_argument("--emidec-pixel-mm", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    t0 = time.monotonic()
    records = phantom_records(args.n_slices, args.seed)
    log.info("drew %d phantom slices in %.0f s", len(records), time.monotonic() - t0)
    settings = LgeTrainSettings(epochs=args.epochs, seed=args.seed, threads=args.threads, patience=5,
                                learning_rate=args.lr, batch_size=args.batch_size)
    note = (f"{len(records)} synthetic, domain-randomised short-axis LGE phantom slices (seed {args.seed}; "
            "grades none/clear/subtle), two simulated blinded readers per slice; no patient data.")
    with tempfile.TemporaryDirectory() as tmp:
        folder, report = train_lge_bundle(records, tmp, settings, name=BUNDLE_NAME, version=args.version,
                                          description=DESCRIPTION, demo=True, data_note=note)
        report["total_seconds"] = time.monotonic() - t0
        card = folder / "docs" / "README.md"
        if args.emidec:
            emidec = evaluate_bundle_on_slices(folder, load_slice_folder(args.emidec), args.emidec_pixel_mm)
            report["emidec"] = emidec
            card.write_text(card.read_text() + emidec_section(emidec))
        (folder / "docs" / "training.json").write_text(json.dumps(to_plain(report), indent=2) + "\n")
        target = Path(args.out) / folder.name
        if target.exists():
            import shutil

            shutil.rmtree(target)
        import shutil

        shutil.copytree(folder, target)
    print(f"bundle: {target}  ({report['total_seconds']:.0f} s)")
    print(json.dumps(to_plain({k: report.get(k) for k in ("test_likelihood_auc", "test_certainty", "emidec")}),
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
