"""MR contrast classification from DICOM tags, names, image metadata, and assignment of inputs to channels."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io.contrast import (
    CONTRAST_ORDER,
    Contrast,
    ContrastGuess,
    assign_contrasts,
    classify_image,
    classify_name,
    classify_tags,
    parse_contrast,
)
from radtriage.io.tags import CONTRAST_TAG_KEYWORDS, extract_tags
from radtriage.labelsets import MR_CONTRASTS

# ------------------------------------------------------------ realistic headers
SIEMENS = {"Modality": "MR", "Manufacturer": "SIEMENS", "MagneticFieldStrength": 3.0}
GE = {"Modality": "MR", "Manufacturer": "GE MEDICAL SYSTEMS", "MagneticFieldStrength": 1.5}
PHILIPS = {"Modality": "MR", "Manufacturer": "Philips Medical Systems", "MagneticFieldStrength": 3.0}

MPRAGE = {**SIEMENS, "SeriesDescription": "t1_mprage_sag_p2_iso", "ProtocolName": "t1_mprage_sag_p2_iso",
          "SequenceName": "*tfl3d1_16ns", "ScanningSequence": ["GR", "IR"], "SequenceVariant": ["SK", "SP", "MP"],
          "ScanOptions": "IR", "MRAcquisitionType": "3D", "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"],
          "EchoTime": 2.98, "RepetitionTime": 2300.0, "InversionTime": 900.0, "FlipAngle": 9.0}
GE_T1_POST = {**GE, "SeriesDescription": "AX T1 SE +C", "ProtocolName": "BRAIN ROUTINE", "ScanningSequence": "SE",
              "SequenceVariant": ["SK", "SS"], "ScanOptions": ["FAST_GEMS"], "MRAcquisitionType": "2D",
              "ImageType": ["ORIGINAL", "PRIMARY", "OTHER"], "EchoTime": 9.0, "RepetitionTime": 550.0,
              "FlipAngle": 90.0, "ContrastBolusAgent": "10 ML MULTIHANCE", "ContrastBolusRoute": "IV"}
SIEMENS_T2 = {**SIEMENS, "SeriesDescription": "t2_tse_tra_512", "ProtocolName": "t2_tse_tra_512",
              "SequenceName": "*tse2d1_15", "ScanningSequence": "SE", "SequenceVariant": ["SK", "SP", "OSP"],
              "MRAcquisitionType": "2D", "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"],
              "EchoTime": 98.0, "RepetitionTime": 5000.0, "FlipAngle": 150.0}
SIEMENS_FLAIR = {**SIEMENS, "SeriesDescription": "t2_tirm_tra_dark-fluid", "ProtocolName": "t2_tirm_tra_dark-fluid",
                 "SequenceName": "*tir2d1_16", "ScanningSequence": ["SE", "IR"], "SequenceVariant": ["SK", "SP", "MP"],
                 "ScanOptions": ["IR", "PFP"], "MRAcquisitionType": "2D",
                 "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"], "EchoTime": 81.0,
                 "RepetitionTime": 9000.0, "InversionTime": 2500.0, "FlipAngle": 150.0}
GE_FLAIR = {**GE, "SeriesDescription": "AX T2 FLAIR", "ScanningSequence": ["SE", "IR"],
            "SequenceVariant": ["SK", "SS"], "ImageType": ["ORIGINAL", "PRIMARY", "OTHER"], "EchoTime": 120.0,
            "RepetitionTime": 9000.0, "InversionTime": 2250.0, "FlipAngle": 90.0}
SIEMENS_TRACEW = {**SIEMENS, "SeriesDescription": "ep2d_diff_3scan_trace_p2_TRACEW",
                  "ProtocolName": "ep2d_diff_3scan_trace_p2", "SequenceName": "*ep_b1000t", "ScanningSequence": "EP",
                  "SequenceVariant": ["SK", "SP"], "ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW", "ND"],
                  "EchoTime": 89.0, "RepetitionTime": 5300.0, "FlipAngle": 90.0, "DiffusionBValue": 1000.0}
SIEMENS_ADC = {**SIEMENS, "SeriesDescription": "ep2d_diff_3scan_trace_p2_ADC",
               "ProtocolName": "ep2d_diff_3scan_trace_p2", "SequenceName": "*ep_b0_1000", "ScanningSequence": "EP",
               "SequenceVariant": ["SK", "SP"], "ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "ADC", "ND", "NORM"],
               "EchoTime": 89.0, "RepetitionTime": 5300.0, "FlipAngle": 90.0}
PHILIPS_DWI = {**PHILIPS, "SeriesDescription": "DWI_SENSE", "ProtocolName": "WIP DWI_SENSE", "ScanningSequence": "SE",
               "SequenceVariant": "SK", "ImageType": ["ORIGINAL", "PRIMARY", "M_SE", "M", "SE"], "EchoTime": 90.0,
               "RepetitionTime": 3500.0, "FlipAngle": 90.0, "DiffusionBValue": 1000.0}
GE_ADC = {**GE, "SeriesDescription": "Apparent Diffusion Coefficient (mm2/s)", "ScanningSequence": ["EP", "SE"],
          "ImageType": ["DERIVED", "PRIMARY", "ADC"], "EchoTime": 80.0, "RepetitionTime": 6000.0}
SIEMENS_SWI = {**SIEMENS, "SeriesDescription": "SWI_Images", "ProtocolName": "swi_tra_p2",
               "SequenceName": "*swi3d1r", "ScanningSequence": "GR", "SequenceVariant": "SP",
               "ImageType": ["DERIVED", "PRIMARY", "M", "SWI", "NORM", "DIS2D"], "EchoTime": 20.0,
               "RepetitionTime": 27.0, "FlipAngle": 15.0}
SIEMENS_SWI_PHASE = {**SIEMENS_SWI, "SeriesDescription": "Pha_Images",
                     "ImageType": ["ORIGINAL", "PRIMARY", "P", "ND"]}
SIEMENS_MNIP = {**SIEMENS_SWI, "SeriesDescription": "mIP_Images(SW)",
                "ImageType": ["DERIVED", "PRIMARY", "MNIP", "M", "SWI"]}
GE_T2STAR = {**GE, "SeriesDescription": "AX T2* GRE", "ScanningSequence": "GR", "SequenceVariant": "SS",
             "ImageType": ["ORIGINAL", "PRIMARY", "OTHER"], "EchoTime": 20.0, "RepetitionTime": 650.0,
             "FlipAngle": 20.0}
PHILIPS_PD = {**PHILIPS, "SeriesDescription": "PD_TSE", "ScanningSequence": "SE", "SequenceVariant": "SK",
              "ImageType": ["ORIGINAL", "PRIMARY", "M_SE", "M", "SE"], "EchoTime": 30.0, "RepetitionTime": 3000.0}
# Same physics as the Seg3D LGE scan: IR-prepared 3D GRE with TI 360 ms.
LGE_LIKE = {**SIEMENS, "SeriesDescription": "series 7", "SequenceName": "tfl3d1_35", "ScanningSequence": ["GR", "IR"],
            "SequenceVariant": ["SK", "SP", "MP", "OSP"], "ScanOptions": ["IR", "PFP", "SAT2", "FS", "CT"],
            "MRAcquisitionType": "3D", "ImageType": ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"],
            "EchoTime": 1.42, "RepetitionTime": 470.0, "InversionTime": 360.0, "FlipAngle": 13.0}


def _physics_only(tags: dict) -> dict:
    """The same header without any human-written text."""
    return {k: v for k, v in tags.items() if k not in ("SeriesDescription", "ProtocolName", "SequenceName")}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (MPRAGE, Contrast.T1),
        ({**MPRAGE, "ContrastBolusAgent": "Gadovist"}, Contrast.T1_POST),
        (GE_T1_POST, Contrast.T1_POST),
        (SIEMENS_T2, Contrast.T2),
        (SIEMENS_FLAIR, Contrast.FLAIR),
        (GE_FLAIR, Contrast.FLAIR),
        (SIEMENS_TRACEW, Contrast.DWI),
        (PHILIPS_DWI, Contrast.DWI),
        (SIEMENS_ADC, Contrast.ADC),
        (GE_ADC, Contrast.ADC),
        (SIEMENS_SWI, Contrast.SWI),
        (SIEMENS_MNIP, Contrast.SWI),
        (GE_T2STAR, Contrast.SWI),
        (PHILIPS_PD, Contrast.OTHER),
    ],
    ids=["mprage", "mprage+agent", "ge_t1_post", "t2_tse", "siemens_flair", "ge_flair", "tracew", "philips_dwi",
         "siemens_adc", "ge_adc", "swi", "mnip", "t2star_gre", "pd"],
)
def test_tags_give_each_contrast(tags: dict, expected: Contrast) -> None:
    guess = classify_tags(tags)
    assert guess.contrast is expected, guess.explanation
    assert guess.source == "dicom"
    assert guess.usable
    assert guess.confidence >= 0.7, guess.explanation
    assert "conflicting" not in guess.explanation


@pytest.mark.parametrize(
    ("tags", "expected"),
    [(MPRAGE, Contrast.T1), (SIEMENS_T2, Contrast.T2), (SIEMENS_FLAIR, Contrast.FLAIR),
     (SIEMENS_TRACEW, Contrast.DWI), (SIEMENS_ADC, Contrast.ADC), (SIEMENS_SWI, Contrast.SWI),
     (GE_T2STAR, Contrast.SWI), (GE_T1_POST, Contrast.T1_POST), (PHILIPS_PD, Contrast.OTHER)],
)
def test_physics_alone_still_classifies(tags: dict, expected: Contrast) -> None:
    """Without descriptions or sequence names, TE/TR/TI, image type, b-value and agent decide."""
    with_text, bare = classify_tags(tags), classify_tags(_physics_only(tags))
    assert bare.contrast is expected, bare.explanation
    assert bare.confidence <= with_text.confidence  # the description adds evidence


def test_b_zero_reference_of_a_diffusion_series_is_dwi() -> None:
    b0 = {**SIEMENS_TRACEW, "SeriesDescription": "dMRI_mb3_AP", "ProtocolName": "dMRI_mb3_AP",
          "SequenceName": "ep_b5#1", "ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE", "MB", "ND", "MOSAIC"],
          "DiffusionBValue": 5.0}
    guess = classify_tags(b0)
    assert guess.contrast is Contrast.DWI and "b≈0" in guess.explanation
    assert guess.confidence < classify_tags({**b0, "DiffusionBValue": 1500.0}).confidence


def test_explanation_lists_the_evidence_used() -> None:
    guess = classify_tags(SIEMENS_FLAIR)
    assert "TI 2500" in guess.explanation and "dark" in guess.explanation.lower()
    assert guess.evidence and any("IR" in e for e in guess.evidence)
    post = classify_tags(GE_T1_POST)
    assert "MULTIHANCE" in post.explanation


def test_conflicting_evidence_lowers_confidence_and_says_so() -> None:
    # A description saying FLAIR on a short-TR/short-TE spin echo with no inversion.
    t1_physics = {**GE, "SeriesDescription": "AX T2 FLAIR", "ScanningSequence": "SE", "EchoTime": 12.0,
                  "RepetitionTime": 550.0, "FlipAngle": 90.0}
    conflict = classify_tags(t1_physics)
    assert "conflicting" in conflict.explanation
    assert conflict.confidence < 0.5
    assert conflict.confidence < classify_tags(GE_FLAIR).confidence - 0.3
    # Pre-contrast description but an agent recorded: T1 family, conflict reported.
    pre_post = classify_tags({**MPRAGE, "SeriesDescription": "t1_mprage_sag_pre", "ContrastBolusAgent": "Gadovist"})
    assert pre_post.contrast in (Contrast.T1, Contrast.T1_POST)
    assert "conflicting pre/post" in pre_post.explanation
    assert pre_post.confidence < classify_tags({**MPRAGE, "ContrastBolusAgent": "Gadovist"}).confidence


def test_long_ti_with_short_te_is_only_weak_flair() -> None:
    weak = classify_tags({**GE, "ScanningSequence": ["SE", "IR"], "InversionTime": 2000.0, "EchoTime": 15.0,
                          "RepetitionTime": 8000.0})
    strong = classify_tags(_physics_only(GE_FLAIR))
    assert weak.contrast is Contrast.FLAIR and strong.contrast is Contrast.FLAIR
    assert weak.confidence < strong.confidence - 0.2


def test_ir_gre_with_short_ti_is_t1_not_flair() -> None:
    guess = classify_tags(LGE_LIKE)
    assert guess.contrast is Contrast.T1, guess.explanation
    assert "TI 360" in guess.explanation


def test_non_mr_phase_localizer_and_maps_are_not_usable() -> None:
    ct = classify_tags({"Modality": "CT", "SeriesDescription": "HEAD", "ContrastBolusAgent": "APPLIED"})
    assert ct.contrast is Contrast.OTHER and not ct.usable and "not MR" in ct.explanation
    phase = classify_tags(SIEMENS_SWI_PHASE)
    assert phase.contrast is Contrast.OTHER and not phase.usable and "phase" in phase.explanation
    loc = classify_tags({**SIEMENS, "SeriesDescription": "localizer", "SequenceName": "*fl2d1",
                         "ScanningSequence": "GR", "EchoTime": 4.0, "RepetitionTime": 8.6, "FlipAngle": 20.0})
    assert loc.contrast is Contrast.OTHER and not loc.usable
    fa = classify_tags({**SIEMENS, "ScanningSequence": "EP", "ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "FA"]})
    assert fa.contrast is Contrast.OTHER and not fa.usable
    bold = classify_tags({**SIEMENS, "SequenceName": "*epfid2d1_64", "ScanningSequence": "EP", "EchoTime": 30.0,
                          "RepetitionTime": 3000.0, "FlipAngle": 76.0})
    assert bold.contrast is Contrast.OTHER and not bold.usable and "BOLD" in bold.explanation
    swi_processed = classify_tags({**SIEMENS_SWI, "SeriesDescription": "SWI from phase",
                                   "ImageType": ["DERIVED", "PRIMARY", "M", "SWI"]})
    assert swi_processed.contrast is Contrast.SWI and swi_processed.usable  # phase-weighted SWI is usable
    empty = classify_tags({})
    assert empty.contrast is Contrast.OTHER and empty.confidence == 0.0 and not empty.usable


def test_no_evidence_gives_zero_confidence() -> None:
    guess = classify_tags({"Modality": "MR", "SeriesDescription": "series 3"})
    assert guess.contrast is Contrast.OTHER and guess.confidence == 0.0 and not guess.usable
    assert "no evidence" in guess.explanation


# ---------------------------------------------------------- pydicom's MR files
def _file_tags(name: str) -> dict:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not shipped with this pydicom/pydicom-data")
    return extract_tags(pydicom.dcmread(path, stop_before_pixels=True))


def test_pydicom_mr_small_is_t2() -> None:
    # Toshiba spin echo TR 4000 / TE 240 ms: T2-weighted.
    guess = classify_tags(_file_tags("MR_small.dcm"))
    assert guess.contrast is Contrast.T2, guess.explanation
    assert "TE 240" in guess.explanation


def test_pydicom_emri_small_is_t1() -> None:
    # Philips enhanced MR: PulseSequenceName T1TFE and ImageType T1.
    guess = classify_tags(_file_tags("emri_small.dcm"))
    assert guess.contrast is Contrast.T1, guess.explanation
    assert guess.confidence > 0.7


def test_pydicom_siemens_vibe_with_agent_is_t1_post() -> None:
    tags = _file_tags("MR-SIEMENS-DICOM-WithOverlays.dcm")
    guess = classify_tags(tags)
    assert guess.contrast is Contrast.T1_POST, guess.explanation
    assert "Omniscan" in guess.explanation
    no_agent = classify_tags({k: v for k, v in tags.items() if k != "ContrastBolusAgent"})
    assert no_agent.contrast is Contrast.T1


def test_pydicom_data_philips_t1_se() -> None:
    guess = classify_tags(_file_tags("MR2_UNCR.dcm"))  # pydicom-data: Philips T1W/SE TR 350 / TE 27
    assert guess.contrast is Contrast.T1, guess.explanation


def test_extract_tags_keeps_what_classification_reads() -> None:
    for keyword in ("ScanningSequence", "EchoTime", "InversionTime", "ImageType", "ContrastBolusAgent",
                    "DiffusionBValue", "SeriesDescription", "SequenceName"):
        assert keyword in CONTRAST_TAG_KEYWORDS


# ------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("stroke_FLAIR", Contrast.FLAIR),
        ("stroke_T1.nii.gz", Contrast.T1),
        ("stroke_T2", Contrast.T2),
        ("sub-01_T2w.nii.gz", Contrast.T2),
        ("sub-01_T1w", Contrast.T1),
        ("sub-01_ce-gad_T1w.nii.gz", Contrast.T1_POST),
        ("sub-01_FLAIR", Contrast.FLAIR),
        ("sub-01_dwi.nii.gz", Contrast.DWI),
        ("sub-01_T2starw", Contrast.SWI),
        ("sub-01_swi", Contrast.SWI),
        ("t1_mprage_post", Contrast.T1_POST),
        ("AX T1 +C", Contrast.T1_POST),
        ("AX T1 w/o contrast", Contrast.T1),
        ("Sag T1 FLAIR", Contrast.T1),
        ("dwi_b1000", Contrast.DWI),
        ("ADC", Contrast.ADC),
        ("swi_mag", Contrast.SWI),
        ("AX T2* GRE", Contrast.SWI),
        ("t2s_t2s_uncropped", Contrast.SWI),
        ("hemo_gre", Contrast.SWI),
        ("t2_tirm_tra_dark-fluid", Contrast.FLAIR),
        ("PD_TSE", Contrast.OTHER),
        ("other.nii.gz", Contrast.OTHER),  # a file named after the channel
        ("T1post.nii.gz", Contrast.T1_POST),
    ],
)
def test_names(name: str, expected: Contrast) -> None:
    guess = classify_name(name)
    assert guess.contrast is expected, guess.explanation
    assert guess.source == "name" and guess.usable and 0 < guess.confidence < 0.8


@pytest.mark.parametrize("name", ["swi_phase", "sub-01_part-phase_T2starw", "localizer", "brain1_image", "Mag", ""])
def test_names_not_usable(name: str) -> None:
    guess = classify_name(name)
    assert guess.contrast is Contrast.OTHER and not guess.usable


def test_tag_evidence_beats_name_only_for_the_same_contrast() -> None:
    for tags, name in [(GE_FLAIR, "AX T2 FLAIR"), (SIEMENS_T2, "t2_tse_tra_512"), (MPRAGE, "t1_mprage_sag_p2_iso"),
                       (SIEMENS_TRACEW, "ep2d_diff_3scan_trace_p2_TRACEW"), (SIEMENS_SWI, "SWI_Images")]:
        by_tags, by_name = classify_tags(tags), classify_name(name)
        assert by_tags.contrast is by_name.contrast
        assert by_tags.confidence > by_name.confidence + 0.15, (name, by_tags.confidence, by_name.confidence)
    # A BIDS suffix is stronger than a bare token, still below acquisition evidence.
    assert classify_name("stroke_T1").confidence < classify_name("sub-01_T1w").confidence
    assert classify_name("sub-01_T1w").confidence < classify_tags(MPRAGE).confidence


# ------------------------------------------------------------------ images
def _image(**metadata: object) -> Image:
    return Image(np.zeros((2, 3, 4), np.float32), metadata=dict(metadata))


def test_classify_image_prefers_dicom_tags() -> None:
    img = _image(dicom_tags=SIEMENS_FLAIR, series_description="t1 looking name", source_path="/x/t1.dcm")
    assert classify_image(img).contrast is Contrast.FLAIR
    assert classify_image(img).source == "dicom"


def test_classify_image_falls_back_to_names() -> None:
    assert classify_image(_image(description="stroke_FLAIR", source_path="/d/stroke_FLAIR.nii.gz")).contrast is (
        Contrast.FLAIR)
    assert classify_image(_image(source_path="/d/sub-02_ce-gad_T1w.nii.gz")).contrast is Contrast.T1_POST
    uninformative_tags = _image(dicom_tags={"Modality": "MR", "SeriesDescription": "series 9"},
                                series_description="series 9", source_path="/data/swi_mag.nii")
    guess = classify_image(uninformative_tags)
    assert guess.contrast is Contrast.SWI and "DICOM tags gave no evidence" in guess.explanation
    assert not classify_image(_image()).usable
    assert not classify_image(_image(modality="CT", description="head_t1")).usable


def test_classify_image_reads_declared_contrast_label() -> None:
    # The phantoms label their images this way (metadata['contrast']).
    assert classify_image(_image(contrast="T1post", description="phantom")).contrast is Contrast.T1_POST
    assert classify_image(_image(contrast="SWI_minIP")).contrast is Contrast.SWI
    assert not classify_image(_image(contrast="SWI_phase")).usable


# -------------------------------------------------------------- assignment
def test_contrast_order_matches_model_channels() -> None:
    assert [c.value for c in CONTRAST_ORDER] == list(MR_CONTRASTS)
    assert len(CONTRAST_ORDER) == 8
    assert parse_contrast("t1c") is Contrast.T1_POST and parse_contrast("flair") is Contrast.FLAIR
    assert parse_contrast(Contrast.ADC) is Contrast.ADC
    with pytest.raises(ValueError):
        parse_contrast("T3")


def test_assign_contrasts_picks_best_reports_duplicates_and_missing() -> None:
    images = {
        "a": _image(dicom_tags=MPRAGE),
        "b": _image(description="t1_mprage"),  # weaker duplicate of T1
        "c": _image(dicom_tags=SIEMENS_FLAIR),
        "d": _image(dicom_tags=SIEMENS_TRACEW),
        "e": _image(dicom_tags=SIEMENS_SWI_PHASE),
    }
    result = assign_contrasts(images)
    picked = result.by_contrast()
    assert picked == {Contrast.T1: "a", Contrast.FLAIR: "c", Contrast.DWI: "d"}
    assert result.duplicates() == {Contrast.T1: ["b"]}
    assert result.missing() == [Contrast.T1_POST, Contrast.T2, Contrast.ADC, Contrast.SWI, Contrast.OTHER]
    assert result.unusable() == ["e"]
    assert dict(result) == result.guesses and result["c"].contrast is Contrast.FLAIR  # a Mapping of guesses
    report = json.loads(json.dumps(result.to_dict()))
    assert report["by_contrast"] == {"T1": "a", "FLAIR": "c", "DWI": "d"}
    assert report["inputs"]["e"]["usable"] is False
    assert report["missing"] == ["T1post", "T2", "ADC", "SWI", "other"]
    strict = result.by_contrast(min_confidence=result.guesses["c"].confidence + 1e-6)
    assert "c" not in strict.values() and set(strict.values()) < {"a", "c", "d"}


def test_user_override_wins() -> None:
    images = {"a": _image(dicom_tags=MPRAGE), "b": _image(description="mystery"), "c": _image(dicom_tags=GE_FLAIR)}
    result = assign_contrasts(images, overrides={"b": "T2", "a": Contrast.T1_POST})
    assert result.guesses["b"] == ContrastGuess(Contrast.T2, 1.0, result.guesses["b"].explanation, "user", True,
                                                result.guesses["b"].evidence)
    assert "overridden" in result.guesses["b"].explanation
    assert result.guesses["a"].contrast is Contrast.T1_POST and "automatic guess was T1" in (
        result.guesses["a"].explanation)
    assert result.by_contrast() == {Contrast.T1_POST: "a", Contrast.T2: "b", Contrast.FLAIR: "c"}
    with pytest.raises(InputError, match="bad contrast override"):
        assign_contrasts(images, overrides={"a": "T3"})
    with pytest.raises(InputError, match="not loaded"):
        assign_contrasts(images, overrides={"zz": "T1"})


# --------------------------------------------------------------- real data
def test_real_stroke_names(shared_data) -> None:
    from radtriage.io import read_image

    folder = shared_data / "VolumeRenderingData"
    for name, expected in [("T1", Contrast.T1), ("T2", Contrast.T2), ("FLAIR", Contrast.FLAIR)]:
        path = folder / f"stroke_{name}.nii.gz"
        if not path.is_file():
            pytest.skip(f"{path} absent")
        assert classify_name(path.name).contrast is expected
        assert classify_image(read_image(path)).contrast is expected


def test_real_lge_is_not_flair(shared_data) -> None:
    files = sorted((shared_data / "Seg3DData" / "example_dicom_LGE").glob("*.dcm"))
    if not files:
        pytest.skip("Seg3DData LGE series absent")
    tags = extract_tags(pydicom.dcmread(files[0], stop_before_pixels=True))
    assert "IR" in tags["ScanningSequence"] and tags["InversionTime"] < 1000  # what this scan is
    guess = classify_tags(tags)
    assert not (guess.contrast is Contrast.FLAIR and guess.confidence > 0.5), guess.explanation
    assert guess.contrast is Contrast.T1, guess.explanation  # IR-prepared GRE, short TI: T1-weighted


def test_real_siemens_dwi_mosaic(shared_data) -> None:
    folder = shared_data / "heudiconv" / "b0dwiForFmap"
    files = sorted(folder.glob("*.dcm"))
    if not files:
        pytest.skip("heudiconv DWI files absent")
    guesses = [classify_tags(extract_tags(pydicom.dcmread(f, stop_before_pixels=True))) for f in files]
    assert all(g.contrast is Contrast.DWI for g in guesses), [g.explanation for g in guesses]
    bold = shared_data / "heudiconv" / "axasc35.dcm"
    if bold.is_file():
        assert not classify_tags(extract_tags(pydicom.dcmread(bold, stop_before_pixels=True))).usable
