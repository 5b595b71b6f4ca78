"""Case lists (folder / CSV / DICOM), navigation, resume, progress, blind mode, agreement from the store, CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from radtriage.annotations import (
    BLINDED,
    AnnotationStore,
    CaseList,
    CaseRef,
    Label,
    candidate_target,
    case_list_from_csv,
    done_cases,
    may_show_model_output,
    model_version_for_label,
    open_case_list,
    open_store,
    progress,
    resume,
    slice_range_target,
    slice_regions,
    store_agreement,
)
from radtriage.annotations.caselist import dicom_case_id
from radtriage.commands import labels as labels_command
from radtriage.errors import InputError


@pytest.fixture
def store(tmp_path: Path) -> AnnotationStore:
    s = open_store(tmp_path / "project")
    yield s
    s.close()


# ----------------------------------------------------------------- case lists
def test_folder_case_list_one_case_per_subfolder_or_image(tmp_path: Path) -> None:
    root = tmp_path / "cases"
    (root / "case_b").mkdir(parents=True)
    (root / "case_a").mkdir()
    (root / ".hidden").mkdir()
    (root / "case_c.nii.gz").write_bytes(b"")
    (root / "case_d.nrrd").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    cases = open_case_list(root)
    assert cases.ids == ["case_a", "case_b", "case_c", "case_d"]
    assert cases["case_c"].image_paths == (str(root / "case_c.nii.gz"),)
    assert cases["case_a"].image_paths == (str(root / "case_a"),)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no cases"):
        open_case_list(empty)


def test_navigation_next_previous_go_to() -> None:
    cases = CaseList([CaseRef(f"c{i}") for i in range(3)])
    assert cases.current is not None and cases.current.case_id == "c0"
    assert cases.previous() is None and cases.index == 0
    assert [cases.next().case_id, cases.next().case_id] == ["c1", "c2"]  # type: ignore[union-attr]
    assert cases.next() is None and cases.index == 2
    assert cases.previous().case_id == "c1"  # type: ignore[union-attr]
    assert cases.go_to("c0").case_id == "c0" and cases.index == 0
    with pytest.raises(KeyError, match="c9"):
        cases.go_to("c9")
    with pytest.raises(InputError, match="twice"):
        CaseList([CaseRef("x"), CaseRef("x")])


def test_csv_case_list(tmp_path: Path) -> None:
    csv_path = tmp_path / "lists" / "cases.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(
        "case_id,patient_key,image_t1,image_flair,series_uids,site\n"
        "s01,a1b2c3,s01/t1.nii.gz,/abs/s01_flair.nii.gz,1.2.3;1.2.4,x\n"
        "s02,d4e5f6,s02/t1.nii.gz,,,y\n"
    )
    cases = open_case_list(csv_path)
    assert cases.ids == ["s01", "s02"]
    assert cases["s01"].patient_key == "a1b2c3"
    assert cases["s01"].image_paths == (str(csv_path.parent / "s01" / "t1.nii.gz"), "/abs/s01_flair.nii.gz")
    assert cases["s01"].series_uids == ("1.2.3", "1.2.4")
    assert cases["s02"].image_paths == (str(csv_path.parent / "s02" / "t1.nii.gz"),)

    bad = tmp_path / "bad.csv"
    for text, match in (
        ("case_id,PatientName\nc1,DOE^JOHN\n", "patient names"),
        ("case,image\nc1,a.nii\n", "no 'case_id' column"),
        ("case_id,image\nc1,a.nii\nc1,b.nii\n", "line 3: case_id 'c1' already on line 2"),
        ("case_id,patient_key\nc1,Doe John\n", "line 2.*never a person's name"),
        ("case_id,image\n", "no rows"),
    ):
        bad.write_text(text)
        with pytest.raises(InputError, match=match):
            case_list_from_csv(bad)


def _dicom_folder(root: Path) -> list[tuple[str, str]]:
    """CT_small and MR_small from pydicom's test files, plus a second CT series in CT_small's study; returns the
    expected (patient_key, study_uid) of each case, computed from the headers with pydicom."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from radtriage.io.dicom import patient_key

    root.mkdir(parents=True)
    ct = get_testdata_file("CT_small.dcm")
    mr = get_testdata_file("MR_small.dcm")
    (root / "ct").mkdir()
    (root / "mr").mkdir()
    shutil.copy(ct, root / "ct" / "a.dcm")
    shutil.copy(mr, root / "mr" / "b.dcm")
    second = dcmread(ct)
    second.SeriesInstanceUID = generate_uid()
    second.SOPInstanceUID = generate_uid()
    (root / "ct2").mkdir()
    second.save_as(root / "ct2" / "c.dcm")
    (root / "README.txt").write_text("not DICOM")
    expected = []
    for path in (ct, mr):
        ds = dcmread(path, stop_before_pixels=True)
        expected.append((patient_key(ds.PatientID), str(ds.StudyInstanceUID)))
    return expected


