#!/usr/bin/env python
"""Train the demo CMBDetect bundle on SWI phantoms (demo, not for clinical use).

One seeded command (about 10 minutes on 2 shared CPU cores)::

    .venv/bin/python scripts/train_demo_cmb_detect.py      # writes radtriage/bundles/cmb-detect-demo-0.1.0

Steps:

1. draw ``--n-cases`` SWI phantoms (:func:`radtriage.phantoms.make_swi_case`, 0.5x0.5x2 mm temporal-lobe patches
   with microbleeds, veins, calcifications and air-bone cells, phase included), put each on the 1 mm working grid
   exactly as inference does, and split them by phantom seed 70/15/15 (train/val/test);
2. stage 1: cut screener patches (:mod:`radtriage.tasks.cmb_detect.training_data`) and train
   :class:`radtriage.nets.cmb.CmbCandidateNet` with ``radtriage.training.train_bundle`` (multilabel, one class
   ``cmb``, class-balanced sampling, MONAI flips/rotation/intensity/noise, early stopping on validation AUC);
3. stage 2: run the trained screener densely on every phantom, label its peaks against the truth (hard negatives:
   the mimics it fires on) and train :class:`radtriage.nets.cmb.CmbDiscriminator` the same way (phase zeroed in
   30 % of patches so the model works without phase);
4. put both into one :class:`radtriage.nets.cmb.CmbDetector`, pick the weight of the discriminator in the
   confidence (``stage1 ** (1 - w) * stage2 ** w``) and the operating threshold on the validation
   phantoms (highest sensitivity at <= 1 false positive per scan), evaluate the FROC on ``--n-eval`` fresh
   phantoms (seeds 10000+) with and without phase, and write the bundle with its model card.

``radtriage.training`` trains one network per bundle, so each stage is trained as its own (temporary) bundle and
the two are combined here; the stage bundles' test metrics, training histories and plots are copied into
``docs/``.
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

from radtriage.evaluation import evaluate_detection, to_plain  # noqa: E402
from radtriage.nets.cmb import CANDIDATE_NAME, DETECTOR_NAME, DISCRIMINATOR_NAME, CmbDetector  # noqa: E402
from radtriage.phantoms import make_swi_case  # noqa: E402
from radtriage.tasks.cmb_detect import training_data as td  # noqa: E402
from radtriage.tasks.cmb_detect.detector import SETTINGS_KEY, CmbPipeline, DetectSettings  # noqa: E402
from radtriage.tasks.cmb_detect.evaluate import evaluate_scans, phantom_scans, write_evaluation  # noqa: E402

log = logging.getLogger("train_demo_cmb_detect")

BUNDLE_NAME = "cmb-detect-demo"
VERSION = "0.1.0"
DESCRIPTION = (
    "DEMO, not for clinical use: two-stage cerebral microbleed detector for SWI / T2*-GRE (3D FCN screener on a "
    "1 mm isotropic grid + 3D patch discriminator on magnitude and optional phase), trained only on synthetic "
    "SWI phantoms."
)
CANDIDATE_ARGS: dict[str, Any] = {"in_channels": 1, "out_channels": 1, "layers": [[8, 1], [8, 1], [8, 2], [8, 4]],
                                  "head_channels": 8}
MAX_PEAKS_PER_CASE = 40
STAGE2_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
PATCH2 = 16
DISCRIMINATOR_ARGS: dict[str, Any] = {"in_channels": 2, "out_channels": 1, "channels": [8, 16, 32], "dropout": 0.2}


def split_of(seeds: list[int], seed: int) -> dict[int, str]:
    """Seeded 70/15/15 split of the phantom seeds (each phantom is one 'patient')."""
    rng = np.random.default_rng(seed)
    order = [seeds[i] for i in rng.permutation(len(seeds))]
    n_val = n_test = max(1, round(0.15 * len(seeds)))
    return {s: ("val" if n < n_val else "test" if n < n_val + n_test else "train") for n, s in enumerate(order)}


def train_stage(items: list[dict[str, Any]], network: str, args: dict[str, Any], patch: int, out: Path, name: str,
                epochs: int, seed: int, augment: Any) -> Any:
    """One stage with ``radtriage.training.train_bundle``; returns its TrainResult."""
    from radtriage.training import TrainConfig, train_bundle

    config = TrainConfig(
        task="cmb_detect", network=network, network_args=args, out_dir=out, kind="multilabel", class_names=["cmb"],
        name=name, demo=True, description=f"{name}: one stage of the CMBDetect demo (demo, not for clinical use)",
        contrasts=["magnitude", "phase"][: args["in_channels"]], spacing=[1.0, 1.0, 1.0],
        patch_size=(patch, patch, patch), resize="crop", normalize="none", seed=seed, max_epochs=epochs,
        batch_size=64, learning_rate=2e-3, patience=4, augment=augment, device="cpu", progress="none",
        n_bootstrap=200,
    )
    result = train_bundle(items, config)
    log.info("%s: best epoch %d, test %s", name, result.fit.best_epoch,
             {k: v.get("roc_auc") for k, v in result.test_metrics.get("per_class", {}).items()})
    return result


def choose_stage2_weight(pipe: CmbPipeline, cases: list[Any]) -> tuple[float, dict[str, Any]]:
    """The weight w of the discriminator in ``confidence = stage1 ** (1 - w) * stage2 ** w`` with the best mean
    FROC sensitivity (0.5/1/2/4 FP per scan) on ``cases`` (validation phantoms)."""
    runs = [pipe.detect(case.magnitude, case.phase, threshold=0.0) for case in cases]
    truth = [[{"center": list(f.centre_ras), "radius_mm": f.apparent_radius_mm} for f in c.microbleeds] for c in cases]
    scores: dict[float, float] = {}
    for w in STAGE2_WEIGHTS:
        dets = [[{"center": list(c.center_ras),
                  "score": max(c.candidate_score, 1e-6) ** (1 - w) * max(c.stage2_probability, 1e-6) ** w}
                 for c in run.candidates] for run in runs]
        result = evaluate_detection(dets, truth, 2.0)
        mean = result["mean_sensitivity"]
        scores[w] = float(mean["value"]) if isinstance(mean, dict) and mean.get("value") is not None else 0.0
    best = max(STAGE2_WEIGHTS, key=lambda w: (scores[w], w))
    return best, {"candidates": {str(w): v for w, v in scores.items()}, "chosen": best,
                  "criterion": "mean validation FROC sensitivity at 0.5/1/2/4 FP per scan"}


def choose_threshold(pipe: CmbPipeline, cases: list[Any], max_fp: float = 1.0) -> tuple[float, dict[str, Any]]:
    """The lowest threshold whose FP per scan on ``cases`` is <= ``max_fp`` (highest sensitivity there)."""
    dets, truth = [], []
    for case in cases:
        run = pipe.detect(case.magnitude, case.phase)
        dets.append([{"center": list(c.center_ras), "score": c.confidence} for c in run.candidates])
        truth.append([{"center": list(f.centre_ras), "radius_mm": f.apparent_radius_mm} for f in case.microbleeds])
    result = evaluate_detection(dets, truth, 2.0)
    froc = result["froc"]
    best, threshold = -1.0, 0.5
    if froc["sensitivity"] is None:
        return threshold, {"max_fp_per_scan": max_fp, "note": "no microbleeds in the validation phantoms; 0.5 used"}
    for t, fp, sens in zip(froc["thresholds"], froc["fp_per_scan"], froc["sensitivity"], strict=True):
        if t is not None and fp <= max_fp and sens > best:
            best, threshold = sens, float(t)
    return threshold, {"max_fp_per_scan": max_fp, "val_sensitivity": best, "threshold": threshold}


def model_card(summary: dict[str, Any]) -> str:
    """Markdown model card with the phantom FROC, the stage metrics and the limits."""
    def sens_row(ev: dict[str, Any]) -> str:
        return " | ".join(f"{p['sensitivity']:.3f}" for p in ev["sensitivity_at_fp"])

    def met(ev: dict[str, Any]) -> str:
        return "met" if ev["target"]["met"] else "not met"

    with_phase, no_phase = summary["froc_with_phase"], summary["froc_magnitude_only"]
    op = with_phase["operating_point"]
    lines = [
        f"# {BUNDLE_NAME} {VERSION}", "",
        "> **DEMO MODEL — demo, not for clinical use. Trained and tested on synthetic SWI phantoms only.**", "",
        DESCRIPTION, "",
        "## Pipeline",
        "- Working grid: 1 mm isotropic in the input's own axes (SimpleITK linear resampling); magnitude divided by "
        "the median foreground (Otsu) intensity; multi-echo magnitude combined by root-sum-of-squares.",
        "- Stage 1: `radtriage.nets.cmb.CmbCandidateNet` (valid dilated 3D FCN, receptive field 17 mm) run densely "
        "with MONAI `SlidingWindowInferer`; peaks = local maxima >= candidate threshold, >= 2 voxels apart.",
        "- Stage 2: `radtriage.nets.cmb.CmbDiscriminator` on 16 mm patches (magnitude + phase, phase zero when "
        "absent); candidates merged within max(3 mm, radius); radius from the thresholded blob; "
        "location class (lobar/deep/infratentorial) from a rule-based head frame, `unknown` on partial coverage.",
        f"- Confidence = stage1 ** (1 - w) * stage2 ** w with w = {summary['stage2_weight']} (chosen on the "
        "validation phantoms among 0, 0.25, 0.5, 0.75, 1 by mean FROC sensitivity).",
        *(["- **In this version w = 0: on the validation phantoms the demo discriminator ranked candidates worse "
           "than the screener, so it does not change the confidence; its probability is still reported per "
           "detection (`stage2_probability`).**"] if summary["stage2_weight"] == 0 else []),
        f"- Operating threshold {op['threshold']:.3f} (validation phantoms: highest sensitivity at <= 1 FP/scan).",
        "",
        f"## FROC on {with_phase['froc']['n_scans']} held-out phantoms ({with_phase['froc']['n_lesions']} "
        "microbleeds; hit within 2 mm or the apparent radius)", "",
        "| input | sens @ 0.5 FP | @ 1 FP | @ 2 FP | @ 4 FP |", "|---|---|---|---|---|",
        f"| magnitude + phase | {sens_row(with_phase)} |",
        f"| magnitude only | {sens_row(no_phase)} |", "",
        f"At the operating threshold (with phase): sensitivity {op['sensitivity']:.3f}, "
        f"{op['fp_per_scan']:.2f} FP/scan; magnitude only: sensitivity "
        f"{no_phase['operating_point']['sensitivity']:.3f}, {no_phase['operating_point']['fp_per_scan']:.2f} FP/scan.",
        f"Target (sensitivity >= 0.90 at <= 1.5 FP/scan): with phase **{met(with_phase)}**, "
        f"magnitude only **{met(no_phase)}**.", "",
        "## Stage metrics (patch level, held-out phantom split of radtriage.training)",
        f"- Stage 1 test ROC AUC: {summary['stage1_test_auc']}; best epoch {summary['stage1_best_epoch']}",
        f"- Stage 2 test ROC AUC: {summary['stage2_test_auc']}; best epoch {summary['stage2_best_epoch']}",
        "", "## Data",
        f"- {summary['n_cases']} phantoms (seeds 0..{summary['n_cases'] - 1}) split 70/15/15 by phantom; "
        f"stage-1 patches {summary['n_stage1']}, stage-2 patches {summary['n_stage2']}.",
        f"- Evaluation phantoms: seeds {summary['eval_seeds'][0]}..{summary['eval_seeds'][-1]} (never trained on).",
        "", "## Limits",
        "- Phantoms are temporal-lobe patches; real SWI has more vessel variety, motion, and other mimics.",
        "- Without phase, calcifications cannot be told from microbleeds; phase must be unwrapped, "
        "background-removed, right-handed radians.",
        "- The location rule needs a whole-head scan and an upright head; it is approximate (10-15 mm).",
        "", f"Reproduce: `.venv/bin/python scripts/train_demo_cmb_detect.py --seed {summary['seed']}`", "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=ROOT / "radtriage" / "bundles")
    parser.add_argument("--n-cases", type=int, default=24)
    parser.add_argument("--n-eval", type=int, default=10)
    parser.add_argument("--epochs1", type=int, default=6)
    parser.add_argument("--epochs2", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    from radtriage.models import default_metadata, write_bundle
    from radtriage.runtime.device import set_deterministic
    from radtriage.training import AugmentConfig

    torch.set_num_threads(2)
    set_deterministic(args.seed)
    rng = np.random.default_rng(args.seed)
    seeds = list(range(args.n_cases))
    splits = split_of(seeds, args.seed)
    log.info("drawing %d phantoms", len(seeds))
    cases = [make_swi_case(s) for s in seeds]
    works = [td.working_of(c) for c in cases]

    aug1 = AugmentConfig(flip_prob=0.5, affine_prob=0.0,
                         intensity_prob=0.5, intensity_scale=0.15, intensity_shift=0.05, noise_prob=0.3, noise_std=0.05)
    stage1 = [td.stage1_patches(c, w, 17, rng) for c, w in zip(cases, works, strict=True)]
    items1 = [it for s, p in zip(seeds, stage1, strict=True) for it in p.items(splits[s])]
    log.info("stage 1: %d patches (%d positive)", len(items1), sum(int(p.labels.sum()) for p in stage1))

    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        r1 = train_stage(items1, CANDIDATE_NAME, {**CANDIDATE_ARGS, "output": "centre"}, 17, work_dir,
                         "cmb-stage1", args.epochs1, args.seed, aug1)
        detector = CmbDetector(CANDIDATE_ARGS, DISCRIMINATOR_ARGS)
        detector.candidate.load_state_dict(r1.fit.best_weights)
        detector.eval()
        pipe = CmbPipeline(detector, DetectSettings())
        stage2 = []
        for case, work in zip(cases, works, strict=True):
            run = pipe.detect(case.magnitude, case.phase, threshold=0.0)
            peaks = sorted(run.candidates, key=lambda c: -c.candidate_score)[:MAX_PEAKS_PER_CASE]
            ijk = work.grid.lps_to_index(np.array([c.center_lps for c in peaks]).reshape(-1, 3))
            stage2.append(td.stage2_patches(case, work, ijk, PATCH2, rng))
        items2 = [it for s, p in zip(seeds, stage2, strict=True) for it in p.items(splits[s])]
        log.info("stage 2: %d patches (%d positive)", len(items2), sum(int(p.labels.sum()) for p in stage2))
        aug2 = AugmentConfig(flip_prob=0.5, affine_prob=0.0, intensity_prob=0.5, intensity_scale=0.15,
                             intensity_shift=0.05, noise_prob=0.3,
                             noise_std=0.05)
        r2 = train_stage(items2, DISCRIMINATOR_NAME, DISCRIMINATOR_ARGS, PATCH2, work_dir, "cmb-stage2", args.epochs2,
                         args.seed, aug2)
        detector.discriminator.load_state_dict(r2.fit.best_weights)
        detector.eval()

        val_cases = [c for c in cases if splits[c.seed] == "val"]
        weight, weight_choice = choose_stage2_weight(pipe, val_cases)
        pipe = CmbPipeline(detector, DetectSettings(stage2_weight=weight))
        threshold, choice = choose_threshold(pipe, val_cases)
        choice["stage2_weight"] = weight_choice
        settings = DetectSettings(detection_threshold=threshold, stage2_weight=weight)
        pipe = CmbPipeline(detector, settings)
        eval_seeds = list(range(10_000, 10_000 + args.n_eval))
        scans = phantom_scans(eval_seeds)
        froc_phase = evaluate_scans(pipe, scans, use_phase=True)
        froc_mag = evaluate_scans(pipe, scans, use_phase=False)
        log.info("FROC with phase %s; magnitude only %s", froc_phase["sensitivity_at_fp"],
                 froc_mag["sensitivity_at_fp"])

        def auc(r: Any) -> float | None:
            value = r.test_metrics.get("per_class", {}).get("cmb", {}).get("roc_auc")
            return value.get("value") if isinstance(value, dict) else value

        summary = {
            "seed": args.seed, "n_cases": args.n_cases, "eval_seeds": eval_seeds,
            "n_stage1": len(items1), "n_stage2": len(items2),
            "stage1_test_auc": auc(r1), "stage1_best_epoch": r1.fit.best_epoch,
            "stage2_test_auc": auc(r2), "stage2_best_epoch": r2.fit.best_epoch,
            "threshold_choice": choice, "stage2_weight": weight,
            "froc_with_phase": froc_phase, "froc_magnitude_only": froc_mag,
        }
        meta = default_metadata(
            BUNDLE_NAME, "cmb_detect", version=VERSION, description=DESCRIPTION, class_names=["cmb"],
            inputs={"contrasts": ["magnitude", "phase"], "modality": "MR", "spacing": [1.0, 1.0, 1.0],
                    "patch_size": [PATCH2] * 3},
            demo=True, outputs={"channels": 1, "kind": "detection", "froc": to_plain(froc_phase["sensitivity_at_fp"]),
                                "froc_magnitude_only": to_plain(froc_mag["sensitivity_at_fp"])},
            thresholds={"cmb": {"operating": threshold}},
            changelog={VERSION: "first demo version, trained on SWI phantoms with scripts/train_demo_cmb_detect.py"},
        )
        meta["radtriage"]["training"] = {"script": "scripts/train_demo_cmb_detect.py", "seed": args.seed,
                                         "stage1_best_epoch": r1.fit.best_epoch, "stage2_best_epoch": r2.fit.best_epoch}
        target = args.out / f"{BUNDLE_NAME}-{VERSION}"
        network_def = {"_target_": DETECTOR_NAME, "candidate_args": CANDIDATE_ARGS,
                       "discriminator_args": DISCRIMINATOR_ARGS}
        write_bundle(target, detector, meta, network_def, model_card_text=model_card(summary),
                     extra_config={SETTINGS_KEY: settings.to_dict()}, overwrite=True)
        docs = target / "docs"
        for stage, result in (("stage1", r1), ("stage2", r2)):
            for f in sorted((result.bundle_path / "docs").glob("*")):
                if f.suffix in (".json", ".png"):
                    shutil.copy(f, docs / f"{stage}_{f.name}")
        write_evaluation(froc_phase, docs, "cmb_")
        write_evaluation(froc_mag, docs, "cmb_magnitude_only_")
        (docs / "summary.json").write_text(json.dumps(to_plain(summary), indent=2))
    log.info("wrote %s", target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
