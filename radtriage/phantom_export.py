"""Write phantom cases to disk: NIfTI volumes plus a ``truth.json`` with their ground truth."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.io import write_volume

PHANTOM_KINDS = ("brain", "swi", "lge", "body-ct", "body-mr")
BRAIN_FINDING_CYCLE = ("normal", "infarct", "haemorrhage", "mass_effect")


def _write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))
    return path


def export_brain(out: Path, seed: int, finding: str) -> list[Path]:
    """Write one multi-contrast brain case on MNI anatomy (one NIfTI per contrast, masks, truth)."""
    from radtriage.phantoms.brain_mni import ACQUISITION_GRID, make_mni_brain_case

    case = make_mni_brain_case(seed, finding, **ACQUISITION_GRID)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_volume(img, out / f"{name}.nii.gz") for name, img in case.images.items()]
    written.append(write_volume(case.lesion_mask, out / "lesion_mask.nii.gz"))
    written.append(write_volume(case.brain_mask, out / "brain_mask.nii.gz"))
    truth = {"kind": "brain", "seed": seed, "findings": list(case.findings), "labels": case.labels,
             "midline_shift_mm": case.midline_shift_mm}
    written.append(_write_json(out / "truth.json", truth))
    return written


def export_swi(out: Path, seed: int, **options: Any) -> list[Path]:
    """Write one SWI case (magnitude, phase, masks) and its microbleed / mimic lists (options: ``make_swi_case``)."""
    from radtriage.phantoms import make_swi_case

    case = make_swi_case(seed, **options)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_volume(case.magnitude, out / "swi_magnitude.nii.gz")]
    if case.phase is not None:
        written.append(write_volume(case.phase, out / "swi_phase.nii.gz"))
    written.append(write_volume(case.microbleed_mask, out / "microbleed_mask.nii.gz"))
    truth = {"kind": "swi", "seed": seed, "microbleeds": [asdict(f) for f in case.microbleeds],
             "mimics": [asdict(f) for f in case.mimics]}
    written.append(_write_json(out / "truth.json", truth))
    return written


def export_lge(out: Path, seed: int) -> list[Path]:
    """Write one short-axis LGE stack and per-slice truth (likelihood, certainty)."""
    from radtriage.phantoms import make_lge_stack

    stack, slices = make_lge_stack(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_volume(stack, out / "lge_sax.nii.gz")]
    truth = {"kind": "lge", "seed": seed, "slices": [
        {"index": k, "enhancement": s.enhancement, "likelihood": s.likelihood, "certainty": s.certainty}
        for k, s in enumerate(slices)]}
    written.append(_write_json(out / "truth.json", truth))
    return written


def export_body(out: Path, seed: int, modality: str, **options: Any) -> list[Path]:
    """Write one body phantom and its per-slice region labels (options: ``make_body_case``)."""
    from radtriage.phantoms import make_body_case

    case = make_body_case(seed, modality=modality, **options)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_volume(case.image, out / f"body_{modality.lower()}.nii.gz")]
    truth = {"kind": f"body-{modality.lower()}", "seed": seed, "modality": modality,
             "classes": list(case.labelset.names), "slice_labels": [int(v) for v in case.slice_labels],
             "slice_regions": case.region_names}
    written.append(_write_json(out / "truth.json", truth))
    return written


def export_phantom(kind: str, out: Path, seed: int = 0, count: int = 1) -> list[Path]:
    """Write ``count`` phantom cases of ``kind`` under ``out/<kind>-<seed>/``; returns the files written."""
    if kind not in PHANTOM_KINDS:
        raise ValueError(f"unknown phantom kind {kind!r}; choose one of {', '.join(PHANTOM_KINDS)}")
    written: list[Path] = []
    for n in range(count):
        case_seed = seed + n
        folder = Path(out) / f"{kind}-{case_seed:04d}"
        if kind == "brain":
            written += export_brain(folder, case_seed, BRAIN_FINDING_CYCLE[case_seed % len(BRAIN_FINDING_CYCLE)])
        elif kind == "swi":
            written += export_swi(folder, case_seed)
        elif kind == "lge":
            written += export_lge(folder, case_seed)
        else:
            written += export_body(folder, case_seed, kind.split("-")[1].upper())
    return written
