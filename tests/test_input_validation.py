"""The shared input-validation layer: task contracts, tag checks, phase units, and that run_task applies them.

Phantoms of every task and the real public scans are accepted; the bad-input corpus is in
``test_bad_input_corpus.py`` and the header/truncation fuzz in ``test_bad_input_fuzz.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from bad_input_cases import ct_head_array, head_array, siemens_phase_stored, write_dicom_series

from radtriage.errors import InputError, RadTriageError
from radtriage.image import Image
from radtriage.io import read_image
from radtriage.phantoms import make_body_case, make_brain_case, make_lge_stack, make_swi_case
from radtriage.validation import TASK_CONTRACTS, contract_for, validate_inputs
from radtriage.validation import contracts as contracts_module
from radtriage.validation.phase import phase_in_radians, phase_units

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _img(arr: np.ndarray, spacing=(4.0, 4.0, 4.0), **metadata) -> Image:
    return Image(arr, spacing, metadata=metadata)


# ------------------------------------------------------------------ the phantoms every task ships must pass
def test_the_phantoms_of_every_task_pass_their_contract() -> None:
    brain = make_brain_case(0, "infarct")
    checked = validate_inputs("mri_triage", dict(brain.images))
    assert set(checked.inputs) == set(brain.images) and not checked.skipped and not checked.notices
    swi = make_swi_case(0)
    checked = validate_inputs("cmb_detect", {"magnitude": swi.magnitude, "phase": swi.phase})
    assert set(checked.inputs) == {"magnitude", "phase"} and not checked.notices
    stack, _ = make_lge_stack(0)
    assert not validate_inputs("lge_certainty", {"lge": stack}).notices
    for modality in ("CT", "MR"):
        assert not validate_inputs("body_region", {"x": make_body_case(0, modality).image}).notices


@pytest.mark.slow
def test_real_public_scans_pass_and_ct_is_refused_for_mr_tasks(shared_data: Path) -> None:
    stroke = {c: read_image(shared_data / "VolumeRenderingData" / f"stroke_{c}.nii.gz") for c in ("T1", "T2", "FLAIR")}
    assert set(validate_inputs("mri_triage", stroke).inputs) == set(stroke)
    lge = read_image(shared_data / "Seg3DData" / "example_dicom_LGE")
    assert "lge" in validate_inputs("lge_certainty", {"lge": lge}).inputs
    ct = read_image(shared_data / "Slicer" / "CTHeadAxialDicom")
    assert "ct" in validate_inputs("body_region", {"ct": ct}).inputs
    for task in ("mri_triage", "cmb_detect", "lge_certainty"):
        with pytest.raises(InputError, match=f"Modality CT: {task} reads MR"):
            validate_inputs(task, {"T1": ct})


def test_ct_values_in_a_file_without_tags_are_told_from_mr() -> None:
    from radtriage.validation.content import hounsfield_evidence

    assert hounsfield_evidence(make_body_case(0, "CT").image.array) is not None
    ct = Image(ct_head_array(), (4.0, 4.0, 4.0))
    for task in ("mri_triage", "cmb_detect", "lge_certainty"):
        with pytest.raises(InputError, match=f"look like CT Hounsfield units .*{task} reads MR only"):
            validate_inputs(task, {"T1" if task == "mri_triage" else "image": ct})
    assert "x" in validate_inputs("body_region", {"x": ct}).inputs  # CT is what body_region reads
    mr_like = [make_body_case(0, "MR").image.array, make_brain_case(0, "infarct").images["T1"].array,
               make_swi_case(0).magnitude.array, make_lge_stack(0)[0].array]
    rng = np.random.default_rng(0)
    psir = rng.normal(0.0, 40.0, (8, 64, 64))  # phase-sensitive IR: signed, noise about 0 outside the body
    psir[:, 16:48, 16:48] = rng.uniform(-2500.0, 2500.0, (8, 32, 32))
    zscored = (mr_like[1] - mr_like[1].mean()) / mr_like[1].std()
    for arr in (*mr_like, psir, zscored):
        assert hounsfield_evidence(arr) is None


@pytest.mark.slow
def test_real_nifti_ct_is_told_from_real_nifti_mr(shared_data: Path) -> None:
    from radtriage.validation.content import hounsfield_evidence

    folder = shared_data / "TotalSegmentator"
    for name in ("example_ct.nii.gz", "aorta_ct_cropped.nii.gz", "pulmonary_ct_cropped.nii.gz"):
        assert hounsfield_evidence(read_image(folder / name).array) is not None, name
    mr = [folder / "example_mr_sm.nii.gz", *(shared_data / "VolumeRenderingData").glob("stroke_*.nii.gz")]
    for path in mr:
        assert hounsfield_evidence(read_image(path).array) is None, path


# ------------------------------------------------------------------ contracts
def test_each_task_declares_one_contract_and_bundles_may_narrow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(TASK_CONTRACTS) == {"mri_triage", "cmb_detect", "lge_certainty", "body_region"}
    assert TASK_CONTRACTS["cmb_detect"].max_working_voxels and TASK_CONTRACTS["mri_triage"].multi_series
    section = {"inputs": {"modality": "MR"}, "input_contract": {"min_slices": 40, "max_slice_mm": 3.0}}
    monkeypatch.setattr(contracts_module, "_bundle_metadata", lambda task, bundle: section)
    narrowed = contract_for("mri_triage", "my-bundle")
    assert (narrowed.min_slices, narrowed.max_slice_mm, narrowed.modalities) == (40, 3.0, ("MR",))
    with pytest.raises(InputError, match="needs at least 40 slice"):
        validate_inputs("mri_triage", {"T1": _img(head_array((30, 48, 48)))}, bundle="my-bundle")
    section["input_contract"] = {"min_slice": 3}
    with pytest.raises(RadTriageError, match=r"unknown input_contract field.*min_slice"):
        contract_for("mri_triage", "my-bundle")


def test_a_study_skips_an_unusable_series_with_a_notice_while_one_is_usable() -> None:
    good = _img(head_array())
    mask = _img((head_array() > 300).astype(np.float32))
    checked = validate_inputs("mri_triage", {"T1": good, "FLAIR": mask})
    assert list(checked.inputs) == ["T1"] and "mask or label map" in checked.skipped["FLAIR"]
    assert any(n.startswith("input 'FLAIR' skipped:") for n in checked.notices)
    with pytest.raises(InputError, match=r"no usable input for mri_triage: .*mask.*constant"):
        validate_inputs("mri_triage", {"T1": mask, "T2": _img(np.ones((40, 48, 48)))})


def test_nan_voxels_are_counted_zeroed_and_noticed() -> None:
    arr = head_array()
    arr.ravel()[:7] = np.nan
    arr.ravel()[7:9] = np.inf
    checked = validate_inputs("lge_certainty", {"lge": _img(arr[:10], (1.5, 1.5, 8.0))})
    assert np.isfinite(checked.inputs["lge"].array).all()
    assert any("9 voxel(s)" in n and "set to 0" in n for n in checked.notices)


# ------------------------------------------------------------------ DICOM tags
def test_override_contradicting_the_tags_gets_a_notice(tmp_path: Path) -> None:
    flair = read_image(write_dicom_series(
        tmp_path / "flair", head_array(), description="t2_tirm_tra_dark-fluid", body_part="HEAD",
        extra={"RepetitionTime": "9000", "EchoTime": "85", "InversionTime": "2500", "ScanningSequence": "SE\\IR"}))
    notices = validate_inputs("mri_triage", {"T1": flair}).notices
    assert any("named T1 but its DICOM tags read as FLAIR" in n for n in notices)
    assert not validate_inputs("mri_triage", {"FLAIR": flair}).notices


def test_psir_lge_is_not_taken_for_a_phase_image(tmp_path: Path) -> None:
    stack = head_array((8, 64, 64))
    psir = read_image(write_dicom_series(tmp_path / "psir", stack, spacing=(1.5, 1.5, 8.0), body_part="HEART",
                                         description="tfl_psir_sax", image_type=("ORIGINAL", "PRIMARY", "P", "PSIR")))
    assert "lge" in validate_inputs("lge_certainty", {"lge": psir}).inputs
    phase = read_image(write_dicom_series(tmp_path / "pha", stack, spacing=(1.5, 1.5, 8.0), body_part="CHEST",
                                          description="sax_phase", image_type=("ORIGINAL", "PRIMARY", "P", "ND")))
    with pytest.raises(InputError, match="marks a phase image"):
        validate_inputs("lge_certainty", {"lge": phase})


def test_a_magnitude_given_as_phase_is_refused(tmp_path: Path) -> None:
    mag = read_image(write_dicom_series(tmp_path / "mag", head_array(), spacing=(2.5, 2.5, 2.5)))
    with pytest.raises(InputError, match="marks a magnitude image, but it was given as the phase"):
        validate_inputs("cmb_detect", {"magnitude": mag, "phase": mag})


# ------------------------------------------------------------------ phase units and the CMB working grid
@pytest.mark.parametrize(("values", "kind"), [
    (np.linspace(-math.pi, math.pi, 4000), "radians"),
    (np.arange(-4096, 4095, 2), "scanner"),
    (np.arange(0, 4096), "scanner"),
    (np.arange(-2048, 2048), "scanner"),
    (np.round(np.linspace(-3141, 3141, 4000)), "milliradians"),
])
def test_phase_units_are_recognised(values: np.ndarray, kind: str) -> None:
    image = _img(np.resize(values, (10, 20, 20)).astype(np.float32))
    units = phase_units(image)
    assert units.kind == kind
    radians = units.to_radians(image.array)
    assert np.abs(radians).max() <= math.pi + 1e-3 and np.ptp(radians) > 5.0


@pytest.mark.parametrize("values", [np.linspace(-180.0, 180.0, 4000), np.arange(-3, 4), np.linspace(10, 900, 999)])
def test_phase_in_unknown_units_is_refused(values: np.ndarray) -> None:
    with pytest.raises(InputError, match="phase units not recognised"):
        phase_units(_img(np.resize(values, (10, 20, 20)).astype(np.float32)))


def test_raw_phase_is_converted_and_filtered_so_the_working_volume_does_not_clip() -> None:
    from radtriage.tasks.cmb_detect.phase_filter import highpass_if_raw
    from radtriage.tasks.cmb_detect.prep import prepare_working_volume

    mag = _img(head_array(), (2.5, 2.5, 2.5))
    raw = _img((siemens_phase_stored().astype(np.float32) * 2 - 4096), (2.5, 2.5, 2.5))
    before = prepare_working_volume(mag, raw).phase
    assert float(np.mean(np.abs(before) >= 4.0)) > 0.9  # the measurement: raw units clip at +-4
    converted, note = phase_in_radians(raw)
    filtered, filter_note = highpass_if_raw(converted, mag)
    assert "scanner units" in note and "high-pass" in filter_note
    after = prepare_working_volume(mag, filtered).phase
    assert np.abs(after).max() <= 1.0 + 1e-6
    smooth = mag.with_array(np.zeros(mag.array.shape, np.float32) + 0.1)
    assert highpass_if_raw(smooth, mag)[1] == ""  # background-removed phase is left alone


def test_cmb_working_grid_is_capped_before_anything_is_allocated() -> None:
    from radtriage.tasks.cmb_detect.runner import check_working_grid

    check_working_grid(_img(np.zeros((60, 64, 64), np.float32), (4.0, 4.0, 4.0)))
    with pytest.raises(InputError, match="working grid would be 360x360x360"):
        check_working_grid(_img(np.zeros((90, 90, 90), np.float32), (4.0, 4.0, 4.0)))


# ------------------------------------------------------------------ run_task applies the layer
def test_run_task_refuses_before_the_runner_and_adds_the_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    from radtriage import tasks
    from radtriage.tasks.result import TaskResult

    tasks.available_tasks()
    monkeypatch.setattr(tasks, "_RUNNERS", dict(tasks._RUNNERS))
    calls = []
    tasks.register_runner("lge_certainty", lambda inputs, **kw: calls.append(inputs) or TaskResult(
        "lge_certainty", {}, {}, notices=["runner notice"]))
    with pytest.raises(InputError, match="constant image"):
        tasks.run_task("lge_certainty", inputs={"lge": _img(np.full((8, 64, 64), 5.0), (1.5, 1.5, 8.0))})
    assert calls == []
    arr = head_array((8, 64, 64))
    arr[0, 0, :3] = np.nan
    result = tasks.run_task("lge_certainty", inputs={"lge": _img(arr, (1.5, 1.5, 8.0))})
    assert np.isfinite(calls[0]["lge"].array).all()
    assert result.notices[0] == "runner notice" and "3 voxel(s)" in result.notices[1]
    assert result.outputs["input_checks"]["checked"] == ["lge"]
