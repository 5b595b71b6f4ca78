"""DICOM results: the SR (TID 1500) and SEG objects of each task, their references and their content."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from radtriage.cli import main
from radtriage.dicom_node.phantom_series import write_body_series, write_lge_series, write_series
from radtriage.dicom_out import codes as c
from radtriage.dicom_out import dicom_sources_of, write_dicom_results
from radtriage.io import read_image
from radtriage.tasks import run_task

SR_CLASS, SEG_CLASS = "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.66.4"


def _run(task: str, key: str, folder: Path, out: Path) -> tuple[list[pydicom.Dataset], list[pydicom.Dataset]]:
    image = read_image(folder)
    result = run_task(task, inputs={key: image}, bundle=None, device="cpu", progress=None)
    files = write_dicom_results(result, dicom_sources_of({key: image}), out)
    sources = [pydicom.dcmread(f) for f in sorted(folder.glob("*.dcm"))]
    return [pydicom.dcmread(f) for f in files], sources


def _texts(sr: hd.sr.Comprehensive3DSR, by_code: bool = False) -> list:
    """Every TEXT item of the SR's content tree (with its concept code when ``by_code``)."""
    out: list = []

    def walk(items: list) -> None:
        for item in items:
            if item.ValueType == "TEXT":
                text = str(item.TextValue)
                out.append((item.ConceptNameCodeSequence[0].CodeValue, text) if by_code else text)
            walk(list(item.get("ContentSequence", [])))

    walk(list(sr.ContentSequence))
    return out


def _check_common(ds: pydicom.Dataset, sources: list[pydicom.Dataset]) -> None:
    src = sources[0]
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.SOPInstanceUID not in {s.SOPInstanceUID for s in sources}
    assert (ds.PatientName, ds.PatientID, ds.PatientBirthDate) == (src.PatientName, src.PatientID, src.PatientBirthDate)
    assert "DEMO" in ds.SeriesDescription
    assert "ImagePositionPatient" not in ds and "InversionTime" not in ds  # nothing but patient/study copied


def test_lge_sr_references_each_slice_instance(tmp_path: Path) -> None:
    write_lge_series(tmp_path / "lge", n_slices=6)
    (sr_ds,), sources = _run("lge_certainty", "image", tmp_path / "lge", tmp_path / "out")
    assert sr_ds.SOPClassUID == SR_CLASS
    _check_common(sr_ds, sources)
    sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert {e.ReferencedSOPInstanceUID for e in evidence} == {s.SOPInstanceUID for s in sources}
    groups = sr.content.get_image_measurement_groups()
    per_slice = [g for g in groups if g.tracking_identifier.startswith("slice ")]
    assert len(per_slice) == 6
    referenced = [g.source_images[0].referenced_sop_instance_uid for g in per_slice]
    by_position = sorted(sources, key=lambda s: float(np.dot(s.ImagePositionPatient, np.cross(
        s.ImageOrientationPatient[:3], s.ImageOrientationPatient[3:]))))
    assert referenced == [s.SOPInstanceUID for s in by_position]  # slice k -> the instance at position k
    likelihood = per_slice[0].get_measurements(name=c.LIKELIHOOD)[0].value
    assert 0 <= float(likelihood) <= 100
    assert per_slice[0].get_qualitative_evaluations(name=c.CERTAINTY)[0].value.value.startswith("certainty_")
    assert c.DISCLAIMER in _texts(sr)
    named = _texts(sr, by_code=True)
    assert ("111001", "lge-certainty-demo") in named and ("111003", "0.3.1") in named  # algorithm name, version
    assert any(code == "111002" and text.startswith("certainty_band=") for code, text in named)  # operating point


def reversed_slices(image):
    """``image`` with its k axis reversed (same voxels in space), as Slicer loads a left-handed series."""
    from radtriage.image import Image

    direction = np.array(image.direction, dtype=float)
    origin = np.asarray(image.origin) + (image.size[2] - 1) * image.spacing[2] * direction[:, 2]
    direction[:, 2] *= -1
    return Image(np.asarray(image.array)[::-1].copy(), image.spacing, tuple(origin), direction, {})