def test_dicom_case_list_groups_series_into_studies(tmp_path: Path) -> None:
    expected = _dicom_folder(tmp_path / "dicom")
    cases = open_case_list(tmp_path / "dicom", kind="dicom")
    assert sorted(cases.ids) == sorted(dicom_case_id(k, s) for k, s in expected)
    for key, study in expected:
        case = cases[dicom_case_id(key, study)]
        assert case.patient_key == key and case.study_uid == study
    ct_case = cases[dicom_case_id(*expected[0])]
    assert len(ct_case.series_uids) == 2  # the original CT series and its copy share the study
    assert sorted(Path(p).name for p in ct_case.image_paths) == ["ct", "ct2"]
    from pydicom import dcmread

    names = {str(dcmread(p, stop_before_pixels=True).PatientName) for p in (tmp_path / "dicom").rglob("*.dcm")}
    ids = {str(dcmread(p, stop_before_pixels=True).PatientID) for p in (tmp_path / "dicom").rglob("*.dcm")}
    text = json.dumps([c.__dict__ for c in cases])
    assert names and all(n.split("^")[0] not in text for n in names)  # no name, no raw PatientID: only the key
    assert all(f'"{i}"' not in text for i in ids)


def test_dicom_case_list_auto_detected(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "x.dcm")
    cases = open_case_list(folder)
    assert len(cases) == 1 and cases[0].study_uid


def test_dicom_case_list_on_real_data(shared_data: Path) -> None:
    folders = sorted(p.parent for p in shared_data.rglob("*.dcm"))
    if not folders:
        pytest.skip("no .dcm files in the shared data")
    cases = open_case_list(folders[0], kind="dicom")
    assert len(cases) >= 1
    assert all(c.series_uids and c.study_uid for c in cases)


# ---------------------------------------------------- resume, progress, blind
def test_resume_progress_and_retraction(store: AnnotationStore) -> None:
    cases = CaseList([CaseRef(f"c{i}") for i in range(4)])
    store.add_cases(cases)
    for r in ("r1", "r2"):
        store.add_reader(r)
    assert resume(cases, store, "r1") == 0
    for i in (0, 1, 3):
        store.set_label(f"c{i}", "r1", "mri_normal_abnormal", "normal", model_version=BLINDED)
    assert resume(cases, store, "r1") == 2 and cases.current.case_id == "c2"  # type: ignore[union-attr]
    assert progress(cases, store) == {
        "r1": {"done": 3, "remaining": 1, "total": 4},
        "r2": {"done": 0, "remaining": 4, "total": 4},
    }
    store.retract("c1", "r1", "mri_normal_abnormal", model_version=BLINDED)
    assert resume(cases, store, "r1") == 1
    # done per schema set: c0 needs findings as well
    both = ["mri_normal_abnormal", "mri_critical_findings"]
    assert done_cases(store, "r1", both) == set()
    store.set_label("c0", "r1", "mri_critical_findings", [], model_version=BLINDED)
    assert done_cases(store, "r1", both) == {"c0"}
    assert progress(cases, store, ["r1"], both)["r1"]["done"] == 1
    store.set_label("c2", "r1", "mri_normal_abnormal", "abnormal", model_version=BLINDED)
    assert resume(cases, store, "r1", ["mri_normal_abnormal"]) == 1
    store.set_label("c1", "r1", "mri_normal_abnormal", "abnormal", model_version=BLINDED)
    cases.index = 3
    assert resume(cases, store, "r1", ["mri_normal_abnormal"]) is None and cases.index == 3


