"""Train the demo body-region bundles (CT, 17 classes; MR, 18 classes) on body phantoms — one seeded command.

    .venv/bin/python scripts/train_demo_body_region.py            # both modalities, ~15 min on 2 CPU cores
    .venv/bin/python scripts/train_demo_body_region.py --modality CT --cases 60 --epochs 3   # a quick try
    .venv/bin/python scripts/train_demo_body_region.py --modality CT --images scans/ --segmentations segs/ \
        --out bundles/   # your own cohort: TotalSegmentator label maps give each slice's truth (not a demo)

For each modality: draw ``--cases`` seeded whole-body phantoms (random extents along the head-to-feet, arm and,
for MR, breast chains; random matrix sizes; random appearance: CT contrast phase, MR contrast family, bias field,
noise and blur; half of them cut to a smaller field of view), put every slice on the task's canonical grid exactly
as the runner does (:func:`radtriage.tasks.body_region.prepare_slices`), keep up to ``--slices-per-case`` slices
per phantom, and train :class:`radtriage.nets.body_region.BodyRegionNet` with ``radtriage.training.train_bundle``
(recipe: :mod:`radtriage.tasks.body_region.training`; patient = phantom, so the validation and test slices come
from unseen phantoms; class-balanced sampling; MONAI
augmentation without anterior-posterior flips, which would break the fixed orientation). Then the whole task
(CNN + head-to-feet smoothing) is run on ``--eval-volumes`` new phantom volumes, and the label set, the
preprocessing and the phantom metrics are added to the bundle's metadata and model card
(:func:`radtriage.tasks.body_region.bundle_meta.annotate_bundle`). The bundle replaces any earlier
``radtriage/bundles/body-region-<ct|mr>-*`` folder. Demo only: trained on phantoms, not for clinical use.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radtriage.labelsets import body_region_labelset  # noqa: E402
from radtriage.models import default_bundle_dir  # noqa: E402
from radtriage.phantoms import make_body_case  # noqa: E402
from radtriage.tasks.body_region.bundle_meta import (  # noqa: E402
    DEMO_NOTICE,
    FOV_MM,
    SLICE_SIZE,
    annotate_bundle,
    bundle_name,
    labelset_card_table,
)
from radtriage.tasks.body_region.runner import prepare_slices  # noqa: E402

log = logging.getLogger("train_demo_body_region")
SIZES = (48, 64, 80, 96)
EVAL_SEED_OFFSET = 100_000
BUNDLE_VERSION = "0.3.0"
"""First version of this training recipe (randomised phantom appearance, FOV crops, bony pelvis landmarks drawn
3 x 3 supersampled: L5 between the iliac crests, the sacrum below it, front-to-back ilium bodies)."""
SUPERSAMPLE = 3
"""In-plane sub-samples per phantom voxel side, so thin bone partial-volumes as on a real scan."""
CROP_PROB = 0.5
"""Fraction of phantoms whose slices are cut to a smaller field of view, as real scans often are."""


def crop_field_of_view(x: np.ndarray, modality: str, rng: np.random.Generator) -> np.ndarray:
    """Canonical slices ``[n, H, W]`` with everything outside a random centred box set to the background value.

    Real CT and MR are often reconstructed on a field of view that cuts the body's sides (or arms) off; the
    phantoms always show the whole body, so half of them are cropped to a box 200-420 mm wide and 180-360 mm
    deep (8 mm pixels)."""
    _, rows, cols = x.shape
    px = FOV_MM / SLICE_SIZE
    half_w = int(rng.uniform(100.0, 210.0) / px)
    half_d = int(rng.uniform(90.0, 180.0) / px)
    dr, dc = (int(v) for v in rng.integers(-2, 3, size=2))
    keep = np.zeros((rows, cols), dtype=bool)
    r0, c0 = rows // 2 + dr, cols // 2 + dc
    keep[max(0, r0 - half_d):r0 + half_d, max(0, c0 - half_w):c0 + half_w] = True
    out = x.copy()
    out[:, ~keep] = -1.0 if modality == "CT" else 0.0
    return out


def phantom_datalist(modality: str, n_cases: int, per_case: int, seed: int) -> list[dict[str, Any]]:
    """One datalist item per kept slice: canonical network input, class index, phantom id as the patient.

    Phantoms are drawn with random appearance (``randomise_appearance``) and half of them are cut to a smaller
    field of view (:func:`crop_field_of_view`)."""
    rng = np.random.default_rng(seed)
    items: list[dict[str, Any]] = []
    for c in range(n_cases):
        case_seed = seed * 10_000 + c
        size = int(rng.choice(SIZES))
        case = make_body_case(case_seed, modality, size=(size, size), randomise_appearance=True,
                              supersample=SUPERSAMPLE)
        _, x = prepare_slices(case.image, modality)
        if rng.random() < CROP_PROB:
            x = crop_field_of_view(x, modality, rng)
        keep = np.sort(rng.choice(len(x), size=min(per_case, len(x)), replace=False))
        items += [{"image": x[k], "label": int(case.slice_labels[k]), "patient_id": f"phantom-{case_seed}"}
                  for k in keep]
    return items


def evaluate_volumes(bundle: Path, modality: str, n_volumes: int, seed: int) -> dict[str, Any]:
    """Run the whole task on new phantom volumes: slice accuracy before/after smoothing, exact region sequences."""
    from radtriage.tasks import run_task

    labelset = body_region_labelset(modality)
    raw_ok = smooth_ok = total = exact = 0
    per_volume = []
    for v in range(n_volumes):
        case_seed = EVAL_SEED_OFFSET + seed * 1000 + v
        case = make_body_case(case_seed, modality, size=(64, 64), supersample=SUPERSAMPLE)
        result = run_task("body_region", inputs={"image": case.image}, bundle=str(bundle), device="cpu",
                          modality=modality)
        slices = result.outputs["slices"]
        truth = [labelset.names[i] for i in case.slice_labels]
        raw = sum(s["raw_region"] == t for s, t in zip(slices, truth, strict=True))
        smooth = sum(s["region"] == t for s, t in zip(slices, truth, strict=True))
        order = result.outputs["regions_present"]
        true_order = [truth[k] for k in case.slice_order_head_to_feet()]
        true_seq = [r for i, r in enumerate(true_order) if i == 0 or r != true_order[i - 1]]
        exact += int(order == true_seq)
        raw_ok, smooth_ok, total = raw_ok + raw, smooth_ok + smooth, total + len(truth)
        per_volume.append({"seed": case_seed, "slices": len(truth), "truth": true_seq, "predicted": order,
                           "smoothed_accuracy": smooth / len(truth)})
    return {
        "volumes": n_volumes,
        "slices": total,
        "slice_accuracy_raw": raw_ok / total,
        "slice_accuracy_smoothed": smooth_ok / total,
        "volumes_with_exact_region_sequence": exact / n_volumes,
        "per_volume": per_volume,
    }


def evaluate_real(bundle: Path, modality: str) -> list[dict[str, Any]]:
    """Per-slice agreement with segmentation-derived truth on the real scans of the shared data folder (empty when
    it is absent). Evaluation only: the shipped bundle never trains on these scans."""
    from radtriage.bench.real_data import shared_data_dir
    from radtriage.tasks.body_region.evaluate import SHARED_CASES, evaluate_case

    root = shared_data_dir()
    if root is None:
        return []
    rows = [evaluate_case(c, root, str(bundle)) for c in SHARED_CASES if c.modality == modality]
    return [r for r in rows if "skipped" not in r]


def real_card_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Model-card lines for the real-scan agreement (seed paper beside it)."""
    from radtriage.tasks.body_region.evaluate import PAPER_ACCURACY

    if not rows:
        return ["- Real scans: not evaluated (no shared data folder when the card was written)."]
    out = ["", "### Real scans (evaluation only, never trained on)", "",
           "Per-slice agreement with truth derived from TotalSegmentator label maps "
           "(`radtriage.tasks.body_region.from_segmentation`; see `radtriage evaluate body-region`):", "",
           "| Scan | Slices agreeing | Accuracy | Raffy 2021 image-level accuracy |", "|---|---|---|---|"]
    out += [f"| {r['case']} | {r['agree']}/{r['with_truth']} | {r['accuracy']:.1%} | "
            f"{PAPER_ACCURACY[r['modality']]:.1%} |" for r in rows]
    out += ["", f"The paper's figure is on its own large real test set; {len(rows)} small public scan(s) are a "
            "sanity check, not a comparison. The phantom volumes above have the standard (not randomised) "
            "appearance."]
    return out


