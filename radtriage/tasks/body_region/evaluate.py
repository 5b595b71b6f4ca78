"""Per-slice agreement of the body-region task with segmentation-derived truth, beside the seed paper's numbers.

``radtriage evaluate body-region`` (or ``python -m radtriage.commands.evaluate.body_region``) runs the task on
image/segmentation pairs — the TotalSegmentator examples in the shared data folder by default, or
``--image``/``--segmentation`` pairs of your own — derives each slice's truth from the segmentation
(:mod:`.from_segmentation`) and prints image-level (per-slice) accuracy per scan next to Raffy et al. 2021's,
then per modality the paper's metric set with ours beside it (:mod:`.paper_metrics`: accuracy with its
interval, recall and precision per region, patient-level figures and acquisition subgroups).

Truth can also come from a reading of the image: :class:`RealCase` takes ``read_ranges`` (slice ranges and the
region a reader gave them) for slices the segmentation does not cover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.image import Image
from radtriage.seed_papers import SEED_PAPERS

PAPER = "Raffy et al. 2021, image-level accuracy"
PAPER_ACCURACY: dict[str, float] = {m: SEED_PAPERS[f"raffy2021-{m.lower()}"].metrics["accuracy"] for m in ("CT", "MR")}
"""Seed paper (Raffy P. et al., deep learning body region classification of MRI and CT examinations, 2021):
image-level accuracy on their CT and MR test sets — a different, far larger real cohort: context, not a
like-for-like comparison."""


@dataclass(frozen=True)
class RealCase:
    """One scan with its truth: each ``segmentation`` slice gives the truth of the image slice at its position
    (shifted by ``seg_offset`` slices where a file's header is known to be off), plus optional ``read_ranges``
    ``(first, last, region)`` read from the image (inclusive slice numbers). ``patient`` groups scans of one
    person (default: the scan's name); ``counted=False`` keeps a scan out of the pooled figures (a crop of
    another scan in the set)."""

    name: str
    image: str
    segmentation: str
    modality: str
    seg_offset: int = 0
    read_ranges: tuple[tuple[int, int, str], ...] = field(default_factory=tuple)
    reading_note: str = ""
    patient: str = ""
    counted: bool = True


SHARED_CASES: tuple[RealCase, ...] = (
    RealCase("example_ct (abdomen-pelvis)", "TotalSegmentator/example_ct.nii.gz",
             "TotalSegmentator/example_seg.nii.gz", "CT", seg_offset=82, patient="example_ct",
             read_ranges=((0, 20, "hip"), (21, 61, "pelvis"), (62, 81, "abdomen")),
             reading_note=("slices 82-111 from example_seg (the segmentation of example_ct_sm, which is example_ct "
                           "slices 82-111 although its header places it at slices 0-29); below them read from the "
                           "bones: femoral heads in the acetabula up to slice 20, iliac wings up to slice 61, "
                           "lumbar spine and bowel above")),
    RealCase("example_ct_sm (abdomen)", "TotalSegmentator/example_ct_sm.nii.gz",
             "TotalSegmentator/example_seg.nii.gz", "CT", patient="example_ct", counted=False),
    RealCase("example_ct_dicom (upper abdomen)", "TotalSegmentator/example_ct_dicom",
             "TotalSegmentator/example_seg_dicom.nii.gz", "CT"),
    RealCase("example_mr_sm (MR abdomen)", "TotalSegmentator/example_mr_sm.nii.gz",
             "TotalSegmentator/example_seg_mr.nii.gz", "MR"),
)
"""The image/segmentation pairs in ``../shared/data`` (see its MANIFEST.md). example_ct_sm holds slices 82-111
of example_ct (tested), so it is shown but not counted twice in the pooled figures."""


def case_truth(case: RealCase, image: Image, segmentation: Image) -> list[str | None]:
    """Truth region (or None) of every slice of ``image`` for ``case``."""
    from radtriage.tasks.body_region.from_segmentation import regions_on_image

    truth = regions_on_image(image, segmentation, case.modality, offset=case.seg_offset)
    for first, last, region in case.read_ranges:
        for k in range(first, last + 1):
            truth[k] = truth[k] or region
    return truth


def slice_agreement(predicted: Sequence[str], truth: Sequence[str | None]) -> dict[str, Any]:
    """Agreement of per-slice predictions with the truth (slices without truth left out)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} truth slices")
    pairs = [(p, t) for p, t in zip(predicted, truth, strict=True) if t is not None]
    agree = sum(p == t for p, t in pairs)
    confusion = Counter(f"{t}->{p}" for p, t in pairs if p != t)
    return {"slices": len(predicted), "with_truth": len(pairs), "agree": agree,
            "accuracy": agree / len(pairs) if pairs else float("nan"), "errors": dict(confusion.most_common())}


def scan_subgroups(image: Image) -> dict[str, str]:
    """The scan's acquisition subgroups from its DICOM tags; the slice thickness, when no tag gives it, from
    the slice spacing."""
    from radtriage.io.acquisition import acquisition_subgroups, thickness_group

    groups = acquisition_subgroups((image.metadata or {}).get("dicom_tags"))
    groups["slice_thickness"] = groups["slice_thickness"] or thickness_group(image.spacing[2])
    return groups


def evaluate_case(case: RealCase, root: Path, bundle: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """Run the task on one case under ``root`` and score it; ``{"skipped": why}`` when its files are absent."""
    from radtriage.io import read_image
    from radtriage.models import BundleNotFoundError
    from radtriage.tasks import run_task

    paths = [root / case.image, root / case.segmentation]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return {"case": case.name, "skipped": f"not present: {', '.join(missing)}"}
    image, seg = read_image(paths[0]), read_image(paths[1])
    try:
        result = run_task("body_region", inputs={"image": image}, bundle=bundle, device=device,
                          modality=case.modality)
    except BundleNotFoundError as exc:
        return {"case": case.name, "skipped": str(exc)}
    slices = result.outputs["slices"]
    truth = case_truth(case, image, seg)
    predicted = [s["region"] for s in slices]
    out = {"case": case.name, "modality": case.modality, "bundle": f"{result.bundle['name']} "
           f"{result.bundle['version']}", **slice_agreement(predicted, truth),
           "raw": slice_agreement([s["raw_region"] for s in slices], truth)["agree"],
           "patient": case.patient or case.name, "counted": case.counted, "subgroups": scan_subgroups(image),
           "predicted": predicted, "truth": truth}
    if case.read_ranges:
        out["reading"] = case.reading_note
    return out


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A small text table: per-slice agreement per scan, and the paper's image-level accuracy beside it."""
    lines = [f"{'scan':34s} {'mod':3s} {'agree/slices':>12s} {'accuracy':>8s}   {PAPER}"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['case']:34s} skipped: {r['skipped']}")
            continue
        paper = PAPER_ACCURACY.get(r["modality"], float("nan"))
        lines.append(f"{r['case']:34s} {r['modality']:3s} {r['agree']:>5d}/{r['with_truth']:<6d} "
                     f"{r['accuracy']:8.1%}   {paper:.1%}")
    return "\n".join(lines)
