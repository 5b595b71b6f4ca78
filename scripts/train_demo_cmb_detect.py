#!/usr/bin/env python
"""Train the demo CMBDetect bundle on SWI phantoms (demo, not for clinical use).

One seeded command (about 20 minutes on 2 idle CPU cores, 35 on a loaded machine)::

    .venv/bin/python scripts/train_demo_cmb_detect.py      # writes radtriage/bundles/cmb-detect-demo-<VERSION>

Stage 2 magnitude-only only (keeps an existing bundle's stage 1 and with-phase discriminator, trains the
magnitude-only discriminator of step 2b, then steps 3-4; about 15 minutes on a loaded machine)::

    .venv/bin/python scripts/train_demo_cmb_detect.py --retrain-stage2 radtriage/bundles/cmb-detect-demo-0.2.1

(this is how 0.3.0 was made from 0.2.1 — in git history before 0.3.0: its stage 1 and with-phase stage 2 are
the 0.2.0 weights, trained by the full command above.)

Re-calibration only (steps 3-4 below on an existing bundle's weights, unchanged; about 3 minutes)::

    .venv/bin/python scripts/train_demo_cmb_detect.py --recalibrate radtriage/bundles/cmb-detect-demo-0.2.0

(this is how 0.2.1 was made from 0.2.0 — in git history before 0.2.1 — same weights, a magnitude-only operating
point added; run on the 0.3.0 folder with the default phantom counts it reproduces 0.3.0's operating points and
FROCs).

Phantoms (:func:`radtriage.phantoms.make_swi_case`: 0.5x0.5x2 mm temporal-lobe patches with microbleeds, veins,
calcifications and air-bone cells, phase included) by seed, each one 'patient', never shared between roles:

* seeds ``0 .. n_cases-1`` train stage 1 (split 70/15/15 by phantom inside ``radtriage.training``);
* seeds ``0 .. n_mine-1`` (a superset: the stage-1 phantoms plus fresh ones) are where stage 2's training patches
  are mined (``0 .. n_mine_magnitude-1`` for the magnitude-only discriminator);
* seeds ``20000 ..`` (``--n-val``) choose the combination rule and the operating threshold;
* seeds ``10000 ..`` (``--n-eval``) are the held-out FROC of the model card;
* seeds ``900000 ..`` (``--n-report``) the operating-point table (as ``radtriage evaluate detection --phantoms N
  --first-seed 900000`` prints it).

Steps:

1. stage 1: screener patches (:mod:`radtriage.tasks.cmb_detect.training_data`), train
   :class:`radtriage.nets.cmb.CmbCandidateNet` with ``radtriage.training.train_bundle`` (multilabel, one class
   ``cmb``, class-balanced sampling, MONAI flips/intensity/noise augmentation, early stopping on validation AUC);
2. stage 2 (false-positive reduction): run the trained screener on every mining phantom exactly as at inference
   and label **every candidate it proposes** against the truth: the ``--negatives`` false ones with the highest
   screener score per phantom are the hard negatives (veins, calcifications, air-bone edges, noise), the hits plus
   jittered microbleed centres are the positives; train :class:`radtriage.nets.cmb.CmbDiscriminator` the same
   way (class-balanced, phase zeroed in 30 % of patches so the model also works without phase);
2b. stage 2 without phase: the same mining run magnitude only on ``--n-mine-magnitude`` phantoms (more of them:
   this is where the hard negatives of magnitude-only scans — veins, calcifications, air-bone edges — come from),
   the ``--negatives-magnitude`` strongest false candidates per phantom, and a separate one-channel
   :class:`radtriage.nets.cmb.CmbDiscriminator` (``CmbDetector.discriminator_magnitude_only``) trained on them;
   the pipeline uses it whenever no phase is given (a two-channel net with the phase zeroed did not help there:
   0.2.1's magnitude-only weight was 0);
3. combination rule ``confidence = stage1 ** (1 - w) * stage2 ** w`` (w = 0: screener alone, 0.5: geometric mean,
   1: discriminator alone): w with the fewest validation false positives per scan at the target sensitivity
   (0.90; ties: the best mean FROC sensitivity at 0.5/1/2/4 FP per scan, then the larger w), then the operating
   threshold = highest validation sensitivity at <= 1 FP per scan; chosen twice, on the validation phantoms
   with phase and on the same phantoms magnitude only (most T2*-GRE comes without phase) — the pipeline uses
   the magnitude-only pair whenever no phase is given;
4. held-out FROC of stage 1 alone and of stage 1 + 2 (same runs), with and without phase, the FP/scan each needs
   at equal sensitivity with paired-bootstrap 95 % intervals over phantoms, and the operating-point metrics of
   ``radtriage evaluate detection`` on ``--n-report`` fresh phantoms (seeds 900000..); the bundle and its model
   card.

``radtriage.training`` trains one network per bundle, so each stage is trained as its own (temporary) bundle and
the two are combined here; the stage bundles' test metrics, training histories and plots are copied into
``docs/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radtriage.evaluation import to_plain  # noqa: E402
from radtriage.nets.cmb import CANDIDATE_NAME, DETECTOR_NAME, DISCRIMINATOR_NAME, CmbDetector  # noqa: E402
from radtriage.phantoms import make_swi_case  # noqa: E402
from radtriage.preprocess.transforms import PREPROCESSING_KEY  # noqa: E402
from radtriage.tasks.cmb_detect import training_data as td  # noqa: E402
from radtriage.tasks.cmb_detect.detector import SETTINGS_KEY, CmbPipeline, DetectSettings  # noqa: E402
from radtriage.tasks.cmb_detect.evaluate import (  # noqa: E402
    TARGET,
    compare_stages,
    evaluate_runs,
    evaluate_scans,
    fp_per_scan_at,
    phantom_scans,
    write_evaluation,
)
from radtriage.tasks.cmb_detect.prep import default_pipeline_config  # noqa: E402

log = logging.getLogger("train_demo_cmb_detect")

BUNDLE_NAME = "cmb-detect-demo"
VERSION = "0.3.0"
DESCRIPTION = (
    "DEMO, not for clinical use: two-stage cerebral microbleed detector for SWI / T2*-GRE (3D FCN screener on a "
    "1 mm isotropic grid + 3D patch discriminator on magnitude and optional phase), trained only on synthetic "
    "SWI phantoms."
)
CANDIDATE_ARGS: dict[str, Any] = {"in_channels": 1, "out_channels": 1, "layers": [[8, 1], [8, 1], [8, 2], [8, 4]],
                                  "head_channels": 8}
VAL_SEED0 = 20_000
EVAL_SEED0 = 10_000
CHANGELOG = {
    "0.1.0": "first demo version, trained on SWI phantoms with scripts/train_demo_cmb_detect.py",
    "0.2.0": "stage 2 trained on every stage-1 candidate of 48 mining phantoms (hard negatives) and weighted into "
             "the confidence by validation; exact tiled stage-1 screening (no overlap, empty tiles skipped)",
    "0.2.1": "same weights as 0.2.0; own magnitude-only operating point (stage-2 weight and threshold chosen on the "
             "validation phantoms run without phase), used whenever no phase is given; weight chosen by the fewest "
             "validation FP/scan at sensitivity 0.90",
    "0.3.0": "same stage 1 and with-phase stage 2 as 0.2.1; new magnitude-only stage 2 (one-channel discriminator "
             "trained on the stage-1 candidates of 96 mining phantoms run without phase), used whenever no phase is "
             "given; operating points re-chosen on 20 validation phantoms; held-out comparison on 30 phantoms with "
             "bootstrap intervals",
}
STAGE2_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
PATCH2 = 16
DISCRIMINATOR_ARGS: dict[str, Any] = {"in_channels": 2, "out_channels": 1, "channels": [8, 16, 32], "dropout": 0.2}
PATCH2_MAG = 16
MAGNITUDE_ONLY_ARGS: dict[str, Any] = {"in_channels": 1, "out_channels": 1, "channels": [8, 16, 32], "dropout": 0.2}
REPORT_SEED0 = 900_000


def split_of(seeds: list[int], seed: int) -> dict[int, str]:
    """Seeded 70/15/15 split of the phantom seeds (each phantom is one 'patient')."""
    rng = np.random.default_rng(seed)
    order = [seeds[i] for i in rng.permutation(len(seeds))]
    n_val = n_test = max(1, round(0.15 * len(seeds)))
    return {s: ("val" if n < n_val else "test" if n < n_val + n_test else "train") for n, s in enumerate(order)}


def train_stage(items: list[dict[str, Any]], network: str, args: dict[str, Any], patch: int, out: Path, name: str,
                epochs: int, seed: int, augment: Any, patience: int = 4) -> Any:
    """One stage with ``radtriage.training.train_bundle``; returns its TrainResult."""
    from radtriage.training import TrainConfig, train_bundle

    config = TrainConfig(
        task="cmb_detect", network=network, network_args=args, out_dir=out, kind="multilabel", class_names=["cmb"],
        name=name, demo=True, description=f"{name}: one stage of the CMBDetect demo (demo, not for clinical use)",
        contrasts=["magnitude", "phase"][: args["in_channels"]], spacing=[1.0, 1.0, 1.0],
        patch_size=(patch, patch, patch), resize="crop", normalize="none", seed=seed, max_epochs=epochs,
        batch_size=64, learning_rate=2e-3, patience=patience, augment=augment, device="cpu", progress="none",
        n_bootstrap=200,
    )
    result = train_bundle(items, config)
    log.info("%s: best epoch %d, test %s", name, result.fit.best_epoch,
             {k: v.get("roc_auc") for k, v in result.test_metrics.get("per_class", {}).items()})
    return result


def rescored(runs: list[Any], weight: float) -> list[Any]:
    """The runs with ``confidence = stage1 ** (1 - w) * stage2 ** w`` (threshold 0, every candidate kept)."""
    out = []
    for run in runs:
        cands = [replace(c, confidence=max(c.candidate_score, 1e-6) ** (1 - weight)
                         * max(c.stage2_probability, 1e-6) ** weight) for c in run.candidates]
        out.append(SimpleNamespace(candidates=cands, threshold=0.0))
    return out


def mean_sensitivity(result: dict[str, Any]) -> float:
    """Mean FROC sensitivity at 0.5/1/2/4 FP per scan (0 when undefined)."""
    mean = result["mean_sensitivity"]
    return float(mean["value"]) if isinstance(mean, dict) and mean.get("value") is not None else 0.0


def choose_stage2_weight(runs: list[Any], scans: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    """The weight w of the discriminator in ``confidence = stage1 ** (1 - w) * stage2 ** w`` needing the fewest
    false positives per scan for the target sensitivity on the validation ``runs`` (ties: the best mean FROC
    sensitivity at 0.5/1/2/4 FP per scan, then the larger w)."""
    target = float(TARGET["sensitivity"])
    scores, fp_at = {}, {}
    for w in STAGE2_WEIGHTS:
        result = evaluate_runs(rescored(runs, w), scans)
        scores[w] = mean_sensitivity(result)
        fp_at[w] = fp_per_scan_at(result, target)
    best = min(STAGE2_WEIGHTS, key=lambda w: (np.inf if fp_at[w] is None else round(fp_at[w], 6),
                                              -round(scores[w], 6), -w))
    return best, {"candidates": {str(w): v for w, v in scores.items()},
                  f"fp_per_scan_at_sensitivity_{target:g}": {str(w): v for w, v in fp_at.items()}, "chosen": best,
                  "criterion": f"fewest validation FP/scan at sensitivity {target:g} (ties: mean FROC sensitivity "
                               "at 0.5/1/2/4 FP per scan, then the larger w)"}


def choose_threshold(runs: list[Any], scans: list[dict[str, Any]], score: str,
                     max_fp: float = 1.0) -> tuple[float, dict[str, Any]]:
    """The threshold (on ``score``) with the highest validation sensitivity at <= ``max_fp`` FP per scan."""
    froc = evaluate_runs(runs, scans, score=score)["froc"]
    best, threshold = -1.0, 0.5
    if froc["sensitivity"] is None:
        return threshold, {"max_fp_per_scan": max_fp, "note": "no microbleeds in the validation phantoms; 0.5 used"}
    for t, fp, sens in zip(froc["thresholds"], froc["fp_per_scan"], froc["sensitivity"], strict=True):
        if t is not None and fp <= max_fp and sens > best:
            best, threshold = sens, float(t)
    return threshold, {"max_fp_per_scan": max_fp, "val_sensitivity": best, "threshold": threshold}


def model_card(summary: dict[str, Any]) -> str:
    """Markdown model card with both held-out FROCs (stage 1 alone, stage 1 + 2), the stage metrics and limits."""
    def sens_row(ev: dict[str, Any]) -> str:
        return " | ".join(f"{p['sensitivity']:.3f}" for p in ev["sensitivity_at_fp"])

    def op(ev: dict[str, Any]) -> str:
        o = ev["operating_point"]
        return f"sensitivity {o['sensitivity']:.3f} at {o['fp_per_scan']:.2f} FP/scan (threshold {o['threshold']:.3f})"

    def met(ev: dict[str, Any]) -> str:
        return "met" if ev["target"]["met"] else "not met"

    def fp(v: float | None) -> str:
        return "not reached" if v is None else f"{v:.2f}"

    def ci(v: list[float | None] | None) -> str:
        if not v:
            return ""
        lo, hi = ("not reached" if x is None else f"{x:.2f}" for x in v)
        return f" ({lo} to {hi})"

    def equal_sensitivity_rows(mode: str, held: dict[str, Any]) -> list[str]:
        rows = []
        for r in held["fp_per_scan_at_sensitivity"]:
            share = r.get("stage1_2_fewer_share")
            rows.append(f"| {mode} | {r['sensitivity']:.2f} | {fp(r['stage1_fp_per_scan'])}{ci(r.get('stage1_ci95'))} "
                        f"| {fp(r['stage1_2_fp_per_scan'])}{ci(r.get('stage1_2_ci95'))} "
                        f"| {fp(r.get('reduction'))}{ci(r.get('reduction_ci95'))} "
                        f"| {'n/a' if share is None else f'{share:.2f}'} |")
        return rows

    def value(metric: Any) -> float | None:
        return metric.get("value") if isinstance(metric, dict) else metric

    def prop(metric: Any) -> str:
        if not isinstance(metric, dict) or metric.get("value") is None:
            return "n/a"
        return f"{metric['value']:.2f} ({metric['ci_low']:.2f}-{metric['ci_high']:.2f})"

    def num(v: Any) -> str:
        v = value(v)
        return "n/a" if v is None else f"{v:.2f}"

    def op_row(name: str, o: dict[str, Any]) -> str:
        sub = o.get("subject_level") or {}
        conf = sub.get("confusion") or {}
        n_with, n_without = conf.get("tp", 0) + conf.get("fn", 0), conf.get("tn", 0) + conf.get("fp", 0)
        return (f"| {name} | {o['threshold']:.3f} | {prop(o.get('lesion_sensitivity'))} | "
                f"{num(o.get('mean_subject_sensitivity'))} | {num(o.get('fp_per_subject'))} | "
                f"{prop(o.get('precision'))} | {num(o.get('f1'))} | {num(sub.get('balanced_accuracy'))} "
                f"({conf.get('tp', 0)}/{n_with} with, {conf.get('tn', 0)}/{n_without} without) |")

    def num4(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    rep_ = summary.get("operating_point_report")
    mag_net = bool(summary.get("stage2_magnitude_only"))

    ph, mag = summary["held_out_with_phase"], summary["held_out_magnitude_only"]
    w, w_mag = summary["stage2_weight"], summary["stage2_weight_magnitude_only"]
    crit = summary["weight_choice"]["criterion"]
    fp_key = next(k for k in summary["weight_choice"] if k.startswith("fp_per_scan_at_sensitivity"))
    n_scans, n_lesions = ph["stage1_2"]["froc"]["n_scans"], ph["stage1_2"]["froc"]["n_lesions"]
    lines = [
        f"# {BUNDLE_NAME} {VERSION}", "",
        "> **DEMO MODEL — demo, not for clinical use. Trained and tested on synthetic SWI phantoms only.**", "",
        DESCRIPTION, "",
        "## Pipeline",
        "- Working grid: 1 mm isotropic in the input's own axes (SimpleITK linear resampling); magnitude divided by "
        "the median foreground (Otsu) intensity; multi-echo magnitude combined by root-sum-of-squares.",
        "- Stage 1 (candidates): `radtriage.nets.cmb.CmbCandidateNet` (valid dilated 3D FCN, receptive field 17 mm) "
        "run densely in non-overlapping 64^3 tiles with an exact halo (tiles without head foreground skipped); "
        "peaks = local maxima >= candidate threshold, >= 2 voxels apart.",
        "- Stage 2 (false-positive reduction): `radtriage.nets.cmb.CmbDiscriminator` on 16 mm patches (magnitude + "
        "phase, phase zero when absent) around every candidate, trained on the candidates stage 1 actually proposes "
        "on the mining phantoms (its false positives — veins, calcifications, air-bone edges — are the hard "
        "negatives)" + (
            "; without phase a **separate magnitude-only discriminator** (same architecture, one channel, "
            f"{PATCH2_MAG} mm patches) trained on the candidates stage 1 proposes on "
            f"{summary.get('n_mine_magnitude')} mining phantoms run magnitude only." if mag_net else "."),
        f"- Confidence = stage1 ** (1 - w) * stage2 ** w with **w = {w} with phase** and **w = {w_mag} magnitude "
        f"only** (w = 0: stage 1 alone), each chosen on the {summary['n_val']} validation phantoms run with / "
        f"without phase among 0, 0.25, 0.5, 0.75, 1 by the {crit}. Validation FP/scan at sensitivity 0.9 with "
        f"phase {summary['weight_choice'][fp_key]}, magnitude only {summary['weight_choice_magnitude_only'][fp_key]}; "
        f"mean sensitivity with phase {summary['weight_choice']['candidates']}, magnitude only "
        f"{summary['weight_choice_magnitude_only']['candidates']}.",
        f"- Operating threshold on the confidence: {summary['threshold']:.3f} with phase, "
        f"{summary['threshold_magnitude_only']:.3f} magnitude only (validation: highest sensitivity at <= 1 FP/scan "
        "in each mode); the pipeline picks the magnitude-only pair whenever no phase image is given.",
        "- Candidates merged within max(3 mm, radius); radius from the thresholded blob; location class "
        "(lobar / deep / infratentorial, as in MARS) from an MNI region map derived from the BSD-2 arterial "
        "territory atlas after affine registration of the magnitude to the MNI ICBM152 template (mutual "
        "information on a 3 mm copy, with a quality check); `unknown` when the field of view cannot hold a whole "
        "head (as for these phantom patches) or the registration fails its quality check, with the reason in "
        "`result.json` (`outputs.location_note`).",
        "",
        f"## FROC on {n_scans} held-out phantoms ({n_lesions} microbleeds; hit within 2 mm or the apparent radius)",
        "", "Sensitivity at a given number of false positives per scan:", "",
        "| input | score | @ 0.5 FP | @ 1 FP | @ 2 FP | @ 4 FP |", "|---|---|---|---|---|---|",
        f"| magnitude + phase | stage 1 alone | {sens_row(ph['stage1'])} |",
        f"| magnitude + phase | stage 1 + 2 | {sens_row(ph['stage1_2'])} |",
        f"| magnitude only | stage 1 alone | {sens_row(mag['stage1'])} |",
        f"| magnitude only | stage 1 + 2 | {sens_row(mag['stage1_2'])} |", "",
        "False positives per scan needed for an equal lesion sensitivity, stage 1 alone vs stage 1 + 2 (same runs; "
        f"95 % intervals: paired bootstrap over the {n_scans} phantoms; 'share' = fraction of bootstrap draws in "
        "which stage 1 + 2 needs fewer FP/scan than stage 1 alone):", "",
        "| input | sensitivity | stage 1 alone | stage 1 + 2 | reduction (FP/scan) | share |",
        "|---|---|---|---|---|---|",
        *equal_sensitivity_rows("magnitude only", mag), *equal_sensitivity_rows("magnitude + phase", ph), "",
        f"Operating point, stage 1 + 2: with phase {op(ph['stage1_2'])}; magnitude only {op(mag['stage1_2'])}.",
        f"Stage 1 alone at its own validation threshold: {op(ph['stage1'])}.",
        f"Target (sensitivity >= 0.90 at <= 1.5 FP/scan) with each mode's own operating point: with phase "
        f"**{met(ph['stage1_2'])}**, magnitude only **{met(mag['stage1_2'])}**.", "",
        "## Stage metrics (patch level, held-out phantom split of radtriage.training)",
        f"- Stage 1 test ROC AUC: {num4(summary['stage1_test_auc'])}; best epoch {summary['stage1_best_epoch']}",
        f"- Stage 2 test ROC AUC: {num4(summary['stage2_test_auc'])}; best epoch {summary['stage2_best_epoch']}",
        *([f"- Stage 2 magnitude-only test ROC AUC: {num4(summary['stage2_magnitude_only_test_auc'])}; best epoch "
           f"{summary['stage2_magnitude_only_best_epoch']}"] if mag_net else []),
        "", "## Data",
        f"- Stage 1: phantoms 0..{summary['n_cases'] - 1}, {summary['n_stage1']} patches; stage 2: mining phantoms "
        f"0..{summary['n_mine'] - 1}, {summary['n_stage2']} patches ({summary['n_stage2_positive']} positive); "
        + (f"magnitude-only stage 2: mining phantoms 0..{summary['n_mine_magnitude'] - 1} run without phase, "
           f"{summary['n_stage2_magnitude_only']} patches ({summary['n_stage2_magnitude_only_positive']} positive); "
           if mag_net else "") + "all split 70/15/15 by phantom.",
        f"- Validation phantoms (rule and threshold): seeds {summary['val_seeds'][0]}..{summary['val_seeds'][-1]}; "
        f"held-out phantoms: seeds {summary['eval_seeds'][0]}..{summary['eval_seeds'][-1]} (never trained on).",
        "", "## Limits",
        "- Phantoms are temporal-lobe patches; real SWI has more vessel variety, motion, and other mimics.",
        "- Without phase, calcifications cannot be told from microbleeds; phase must be unwrapped, "
        "background-removed, right-handed radians.",
        *(["- The magnitude-only stage 2 can only use size, depth and shape: in these phantoms calcifications are "
            "smaller and less dark than microbleeds by construction, so part of its gain may not carry over to real "
            "scans, where a calcification can look exactly like a microbleed on magnitude."] if mag_net else []),
        "- The location class needs a whole-head scan that passes the registration quality check; an affine fit "
        "is a few mm off in the middle of the brain and more at the cortex and class borders, and does not follow "
        "atrophy, large lesions or resections; deep white matter supplied by the cortical arteries counts as "
        "lobar except a 4 mm periventricular rim.",
        "", f"Reproduce: `.venv/bin/python scripts/train_demo_cmb_detect.py --seed {summary['seed']}`"
        + (f" (weights); this version's calibration: `{summary['recalibrated']['command']}`"
           if summary.get("recalibrated") else "")
        + (f" (the stage-1 and with-phase stage-2 weights, as in {summary['stage2_retrained']['from']}); this "
           f"version's magnitude-only stage 2 and calibration: `{summary['stage2_retrained']['command']}`"
           if summary.get("stage2_retrained") else ""), "",
    ]
    if rep_:
        froc = {m: " / ".join(f"{p['sensitivity']:.2f}" for p in rep_[m]["sensitivity_at_fp"])
                for m in ("magnitude_only", "with_phase")}
        n_rep = rep_["n_with"] + rep_["n_without"]
        lines += [
            "## At the operating point, as the seed paper reports (`radtriage evaluate detection`)", "",
            f"> Demo, not for clinical use: {n_rep} fresh SWI phantoms (seeds {rep_['seeds'][0]}-{rep_['seeds'][1]}; "
            f"{rep_['n_lesions']} microbleeds; {rep_['n_with']} subjects with and {rep_['n_without']} without "
            "microbleeds). Proportions with 95 % Wilson intervals. Seed (Hassanzadeh 2025, ADNI, real): sensitivity "
            "0.920, balanced accuracy 0.953. Same numbers: `radtriage evaluate detection --phantoms "
            f"{n_rep} --first-seed {rep_['seeds'][0]} [--no-phase]`.", "",
            "| input | threshold | lesion sensitivity | per-subject sensitivity | FP / subject | precision | F1 | "
            "subject-level balanced accuracy |", "|---|---|---|---|---|---|---|---|",
            op_row("magnitude only", rep_["magnitude_only"]["operating_point"]),
            op_row("with phase", rep_["with_phase"]["operating_point"]), "",
            f"FROC sensitivity at 0.5 / 1 / 2 / 4 FP per scan: magnitude only {froc['magnitude_only']}, with phase "
            f"{froc['with_phase']}. Subject-level specificity rests on {rep_['n_without']} lesion-free subjects only: "
            "it is not a measured figure.", "",
        ]
    return "\n".join(lines)


def train(args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """Steps 1-2: train both stages; returns the detector, the training facts for the summary and the stage
    bundles' docs (``{file name: text}``)."""
    from radtriage.training import AugmentConfig

    rng = np.random.default_rng(args.seed)
    n_mine = max(args.n_mine, args.n_cases)
    seeds = list(range(n_mine))
    splits1 = split_of(seeds[: args.n_cases], args.seed)  # stage 1: as in 0.1.0
    splits = split_of(seeds, args.seed)  # stage 2 (its own patch-level validation / test)
    log.info("drawing %d phantoms", len(seeds))
    cases = [make_swi_case(s) for s in seeds]
    works = [td.working_of(c) for c in cases]

    aug = AugmentConfig(**AUGMENT)
    stage1 = [td.stage1_patches(c, w, 17, rng) for c, w in zip(cases[: args.n_cases], works, strict=False)]
    items1 = [it for s, p in zip(seeds, stage1, strict=False) for it in p.items(splits1[s])]
    log.info("stage 1: %d patches (%d positive)", len(items1), sum(int(p.labels.sum()) for p in stage1))

    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        r1 = train_stage(items1, CANDIDATE_NAME, {**CANDIDATE_ARGS, "output": "centre"}, 17, work_dir,
                         "cmb-stage1", args.epochs1, args.seed, aug, patience=4)
        detector = CmbDetector(CANDIDATE_ARGS, DISCRIMINATOR_ARGS, MAGNITUDE_ONLY_ARGS)
        detector.candidate.load_state_dict(r1.fit.best_weights)
        detector.eval()
        # stage 2 mining: every candidate stage 1 proposes (merged by its own score), as at inference
        pipe = CmbPipeline(detector, DetectSettings(stage2_weight=0.0))
        stage2 = []
        for case, work in zip(cases, works, strict=True):
            run = pipe.detect(case.magnitude, case.phase, threshold=0.0)
            ranked = sorted(run.candidates, key=lambda c: -c.candidate_score)
            ijk = work.grid.lps_to_index(np.array([c.center_lps for c in ranked]).reshape(-1, 3))
            stage2.append(td.stage2_patches(case, work, ijk, PATCH2, rng, n_jitter=4, max_negatives=args.negatives,
                                            phase_dropout=args.phase_dropout))
        items2 = [it for s, p in zip(seeds, stage2, strict=True) for it in p.items(splits[s])]
        n_pos2 = sum(int(p.labels.sum()) for p in stage2)
        log.info("stage 2: %d patches (%d positive)", len(items2), n_pos2)
        r2 = train_stage(items2, DISCRIMINATOR_NAME, DISCRIMINATOR_ARGS, PATCH2, work_dir, "cmb-stage2", args.epochs2,
                         args.seed, aug, patience=3)
        detector.discriminator.load_state_dict(r2.fit.best_weights)
        detector.eval()
        docs = {f"{stage}_{f.name}": f.read_text() for stage, result in (("stage1", r1), ("stage2", r2))
                for f in sorted((result.bundle_path / "docs").glob("*.json"))}
        mag_facts, mag_docs = train_magnitude_only(detector, args, work_dir, aug)
        docs.update(mag_docs)

    def auc(r: Any) -> float | None:
        value = r.test_metrics.get("per_class", {}).get("cmb", {}).get("roc_auc")
        return value.get("value") if isinstance(value, dict) else value

    facts = {"n_cases": args.n_cases, "n_mine": n_mine, "n_stage1": len(items1), "n_stage2": len(items2),
             "n_stage2_positive": n_pos2, "stage1_test_auc": auc(r1), "stage1_best_epoch": r1.fit.best_epoch,
             "stage2_test_auc": auc(r2), "stage2_best_epoch": r2.fit.best_epoch, **mag_facts}
    return detector, facts, docs