def card_section(modality: str, slice_metrics: dict[str, Any], volume_metrics: dict[str, Any],
                 args: argparse.Namespace, real_rows: list[dict[str, Any]] | None = None) -> str:
    """Model-card Markdown specific to the body-region demo bundle."""
    labelset = body_region_labelset(modality)
    bal = slice_metrics.get("balanced_accuracy")
    acc = slice_metrics.get("accuracy")
    lines = [
        "## Body-region task",
        "",
        f"**{DEMO_NOTICE}.** Trained and tested on synthetic body phantoms only "
        "(`radtriage.phantoms.make_body_case` with random appearance and field-of-view crops). It has never been "
        "trained on a real scan; its agreement on a few public real scans is below. Use it to exercise the software, "
        "not to read images.",
        "",
        f"- Input: every slice along the head-feet axis, resampled in its own plane to {SLICE_SIZE}x{SLICE_SIZE} "
        f"over {FOV_MM:g} mm (columns toward patient left, rows toward posterior); "
        + ("CT HU / 1024 clipped to [-1, 1.5]." if modality == "CT" else "MR / volume 99th percentile, [0, 2]."),
        "- Output: per-slice softmax over the label set, then an ordered HMM (Viterbi) along head-to-feet that only "
        "stays or moves to a later region, giving contiguous ranges.",
        f"- Training data: {args.cases} phantoms (seed {args.seed}), up to {args.slices_per_case} slices each, "
        "split by phantom into train/validation/test.",
        "",
        "### Phantom test metrics",
        "",
        f"- Held-out test slices (CNN alone): accuracy {acc:.3f}, balanced accuracy {bal:.3f}"
        if acc is not None and bal is not None else "- Held-out test slices: see `docs/test_metrics.json`",
        f"- {volume_metrics['volumes']} new phantom volumes ({volume_metrics['slices']} slices), whole task: "
        f"slice accuracy {volume_metrics['slice_accuracy_raw']:.3f} before smoothing, "
        f"{volume_metrics['slice_accuracy_smoothed']:.3f} after; exact region sequence in "
        f"{volume_metrics['volumes_with_exact_region_sequence']:.0%} of volumes.",
        *real_card_lines(real_rows or []),
        "",
        f"### Label set `{labelset.name}` ({len(labelset)} classes, head to feet)",
        "",
        *labelset_card_table(labelset),
    ]
    return "\n".join(lines)