def test_volume_exported_from_dicom_references_its_series_slice_by_slice(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """``infer --dicom-source``: a volume file saved from a DICOM series (slice order reversed, as Slicer does for
    a left-handed series) gets SR references to the instance at each of its own slices; a cropped one is refused
    with one line and nothing is written."""
    from radtriage.io import write_volume

    write_lge_series(tmp_path / "lge", n_slices=6)
    exported = reversed_slices(read_image(tmp_path / "lge"))
    write_volume(exported, tmp_path / "lge.nrrd")
    assert main(["infer", "--task", "lge_certainty", "--input", f"image={tmp_path / 'lge.nrrd'}", "--output",
                 str(tmp_path / "res"), "--device", "cpu", "--dicom-out", str(tmp_path / "dcm"),
                 "--dicom-source", f"image={tmp_path / 'lge'}"]) == 0
    (sr_path,) = (tmp_path / "dcm").glob("*.dcm")
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(sr_path))
    sources = {ds.SOPInstanceUID: ds for ds in (pydicom.dcmread(f) for f in (tmp_path / "lge").glob("*.dcm"))}
    per_slice = [g for g in sr.content.get_image_measurement_groups() if g.tracking_identifier.startswith("slice ")]
    assert len(per_slice) == 6
    normal = exported.direction[:, 2]
    for k, group in enumerate(per_slice):
        ds = sources[group.source_images[0].referenced_sop_instance_uid]
        offset = float((np.asarray(ds.ImagePositionPatient, dtype=float) - exported.origin) @ normal)
        assert offset == pytest.approx(k * exported.spacing[2], abs=1e-3)  # slice k of the file, not of the series

    from radtriage.image import Image

    cropped = Image(np.asarray(exported.array)[1:], exported.spacing, exported.origin, exported.direction, {})
    write_volume(cropped, tmp_path / "cropped.nrrd")
    capsys.readouterr()
    assert main(["infer", "--task", "lge_certainty", "--input", f"image={tmp_path / 'cropped.nrrd'}", "--output",
                 str(tmp_path / "res2"), "--device", "cpu", "--dicom-out", str(tmp_path / "dcm2"),
                 "--dicom-source", f"image={tmp_path / 'lge'}"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("radtriage:")]
    assert len(err) == 1 and "do not lie on the grid of input 'image'" in err[0]
    assert not (tmp_path / "dcm2").exists() and not (tmp_path / "res2").exists()  # refused before the task ran
    assert main(["infer", "--task", "lge_certainty", "--input", f"image={tmp_path / 'lge.nrrd'}", "--output",
                 str(tmp_path / "res3"), "--device", "cpu", "--dicom-source", f"image={tmp_path / 'lge'}"]) == 2
    assert "only used with --dicom-out" in capsys.readouterr().err


def test_body_region_sr_ranges_and_seg_label_map(tmp_path: Path) -> None:
    write_body_series(tmp_path / "ct", n_slices=30)
    written, sources = _run("body_region", "image", tmp_path / "ct", tmp_path / "out")
    sr_ds, seg_ds = written
    assert (sr_ds.SOPClassUID, seg_ds.SOPClassUID) == (SR_CLASS, SEG_CLASS)
    for ds in written:
        _check_common(ds, sources)
    sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
    regions = [g for g in sr.content.get_image_measurement_groups() if g.finding_sites]
    assert regions and all(g.finding_sites[0].value.scheme_designator == "SCT" for g in regions)
    assert all(g.get_measurements(name=c.LENGTH)[0].value > 0 for g in regions)
    seg = hd.seg.Segmentation.from_dataset(seg_ds)
    assert seg.SegmentationType == "BINARY"
    refs = {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert refs == {s.SOPInstanceUID for s in sources}
    labels = {str(s.SegmentLabel) for s in seg.SegmentSequence}
    assert labels == {str(g.finding_sites[0].value.meaning) for g in regions}
    # every source slice is covered by exactly one region segment
    volume = seg.get_volume(combine_segments=True)
    assert volume.array.shape[0] == len(sources) and (volume.array > 0).all()


def test_cmb_sr_points_in_patient_frame_and_heatmap_seg(tmp_path: Path) -> None:
    from radtriage.phantoms import make_swi_case

    swi = make_swi_case(0, shape=(64, 64, 24))
    write_series(swi.magnitude, tmp_path / "swi", description="SWI", tags={"ImageType": ["ORIGINAL", "PRIMARY", "M",
                                                                                         "SWI"]})
    written, sources = _run("cmb_detect", "swi", tmp_path / "swi", tmp_path / "out")
    sr = hd.sr.Comprehensive3DSR.from_dataset(written[0])
    rois = sr.content.get_planar_roi_measurement_groups()
    result = read_image(tmp_path / "swi")
    assert rois, "the phantom has microbleeds; at least one must be reported"
    for roi in rois:
        assert roi.reference_type == hd.sr.CodedConcept("111010", "DCM", "Center") or roi.roi is not None
        assert roi.roi.GraphicType == "POINT"
        assert roi.roi.ReferencedFrameOfReferenceUID == sources[0].FrameOfReferenceUID
        ijk = result.lps_to_index(np.asarray([roi.roi.GraphicData], float))[0]
        assert all(-1 <= v <= s for v, s in zip(ijk, result.size, strict=True))  # inside the scanned volume
        assert 0 < roi.get_measurements(name=c.CONFIDENCE)[0].value <= 1
        assert roi.get_qualitative_evaluations(name=c.LOCATION)[0].value.scheme_designator == c.SCHEME
    seg = hd.seg.Segmentation.from_dataset(written[1])
    assert seg.SegmentSequence[0].SegmentLabel.startswith("cmb_heatmap")


def test_infer_dicom_out_writes_sr_and_refuses_volume_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_body_series(tmp_path / "ct", n_slices=20)
    assert main(["infer", "--task", "body_region", "--input", str(tmp_path / "ct"), "--output",
                 str(tmp_path / "res"), "--device", "cpu", "--dicom-out", str(tmp_path / "dcm")]) == 0
    kinds = sorted(pydicom.dcmread(f).Modality for f in (tmp_path / "dcm").glob("*.dcm"))
    assert kinds == ["SEG", "SR"]
    from radtriage.io import write_volume

    write_volume(read_image(tmp_path / "ct"), tmp_path / "ct.nii.gz")
    assert main(["infer", "--task", "body_region", "--input", str(tmp_path / "ct.nii.gz"), "--output",
                 str(tmp_path / "res2"), "--device", "cpu", "--dicom-out", str(tmp_path / "dcm2")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("radtriage:")]
    assert len(err) == 1 and "DICOM results need DICOM input" in err[0]
    assert not (tmp_path / "res2").exists()  # refused before the task ran


def test_batch_dicom_writes_each_case_sr_and_seg_in_its_result_folder(tmp_path: Path) -> None:
    """``batch --dicom``: SR + SEG beside each DICOM case's result (same study, its instances referenced); a
    volume-file case is an error row naming the reason and gets no result; a rerun keeps finished cases."""
    import csv

    from radtriage.io import write_volume

    write_body_series(tmp_path / "cases" / "ct", seed=3, n_slices=20)
    write_volume(read_image(tmp_path / "cases" / "ct"), tmp_path / "cases" / "vol.nii.gz")
    args = ["batch", str(tmp_path / "cases"), "--task", "body_region", "--out", str(tmp_path / "out"), "--device",
            "cpu", "--dicom", "--progress", "none"]
    assert main(args) == 1  # the volume case failed
    with (tmp_path / "out" / "batch_results.csv").open(newline="") as fh:
        rows = {r["case_id"]: r for r in csv.DictReader(fh)}
    assert rows["ct"]["status"] == "ok" and rows["vol"]["status"] == "error"
    assert "DICOM results need DICOM input" in rows["vol"]["error"]
    assert not (tmp_path / "out" / "vol" / "body_region").exists()  # refused before the task ran
    folder = Path(rows["ct"]["dicom_dir"])
    assert folder == tmp_path / "out" / "ct" / "body_region" / "dicom"
    objects = [pydicom.dcmread(f) for f in sorted(folder.glob("*.dcm"))]
    assert sorted(ds.Modality for ds in objects) == ["SEG", "SR"]
    sources = [pydicom.dcmread(f) for f in sorted((tmp_path / "cases" / "ct").glob("*.dcm"))]
    for ds in objects:
        _check_common(ds, sources)
    sr = next(ds for ds in objects if ds.Modality == "SR")
    referenced = {item.ReferencedSOPInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
                  for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence}
    assert referenced == {ds.SOPInstanceUID for ds in sources}

    stamp = {f.name: f.stat().st_mtime_ns for f in folder.glob("*.dcm")}
    assert main(args) == 1
    with (tmp_path / "out" / "batch_results.csv").open(newline="") as fh:
        again = {r["case_id"]: r for r in csv.DictReader(fh)}
    assert again["ct"]["status"] == "skipped" and again["ct"]["dicom_dir"] == str(folder)
    assert {f.name: f.stat().st_mtime_ns for f in folder.glob("*.dcm")} == stamp


def test_sr_refuses_inputs_of_two_studies(tmp_path: Path) -> None:
    from radtriage.dicom_out import build_dicom_results, load_sources
    from radtriage.errors import RadTriageError
    from radtriage.tasks.result import TaskResult

    for name in ("a", "b"):
        write_series(read_image_stub(), tmp_path / name, study_uid=generate_uid())
    images = {n: read_image(tmp_path / n) for n in ("a", "b")}
    result = TaskResult("body_region", {"name": "x", "version": "1"}, {})
    with pytest.raises(RadTriageError, match="2 DICOM studies"):
        build_dicom_results(result, load_sources(images))


def read_image_stub():
    from radtriage.image import Image

    return Image(np.full((3, 8, 8), 100.0), (1.0, 1.0, 2.0))


def test_triage_sr_decisions_thresholds_and_not_assessable(tmp_path: Path) -> None:
    """mri_triage's SR from a result with one output not assessable (its contrasts missing): no probability, the
    'not assessable' code and the reason; the others with probability, threshold and present / absent."""
    from radtriage.dicom_out import build_dicom_results, load_sources
    from radtriage.tasks.result import TaskResult

    write_series(read_image_stub(), tmp_path / "t1", description="T1")
    images = {"t1": read_image(tmp_path / "t1")}
    findings = [
        {"output": "abnormal", "probability": 0.8, "decision": True, "threshold": 0.6, "critical": False,
         "assessable": True, "reason": ""},
        {"output": "acute_infarct", "probability": None, "decision": None, "threshold": 0.5, "critical": True,
         "assessable": False, "reason": "needs DWI or ADC, none given"},
    ]
    outputs = {"findings": findings, "operating_point": "balanced", "thresholds": {"abnormal": 0.6,
                                                                                    "acute_infarct": 0.5},
               "contrasts": {"reference": "T1", "inputs": {"T1": "t1"}}}
    result = TaskResult("mri_triage", {"name": "mri-triage-real", "version": "2.0", "demo": False}, outputs,
                        notices=["missing contrasts: DWI — infarct not assessable"])
    (built,) = build_dicom_results(result, load_sources(images))
    built.save_as(tmp_path / "sr.dcm", enforce_file_format=True)
    sr_ds = pydicom.dcmread(tmp_path / "sr.dcm")
    sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    abnormal, infarct = groups["abnormal"], groups["acute_infarct"]
    assert abnormal.get_measurements(name=c.PROBABILITY)[0].value == pytest.approx(0.8)
    assert abnormal.get_measurements(name=c.THRESHOLD)[0].value == pytest.approx(0.6)
    assert abnormal.get_qualitative_evaluations(name=c.DECISION)[0].value == c.PRESENT
    assert not infarct.get_measurements(name=c.PROBABILITY)
    assert infarct.get_qualitative_evaluations(name=c.DECISION)[0].value == c.NOT_ASSESSABLE
    texts = _texts(sr)
    assert "not assessable: needs DWI or ADC, none given" in texts
    assert c.NOT_FOR_CLINICAL_USE in texts and c.DISCLAIMER not in texts  # not a demo bundle
    assert "DEMO" not in sr_ds.SeriesDescription
    assert any("—" in t for t in texts)  # UTF-8 text survives (SpecificCharacterSet ISO_IR 192)
    assert ("111002", "operating_point=balanced") in _texts(sr, by_code=True)
