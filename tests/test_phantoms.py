"""Tests of the seeded phantoms (radtriage.phantoms) and the label sets (radtriage.labelsets)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from radtriage import labelsets
from radtriage.image import Image
from radtriage.phantoms import (
    SAX_DIRECTION,
    insert_microbleeds,
    make_body_case,
    make_brain_case,
    make_brain_cohort,
    make_lge_slice,
    make_lge_stack,
    make_swi_case,
)
from radtriage.phantoms.brain import parse_findings

SMALL_BRAIN = {"shape": (48, 48, 36), "spacing": (4.0, 4.0, 4.0)}
PARENCHYMA = (4, 5, 7)


@cache
def brain(seed: int, finding: str, small: bool = True):
    return make_brain_case(seed, finding, **(SMALL_BRAIN if small else {}))


@cache
def swi(seed: int):
    return make_swi_case(seed, n_microbleeds=4, n_mimics={"vessel": 2, "calcification": 2, "air_bone": 1},
                         with_minip=True)


def rotation_z(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------ label sets
def test_body_labelsets_have_17_and_18_unique_classes():
    ct, mr = labelsets.CT_BODY_REGIONS, labelsets.MR_BODY_REGIONS
    assert (len(ct), len(mr)) == (17, 18)
    for ls in (ct, mr):
        assert len(set(ls.names)) == len(ls)
        assert len(set(ls.colours)) == len(ls)
        assert [c.index for c in ls.classes] == list(range(len(ls)))
        assert all(len(c.colour) == 3 and all(0 <= v <= 255 for v in c.colour) for c in ls.classes)
        assert ls.names[0] == "head" and ls.names[-1] == "foot"
    assert set(mr.names) - set(ct.names) == {"breast"}
    assert [n for n in mr.names if n != "breast"] == list(ct.names)
    assert labelsets.body_region_labelset("mr") is mr
    with pytest.raises(ValueError, match="modality"):
        labelsets.body_region_labelset("PET")


def test_snomed_codes_are_real_concepts_with_matching_meaning():
    from pydicom.sr.codedict import codes

    by_value = {}
    for keyword in dir(codes.SCT):
        if keyword[:1].isupper():
            try:
                code = getattr(codes.SCT, keyword)
            except (AttributeError, ValueError):
                continue
            by_value.setdefault(code.value, set()).add(code.meaning)
    coded = [c for c in labelsets.MR_BODY_REGIONS.classes if c.snomed_code is not None]
    assert coded, "expected at least some SNOMED codes"
    for c in coded:
        assert c.snomed_meaning in by_value.get(c.snomed_code, set()), c.name


def test_brain_and_lge_names():
    assert labelsets.MR_CONTRASTS == ("T1", "T1post", "T2", "FLAIR", "DWI", "ADC", "SWI", "other")
    assert labelsets.BRAIN_FINDINGS == ("abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect")
    assert labelsets.LGE_CERTAINTY == ("high", "low")


# ------------------------------------------------------------------ brain
def test_brain_is_deterministic_and_seed_dependent():
    a, b = make_brain_case(7, "infarct", **SMALL_BRAIN), make_brain_case(7, "infarct", **SMALL_BRAIN)
    c = make_brain_case(8, "infarct", **SMALL_BRAIN)
    for name in labelsets.MR_CONTRASTS:
        np.testing.assert_array_equal(a.images[name].array, b.images[name].array)
        assert not np.array_equal(a.images[name].array, c.images[name].array)
    np.testing.assert_array_equal(a.lesion_mask.array, b.lesion_mask.array)


def test_brain_default_case_is_complete():
    case = make_brain_case(1, "mass_effect", shape=(64, 64, 64))
    assert list(case.images) == list(labelsets.MR_CONTRASTS)
    ref = case.reference
    for name, img in case.images.items():
        assert img.same_geometry(ref) and img.array.dtype == np.float32
        assert img.metadata["contrast"] == name and img.metadata["description"]
    assert case.brain_mask.same_geometry(ref) and case.lesion_mask.same_geometry(ref)
    assert case.stacked().shape == (8, 64, 64, 64)


@pytest.mark.parametrize("finding", ["normal", "infarct", "haemorrhage", "mass_effect"])
def test_brain_labels_match_lesions(finding):
    case = brain(3, finding)
    assert set(case.labels) == set(labelsets.BRAIN_FINDINGS)
    assert case.labels["abnormal"] == int(finding != "normal")
    lesion = case.lesion_mask.array
    assert (lesion > 0).any() == (finding != "normal")
    assert not (lesion.astype(bool) & (case.brain_mask.array == 0)).any()
    key = {"infarct": "acute_infarct", "haemorrhage": "acute_haemorrhage", "mass_effect": "mass_effect"}.get(finding)
    if key:
        assert case.labels[key] == 1 and sum(case.labels.values()) == 2


def _contralateral_parenchyma(case, side_sign: float) -> np.ndarray:
    ref = case.reference
    ni, nj, nk = ref.size
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    x_lps = ref.index_to_lps(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1))[:, 0].reshape(kk.shape)
    centre_x = ref.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, (nk - 1) / 2]]))[0, 0]
    healthy = np.isin(case.tissue.array, PARENCHYMA) & (case.lesion_mask.array == 0)
    return healthy & (np.sign(x_lps - centre_x) == -side_sign) & (np.abs(x_lps - centre_x) > 10)


@pytest.mark.parametrize("seed", [3, 11])
def test_infarct_is_dwi_bright_adc_dark_t2_mildly_bright(seed):
    case = brain(seed, "infarct")
    lesion = case.lesion_mask.array == 1
    side = 1.0 if case.details["infarct"]["side"] == "left" else -1.0
    other = _contralateral_parenchyma(case, side)
    assert lesion.sum() > 20
    m = {c: (case.images[c].array[lesion].mean(), case.images[c].array[other].mean()) for c in ("DWI", "ADC", "FLAIR")}
    assert m["DWI"][0] > 1.4 * m["DWI"][1]
    assert m["ADC"][0] < 0.75 * m["ADC"][1]
    assert m["FLAIR"][1] < m["FLAIR"][0] < 2.0 * m["FLAIR"][1]


def test_haemorrhage_is_dark_and_blooming_on_swi_with_oedema():
    case = brain(5, "haemorrhage")
    core = case.lesion_mask.array == 2
    swi_img = case.images["SWI"].array
    parenchyma = np.isin(case.tissue.array, PARENCHYMA) & (case.lesion_mask.array == 0)
    assert swi_img[core].mean() < 0.4 * np.median(swi_img[parenchyma])
    dark = swi_img < 0.4 * np.median(swi_img[parenchyma])
    assert (dark & case.brain_mask.array.astype(bool)).sum() > core.sum()  # blooming beyond the true core
    assert (case.lesion_mask.array == 3).sum() > 0  # perihaematomal oedema
    t2 = case.images["T2"].array[core]
    assert t2.std() > 0.1 * t2.mean()  # mixed signal


def test_mass_effect_shifts_midline_and_compresses_ventricle():
    normal, mass = brain(21, "normal"), brain(21, "mass_effect")
    np.testing.assert_array_equal(normal.tissue.array == 2, mass.tissue.array == 2)  # same skull: same anatomy
    side = 1.0 if mass.details["mass_effect"]["side"] == "left" else -1.0
    ref = normal.reference

    def ventricle_x(case, half=None):
        idx = np.argwhere(case.tissue.array == 6)[:, ::-1].astype(float)
        x = ref.index_to_lps(idx)[:, 0]
        return x if half is None else x[np.sign(x - centre) == half]

    ni, nj, nk = ref.size
    centre = ref.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, (nk - 1) / 2]]))[0, 0]
    assert (ventricle_x(mass).mean() - ventricle_x(normal).mean()) * side < -2.0
    assert len(ventricle_x(mass, side)) < len(ventricle_x(normal, side))
    assert mass.midline_shift_mm > 3.0 and normal.midline_shift_mm == 0.0
    tumour = mass.lesion_mask.array == 4
    assert mass.images["T1post"].array[tumour].max() > 1.3 * mass.images["T1"].array[tumour].max()
    assert (mass.lesion_mask.array == 5).sum() > tumour.sum() / 4  # vasogenic oedema


def test_brain_combinations_and_bad_findings():
    assert parse_findings("infarct+hemorrhage") == ("infarct", "haemorrhage")
    assert parse_findings(["normal", "mass"]) == ("mass_effect",)
    case = brain(4, "infarct+haemorrhage")
    assert case.labels == {"abnormal": 1, "acute_infarct": 1, "acute_haemorrhage": 1, "mass_effect": 0}
    assert {1, 2} <= set(np.unique(case.lesion_mask.array))
    with pytest.raises(ValueError, match="unknown brain finding"):
        parse_findings("glioma grade 9")
    with pytest.raises(ValueError, match="unknown contrasts"):
        make_brain_case(0, contrasts=["T1", "CT"])


def test_brain_geometry_is_physical():
    direction = np.diag([-1.0, 1.0, 1.0])
    kw = {**SMALL_BRAIN, "noise": 0.0, "bias": 0.0, "contrasts": ["T1", "DWI"]}
    a = make_brain_case(9, "infarct", **kw)
    b = make_brain_case(9, "infarct", direction=direction, **kw)
    assert np.allclose(b.reference.direction, direction)
    # Same centred grid with i flipped: the same patient, so the arrays are mirror images along i.
    np.testing.assert_allclose(b.images["T1"].array, a.images["T1"].array[:, :, ::-1], atol=2.0)
    mismatch = (b.lesion_mask.array != a.lesion_mask.array[:, :, ::-1]).mean()
    assert mismatch < 1e-3
    origin = (10.0, -20.0, 30.0)
    c = make_brain_case(9, "normal", shape=(40, 40, 30), spacing=(4.5, 4.5, 5.0), origin=origin, contrasts=["T2"])
    assert c.reference.spacing == (4.5, 4.5, 5.0) and c.reference.origin == origin
    assert c.brain_mask.array.sum() > 0


def test_brain_cohort_is_balanced():
    cohort = make_brain_cohort(8, seed=2, shape=(24, 24, 20), spacing=(8.0, 8.0, 8.0), contrasts=["T1"])
    counts = {f: sum(c.findings == (f,) for c in cohort) for f in ("normal", "infarct", "haemorrhage", "mass_effect")}
    assert counts == {"normal": 2, "infarct": 2, "haemorrhage": 2, "mass_effect": 2}
    again = make_brain_cohort(8, seed=2, shape=(24, 24, 20), spacing=(8.0, 8.0, 8.0), contrasts=["T1"])
    assert [c.seed for c in cohort] == [c.seed for c in again]


# ------------------------------------------------------------------ SWI
def test_swi_is_deterministic():
    a, b, c = swi(1), make_swi_case(1, n_microbleeds=4, n_mimics={"vessel": 2, "calcification": 2, "air_bone": 1},
                                    with_minip=True), swi(2)
    np.testing.assert_array_equal(a.magnitude.array, b.magnitude.array)
    np.testing.assert_array_equal(a.phase.array, b.phase.array)
    assert not np.array_equal(a.magnitude.array, c.magnitude.array)
    assert [f.centre_lps for f in a.microbleeds] == [f.centre_lps for f in b.microbleeds]


@pytest.mark.parametrize("seed", [1, 2])
def test_microbleeds_are_dark_round_foci_with_blooming(seed):
    case = swi(seed)
    mag = case.magnitude.array
    assert len(case.microbleeds) == 4
    assert case.magnitude.array.shape == (48, 96, 96) and case.magnitude.spacing == (0.5, 0.5, 2.0)
    for f in case.microbleeds:
        assert f.kind == "microbleed"
        assert 0.8 <= f.radius_mm <= 3.0 and f.radius_mm < f.apparent_radius_mm <= 5.0
        i, j, k = (round(v) for v in f.centre_ijk)
        assert case.brain_mask.array[k, j, i] == 1
        centre_val = mag[k, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2].mean()
        r_vox = int(np.ceil(2.5 * f.apparent_radius_mm / 0.5))
        ring = mag[k, max(j - r_vox, 0):j + r_vox + 1, max(i - r_vox, 0):i + r_vox + 1]
        assert centre_val < 0.5 * np.median(ring)
        # The darkest voxel of the focus lies at its centre (within a voxel).
        win = mag[k, j - 2:j + 3, i - 2:i + 3]
        assert win.min() <= mag[k, j, i] + 0.15 * np.median(ring)
    labels = np.unique(case.microbleed_mask.array)
    assert set(labels) == {0, 1, 2, 3, 4}
    assert (case.minip.array <= case.magnitude.array + 1e-3).all()


def test_mimic_kinds_and_opposite_phase_of_calcification():
    case = swi(1)
    kinds = [m.kind for m in case.mimics]
    assert kinds.count("vessel") == 2 and kinds.count("calcification") == 2
    assert kinds.count("air_bone") <= 1
    vessel = next(m for m in case.mimics if m.kind == "vessel")
    assert len(vessel.end_points_lps) >= 3  # an elongated tube of segments
    phase = case.phase.array
    for f in case.microbleeds + [m for m in case.mimics if m.kind == "calcification"]:
        k = round(f.centre_ijk[2])
        jj, ii = np.mgrid[0:phase.shape[1], 0:phase.shape[2]]
        d = np.hypot((ii - f.centre_ijk[0]) * 0.5, (jj - f.centre_ijk[1]) * 0.5)
        ring = (d > 1.3 * f.radius_mm + 0.5) & (d < 2.5 * f.radius_mm + 1.0)
        assert np.sign(phase[k][ring].mean()) == np.sign(f.susceptibility_ppm), f.kind


def test_swi_geometry_centres_agree_with_image():
    direction = rotation_z(30.0)
    case = make_swi_case(4, shape=(64, 64, 24), spacing=(0.6, 0.6, 2.5), origin=(5.0, 6.0, 7.0),
                         direction=direction, n_microbleeds=3, n_mimics=0, with_phase=False)
    img = case.magnitude
    assert img.origin == (5.0, 6.0, 7.0) and img.spacing == (0.6, 0.6, 2.5) and np.allclose(img.direction, direction)
    assert case.phase is None and len(case.microbleeds) == 3 and case.mimics == []
    for f in case.microbleeds:
        np.testing.assert_allclose(img.index_to_lps(np.array([f.centre_ijk]))[0], f.centre_lps, atol=1e-6)
        np.testing.assert_allclose(img.index_to_ras(np.array([f.centre_ijk]))[0], f.centre_ras, atol=1e-6)
        assert f.centre_ras[0] == pytest.approx(-f.centre_lps[0]) and f.centre_ras[2] == pytest.approx(f.centre_lps[2])


def _check_inserted(img: Image, centre_lps: np.ndarray, radius: float) -> None:
    out, truth = insert_microbleeds(img, [centre_lps], [radius], seed=3)
    assert out.same_geometry(img) and len(truth) == 1
    f = truth[0]
    assert f.apparent_radius_mm > radius
    i, j, k = (round(v) for v in f.centre_ijk)
    before, after = img.array.astype(np.float32), out.array
    assert after[k, j, i] < 0.5 * before[k, j, i]
    far = np.ones(before.shape[:3], dtype=bool)
    far[max(k - 3, 0):k + 4, max(j - 30, 0):j + 31, max(i - 30, 0):i + 31] = False
    np.testing.assert_array_equal(after[far], before[far])
    again, _ = insert_microbleeds(img, [centre_lps], [radius], seed=3)
    np.testing.assert_array_equal(again.array, after)
    with pytest.raises(ValueError, match="outside"):
        insert_microbleeds(img, [centre_lps + 1e4], [radius], seed=3)


def test_insert_microbleeds_into_packaged_real_mr():
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    arr = ds.pixel_array.astype(np.float32)
    img = Image(arr[None], (*map(float, ds.PixelSpacing[::-1]), float(ds.SliceThickness)), (0.0, 0.0, 0.0))
    bright = np.argwhere(arr > np.percentile(arr, 80))
    j, i = bright[len(bright) // 2]
    _check_inserted(img, img.index_to_lps(np.array([[i, j, 0]]))[0], 1.5)


def test_insert_microbleeds_into_real_gre(shared_data):
    import SimpleITK as sitk

    img = Image.from_sitk(sitk.ReadImage(str(shared_data / "sct_testing_data" / "t2s_t2s_uncropped.nii.gz")))
    ni, nj, nk = img.size
    centre = img.index_to_lps(np.array([[ni / 2, nj / 2, nk // 2]]))[0]
    _check_inserted(img, centre, 2.0)


# ------------------------------------------------------------------ cardiac LGE
def test_lge_is_deterministic_and_graded():
    a, b = make_lge_slice(5, "clear"), make_lge_slice(5, "clear")
    np.testing.assert_array_equal(a.image.array, b.image.array)
    assert not np.array_equal(a.image.array, make_lge_slice(6, "clear").image.array)
    assert make_lge_slice(5, "ambiguous").enhancement == "subtle"
    with pytest.raises(ValueError, match="grade"):
        make_lge_slice(5, "severe")


@pytest.mark.parametrize("seed", range(4))
def test_lge_clear_myocardium_brighter_than_none(seed):
    none, clear, subtle = (make_lge_slice(seed, g) for g in ("none", "clear", "subtle"))
    myo = none.myocardium_mask.array.astype(bool)
    np.testing.assert_array_equal(myo, clear.myocardium_mask.array.astype(bool))  # same heart
    assert 200 < myo.sum() < 0.3 * myo.size
    enhanced = clear.enhancement_mask.array.astype(bool)
    assert enhanced.any() and not (enhanced & ~myo).any()
    assert clear.image.array[myo].mean() > 1.3 * none.image.array[myo].mean()
    assert clear.image.array[enhanced].mean() > 4 * none.image.array[enhanced].mean()
    assert (none.likelihood < 10, none.certainty) == (True, "high")
    assert (clear.likelihood > 90, clear.certainty) == (True, "high")
    assert 20 < subtle.likelihood < 80 and subtle.certainty == "low"
    assert subtle.pattern in ("faint", "small", "blood_pool", "ghosting", "poor_nulling")


def test_lge_stack_geometry_and_truth():
    stack, slices = make_lge_stack(3, n_slices=12, enhancement="clear")
    assert stack.array.shape == (12, 96, 96) and stack.spacing[:2] == (1.5, 1.5)
    assert np.allclose(stack.direction, SAX_DIRECTION) and len(slices) == 12
    for k, s in enumerate(slices):
        np.testing.assert_allclose(s.image.origin, stack.index_to_lps(np.array([[0.0, 0.0, k]]))[0], atol=1e-6)
        np.testing.assert_array_equal(s.image.array[0], stack.array[k])
        assert s.certainty in labelsets.LGE_CERTAINTY
    grades = [s.enhancement for s in slices]
    assert "clear" in grades and "none" in grades
    areas = [int(s.myocardium_mask.array.sum()) for s in slices]
    assert areas[0] > areas[-1] > 0  # the ventricle narrows towards the apex
    # Along k the slice positions advance along the long axis (base -> apex: left, anterior, inferior).
    step = stack.index_to_lps(np.array([[0, 0, 1.0]]))[0] - stack.index_to_lps(np.array([[0, 0, 0.0]]))[0]
    assert step[0] > 0 and step[1] < 0 and step[2] < 0


# ------------------------------------------------------------------ body
@pytest.mark.parametrize(("modality", "start", "end"), [
    ("CT", "head", "foot"), ("MR", "neck", "pelvis"), ("CT", "chest", "abdomen"), ("MR", "thigh", "ankle"),
    ("CT", "upper_arm", "hand"), ("MR", "breast", "breast"),
])
def test_body_labels_monotone_and_cover_range(modality, start, end):
    case = make_body_case(2, modality, start_region=start, end_region=end, size=(32, 32))
    ls = case.labelset
    labels = case.slice_labels[case.slice_order_head_to_feet()]
    assert np.all(np.diff(labels) >= 0)
    assert ls.names[labels[0]] == start and ls.names[labels[-1]] == end
    chain = [n for n in ls.names[ls.index(start):ls.index(end) + 1]
             if start == "breast"
             or ((n in labelsets.UPPER_LIMB_REGIONS) == (start in labelsets.UPPER_LIMB_REGIONS) and n != "breast")]
    assert set(ls.names[i] for i in labels) == set(chain)
    assert case.image.array.shape[0] == len(case.slice_labels)


def test_body_ct_hu_and_mr_contrast():
    ct = make_body_case(4, "CT", start_region="chest", end_region="chest", size=(48, 48))
    mr = make_body_case(4, "MR", start_region="chest", end_region="chest", size=(48, 48))
    assert ct.image.metadata["units"] == "HU"
    lung, bone, fat = 5, 3, 1
    ct_lung = ct.image.array[ct.tissue.array == lung]
    assert ct_lung.size and np.median(ct_lung) < -600
    assert np.median(ct.image.array[ct.tissue.array == bone]) > 300
    assert np.median(ct.image.array[ct.tissue.array == 0]) < -900
    mr_fat = np.median(mr.image.array[mr.tissue.array == fat])
    assert mr_fat > 2 * np.median(mr.image.array[mr.tissue.array == 2])  # T1: fat brighter than muscle
    assert mr.image.array.min() >= 0


def test_body_random_extents_and_determinism():
    a, b = make_body_case(11, "CT", size=(24, 24)), make_body_case(11, "CT", size=(24, 24))
    np.testing.assert_array_equal(a.image.array, b.image.array)
    np.testing.assert_array_equal(a.slice_labels, b.slice_labels)
    extents = {(c.start_region, c.end_region, c.image.size[2])
               for c in (make_body_case(s, "MR", size=(16, 16)) for s in range(6))}
    assert len(extents) >= 4


def test_body_geometry_feet_first_direction():
    direction = np.diag([1.0, 1.0, -1.0])  # k runs towards the feet: slice 0 is the most superior
    case = make_body_case(6, "CT", n_slices=40, spacing=(9.0, 9.0, 5.0), start_region="neck", end_region="abdomen",
                          size=(40, 40), origin=(1.0, 2.0, 3.0), direction=direction)
    img = case.image
    assert img.size == (40, 40, 40) and img.spacing == (9.0, 9.0, 5.0) and img.origin == (1.0, 2.0, 3.0)
    assert np.all(np.diff(case.slice_labels) >= 0)
    assert case.labelset.names[case.slice_labels[0]] == "neck"
    n_given = make_body_case(6, "CT", n_slices=25, start_region="neck", end_region="abdomen", size=(24, 24))
    assert n_given.image.size[2] == 25 and n_given.labelset.names[n_given.slice_labels[0]] == "abdomen"
    with pytest.raises(ValueError, match="axial"):
        make_body_case(6, "CT", direction=np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]))


def test_body_bad_regions():
    with pytest.raises(ValueError, match="MR"):
        make_body_case(0, "CT", start_region="breast", end_region="breast")
    with pytest.raises(ValueError, match="one chain"):
        make_body_case(0, "CT", start_region="chest", end_region="hand")
    with pytest.raises(ValueError, match="head to feet"):
        make_body_case(0, "MR", start_region="knee", end_region="chest")


def test_body_supersampling_keeps_the_maps_and_partial_volumes_thin_bone():
    """Sub-sampled voxels leave the tissue/structure maps and labels as they are, and thin bone (iliac wings)
    partial-volumes: each slice's summed HU is close to a 9 x 9 supersampled rendering, where point sampling
    aliases the wings into on/off voxels."""
    kw = {"start_region": "pelvis", "end_region": "pelvis", "size": (40, 40), "noise": False}
    one, three, fine = (make_body_case(8, "CT", supersample=s, **kw) for s in (1, 3, 9))
    for case in (three, fine):
        np.testing.assert_array_equal(case.tissue.array, one.tissue.array)
        np.testing.assert_array_equal(case.structures.array, one.structures.array)
        np.testing.assert_array_equal(case.slice_labels, one.slice_labels)
    per_slice = {s: c.image.array.astype(np.float64).sum(axis=(1, 2)) for s, c in ((1, one), (3, three), (9, fine))}
    error = {s: float(np.abs(per_slice[s] - per_slice[9]).sum()) for s in (1, 3)}
    assert error[3] < 0.4 * error[1], error
    for bad in (2, 0, 1.5):
        with pytest.raises(ValueError, match="odd whole number"):
            make_body_case(8, "CT", supersample=bad, **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_body_pelvis_landmarks_lie_as_on_ct(seed):
    """As on a real CT: the iliac crests come first, with L5 between them (lumbar vertebra and ilium, no
    sacrum); the sacrum starts 15-55 mm lower; above the acetabulum the ilium body runs front to back."""
    case = make_body_case(seed, "CT", start_region="abdomen", end_region="hip", size=(64, 64),
                          spacing=(6.0, 6.0, 2.0), noise=False)
    ids = {name: i for i, name in case.structure_names.items()}
    seg = case.structures.array
    order = case.slice_order_head_to_feet()
    has = {name: np.array([bool((seg[k] == ids[name]).any()) for k in order]) for name in
           ("hip_left", "sacrum", "vertebrae_L3")}
    first_ilium, first_sacrum = int(np.argmax(has["hip_left"])), int(np.argmax(has["sacrum"]))
    assert 15.0 <= (first_sacrum - first_ilium) * 2.0 <= 55.0
    l5_between_crests = has["hip_left"] & has["vertebrae_L3"] & ~has["sacrum"]
    assert l5_between_crests[first_ilium:first_sacrum].all()
    pelvis = [k for k in order if case.region_names[k] == "pelvis"]
    k = pelvis[int(0.85 * len(pelvis))]  # just above the acetabular roof
    ilium = seg[k] == ids["hip_left"]
    ilium[:, : ilium.shape[1] // 2] = False  # one side
    rows, cols = np.nonzero(ilium)
    assert np.ptp(rows) > 1.5 * np.ptp(cols)  # rows run front to back, columns side to side
