"""The semi-synthetic brain phantom on MNI anatomy: reproducible, physically sensible per contrast, and a
lesion-free twin that differs only at the lesion (what the counterfactual ablation relies on)."""

from __future__ import annotations

import numpy as np
import pytest

from radtriage.phantoms import brain_mni
from radtriage.phantoms.brain_mni import make_mni_brain_case, make_mni_brain_cohort, parse_findings

GRID = {"shape": (40, 48, 40), "spacing": (4.8, 4.8, 4.8)}


def _case(seed: int, finding: str, **kwargs):
    return make_mni_brain_case(seed, finding, **GRID, **kwargs)


def test_same_seed_same_arrays_and_labels() -> None:
    a, b = _case(3, "infarct"), _case(3, "infarct")
    for name in a.images:
        np.testing.assert_array_equal(a.images[name].array, b.images[name].array)
    assert a.labels == {"abnormal": 1, "acute_infarct": 1, "acute_haemorrhage": 0, "mass_effect": 0}
    assert a.lesion_mask.array.max() == 1 and (a.lesion_mask.array == 1).sum() > 0


def test_chronic_infarct_is_abnormal_but_not_acute() -> None:
    assert parse_findings("chronic+normal") == ("chronic_infarct",)
    assert brain_mni.case_labels(("chronic_infarct",)) == {
        "abnormal": 1, "acute_infarct": 0, "acute_haemorrhage": 0, "mass_effect": 0}
    with pytest.raises(ValueError, match="unknown brain finding"):
        parse_findings("tumour+stroke+sarcoid")


def test_infarct_restricts_diffusion_and_the_twin_differs_only_at_the_lesion() -> None:
    sick, twin = _case(11, "infarct"), _case(11, "normal")
    lesion = sick.lesion_mask.array == 1
    assert lesion.sum() >= 3
    from scipy import ndimage

    near = ndimage.binary_dilation(lesion, iterations=3)
    far = ndimage.distance_transform_edt(~lesion, sampling=sick.lesion_mask.spacing[::-1]) > 20.0
    for name in ("DWI", "ADC", "T2"):
        diff = np.abs(sick.images[name].array - twin.images[name].array)
        scale = float(twin.images[name].array.max())
        assert diff[far].max() <= 0.01 * scale, name  # same anatomy, pose and noise away from the lesion
        assert (diff[~near] <= 0.01 * scale).mean() > 0.99, name
    dwi_gain = sick.images["DWI"].array[lesion].mean() / twin.images["DWI"].array[lesion].mean()
    adc_ratio = sick.images["ADC"].array[lesion].mean() / twin.images["ADC"].array[lesion].mean()
    assert dwi_gain > 1.3 and adc_ratio < 0.8


def test_chronic_infarct_is_bright_on_t2_without_restricted_diffusion() -> None:
    sick, twin = _case(12, "chronic_infarct"), _case(12, "normal")
    changed = np.abs(sick.images["T2"].array - twin.images["T2"].array) > 0.1 * sick.images["T2"].array.max()
    assert changed.sum() >= 3
    assert sick.images["ADC"].array[changed].mean() > twin.images["ADC"].array[changed].mean()
    assert sick.images["DWI"].array[changed].mean() <= 1.05 * twin.images["DWI"].array[changed].mean()


def test_haemorrhage_blooms_on_swi_and_mass_effect_shifts_the_midline() -> None:
    bleed, twin = _case(13, "haemorrhage"), _case(13, "normal")
    core = bleed.lesion_mask.array == 2
    assert core.sum() >= 3
    assert bleed.images["SWI"].array[core].mean() < 0.5 * twin.images["SWI"].array[core].mean()
    assert bleed.details["haemorrhage"]["location"] in ("deep", "lobar", "infratentorial")
    mass = _case(14, "mass_effect")
    assert {4, 5} <= set(np.unique(mass.lesion_mask.array).tolist())
    assert mass.midline_shift_mm > 2.0


def test_age_brings_white_matter_hyperintensities_that_are_not_findings() -> None:
    old = [c for c in (_case(s, "normal", age=88.0) for s in range(20, 26)) if "wmh_load" in c.details]
    assert old, "no old brain drew white matter hyperintensities"
    assert all(c.labels["abnormal"] == 0 for c in old)
    young = _case(20, "normal", age=25.0)
    assert "wmh_load" not in young.details and young.details["atrophy"] == 0.0


def test_cohort_balances_the_four_finding_types() -> None:
    cohort = make_mni_brain_cohort(8, 5, chronic_rate=0.0, shape=(24, 28, 24), spacing=(8.0, 8.0, 8.0))
    kinds = sorted(c.findings[0] for c in cohort)
    assert kinds == sorted(["haemorrhage", "infarct", "mass_effect", "normal"] * 2)


def test_infarct_shapes_are_real_soop_lesions_when_the_data_is_here(monkeypatch, tmp_path) -> None:
    brain_mni.soop_masks.cache_clear()
    if not brain_mni.soop_masks():
        pytest.skip("../shared/data/SOOP is not on this machine: the synthetic infarct shapes are used")
    assert _case(15, "infarct").details["infarct"]["shape"].startswith("SOOP ")
    monkeypatch.setenv(brain_mni.SOOP_ENV, str(tmp_path))  # an empty folder: synthetic shapes
    brain_mni.soop_masks.cache_clear()
    try:
        assert _case(15, "infarct").details["infarct"]["shape"].startswith("synthetic ")
    finally:
        monkeypatch.delenv(brain_mni.SOOP_ENV)
        brain_mni.soop_masks.cache_clear()
