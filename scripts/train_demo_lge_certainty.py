#!/usr/bin/env python
"""Train the demo LGECertainty bundle on cardiac LGE phantoms (demo, not for clinical use).

One seeded command (13 epochs with early stopping took 32 minutes on the shared, heavily loaded 2-core CPU;
about 10 minutes on an idle one)::

    .venv/bin/python scripts/train_demo_lge_certainty.py            # writes radtriage/bundles/lge-certainty-demo-0.1.0

Steps: draw ``--n-slices`` short-axis phantom slices (:func:`radtriage.phantoms.make_lge_slice`, grades none /
clear / subtle in turn, one heart per seed, random in-plane pixel size 1.1-1.9 mm), prepare each exactly as
inference does (fixed 144 mm FOV at 1.8 mm (80 x 80), per-slice percentiles), split by phantom seed 70/15/15, train
:class:`radtriage.nets.lge.LgeEfficientNetV2` with ``radtriage.training.train_bundle`` (kind ``score``: target
= the phantom's reference likelihood 0-100), then fit a temperature on the validation slices against the truth
(true enhancement yes/no), report NLL/ECE before/after and certainty agreement on the test slices, and store
the temperature, preprocessing and these metrics in the bundle and its model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radtriage.evaluation import cohen_kappa, evaluate_binary, to_plain, write_plots  # noqa: E402
from radtriage.models.bundle import METADATA_FILE, MODEL_CARD_FILE, read_metadata  # noqa: E402
from radtriage.nets.lge import NETWORK_NAME  # noqa: E402
from radtriage.phantoms import make_lge_slice  # noqa: E402
from radtriage.tasks.lge_certainty.calibration import (  # noqa: E402
    calibration_report,
    fit_temperature,
    likelihood_from_logits,
)
from radtriage.tasks.lge_certainty.certainty import CertaintyBand  # noqa: E402
from radtriage.tasks.lge_certainty.prep import SlicePrep, prepare_slice  # noqa: E402

log = logging.getLogger("train_demo_lge_certainty")

BUNDLE_NAME = "lge-certainty-demo"
GRADES = ("none", "clear", "subtle")
DESCRIPTION = (
    "DEMO, not for clinical use: per-slice LGE likelihood 0-100 (temperature-calibrated) with a high/low "
    "certainty class, a tiny EfficientNetV2-style 2D network trained only on synthetic cardiac LGE phantoms."
)


def make_slices(n: int, seed: int, prep: SlicePrep) -> list[dict[str, Any]]:
    """Prepared phantom slices with truth and a seeded patient-level split (one heart per phantom seed)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    split_of = np.empty(n, dtype=object)
    n_val, n_test = round(0.15 * n), round(0.15 * n)
    split_of[order[:n_val]] = "val"
    split_of[order[n_val : n_val + n_test]] = "test"
    split_of[order[n_val + n_test :]] = "train"
    rows = []
    for s in range(n):
        pixel = float(rng.uniform(1.1, 1.9))
        size = round(150.0 / pixel)
        sl = make_lge_slice(10_000 * seed + s, GRADES[s % 3], size=(size, size), spacing=(pixel, pixel))
        rows.append(
            {
                "array": prepare_slice(sl.image.array[0], (pixel, pixel), prep),
                "likelihood": sl.likelihood,
                "certainty": sl.certainty,
                "truth": int(sl.has_enhancement),
                "pattern": sl.pattern,
                "grade": sl.enhancement,
                "split": str(split_of[s]),
                "patient": f"lge-phantom-{s}",
            }
        )
    return rows


