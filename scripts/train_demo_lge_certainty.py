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


PIXEL_ERROR = 0.25
"""The pixel size a training slice declares is off by up to this fraction (either way) from the one it was drawn
at, so the model does not rely on the exact scale: a PNG slice carries none, and hearts differ in size."""


def phantom_records(n: int, seed: int, randomize: bool = True) -> list[SliceRecord]:
    """``n`` phantom slices with two simulated readers each (one heart per slice)."""
    rng = np.random.default_rng(seed)
    records = []
    for s in range(n):
        pixel = float(rng.uniform(0.9, 2.2))
        size = round(float(rng.uniform(190.0, 230.0)) / pixel)
        sl = make_lge_slice(10_000 * seed + s, GRADES[s % 3], size=(size, size), spacing=(pixel, pixel),
                            randomize=randomize)
        declared = pixel * float(np.exp(rng.uniform(np.log(1 - PIXEL_ERROR), -np.log(1 - PIXEL_ERROR))))
        records.append(SliceRecord(f"phantom-{s}", f"lge-phantom-{s}", sl.image.array[0], declared,
                                   int(sl.has_enhancement), dict(sl.reader_ratings),
                                   enhancement=sl.enhancement_mask.array[0]))
    return records


HISTORY = """
## Version history and honest limits

- **{version}** (this bundle): {n_slices} slices, {epochs} epochs. The recipe of 0.3.0 (below) on corrected
  phantoms: 0.3.0's lung-vessel dots were dilated with scipy's ``iterations=0`` ("until nothing changes") in
  about half the randomised slices, which painted the whole lung tissue-bright.
- **0.3.0**: phantoms with papillary muscles, irregular scar borders, microvascular obstruction
  (a dark core inside 30 % of transmural/subendocardial scars), scars covering 70-160 degrees of the wall and
  brighter than the blood pool by a random margin (faint enhancement stays between nulled myocardium and blood),
  thoracic clutter (organs, fat planes, lung vessels) and random lung geometry; a clear pattern showing < 20 mm2
  in a slice is graded "small" (subtle). Training: the declared pixel size is off by up to 25 % either way
  (scale robustness for PNG slices without spacing), dense supervision of an enhancement **evidence map** from
  the phantoms' masks, average + max pooling before the heads, 12000 slices, 24 epochs (about 11 minutes
  on 2 CPU cores). Phantom test likelihood AUC 0.878, certainty AUC 0.861; EMIDEC AUC 0.691 (0.63-0.76) at
  1.25 mm. A 6000-slice, 16-epoch run scored lower on the phantom test split (likelihood AUC 0.818 vs
  0.878) and was not shipped; its EMIDEC AUC was 0.632 at 1.25 mm.
- **0.2.0**: two heads (likelihood + learned certainty from two simulated readers), domain-randomised phantoms,
  900 slices; EMIDEC likelihood AUC 0.485 (0.41-0.56) at 1.0 mm; phantom test AUC 0.655, certainty AUC 0.648.
- **0.1.0**: likelihood only, band certainty; EMIDEC AUC 0.460 at 1.0 mm, 0.498 at 1.5 mm.
- Target AUC >= 0.75 on real EMIDEC slices with synthetic-only training: **not reached** (see above).
- The EMIDEC figures above are from this bundle only; which recipe variant shipped was decided on the phantom
  validation/test split, not on EMIDEC.
"""


def emidec_section(reports: list[dict]) -> str:
    """Model-card markdown for the EMIDEC evaluation (the first report is the primary pixel-size assumption)."""
    first = reports[0]
    auc = first["roc_auc"]
    lines = [
        "\n## Real-data check: EMIDEC (evaluation only, never used for training)\n",
        f"- {first['n']} short-axis slices of {auc['n_patients']} EMIDEC patients ({auc['n_positive']} with LGE, "
        "label: any infarct/no-reflow pixel). The PNGs carry no pixel size (EMIDEC's own is about 1.25-2 mm, "
        f"resized to 256 x 256); primary assumption {first['pixel_mm']} mm, fixed before scoring.",
    ]
    for r in reports:
        a = r["roc_auc"]
        lines.append(f"- at {r['pixel_mm']} mm: likelihood ROC AUC {a['value']:.3f} (95% CI {a['ci'][0]:.3f}-"
                     f"{a['ci'][1]:.3f}, bootstrap over patients); accuracy at 50: {r['accuracy_at_50']:.3f}; "
                     f"flagged low certainty: {r['fraction_low_certainty']:.2f}")
    lines.append("- EMIDEC (Lalande et al. 2020) is CC BY-NC-SA 4.0; only these numbers come from it, no weights.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "radtriage" / "bundles"), help="bundles folder")
    parser.add_argument("--n-slices", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default="0.3.1")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--emidec", default=None, help="EMIDEC images/+masks/ folder to evaluate on (optional)")
    parser.add_argument("--emidec-pixel-mm", type=float, nargs="+", default=[1.25, 1.0, 1.5],
                        help="pixel sizes to assume for the EMIDEC PNGs (the first is the primary figure)")
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
            slices = load_slice_folder(args.emidec)
            emidec = [evaluate_bundle_on_slices(folder, slices, mm) for mm in args.emidec_pixel_mm]
            report["emidec"] = emidec
            card.write_text(card.read_text() + emidec_section(emidec))
        card.write_text(card.read_text() + HISTORY.format(version=args.version, n_slices=len(records),
                                                                      epochs=args.epochs))
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
