"""Train a body-region bundle on your own cohort: scans plus their TotalSegmentator label maps, one command.

    radtriage train-body-region --images scans/ --segmentations segs/ --modality CT --out bundles/
    python scripts/train_demo_body_region.py --images scans/ --segmentations segs/ --modality CT

Each scan in ``--images`` (NIfTI/NRRD file or DICOM series folder) is paired with the label map of the same name
in ``--segmentations`` (``NAME.nii.gz``, or ``NAME_seg`` / ``NAME_segmentation`` with any image suffix); the
truth of every slice comes from the label map by the rule table of :mod:`.from_segmentation` (TotalSegmentator
``total`` ids for CT, ``total_mr`` for MR), slices without truth are left out, and the slices are put on the
task's canonical grid exactly as the runner does. The bundle is trained with the body-region recipe
(:mod:`.training`; patient = scan) and written as a new version into ``--out``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radtriage.errors import InputError
from radtriage.labelsets import body_region_labelset

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
SEG_TAILS = ("", "_seg", "_segmentation", "_labels")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def pair_scans(images: Path, segmentations: Path) -> list[tuple[Path, Path]]:
    """(scan, label map) pairs by name; raises :class:`InputError` when a folder is missing or nothing pairs."""
    for folder in (images, segmentations):
        if not Path(folder).is_dir():
            raise InputError(folder, "not a folder")
    segs = {_stem(p): p for p in sorted(Path(segmentations).iterdir()) if not p.name.startswith(".")}
    pairs = []
    for scan in sorted(Path(images).iterdir()):
        if scan.name.startswith("."):
            continue
        stem = _stem(scan)
        match = next((segs[stem + tail] for tail in SEG_TAILS if stem + tail in segs), None)
        if match is None:
            logger.warning("no segmentation for %s in %s; skipped", scan.name, segmentations)
            continue
        pairs.append((scan, match))
    if not pairs:
        raise InputError(images, f"no scan has a segmentation of the same name in {segmentations}")
    return pairs


def cohort_datalist(pairs: Sequence[tuple[Path, Path]], modality: str) -> list[dict[str, Any]]:
    """One datalist item per slice with truth: canonical network input, class index, scan name as patient."""
    from radtriage.io import read_image
    from radtriage.tasks.body_region.from_segmentation import regions_on_image
    from radtriage.tasks.body_region.runner import prepare_slices

    labelset = body_region_labelset(modality)
    items: list[dict[str, Any]] = []
    for scan, seg in pairs:
        image = read_image(scan)
        truth = regions_on_image(image, read_image(seg), modality)
        _, x = prepare_slices(image, modality)
        kept = [(k, r) for k, r in enumerate(truth) if r is not None and r in labelset.names]
        items += [{"image": x[k], "label": labelset.index(r), "patient_id": _stem(scan)} for k, r in kept]
        logger.info("%s: %d of %d slices with truth", scan.name, len(kept), len(truth))
    if not items:
        raise InputError(None, "no slice of the cohort got a region from its segmentation")
    return items


def train_cohort(images: Path, segmentations: Path, modality: str, out: Path, *, epochs: int = 20,
                 seed: int = 0, name: str | None = None, device: str = "cpu") -> Path:
    """Train a (non-demo) body-region bundle on the cohort and copy it into ``out``; returns its folder."""
    from radtriage.tasks.body_region.bundle_meta import annotate_bundle
    from radtriage.tasks.body_region.training import train_config
    from radtriage.training import train_bundle

    pairs = pair_scans(Path(images), Path(segmentations))
    items = cohort_datalist(pairs, modality)
    patients = {i["patient_id"] for i in items}
    if len(patients) < 3:
        raise InputError(images, f"{len(patients)} scan(s) with truth; a train/validation/test split needs >= 3")
    with tempfile.TemporaryDirectory(prefix="radtriage-body-cohort-") as tmp:
        config = train_config(modality, Path(tmp), epochs=epochs, seed=seed, demo=False, device=device,
                              name=name or f"body-region-{modality.lower()}-cohort", patience=6)
        result = train_bundle(items, config)
        annotate_bundle(result.bundle_path, modality, {
            "cohort": {"scans": len(patients), "slices": len(items)},
            "test_slices": {k: result.test_metrics.get(k) for k in ("n", "accuracy", "balanced_accuracy")}})
        Path(out).mkdir(parents=True, exist_ok=True)
        target = Path(out) / result.bundle_path.name
        if target.exists():
            raise InputError(target, "a bundle of this name and version is already there")
        shutil.copytree(result.bundle_path, target)
    logger.info("trained %s on %d scans (%d slices)", target, len(patients), len(items))
    return target