def train_magnitude_only(detector: Any, args: argparse.Namespace, work_dir: Path,
                         aug: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Step 2b: mine the screener's candidates on magnitude-only runs of phantoms ``0 .. n_mine_magnitude-1`` and
    train ``detector.discriminator_magnitude_only`` on them; returns the training facts and the stage docs."""
    rng = np.random.default_rng(args.seed + 1)
    seeds = list(range(args.n_mine_magnitude))
    splits = split_of(seeds, args.seed)
    pipe = CmbPipeline(detector, DetectSettings(stage2_weight=0.0))
    sets = []
    for seed in seeds:
        case = make_swi_case(seed)
        work = td.working_of(case, with_phase=False)
        run = pipe.detect(case.magnitude, None, threshold=0.0)
        ranked = sorted(run.candidates, key=lambda c: -c.candidate_score)
        ijk = work.grid.lps_to_index(np.array([c.center_lps for c in ranked]).reshape(-1, 3))
        sets.append(td.stage2_patches(case, work, ijk, PATCH2_MAG, rng, n_jitter=4,
                                      max_negatives=args.negatives_magnitude, magnitude_only=True))
    items = [it for s, p in zip(seeds, sets, strict=True) for it in p.items(splits[s])]
    n_pos = sum(int(p.labels.sum()) for p in sets)
    log.info("stage 2 magnitude only: %d patches (%d positive)", len(items), n_pos)
    result = train_stage(items, DISCRIMINATOR_NAME, MAGNITUDE_ONLY_ARGS, PATCH2_MAG, work_dir,
                         "cmb-stage2-magnitude-only", args.epochs2, args.seed, aug, patience=3)
    detector.discriminator_magnitude_only.load_state_dict(result.fit.best_weights)
    detector.eval()
    value = result.test_metrics.get("per_class", {}).get("cmb", {}).get("roc_auc")
    facts = {"n_mine_magnitude": len(seeds), "n_stage2_magnitude_only": len(items),
             "n_stage2_magnitude_only_positive": n_pos,
             "stage2_magnitude_only_test_auc": value.get("value") if isinstance(value, dict) else value,
             "stage2_magnitude_only_best_epoch": result.fit.best_epoch}
    docs = {f"stage2_magnitude_only_{f.name}": f.read_text()
            for f in sorted((result.bundle_path / "docs").glob("*.json"))}
    return facts, docs


AUGMENT = {"flip_prob": 0.5, "affine_prob": 0.0, "intensity_prob": 0.5, "intensity_scale": 0.15,
           "intensity_shift": 0.05, "noise_prob": 0.3, "noise_std": 0.05}
TRAINING_FACTS = ("n_cases", "n_mine", "n_stage1", "n_stage2", "n_stage2_positive", "stage1_test_auc",
                  "stage1_best_epoch", "stage2_test_auc", "stage2_best_epoch")
MAGNITUDE_ONLY_FACTS = ("n_mine_magnitude", "n_stage2_magnitude_only", "n_stage2_magnitude_only_positive",
                        "stage2_magnitude_only_test_auc", "stage2_magnitude_only_best_epoch", "stage2_retrained")


def trained_bundle(path: Path) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """An existing bundle's detector (weights unchanged), training facts (its ``docs/summary.json``) and stage
    docs, for re-calibration without training."""
    from radtriage.models import load_bundle

    loaded = load_bundle(path, "cpu", task="cmb_detect")
    detector = loaded.network.eval()
    docs_dir = path / "docs"
    summary = json.loads((docs_dir / "summary.json").read_text())
    facts = {k: summary[k] for k in TRAINING_FACTS}
    facts.update({k: summary[k] for k in MAGNITUDE_ONLY_FACTS if k in summary})
    facts["recalibrated"] = {"from": f"{loaded.meta.name} {loaded.meta.version}",
                             "weights_sha256": loaded.meta.weights.sha256,
                             "command": "scripts/train_demo_cmb_detect.py --recalibrate "
                                        f"radtriage/bundles/{path.name}"}
    docs = {f.name: f.read_text() for f in sorted(docs_dir.glob("stage[12]_*.json"))}
    return detector, facts, docs


def retrained_stage2(path: Path, args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """An existing bundle's stage 1 and with-phase discriminator (unchanged) plus a newly trained magnitude-only
    discriminator (step 2b)."""
    from radtriage.training import AugmentConfig

    base, facts, docs = trained_bundle(path)
    origin = facts.pop("recalibrated")
    detector = CmbDetector(CANDIDATE_ARGS, DISCRIMINATOR_ARGS, MAGNITUDE_ONLY_ARGS)
    detector.candidate.load_state_dict(base.candidate.state_dict())
    detector.discriminator.load_state_dict(base.discriminator.state_dict())
    detector.eval()
    docs = {k: v for k, v in docs.items() if not k.startswith("stage2_magnitude_only_")}
    with tempfile.TemporaryDirectory() as tmp:
        mag_facts, mag_docs = train_magnitude_only(detector, args, Path(tmp), AugmentConfig(**AUGMENT))
    facts.update(mag_facts)
    facts["stage2_retrained"] = {"from": origin["from"], "weights_sha256": origin["weights_sha256"],
                                 "command": f"scripts/train_demo_cmb_detect.py --retrain-stage2 radtriage/bundles/"
                                            f"{path.name}"}
    return detector, facts, {**docs, **mag_docs}


def operating_point_report(pipe: Any, n: int) -> dict[str, Any]:
    """What ``radtriage evaluate detection --phantoms n --first-seed 900000 [--no-phase]`` reports at each mode's
    operating point (fresh phantoms)."""
    scans = phantom_scans(range(REPORT_SEED0, REPORT_SEED0 + n))
    out: dict[str, Any] = {"seeds": [REPORT_SEED0, REPORT_SEED0 + n - 1],
                           "n_lesions": sum(len(s["truth"]) for s in scans),
                           "n_with": sum(1 for s in scans if s["truth"]),
                           "n_without": sum(1 for s in scans if not s["truth"])}
    for mode, use_phase in (("magnitude_only", False), ("with_phase", True)):
        result = evaluate_scans(pipe, scans, use_phase=use_phase)
        out[mode] = {"operating_point": result["operating_point"], "sensitivity_at_fp": result["sensitivity_at_fp"]}
    return out


def calibrate(pipe: Any, val_scans: list[dict[str, Any]], use_phase: bool) -> dict[str, Any]:
    """Step 3 for one input mode: the stage-2 weight and operating threshold on the validation phantoms, run with
    (``use_phase``) or without phase; also the screener-only threshold."""
    runs = [pipe.detect(s["magnitude"], s["phase"] if use_phase else None, threshold=0.0) for s in val_scans]
    weight, weight_choice = choose_stage2_weight(runs, val_scans)
    threshold, choice = choose_threshold(rescored(runs, weight), val_scans, "confidence")
    threshold1, choice1 = choose_threshold(runs, val_scans, "stage1")
    log.info("%s: stage-2 weight %s (validation FP/scan at 0.9: %s), threshold %.4f",
             "with phase" if use_phase else "magnitude only", weight,
             weight_choice[next(k for k in weight_choice if k.startswith("fp_per_scan"))], threshold)
    return {"weight": weight, "weight_choice": weight_choice, "threshold": threshold, "threshold_choice": choice,
            "stage1_threshold": threshold1, "stage1_threshold_choice": choice1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=ROOT / "radtriage" / "bundles")
    parser.add_argument("--recalibrate", type=Path, default=None, metavar="BUNDLE",
                        help="skip training: re-choose the operating points (with phase and magnitude only) for this "
                             "bundle's weights and write them as version " + VERSION)
    parser.add_argument("--retrain-stage2", type=Path, default=None, metavar="BUNDLE",
                        help="keep this bundle's stage 1 and with-phase stage 2, train the magnitude-only stage 2 "
                             "(step 2b), re-calibrate and write version " + VERSION)
    parser.add_argument("--n-cases", type=int, default=24, help="stage-1 training phantoms")
    parser.add_argument("--n-mine", type=int, default=32, help="phantoms whose stage-1 candidates train stage 2")
    parser.add_argument("--negatives", type=int, default=50,
                        help="hardest stage-1 false positives (highest screener score) kept per mining phantom")
    parser.add_argument("--n-mine-magnitude", type=int, default=96,
                        help="phantoms whose magnitude-only stage-1 candidates train the magnitude-only stage 2")
    parser.add_argument("--negatives-magnitude", type=int, default=80,
                        help="hardest false candidates kept per phantom for the magnitude-only stage 2")
    parser.add_argument("--n-val", type=int, default=20)
    parser.add_argument("--n-eval", type=int, default=30)
    parser.add_argument("--n-report", type=int, default=20, help="fresh phantoms of the operating-point table")
    parser.add_argument("--n-bootstrap", type=int, default=2000, help="paired bootstrap draws (held-out intervals)")
    parser.add_argument("--phase-dropout", type=float, default=0.3,
                        help="share of stage-2 patches with the phase channel zeroed (magnitude-only robustness)")
    parser.add_argument("--epochs1", type=int, default=5)
    parser.add_argument("--epochs2", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    from radtriage.models import default_metadata, write_bundle
    from radtriage.runtime.device import set_deterministic

    torch.set_num_threads(2)
    set_deterministic(args.seed)
    if args.recalibrate is not None:
        detector, facts, stage_docs = trained_bundle(args.recalibrate.resolve())
    elif args.retrain_stage2 is not None:
        detector, facts, stage_docs = retrained_stage2(args.retrain_stage2.resolve(), args)
    else:
        detector, facts, stage_docs = train(args)

    val_seeds = list(range(VAL_SEED0, VAL_SEED0 + args.n_val))
    val_scans = phantom_scans(val_seeds)
    pipe = CmbPipeline(detector, DetectSettings(stage2_weight=0.0))  # validation candidates merged by stage 1
    cal = calibrate(pipe, val_scans, use_phase=True)
    cal_mag = calibrate(pipe, val_scans, use_phase=False)
    settings = DetectSettings(detection_threshold=cal["threshold"], stage2_weight=cal["weight"],
                              stage2_weight_magnitude_only=cal_mag["weight"],
                              detection_threshold_magnitude_only=cal_mag["threshold"],
                              patch_size_magnitude_only=PATCH2_MAG)
    pipe = CmbPipeline(detector, settings)
    eval_seeds = list(range(EVAL_SEED0, EVAL_SEED0 + args.n_eval))
    scans = phantom_scans(eval_seeds)
    held_phase = compare_stages(pipe, scans, use_phase=True, stage1_threshold=cal["stage1_threshold"],
                                n_bootstrap=args.n_bootstrap)
    held_mag = compare_stages(pipe, scans, use_phase=False, stage1_threshold=cal_mag["stage1_threshold"],
                              n_bootstrap=args.n_bootstrap)
    for name, held in (("with phase", held_phase), ("magnitude only", held_mag)):
        log.info("held-out %s: stage 1 %s; stage 1+2 %s", name,
                 [round(p["sensitivity"], 3) for p in held["stage1"]["sensitivity_at_fp"]],
                 [round(p["sensitivity"], 3) for p in held["stage1_2"]["sensitivity_at_fp"]])

    summary = {
        "seed": args.seed, "n_val": args.n_val, "val_seeds": val_seeds, "eval_seeds": eval_seeds, **facts,
        "threshold": cal["threshold"], "threshold_choice": cal["threshold_choice"],
        "stage1_threshold_choice": cal["stage1_threshold_choice"],
        "stage2_weight": cal["weight"], "weight_choice": cal["weight_choice"],
        "threshold_magnitude_only": cal_mag["threshold"],
        "threshold_choice_magnitude_only": cal_mag["threshold_choice"],
        "stage1_threshold_choice_magnitude_only": cal_mag["stage1_threshold_choice"],
        "stage2_weight_magnitude_only": cal_mag["weight"], "weight_choice_magnitude_only": cal_mag["weight_choice"],
        "held_out_with_phase": held_phase, "held_out_magnitude_only": held_mag,
        "operating_point_report": operating_point_report(pipe, args.n_report),
        "stage2_magnitude_only": getattr(detector, "discriminator_magnitude_only", None) is not None,
    }
    froc_of = {k: to_plain(held_phase[k]["sensitivity_at_fp"]) for k in ("stage1", "stage1_2")}
    meta = default_metadata(
        BUNDLE_NAME, "cmb_detect", version=VERSION, description=DESCRIPTION, class_names=["cmb"],
        inputs={"contrasts": ["magnitude", "phase"], "modality": "MR", "spacing": [1.0, 1.0, 1.0],
                "patch_size": [PATCH2] * 3},
        demo=True, outputs={"channels": 1, "kind": "detection", "froc": froc_of["stage1_2"],
                            "froc_stage1_only": froc_of["stage1"],
                            "froc_magnitude_only": to_plain(held_mag["stage1_2"]["sensitivity_at_fp"])},
        thresholds={"cmb": {"operating": cal["threshold"], "operating_magnitude_only": cal_mag["threshold"]}},
        changelog=CHANGELOG,
    )
    meta["radtriage"]["training"] = {"script": "scripts/train_demo_cmb_detect.py", "seed": args.seed,
                                     "stage1_best_epoch": facts["stage1_best_epoch"],
                                     "stage2_best_epoch": facts["stage2_best_epoch"],
                                     **({"recalibrated": facts["recalibrated"]} if "recalibrated" in facts else {}),
                                     **({"stage2_retrained": facts["stage2_retrained"]}
                                        if "stage2_retrained" in facts else {})}
    target = args.out / f"{BUNDLE_NAME}-{VERSION}"
    network_def = {"_target_": DETECTOR_NAME, "candidate_args": CANDIDATE_ARGS,
                   "discriminator_args": DISCRIMINATOR_ARGS}
    if summary["stage2_magnitude_only"]:
        network_def["magnitude_only_args"] = MAGNITUDE_ONLY_ARGS
    write_bundle(target, detector, meta, network_def, model_card_text=model_card(to_plain(summary)),
                 extra_config={SETTINGS_KEY: settings.bundle_config(), PREPROCESSING_KEY: default_pipeline_config()},
                 overwrite=True)
    docs = target / "docs"
    for name, text in stage_docs.items():
        (docs / name).write_text(text)
    write_evaluation(held_phase["stage1_2"], docs, "cmb_")
    write_evaluation(held_phase["stage1"], docs, "cmb_stage1_only_")
    write_evaluation(held_mag["stage1_2"], docs, "cmb_magnitude_only_")
    (docs / "summary.json").write_text(json.dumps(to_plain(summary), indent=2))
    log.info("wrote %s", target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
