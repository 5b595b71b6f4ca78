"""The shipped MRITriage demo bundle uses the right evidence, on fresh MNI-anatomy phantoms it never saw: it finds
acute infarcts of 2 mL or more on DWI/ADC and loses them when only DWI/ADC stop showing the lesion (the
counterfactual ablation), its haemorrhage call rests on SWI, a chronic infarct is not called acute, and its
evidence heatmap points at the lesion. (Infarcts under about 1 mL are missed: see the model card.) Demo, not for
clinical use: a check of the demo model, not of any clinical performance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radtriage.phantoms.brain_mni import ACQUISITION_GRID, make_mni_brain_case
from radtriage.tasks.mri_triage import TriageModel
from radtriage.tasks.mri_triage.evidence import predict_images
from radtriage.tasks.mri_triage.localisation import HIT_MM, peak_distance_mm

SEEDS = range(991_000, 991_004)
"""Fresh phantoms: the training cohort and the card's evaluations use other seeds."""
INFARCT_SEEDS = range(991_000, 991_006)
DETECTABLE_ML = 2.0
"""Infarct volume from which the demo bundle is expected to find the lesion (its card: 0/4 under 1 mL)."""


@pytest.fixture(scope="module")
def model() -> TriageModel:
    torch.set_num_threads(2)
    model = TriageModel.from_bundle(None, "cpu")  # the newest shipped mri_triage bundle
    if model.heatmap_method() != "evidence":
        pytest.fail(f"the shipped bundle {model.bundle_info} has no evidence maps")
    return model


def _pair(seed: int, finding: str):
    return (make_mni_brain_case(seed, finding, **ACQUISITION_GRID),
            make_mni_brain_case(seed, "normal", **ACQUISITION_GRID))


def _swap(sick, twin, contrasts: tuple[str, ...]) -> dict:
    return {c: (twin.images[c] if c in contrasts else sick.images[c]) for c in sick.images}


def test_acute_infarct_is_found_on_dwi_adc_and_collapses_without_them(model) -> None:
    t = model.thresholds["acute_infarct"]
    found, kept_without_dwi, kept_without_t2, large = 0, 0, 0, 0
    for seed in INFARCT_SEEDS:
        sick, twin = _pair(seed, "infarct")
        p_twin = predict_images(model, twin.images)["acute_infarct"]
        assert p_twin < t, f"seed {seed}: false infarct on the lesion-free twin"
        if sick.details["infarct"]["volume_ml"] < DETECTABLE_ML:
            continue
        large += 1
        p = predict_images(model, sick.images)["acute_infarct"]
        p_without_dwi = predict_images(model, _swap(sick, twin, ("DWI", "ADC")))["acute_infarct"]
        found += p >= t
        kept_without_dwi += p_without_dwi >= t
        if p >= t:  # most of the evidence above the lesion-free baseline goes with the lesion on DWI/ADC
            assert p_without_dwi - p_twin < 0.5 * (p - p_twin), \
                f"seed {seed}: DWI/ADC without the lesion only lower it {p:.2f} -> {p_without_dwi:.2f}"
        kept_without_t2 += predict_images(model, _swap(sick, twin, ("T2", "FLAIR")))["acute_infarct"] >= t
    assert large >= 3, f"only {large} infarcts of {DETECTABLE_ML:g} mL or more among the seeds"
    assert found >= large - 1, f"found {found} of {large} acute infarcts of {DETECTABLE_ML:g} mL or more"
    assert kept_without_dwi <= 1, f"{kept_without_dwi} infarct calls survive DWI/ADC without the lesion"
    assert kept_without_t2 >= found - 1, "the infarct call needs T2/FLAIR: it should rest on DWI/ADC"


def test_haemorrhage_rests_on_swi(model) -> None:
    t = model.thresholds["acute_haemorrhage"]
    found, kept_without_swi = 0, 0
    for seed in SEEDS:
        sick, twin = _pair(seed, "haemorrhage")
        found += predict_images(model, sick.images)["acute_haemorrhage"] >= t
        kept_without_swi += predict_images(model, _swap(sick, twin, ("SWI",)))["acute_haemorrhage"] >= t
    assert found >= len(SEEDS) - 1, f"found {found} of {len(SEEDS)} haemorrhages"
    assert kept_without_swi <= 1, f"{kept_without_swi} haemorrhage calls survive SWI without the bleed"


def test_a_chronic_infarct_is_not_called_acute(model) -> None:
    calls = [predict_images(model, make_mni_brain_case(seed, "chronic_infarct", **ACQUISITION_GRID).images)
             for seed in SEEDS]
    assert sum(p["acute_infarct"] >= model.thresholds["acute_infarct"] for p in calls) == 0


def test_the_evidence_heatmap_peaks_at_the_infarct_on_an_absolute_scale(model) -> None:
    from radtriage.tasks.mri_triage import run

    hits, large = 0, 0
    for seed in INFARCT_SEEDS:
        sick = make_mni_brain_case(seed, "infarct", **ACQUISITION_GRID)
        if sick.details["infarct"]["volume_ml"] < DETECTABLE_ML:
            continue
        large += 1
        result = run(dict(sick.images), model=model)
        assert result.outputs["heatmaps"]["method"] == "evidence"
        heat = result.volumes["heatmap_acute_infarct"]
        assert heat.same_geometry(sick.lesion_mask)
        p = result.outputs["probabilities"]["acute_infarct"]
        # peaks at the output's probability: the 12 mm cells are upsampled linearly onto the image grid, which
        # can only lower the peak between cell centres
        assert p - 0.05 <= float(np.max(heat.array)) <= p + 0.005
        hits += peak_distance_mm(heat, sick.lesion_mask) <= HIT_MM
    assert hits >= large - 1, f"the heatmap peak is within {HIT_MM:g} mm of the infarct in {hits}/{large}"