def logits_of(network: Any, arrays: np.ndarray, batch: int = 64) -> np.ndarray:
    """Network logits for prepared slices."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), batch):
            x = torch.from_numpy(arrays[i : i + batch][:, None].astype(np.float32))
            out.append(network(x)[:, 0].numpy())
    return np.concatenate(out).astype(np.float64)


def certainty_agreement(likelihood: np.ndarray, rows: list[dict[str, Any]], band: CertaintyBand) -> dict[str, Any]:
    """Model certainty class vs the phantom's reference certainty (high/low) on the given slices."""
    model_low = np.array([band.is_low_certainty(v) for v in likelihood], dtype=int)
    ref_low = np.array([r["certainty"] == "low" for r in rows], dtype=int)
    per_pattern: dict[str, Any] = {}
    for pattern in sorted({r["pattern"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["pattern"] == pattern]
        per_pattern[pattern] = {
            "n": len(idx),
            "mean_likelihood": float(np.mean(likelihood[idx])),
            "fraction_low_certainty": float(np.mean(model_low[idx])),
        }
    return {
        "accuracy": float(np.mean(model_low == ref_low)),
        "kappa": cohen_kappa(ref_low, model_low, 2),
        "low_certainty_recall": float(model_low[ref_low == 1].mean()) if ref_low.any() else None,
        "high_certainty_specificity": float(1 - model_low[ref_low == 0].mean()) if (ref_low == 0).any() else None,
        "per_pattern": per_pattern,
    }


def calibration_card(
    calib: dict[str, Any], binary: dict[str, Any], cert: dict[str, Any], band: CertaintyBand, n: dict[str, int]
) -> str:
    """Markdown appended to the model card."""
    b, a = calib["test"]["before"], calib["test"]["after"]
    op = binary["operating_point"]
    lines = [
        "",
        "## Calibration, accuracy and certainty on phantom test slices (added by the demo script)",
        "",
        "> Demo, not for clinical use: synthetic phantoms only; these numbers say nothing about real patients.",
        "",
        f"- Slices: train {n['train']}, validation {n['val']}, test {n['test']} (split by phantom heart).",
        f"- Temperature scaling fitted on the validation slices against the truth (true enhancement yes/no): "
        f"T = {calib['temperature']:.3f}; likelihood = 100 * sigmoid(logit / T).",
        f"- Test NLL {b['nll']:.4f} -> {a['nll']:.4f}; ECE (10 bins) {b['ece']:.4f} -> {a['ece']:.4f}; "
        f"Brier {b['brier']:.4f} -> {a['brier']:.4f} (before -> after temperature scaling).",
        f"- Test ROC AUC (calibrated likelihood vs truth) {binary['roc_auc']['value']:.3f}; at likelihood 50: "
        f"accuracy {op['accuracy']['value']:.3f}, sensitivity {op['sensitivity']['value']:.3f}, "
        f"specificity {op['specificity']['value']:.3f}.",
        f"- Certainty band {band.as_list()} (low certainty when lo <= likelihood <= hi, edges inclusive): "
        f"agreement with the phantom's reference certainty {cert['accuracy']:.3f}, kappa "
        f"{(cert['kappa'].get('value') or float('nan')):.3f}.",
        "",
        "| phantom pattern | n | mean likelihood | fraction low certainty |",
        "|---|---|---|---|",
    ]
    for pattern, row in cert["per_pattern"].items():
        lines.append(f"| {pattern} | {row['n']} | {row['mean_likelihood']:.1f} | {row['fraction_low_certainty']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "radtriage" / "bundles"), help="bundles folder")
    parser.add_argument("--n-slices", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default="0.1.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    import torch

    from radtriage.models import load_bundle
    from radtriage.training import AugmentConfig, TrainConfig, train_bundle

    torch.set_num_threads(args.threads)
    prep = SlicePrep(fov_mm=144.0, patch=80)  # 1.8 mm pixels: small enough to train on a shared 2-core CPU
    band = CertaintyBand(30.0, 70.0)
    log.info("drawing %d phantom slices", args.n_slices)
    rows = make_slices(args.n_slices, args.seed, prep)
    items = [
        {"image": r["array"], "label": r["likelihood"], "patient_id": r["patient"], "split": r["split"]} for r in rows
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            task="lge_certainty",
            network=NETWORK_NAME,
            out_dir=Path(tmp),
            network_args={"dropout": 0.2},
            kind="score",
            class_names=["lge"],
            name=BUNDLE_NAME,
            first_version=args.version,
            description=DESCRIPTION,
            demo=True,
            contrasts=["LGE"],
            modality="MR",
            spacing=[prep.pixel_mm, prep.pixel_mm],
            patch_size=(prep.patch, prep.patch),
            resize="crop",
            normalize="none",
            seed=args.seed,
            max_epochs=args.epochs,
            batch_size=32,
            learning_rate=2e-3,
            patience=6,
            augment=AugmentConfig(
                flip_prob=0.5,
                affine_prob=0.7,
                rotate_deg=30.0,
                scale=0.1,
                translate=0.05,
                intensity_prob=0.5,
                intensity_scale=0.1,
                intensity_shift=0.05,
                noise_prob=0.3,
                noise_std=0.03,
            ),
            certainty_band=band.as_list(),
            device="cpu",
            progress="none",
            n_bootstrap=500,
        )
        result = train_bundle(items, config)
        folder = result.bundle_path
        network = load_bundle(folder, "cpu", task="lge_certainty").network.eval()
        splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
        z = {s: logits_of(network, np.stack([r["array"] for r in splits[s]])) for s in ("val", "test")}
        y = {s: np.array([r["truth"] for r in splits[s]]) for s in ("val", "test")}
        temperature = fit_temperature(z["val"], y["val"])
        calib = {
            "temperature": temperature,
            "method": "temperature scaling",
            "fitted_on": "validation split",
            "target": "true enhancement (binary)",
            "val": calibration_report(z["val"], y["val"], temperature),
            "test": calibration_report(z["test"], y["test"], temperature),
        }
        lik = likelihood_from_logits(z["test"], temperature)
        binary = evaluate_binary(y["test"], lik / 100.0, 0.5, names=("no LGE", "LGE"), n_bootstrap=500)
        cert = certainty_agreement(lik, splits["test"], band)

        meta_path = folder / METADATA_FILE
        raw = json.loads(meta_path.read_text())
        raw["radtriage"]["outputs"]["calibration"] = {
            "method": "temperature scaling",
            "temperature": temperature,
            "fitted_on": "validation split",
        }
        raw["radtriage"]["outputs"]["preprocessing"] = prep.to_dict()
        raw["radtriage"]["outputs"]["likelihood"] = "100 * sigmoid(logit / temperature)"
        raw["radtriage"]["certainty_rule"] = "low certainty when lo <= likelihood <= hi (edges inclusive)"
        meta_path.write_text(json.dumps(raw, indent=2) + "\n")
        read_metadata(folder)  # still valid
        docs = folder / "docs"
        (docs / "calibration.json").write_text(
            json.dumps(to_plain({"calibration": calib, "test_calibrated": binary, "certainty": cert}), indent=2) + "\n"
        )
        write_plots(binary, docs, prefix="test_calibrated_")
        n = {s: len(v) for s, v in splits.items()}
        card = folder / MODEL_CARD_FILE
        card.write_text(card.read_text() + calibration_card(calib, binary, cert, band, n))
        target = Path(args.out) / folder.name
        if target.exists():
            shutil.rmtree(target)
        shutil.rmtree(folder.parent / f"{BUNDLE_NAME}.checkpoints", ignore_errors=True)
        shutil.copytree(folder, target)
    b, a = calib["test"]["before"], calib["test"]["after"]
    print(f"bundle: {target}")
    print(f"T={temperature:.3f}  test ECE {b['ece']:.4f} -> {a['ece']:.4f}  NLL {b['nll']:.4f} -> {a['nll']:.4f}")
    print(f"test AUC {binary['roc_auc']['value']:.3f}  certainty agreement {cert['accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
