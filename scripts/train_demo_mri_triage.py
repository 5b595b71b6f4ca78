#!/usr/bin/env python
"""Train the demo MRITriage bundle on multi-contrast brain phantoms (demo, not for clinical use).

One seeded command (about 10-20 minutes on a shared 2-core CPU)::

    .venv/bin/python scripts/train_demo_mri_triage.py          # writes radtriage/bundles/mri-triage-demo-0.1.0

Steps: draw ``--n-cases`` brain phantoms (:func:`radtriage.phantoms.make_brain_cohort`: normal, acute infarct,
acute haemorrhage and mass effect in equal shares, ``--combination-rate`` of abnormal cases with a second finding)
with all 8 contrasts directly on the model grid (32^3 voxels of 6 mm, the grid inference resamples onto); train
:class:`radtriage.nets.mri_triage.MriTriageNet` with ``radtriage.training.train_bundle`` (kind ``multilabel``,
seeded patient-level 70/15/15 split, left-right flips and intensity augmentation, random contrast
dropout inside the network, a fixed number of epochs: the loss sits on the label prior for the first ~200 steps
before the lesion features are found, which early stopping would cut short; the best validation epoch is kept);
then pick each output's operating point on the validation split (Youden's J),
measure the phantom-test AUC per output with all contrasts and with T2 only, and write these into the bundle's
metadata and model card.
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

from radtriage.evaluation import evaluate_binary, to_plain  # noqa: E402
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS  # noqa: E402
from radtriage.models.bundle import METADATA_FILE, MODEL_CARD_FILE, read_metadata  # noqa: E402
from radtriage.models.output_requirements import DEFAULT_REQUIREMENTS, REQUIREMENTS_KEY  # noqa: E402
from radtriage.nets.mri_triage import NETWORK_NAME  # noqa: E402
from radtriage.phantoms import make_brain_cohort  # noqa: E402

log = logging.getLogger("train_demo_mri_triage")

BUNDLE_NAME = "mri-triage-demo"
GRID_SIZE = 32
SPACING_MM = 6.0
DESCRIPTION = (
    "DEMO, not for clinical use: brain MRI triage (abnormal, acute infarct, acute haemorrhage, mass effect) from "
    "any subset of 8 co-registered contrasts, a small 3D regional CNN trained only on synthetic brain phantoms."
)
SUBSETS = {"all contrasts": MR_CONTRASTS, "T2 only": ("T2",), "T1+T2+FLAIR": ("T1", "T2", "FLAIR")}


def make_cases(n: int, seed: int, combination_rate: float) -> list[dict[str, Any]]:
    """Phantom cases on the model grid: 8 channel arrays each, labels in ``BRAIN_FINDINGS`` order."""
    cohort = make_brain_cohort(n, seed, combination_rate=combination_rate,
                               shape=(GRID_SIZE,) * 3, spacing=(SPACING_MM,) * 3)
    return [{"image": [case.images[c].array.astype(np.float32) for c in MR_CONTRASTS],
             "label": [int(case.labels[f]) for f in BRAIN_FINDINGS], "patient_id": f"brain-phantom-{case.seed}"}
            for case in cohort]


def probabilities(network: Any, arrays: np.ndarray, keep: tuple[str, ...], batch: int = 8) -> np.ndarray:
    """Sigmoid outputs for prepared ``[N, 8, *grid]`` arrays with only the ``keep`` contrasts present."""
    import torch

    mask = torch.tensor([[float(c in keep) for c in MR_CONTRASTS]])
    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), batch):
            x = torch.from_numpy(arrays[i:i + batch]) * mask[..., None, None, None]
            out.append(torch.sigmoid(network(x, mask.expand(x.shape[0], -1))).numpy())
    return np.concatenate(out)


def youden_threshold(truth: np.ndarray, prob: np.ndarray) -> float:
    """The probability threshold maximising sensitivity + specificity (0.5 when undefined)."""
    from sklearn.metrics import roc_curve

    if truth.min() == truth.max():
        return 0.5
    fpr, tpr, thr = roc_curve(truth, prob)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thr[best], 1e-3, 1 - 1e-3))


def card_section(metrics: dict[str, dict[str, Any]], thresholds: dict[str, float], n: dict[str, int]) -> str:
    """Markdown appended to the model card."""
    lines = [
        "",
        "## Phantom-test AUC per output and contrast subset (added by the demo script)",
        "",
        "> Demo, not for clinical use: synthetic phantoms only; these numbers say nothing about real patients.",
        "",
        f"- Cases: train {n['train']}, validation {n['val']}, test {n['test']} (split by phantom).",
        "- Operating points chosen on the validation split (Youden's J, all contrasts): "
        + ", ".join(f"{k} {v:.3f}" for k, v in thresholds.items()) + ".",
        "",
        "| contrasts | " + " | ".join(BRAIN_FINDINGS) + " |",
        "|---|" + "---|" * len(BRAIN_FINDINGS),
    ]
    for subset, per_output in metrics.items():
        cells = []
        for f in BRAIN_FINDINGS:
            auc = per_output[f]["roc_auc"]
            lo, hi = auc.get("ci_low"), auc.get("ci_high")
            ci = f" ({lo:.2f}-{hi:.2f})" if lo is not None and hi is not None else ""
            cells.append(f"{auc['value']:.3f}{ci}" if auc.get("value") is not None else "n/a")
        lines.append(f"| {subset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "radtriage" / "bundles"), help="bundles folder")
    parser.add_argument("--n-cases", type=int, default=160)
    parser.add_argument("--combination-rate", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=70)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default="0.1.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    import torch

    from radtriage.models import load_bundle
    from radtriage.training import AugmentConfig, TrainConfig, preprocess_channels, train_bundle
    from radtriage.training.settings import PreprocessConfig

    torch.set_num_threads(args.threads)
    log.info("drawing %d brain phantoms", args.n_cases)
    items = make_cases(args.n_cases, args.seed, args.combination_rate)
    patch = (GRID_SIZE,) * 3
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            task="mri_triage", network=NETWORK_NAME, out_dir=Path(tmp),
            network_args={"contrast_dropout": 0.3, "t2_only_prob": 0.1, "region_grid": 3},
            kind="multilabel", class_names=list(BRAIN_FINDINGS), name=BUNDLE_NAME, first_version=args.version,
            description=DESCRIPTION, demo=True, contrasts=list(MR_CONTRASTS), modality="MR",
            spacing=[SPACING_MM] * 3, patch_size=patch, resize="resize", normalize="zscore",
            seed=args.seed, max_epochs=args.epochs, batch_size=8, learning_rate=1e-3, patience=0, balance=False,
            augment=AugmentConfig(flip_prob=0.5, flip_axes=(2,), affine_prob=0.0, rotate_deg=8.0, scale=0.08,
                                  translate=0.04, intensity_prob=0.3, intensity_scale=0.1, intensity_shift=0.1,
                                  noise_prob=0.0, noise_std=0.05),
            device="cpu", progress="none", n_bootstrap=500,
        )
        result = train_bundle(items, config)
        folder = result.bundle_path
        network = load_bundle(folder, "cpu", task="mri_triage").network.eval()
        prep = PreprocessConfig(patch, "resize", "zscore")
        from radtriage.training import prepare_cases, read_datalist

        prepared = prepare_cases(read_datalist(items), config)  # the same seeded split training made
        splits = {s: [items[i] for i in prepared.indices(s)] for s in ("train", "val", "test")}
        arrays = {s: np.stack([preprocess_channels(it["image"], prep) for it in splits[s]]) for s in ("val", "test")}
        truth = {s: np.array([it["label"] for it in splits[s]]) for s in ("val", "test")}
        val_p = probabilities(network, arrays["val"], MR_CONTRASTS)
        thresholds = {f: youden_threshold(truth["val"][:, i], val_p[:, i]) for i, f in enumerate(BRAIN_FINDINGS)}
        metrics: dict[str, dict[str, Any]] = {}
        for subset, keep in SUBSETS.items():
            p = probabilities(network, arrays["test"], tuple(keep))
            metrics[subset] = {f: evaluate_binary(truth["test"][:, i], p[:, i], thresholds[f],
                                                  names=(f"no {f}", f), n_bootstrap=500, seed=args.seed)
                               for i, f in enumerate(BRAIN_FINDINGS)}

        meta_path = folder / METADATA_FILE
        raw = json.loads(meta_path.read_text())
        raw["radtriage"]["thresholds"] = {f: {"balanced": t, "default": 0.5} for f, t in thresholds.items()}
        raw["radtriage"]["operating_point"] = "balanced"
        raw["radtriage"]["critical_outputs"] = ["acute_infarct", "acute_haemorrhage", "mass_effect"]
        raw["radtriage"][REQUIREMENTS_KEY] = {name: list(needs) for name, needs in DEFAULT_REQUIREMENTS.items()}
        raw["radtriage"]["grid"] = {"size": list(patch), "spacing_mm": [SPACING_MM] * 3, "orientation": "LPS",
                                    "centre": "reference volume centre"}
        raw["radtriage"]["test_auc"] = {s: {f: m[f]["roc_auc"]["value"] for f in BRAIN_FINDINGS}
                                        for s, m in metrics.items()}
        meta_path.write_text(json.dumps(raw, indent=2) + "\n")
        read_metadata(folder)  # still valid
        (folder / "docs" / "test_metrics_by_subset.json").write_text(
            json.dumps(to_plain({"thresholds": thresholds, "metrics": metrics}), indent=2) + "\n")
        n = {s: len(v) for s, v in splits.items()}
        card = folder / MODEL_CARD_FILE
        card.write_text(card.read_text() + card_section(metrics, thresholds, n))
        target = Path(args.out) / folder.name
        if target.exists():
            shutil.rmtree(target)
        shutil.rmtree(folder.parent / f"{BUNDLE_NAME}.checkpoints", ignore_errors=True)
        shutil.copytree(folder, target)
    print(f"bundle: {target}")
    for subset, m in metrics.items():
        print(f"test AUC ({subset}): " + ", ".join(f"{f} {m[f]['roc_auc']['value']}" for f in BRAIN_FINDINGS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