def test_blind_mode_hides_model_output_until_the_reader_committed(store: AnnotationStore) -> None:
    store.add_case(CaseRef("c1"))
    store.add_reader("r1")
    store.add_reader("r2")
    assert not may_show_model_output(store, "c1", "r1")
    mv = model_version_for_label(store, "c1", "r1", "triage-1.2", blind=True)
    assert mv == BLINDED
    store.set_label("c1", "r1", "mri_normal_abnormal", "normal", model_version=mv)
    assert may_show_model_output(store, "c1", "r1")
    assert not may_show_model_output(store, "c1", "r2")  # another reader is still blind
    # after unblinding a revised read records the model version that was shown
    mv2 = model_version_for_label(store, "c1", "r1", "triage-1.2", blind=True)
    store.set_label("c1", "r1", "mri_normal_abnormal", "abnormal", model_version=mv2)
    assert [e.model_version for e in store.history(case_id="c1")] == [BLINDED, "triage-1.2"]
    assert model_version_for_label(store, "c1", "r2", "triage-1.2", blind=False) == "triage-1.2"
    store.retract("c1", "r1", "mri_normal_abnormal", model_version="triage-1.2")
    assert not may_show_model_output(store, "c1", "r1")


# --------------------------------------------------------------- agreement
def _readers_and_cases(store: AnnotationStore, n_cases: int, readers: tuple[str, ...]) -> None:
    store.add_cases(CaseRef(f"c{i:02d}") for i in range(n_cases))
    for r in readers:
        store.add_reader(r)


def test_agreement_normal_abnormal_and_findings_kappa(store: AnnotationStore) -> None:
    rng = np.random.default_rng(3)
    _readers_and_cases(store, 30, ("r1", "r2"))
    classes = ["normal", "abnormal"]
    a = rng.integers(0, 2, 30)
    b = np.where(rng.random(30) < 0.8, a, 1 - a)
    findings = {r: [] for r in ("r1", "r2")}
    for i in range(30):
        fa = [f for f in ("acute_infarct", "mass_effect") if rng.random() < 0.4]
        fb = fa if rng.random() < 0.7 else [f for f in ("acute_haemorrhage", "mass_effect") if rng.random() < 0.5]
        for r, labels, f in (("r1", a, fa), ("r2", b, fb)):
            store.commit_labels(
                f"c{i:02d}",
                r,
                [Label("mri_normal_abnormal", classes[labels[i]]), Label("mri_critical_findings", f)],
                model_version=BLINDED,
            )
            findings[r].append(set(f))
    # r2 changes one read, r1 retracts another: agreement uses current labels only
    store.set_label("c00", "r2", "mri_normal_abnormal", classes[1 - a[0]], model_version=BLINDED)
    b[0] = 1 - a[0]
    store.retract("c01", "r1", "mri_normal_abnormal", model_version=BLINDED)
    keep = np.arange(30) != 1

    result = store_agreement(store, "mri_normal_abnormal")
    (pair,) = result["pairs"]
    assert pair["metrics"]["n"] == 29
    assert pair["metrics"]["kappa"]["value"] == pytest.approx(cohen_kappa_score(a[keep], b[keep]))

    result = store_agreement(store, "mri_critical_findings")
    per = result["pairs"][0]["metrics"]["per_finding"]
    for f in ("acute_infarct", "acute_haemorrhage", "mass_effect"):
        ya = [f in s for s in findings["r1"]]
        yb = [f in s for s in findings["r2"]]
        expected = cohen_kappa_score(ya, yb) if len(set(ya) | set(yb)) > 1 else None
        got = per[f]["kappa"]["value"]
        assert (got is None and expected is None) or got == pytest.approx(expected)


def test_agreement_lge_ratings_icc_and_bland_altman(store: AnnotationStore) -> None:
    rng = np.random.default_rng(5)
    _readers_and_cases(store, 4, ("r1", "r2", "r3"))
    truth = rng.uniform(5, 95, (4, 6))
    ratings = {
        r: np.clip(np.round(truth + rng.normal(off, 6, truth.shape)), 0, 100)
        for r, off in (("r1", 0.0), ("r2", 4.0), ("r3", -2.0))
    }
    for r, table in ratings.items():
        for i in range(4):
            n = 6 if r != "r2" or i < 3 else 3  # r2 skipped half of the last case
            store.commit_labels(
                f"c{i:02d}", r, [Label("lge_rating", float(table[i, k]), k) for k in range(n)], model_version="lge-1"
            )
    result = store_agreement(store, "lge_rating")
    pairs = {(p["reader_a"], p["reader_b"]): p["metrics"] for p in result["pairs"]}
    r1r2 = pairs[("r1", "r2")]
    a = np.concatenate([ratings["r1"][:3].ravel(), ratings["r1"][3, :3]])
    b = np.concatenate([ratings["r2"][:3].ravel(), ratings["r2"][3, :3]])
    assert r1r2["n"] == 21
    assert r1r2["bland_altman"]["bias"] == pytest.approx(np.mean(a - b))
    assert pairs[("r1", "r3")]["n"] == 24
    assert 0.5 < pairs[("r1", "r3")]["icc"]["icc2_1"]["value"] <= 1.0
    assert result["icc_all_readers"]["n"] == 21


