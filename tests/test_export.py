"""Cohort export: de-identification, consensus rules, patient-level splits, output formats and path safety."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radtriage.annotations import BLINDED, CaseRef, open_store
from radtriage.errors import InputError
from radtriage.export import action_for, export_cohort, remap_uid, safe_child, safe_name
from radtriage.export.paths import prepare_export_folder
from radtriage.image import Image
from radtriage.io import read_image, read_volume, write_volume

PHI_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs", "InstitutionName",
    "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StationName",
    "AccessionNumber", "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "DeviceSerialNumber",
    "StudyDescription", "SeriesDescription", "ProtocolName", "PatientAge",
)  # fmt: skip


# ----------------------------------------------------------------------------------------------- fixtures
def _phi_file(source: str, target: Path, name: str) -> Path:
    """A copy of a pydicom test file with more identity added: address, other IDs, a physician inside a
    sequence, a birth date and a private tag holding the name."""
    ds = pydicom.dcmread(get_testdata_file(source))
    ds.PatientName = f"{name}^Jane"
    ds.PatientAddress = "12 Harley Street London"
    ds.OtherPatientIDs = f"OTHER-{name}"
    ds.PatientBirthDate = "19610304"
    ds.InstitutionName = "Saint Elsewhere Hospital"
    ds.PerformingPhysicianName = "Quack^Doctor"
    ds.AccessionNumber = f"ACC{name}99"
    item = Dataset()
    item.ReferringPhysicianName = "Nested^Physician"
    item.StudyDate = "20030607"
    ds.RequestAttributesSequence = Sequence([item])
    ds.add_new(0x00091001, "LO", f"private {name} note")
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def _phi_values(path: Path) -> set[str]:
    """Identifying values in a source file: PHI attributes anywhere (sequences included) and private text."""
    values = set()
    for elem in pydicom.dcmread(path).iterall():
        if elem.keyword in PHI_KEYWORDS or (elem.tag.is_private and elem.VR in ("LO", "SH", "PN", "LT", "ST")):
            for v in elem.value if elem.VM > 1 else [elem.value]:
                text = str(v).strip()
                if len(text) >= 4:
                    values.add(text)
    return values


@pytest.fixture
def dicom_project(tmp_path):
    """Two DICOM cases (CT_small and MR_small with extra PHI) of two patients, labelled by two readers."""
    sources = {
        "ct1": _phi_file("CT_small.dcm", tmp_path / "src" / "Doe_John" / "ct.dcm", "Doe"),
        "mr1": _phi_file("MR_small.dcm", tmp_path / "src" / "Roe_Mary" / "mr.dcm", "Roe"),
    }
    store = open_store(tmp_path / "proj")
    for i, (case_id, path) in enumerate(sources.items()):
        store.add_case(CaseRef(case_id, patient_key=f"key{i}", image_paths=(str(path.parent),)))
    for reader in ("r1", "r2"):
        store.add_reader(reader)
        for case_id in sources:
            store.set_label(case_id, reader, "mri_normal_abnormal", "abnormal", model_version=BLINDED)
    yield store, sources
    store.close()


def _brain_cases(folder: Path, n: int, seed: int = 0) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = rng.normal(size=(6, 8, 8)).astype(np.float32)
        path = write_volume(Image(arr, (2.0, 2.0, 3.0), (1.0, -2.0, 5.0)), folder / f"c{i:02d}.nii.gz")
        out.append((f"c{i:02d}", path))
    return out


@pytest.fixture
def nifti_store(tmp_path):
    """Eight NIfTI cases of five patients (c00/c01 and c02/c03 share a patient), with no labels yet."""
    store = open_store(tmp_path / "proj")
    for i, (case_id, path) in enumerate(_brain_cases(tmp_path / "src", 8)):
        patient = f"pat{min(i // 2, 1) if i < 4 else i}"
        store.add_case(CaseRef(case_id, patient_key=patient, image_paths=(str(path),)))
    for reader in ("r1", "r2", "r3"):
        store.add_reader(reader)
    yield store
    store.close()


def _label(store, case_id, reader, value, schema="mri_normal_abnormal", target=""):
    store.set_label(case_id, reader, schema, value, target=target, model_version=BLINDED)


def _every_element_text(path: Path) -> list[str]:
    ds = pydicom.dcmread(path)
    texts = [str(e.value) for e in ds.file_meta.iterall()]
    for elem in ds.iterall():
        if elem.keyword != "PixelData":
            texts.append(str(elem.value))
    return texts


# ----------------------------------------------------------------------------------------- de-identification
def test_profile_table_actions_match_the_standard():
    assert action_for(0x00100010) in ("Z", "D")  # Patient's Name
    assert action_for(0x00080080) == "X"  # Institution Name (X/Z/D -> X)
    assert action_for(0x0020000D) == "U"  # Study Instance UID
    assert action_for(0x60003000) == "X"  # Overlay Data, repeating group 60xx
    assert action_for(0x60023000) == "X"
    assert action_for(0x00280010) is None  # Rows: kept
    salt_a, salt_b = "a" * 32, "b" * 32
    uid = "1.2.840.113619.2.1.1.322987881.621.736170080.681"
    assert remap_uid(salt_a, uid) == remap_uid(salt_a, uid) != remap_uid(salt_b, uid)
    assert remap_uid(salt_a, uid).startswith("2.25.")
    assert remap_uid(salt_a, "1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage


@pytest.mark.slow
def test_no_phi_survives_in_any_written_file(dicom_project, tmp_path):
    store, sources = dicom_project
    phi = set().union(*(_phi_values(p) for p in sources.values()))
    assert {"Doe^Jane", "Saint Elsewhere Hospital", "19610304", "Nested^Physician", "private Doe note"} <= phi
    originals = {pydicom.dcmread(p).StudyInstanceUID for p in sources.values()}
    result = export_cohort(store, "mri_normal_abnormal", tmp_path / "out", dicom=True, salt="s" * 32)

    written = sorted((result.folder / "dicom").rglob("*.dcm"))
    assert len(written) == 2
    for path in written:
        ds = pydicom.dcmread(path)
        leaked = [(t, v) for t in _every_element_text(path) for v in phi if v in t]
        assert not leaked, f"{path}: {leaked}"
        assert not [e for e in ds.iterall() if e.tag.is_private]
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.PatientID.startswith("P") and ds.PatientID == str(ds.PatientName)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.StudyInstanceUID not in originals and ds.StudyInstanceUID.startswith("2.25.")
        assert "PatientBirthDate" not in ds and ds.get("StudyDate", "") == ""
        assert ds.preamble == b"\x00" * 128
    # the de-identified DICOM still reads as the same image as the exported NIfTI
    for path in written:
        case_name = path.parent.parent.name
        nifti = read_volume(result.folder / "images" / case_name / "image.nii.gz")
        assert np.array_equal(read_image(path).array, nifti.array)
    # nothing else in the export names a patient, a place or a source path either
    for path in result.folder.rglob("*"):
        if path.is_file() and path.suffix != ".dcm":
            raw = path.read_bytes()
            text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode("latin-1")
            assert not [v for v in phi if v in text], path
            assert "Doe_John" not in text and str(tmp_path / "src") not in text, path


def test_uids_stay_linked_within_an_export_and_dates_shift_per_patient(tmp_path):
    src = tmp_path / "src"
    first = _phi_file("MR_small.dcm", src / "a.dcm", "Doe")
    ds = pydicom.dcmread(first)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".2"
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    ds.ImagePositionPatient = [float(v) + 5.0 * n for v, n in zip(ds.ImagePositionPatient, normal, strict=True)]
    ds.InstanceNumber = 2
    ds.save_as(src / "b.dcm", enforce_file_format=True)
    store = open_store(tmp_path / "proj")
    store.add_case(CaseRef("case", patient_key="k1", image_paths=(str(src),)))
    store.add_reader("r1")
    _label(store, "case", "r1", "normal")
    outs = [
        export_cohort(store, "mri_normal_abnormal", tmp_path / name, dicom=True, dates="shift", salt=salt)
        for name, salt in (("o1", "x" * 32), ("o2", "x" * 32), ("o3", "y" * 32))
    ]
    store.close()
    sets = [[pydicom.dcmread(p) for p in sorted((o.folder / "dicom").rglob("*.dcm"))] for o in outs]
    first_set = sets[0]
    assert len(first_set) == 2
    assert first_set[0].StudyInstanceUID == first_set[1].StudyInstanceUID  # same study stays one study
    assert first_set[0].SOPInstanceUID != first_set[1].SOPInstanceUID
    assert [d.SOPInstanceUID for d in first_set] == [d.SOPInstanceUID for d in sets[1]]  # same salt: same UIDs
    assert first_set[0].StudyInstanceUID != sets[2][0].StudyInstanceUID  # another salt: unlinkable
    # dates are shifted back by one whole number of days for the patient; the birth date is gone
    original = pydicom.dcmread(first)
    shifts = {
        (np.datetime64(_iso(original.data_element(k).value)) - np.datetime64(_iso(d.data_element(k).value))).item().days
        for d in first_set
        for k in ("StudyDate", "ContentDate")
        if k in original and k in d
    }
    assert len(shifts) == 1 and 365 <= shifts.pop() <= 3650
    assert "PatientBirthDate" not in first_set[0]
    assert first_set[0].DeidentificationMethodCodeSequence[1].CodeValue == "113107"


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def test_burned_in_annotation_is_refused(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    (tmp_path / "src").mkdir()
    ds.save_as(tmp_path / "src" / "x.dcm", enforce_file_format=True)
    store = open_store(tmp_path / "proj")
    store.add_case(CaseRef("x", patient_key="k", image_paths=(str(tmp_path / "src"),)))
    store.add_reader("r1")
    _label(store, "x", "r1", "normal")
    with pytest.raises(Exception, match="BurnedInAnnotation"):
        export_cohort(store, "mri_normal_abnormal", tmp_path / "out", dicom=True)
    store.close()


# --------------------------------------------------------------------------------------------- consensus
def test_majority_tie_is_left_out_unless_an_adjudicator_decides(nifti_store, tmp_path):
    s = nifti_store
    _label(s, "c00", "r1", "abnormal")
    _label(s, "c00", "r2", "abnormal")
    _label(s, "c00", "r3", "normal")  # majority abnormal
    _label(s, "c01", "r1", "normal")
    _label(s, "c01", "r2", "abnormal")  # tie
    _label(s, "c02", "r1", "normal")  # one reader
    plain = export_cohort(s, "mri_normal_abnormal", tmp_path / "a", val_fraction=0, test_fraction=0)
    by_case = {r["case_id"]: r for r in plain.rows}
    assert by_case["c00"]["label"] == "abnormal" and by_case["c00"]["status"] == "majority"
    assert "c01" not in by_case and {"case_id": "c01", "target": "", "reason": "readers tie (unresolved)"} in (
        plain.left_out
    )
    assert by_case["c02"]["status"] == "unanimous"
    judged = export_cohort(s, "mri_normal_abnormal", tmp_path / "b", adjudicator="r2", min_readers=2)
    by_case = {r["case_id"]: r for r in judged.rows}
    assert by_case["c01"]["label"] == "abnormal" and by_case["c01"]["status"] == "adjudicated"
    assert "c02" not in by_case  # only one reader: below min_readers
    per_reader = export_cohort(s, "mri_normal_abnormal", tmp_path / "c", consensus="per-reader")
    assert sorted((r["case_id"], r["reader_id"], r["label"]) for r in per_reader.rows) == [
        ("c00", "r1", "abnormal"), ("c00", "r2", "abnormal"), ("c00", "r3", "normal"),
        ("c01", "r1", "normal"), ("c01", "r2", "abnormal"), ("c02", "r1", "normal"),
    ]  # fmt: skip
    with pytest.raises(InputError, match="does not apply"):
        export_cohort(s, "mri_normal_abnormal", tmp_path / "d", consensus="mean")


def test_multilabel_majority_and_slice_ratings_mean(nifti_store, tmp_path):
    s = nifti_store
    _label(s, "c00", "r1", ["acute_infarct", "mass_effect"], schema="mri_critical_findings")
    _label(s, "c00", "r2", ["acute_infarct"], schema="mri_critical_findings")
    _label(s, "c00", "r3", ["acute_infarct", "mass_effect"], schema="mri_critical_findings")
    ml = export_cohort(s, "mri_critical_findings", tmp_path / "ml")
    assert ml.rows[0]["label"] == {"acute_infarct": 1, "acute_haemorrhage": 0, "mass_effect": 1}
    for reader, value in (("r1", 20), ("r2", 60)):
        _label(s, "c03", reader, value, schema="lge_rating", target=2)
    _label(s, "c03", "r1", 90, schema="lge_rating", target=9)  # outside the 6-slice volume
    rated = export_cohort(s, "lge_rating", tmp_path / "lge", consensus="mean")
    assert [(r["target"], r["label"], r["status"]) for r in rated.rows] == [("slice:2", 40.0, "mean")]
    assert {"case_id": "c03", "target": "slice:9", "reason": "slice outside the volume"} in rated.left_out
    one = read_volume(rated.folder / rated.rows[0]["images"][0])
    full = read_volume(s.get_case("c03").image_paths[0])
    assert one.array.shape == (1, 8, 8) and np.array_equal(one.array[0], full.array[2])
    assert np.allclose(one.origin, full.index_to_lps(np.array([0.0, 0.0, 2.0])).reshape(3), atol=1e-4)
    datalist = json.loads((rated.folder / "datalist.json").read_text())
    assert datalist["radtriage"]["training_kind"] == "score"


# ----------------------------------------------------------------------------------- splits and formats
def _label_all(store, n=8):
    for i in range(n):
        for reader in ("r1", "r2"):
            _label(store, f"c{i:02d}", reader, "abnormal" if i % 2 else "normal")


def test_splits_are_patient_level_and_seeded(nifti_store, tmp_path):
    _label_all(nifti_store)
    runs = [
        export_cohort(
            nifti_store,
            "mri_normal_abnormal",
            tmp_path / f"o{k}",
            seed=seed,
            salt="k" * 32,
            val_fraction=0.25,
            test_fraction=0.25,
        )
        for k, seed in enumerate((3, 3, 4, 5, 6))
    ]
    splits = [{r["case_id"]: r["split"] for r in run.rows} for run in runs]
    assert splits[0] == splits[1]
    assert any(s != splits[0] for s in splits[2:])
    for s in splits:
        assert s["c00"] == s["c01"] and s["c02"] == s["c03"]  # one patient, one split
        assert set(s.values()) == {"train", "val", "test"}
    patients = {}
    for r in runs[0].rows:
        patients.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(v) == 1 for v in patients.values()) and len(patients) == 6


def test_formats_are_readable_by_the_trainer_and_the_datasheet_counts(nifti_store, tmp_path):
    from radtriage.training import read_datalist

    _label_all(nifti_store)
    _label(nifti_store, "c01", "r2", "normal")  # a disagreement: r1 abnormal, r2 normal (tie, left out)
    result = export_cohort(nifti_store, "mri_normal_abnormal", tmp_path / "out", adjudicator="r1")
    dl = read_datalist(result.datalist)
    assert len(dl.cases) == 8
    by_split = {s: sum(1 for r in result.rows if r["split"] == s) for s in ("train", "val", "test")}
    given = [sum(c.split == s for c in dl.cases) for s in ("val", "test")]
    assert given == [by_split["val"], by_split["test"]] and all(given)
    assert sum(c.split is None for c in dl.cases) == by_split["train"]  # 'training' items carry no split
    with (result.folder / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["case_id"] for r in rows] == [r["case_id"] for r in result.rows]
    assert {r["label"] for r in rows} == {"normal", "abnormal"}
    c01 = next(r for r in rows if r["case_id"] == "c01")
    assert c01["status"] == "adjudicated" and json.loads(c01["reader_values"]) == {"r1": "abnormal", "r2": "normal"}
    sheet = json.loads((result.folder / "datasheet.json").read_text())
    assert sheet["counts"]["total"]["classes"] == {"abnormal": 4, "normal": 4}
    assert sheet["counts"]["total"]["patients"] == 6 and sheet["readers"] == {"r1": 8, "r2": 8}
    pair = sheet["agreement"][0]
    assert (pair["reader_a"], pair["reader_b"], pair["n"]) == ("r1", "r2", 8) and pair["kappa"] == pytest.approx(0.75)
    readme = (result.folder / "README.md").read_text()
    assert "| total | 8 | 8 | 6 | abnormal: 4, normal: 4 |" in readme and "0.750" in readme
    items = json.loads(result.labels_json.read_text())["items"]
    assert {i["case_id"] for i in items} == {f"c{i:02d}" for i in range(8)}


# ----------------------------------------------------------------------------------------------- paths
def test_case_ids_cannot_escape_the_export_folder(tmp_path):
    store = open_store(tmp_path / "proj")
    store.add_reader("r1")
    evil = ["../escape", "/abs/escape", "a/../../b", "..", "C:\\win\\x", ".hidden"]
    for i, (case_id, path) in enumerate(
        zip(evil, [p for _, p in _brain_cases(tmp_path / "src", len(evil))], strict=True)
    ):
        store.add_case(CaseRef(case_id, patient_key=f"p{i}", image_paths=(str(path),)))
        _label(store, case_id, "r1", "normal")
    (tmp_path / "out").mkdir()
    result = export_cohort(store, "mri_normal_abnormal", tmp_path / "out", val_fraction=0, test_fraction=0)
    store.close()
    root = result.folder.resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "proj" not in p.parts and "src" not in p.parts]
    assert all(p.resolve().is_relative_to(root) for p in written)
    folders = sorted(p.name for p in (root / "images").iterdir())
    assert len(folders) == len(evil) and all(safe_name(n) == n and not n.startswith(".") for n in folders)
    assert sorted(r["case_id"] for r in result.rows) == sorted(evil)  # ids kept as data, not as paths
    assert "escape" not in {p.name for p in tmp_path.iterdir()}
    pseudo = export_cohort(tmp_path / "proj", "mri_normal_abnormal", tmp_path / "o2", pseudonymize_case_ids=True)
    assert all(r["case_id"].startswith("C") and "/" not in r["case_id"] for r in pseudo.rows)


def test_symlinks_and_unsafe_components_are_refused(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "images").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        safe_child(root, "images", "case", "image.nii.gz")
    for bad in ("..", "a/b", "", "."):
        with pytest.raises(InputError, match="unsafe"):
            safe_child(root, bad)
    with pytest.raises(InputError, match="not empty"):
        prepare_export_folder(root)
    link = tmp_path / "link"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        prepare_export_folder(link)
    assert safe_name("../x") != safe_name("..x") and "/" not in safe_name("/etc/passwd")
    shutil.rmtree(outside)