def train_one(modality: str, args: argparse.Namespace, out_root: Path) -> Path:
    """Train, evaluate and install the demo bundle for one modality; returns its folder."""
    from radtriage.tasks.body_region.training import train_config
    from radtriage.training import train_bundle

    labelset = body_region_labelset(modality)
    name = bundle_name(modality)
    t0 = time.perf_counter()
    items = phantom_datalist(modality, args.cases, args.slices_per_case, args.seed)
    log.info("%s: %d slices from %d phantoms in %.0f s", modality, len(items), args.cases, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(prefix=f"radtriage-train-{name}-") as tmp:
        config = train_config(
            modality, Path(tmp), epochs=args.epochs, seed=args.seed, demo=True, first_version=BUNDLE_VERSION,
            description=(f"Demo per-slice body-region classifier for {modality} ({len(labelset)} regions, head to "
                         f"feet) with head-to-feet smoothing; trained on synthetic body phantoms only: "
                         f"{DEMO_NOTICE}."))
        result = train_bundle(items, config)
        log.info("%s: trained in %.0f s (best epoch %d)", modality, time.perf_counter() - t0, result.fit.best_epoch)
        volume_metrics = evaluate_volumes(result.bundle_path, modality, args.eval_volumes, args.seed)
        real_rows = evaluate_real(result.bundle_path, modality)
        slice_metrics = result.test_metrics
        metrics = {
            "phantom_test_slices": {k: slice_metrics.get(k) for k in ("n", "accuracy", "balanced_accuracy")},
            "phantom_volumes": {k: v for k, v in volume_metrics.items() if k != "per_volume"},
            "real_scans": [{k: r[k] for k in ("case", "agree", "with_truth", "accuracy")} for r in real_rows],
            "training_s": round(time.perf_counter() - t0, 1),
        }
        annotate_bundle(result.bundle_path, modality, metrics, card_section(modality, slice_metrics, volume_metrics,
                                                                              args, real_rows))
        for old in out_root.glob(f"{name}-*"):
            if old.is_dir():
                shutil.rmtree(old)
        target = out_root / result.bundle_path.name
        shutil.copytree(result.bundle_path, target)
    log.info("%s: %s (%.0f s); phantom volumes: %s", modality, target, time.perf_counter() - t0,
             metrics["phantom_volumes"])
    return target


def evaluate_installed(modality: str, args: argparse.Namespace, out_root: Path) -> Path:
    """Re-run the phantom-volume evaluation of an installed bundle (after a post-processing change) and update
    its metadata and model card; the weights are untouched."""
    import json

    from radtriage.models import read_metadata

    folders = sorted(p for p in out_root.glob(f"{bundle_name(modality)}-*") if p.is_dir())
    if not folders:
        raise SystemExit(f"no {bundle_name(modality)} bundle in {out_root}; train one first")
    folder = folders[-1]
    metrics = dict(read_metadata(folder).raw["radtriage"].get("metrics", {}))
    slice_metrics = json.loads((folder / "docs" / "test_metrics.json").read_text(encoding="utf-8"))
    volume_metrics = evaluate_volumes(folder, modality, args.eval_volumes, args.seed)
    real_rows = evaluate_real(folder, modality)
    metrics["phantom_volumes"] = {k: v for k, v in volume_metrics.items() if k != "per_volume"}
    metrics["real_scans"] = [{k: r[k] for k in ("case", "agree", "with_truth", "accuracy")} for r in real_rows]
    annotate_bundle(folder, modality, metrics, card_section(modality, slice_metrics, volume_metrics, args,
                                                            real_rows))
    log.info("%s: re-evaluated %s: %s", modality, folder, metrics["phantom_volumes"])
    return folder


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modality", nargs="+", default=["CT", "MR"], choices=["CT", "MR"])
    parser.add_argument("--cases", type=int, default=140, help="phantoms per modality")
    parser.add_argument("--slices-per-case", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--eval-volumes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: reproducible and fastest on a small shared machine)")
    parser.add_argument("--out", type=Path, default=default_bundle_dir())
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only re-evaluate the installed bundles on phantom volumes and update their cards")
    parser.add_argument("--images", type=Path, default=None,
                        help="instead of phantoms: train on your own scans (with --segmentations; not a demo)")
    parser.add_argument("--segmentations", type=Path, default=None,
                        help="TotalSegmentator label maps of the --images scans, same names")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if (args.images is None) != (args.segmentations is None):
        parser.error("--images and --segmentations go together")
    if args.images is not None:
        from radtriage.tasks.body_region.cohort import train_cohort

        for modality in args.modality:
            target = train_cohort(args.images, args.segmentations, modality, args.out, epochs=args.epochs,
                                  seed=args.seed)
            print(f"bundle: {target}")
        return 0
    for modality in args.modality:
        if args.evaluate_only:
            evaluate_installed(modality, args, args.out)
        else:
            train_one(modality, args, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