def test_agreement_cmb_and_body_region(store: AnnotationStore) -> None:
    _readers_and_cases(store, 2, ("r1", "r2"))
    decisions = {
        "r1": ["accept", "accept", "reject", "reject", "accept"],
        "r2": ["accept", "reject", "reject", "reject", "accept"],
    }
    for r, ds in decisions.items():
        labels = [
            Label("cmb_review", {"decision": d, "ras_mm": [i, 2 * i, -i]}, candidate_target(i))
            for i, d in enumerate(ds)
        ]
        if r == "r2":
            labels.append(Label("cmb_review", {"decision": "add", "ras_mm": [10, 11, 12]}, "candidate:r2-1"))
        store.commit_labels("c00", r, labels, model_version="cmb-3")
    metrics = store_agreement(store, "cmb_review")["pairs"][0]["metrics"]
    assert metrics["n"] == 5 and metrics["added"] == {"a": 0, "b": 1}
    assert metrics["kappa"]["value"] == pytest.approx(cohen_kappa_score(decisions["r1"], decisions["r2"]))

    store.set_label("c01", "r1", "body_region_correction", "chest", target=slice_range_target(0, 9), model_version="br")
    store.set_label(
        "c01", "r1", "body_region_correction", "abdomen", target=slice_range_target(8, 14), model_version="br"
    )
    store.set_label(
        "c01", "r2", "body_region_correction", "chest", target=slice_range_target(0, 11), model_version="br"
    )
    regions = slice_regions(store.current_labels(case_id="c01", reader_id="r1"))
    assert [regions[k] for k in range(15)] == ["chest"] * 8 + ["abdomen"] * 7  # the later correction wins
    metrics = store_agreement(store, "body_region_correction")["pairs"][0]["metrics"]
    assert metrics["n"] == 12 and metrics["accuracy"] == pytest.approx(8 / 12)


def test_agreement_without_shared_items_says_why(store: AnnotationStore) -> None:
    _readers_and_cases(store, 2, ("r1", "r2"))
    store.set_label("c00", "r1", "mri_normal_abnormal", "normal", model_version=BLINDED)
    store.set_label("c01", "r2", "mri_normal_abnormal", "normal", model_version=BLINDED)
    metrics = store_agreement(store, "mri_normal_abnormal")["pairs"][0]["metrics"]
    assert metrics["value"] is None and "no items" in metrics["reason"]


# --------------------------------------------------------------------- CLI
def test_cli_list_history_agreement_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "project"
    with open_store(project) as s:
        _readers_and_cases(s, 3, ("r1", "r2"))
        for r, values in (("r1", ["normal", "abnormal", "abnormal"]), ("r2", ["normal", "abnormal", "normal"])):
            for i, v in enumerate(values):
                s.set_label(f"c{i:02d}", r, "mri_normal_abnormal", v, model_version=BLINDED)
        s.set_label("c02", "r2", "mri_normal_abnormal", "abnormal", model_version="m1")
    (tmp_path / "cases").mkdir()
    for i in range(4):
        (tmp_path / "cases" / f"c{i:02d}").mkdir()

    parser = argparse.ArgumentParser()
    labels_command.add_arguments(parser)

    def run(*argv: str) -> str:
        assert labels_command.run(parser.parse_args(list(argv))) == 0
        return capsys.readouterr().out

    current = json.loads(run("list", str(project), "--reader", "r2", "--json"))
    assert [e["value"] for e in current] == ["normal", "abnormal", "abnormal"]
    history = json.loads(run("history", str(project), "--case", "c02", "--json"))
    assert len(history) == 3 and history[-1]["model_version"] == "m1"
    agreement = json.loads(run("agreement", str(project), "--schema", "mri_normal_abnormal"))
    assert agreement["pairs"][0]["metrics"]["accuracy"] == 1.0
    prog = json.loads(run("progress", str(project), "--cases", str(tmp_path / "cases"), "--json"))
    assert prog["r1"] == {"done": 3, "remaining": 1, "total": 4}
    assert "c02 r2 mri_normal_abnormal" in run("list", str(project))
    assert "mri_critical_findings" in run("schemas", str(project))
