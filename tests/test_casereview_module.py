"""CaseReview module: its Logic, cut out of ``CaseReview/CaseReview.py`` and run without Slicer or Qt.

(a) the pure helpers: shortcut table, reader id, panel values -> labels, the background job's argv (parsed by
the real CLI), installing a finished run as the case's result, DICOM database rows -> cases;
(b) the review Logic against real slicer-core: the same static methods the widget calls (``openSession``,
``loadCase``, ``commitValues`` ...) on a headless MRML scene with the phantom demo cases — open, resume after a
restart, blind mode, navigation, progress, CMB accept / reject / add with RAS, LGE slice ratings, body-region
corrections, and a bad case list that names the file and writes nothing.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import slicer_static as ss

from radtriage.annotations import BLINDED, CaseList, CaseRef, open_store
from radtriage.errors import InputError
from radtriage.review import label_controls

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def logic_ns() -> tuple[types.SimpleNamespace, dict]:
    """Every @staticmethod of CaseReviewLogic, executed without Slicer, and their namespace."""
    return ss.logic_static_methods(ROOT, "CaseReview")


@pytest.fixture(scope="module")
def logic(logic_ns) -> types.SimpleNamespace:
    return logic_ns[0]


# ================================================================ (a) pure helpers


def test_shortcut_table_binds_each_key_once_and_is_documented(logic, logic_ns) -> None:
    bindings = logic.shortcutBindings()
    assert set(bindings) == {"next", "previous", "commit", "addMissed"}
    assert bindings["next"] == ["Ctrl+Right"] and bindings["previous"] == ["Ctrl+Left"]
    assert "Ctrl+Return" in bindings["commit"]
    rows = dict(logic.shortcutRows())
    assert rows["Ctrl+Right"] == "next case" and rows["Ctrl+Return / Ctrl+Enter"].startswith("commit")
    namespace = logic_ns[1]
    saved = namespace["SHORTCUTS"]
    namespace["SHORTCUTS"] = {**saved, "previous": ["Ctrl+Right"]}
    try:
        with pytest.raises(ValueError, match="Ctrl\\+Right is bound to both next and previous"):
            logic.shortcutBindings()
    finally:
        namespace["SHORTCUTS"] = saved
    help_source = (ROOT / "CaseReview" / "CaseReview.py").read_text()
    assert "Keyboard: {keys}" in help_source  # the help text lists SHORTCUTS


def test_reader_id_task_and_case_list_choices(logic, tmp_path: Path) -> None:
    assert logic.readerIdProblem("R1.a-b:c") == ""
    assert "Enter your reader id" in logic.readerIdProblem("  ")
    assert "never a person's name" in logic.readerIdProblem("Jane Doe")
    assert logic.readerIdProblem("x" * 65) != ""
    assert logic.sessionTask("from case.json") is None and logic.sessionTask("cmb_detect") == "cmb_detect"
    assert logic.caseListOpenKind("CSV file") == "csv" and logic.caseListOpenKind("DICOM folder") == "dicom"
    with pytest.raises(ValueError):
        logic.caseListOpenKind("DICOM database")
    assert logic.caseListNeedsPath("folder") and not logic.caseListNeedsPath("demo cases")
    assert logic.caseListWantsFile("CSV file") and not logic.caseListWantsFile("folder")
    assert logic.storeFolderFor(str(tmp_path), "/tmp/slicer") == tmp_path
    assert logic.storeFolderFor("", "/tmp/slicer", True) == Path("/tmp/slicer/RadTriageDemoProject")
    with pytest.raises(ValueError, match="project folder"):
        logic.storeFolderFor(".", "/tmp/slicer")
    with pytest.raises(ValueError, match="folder or CSV"):
        logic.openCaseList("", "folder")


def _cmb_outputs() -> dict:
    return {"detections": [
        {"label": "CMB-1", "center_ras": [1.0, 2.0, 3.0], "confidence": 0.91, "radius_mm": 2.0, "location": "lobar"},
        {"label": "CMB-2", "center_ras": [-4.0, 5.5, 6.0], "confidence": 0.42, "radius_mm": 1.5, "location": "deep"},
    ]}  # fmt: skip


def test_panel_values_become_labels_only_when_changed(logic) -> None:
    mri = label_controls("mri_triage", None)
    labels = logic.labelsFromValues(mri, ["abnormal", ["mass_effect", "acute_infarct"]])
    assert [(lb.schema, lb.value, lb.target) for lb in labels] == [
        ("mri_normal_abnormal", "abnormal", ""),
        ("mri_critical_findings", ["acute_infarct", "mass_effect"], ""),
    ]
    assert logic.labelsFromValues(mri, [None, []])[0].value == []  # an unticked list is an answer: no finding
    assert logic.labelsFromValues(mri, [None, None]) == []
    with pytest.raises(ValueError, match="2 label controls"):
        logic.labelsFromValues(mri, ["normal"])

    from radtriage.annotations import LabelEntry

    def entry(schema, target, value):
        return LabelEntry(1, "u", "c", "r", schema, target, "set", value, None, "m", "t")

    cmb = label_controls(
        "cmb_detect",
        _cmb_outputs(),
        [entry("cmb_review", "candidate:CMB-1", {"decision": "accept", "ras_mm": [1, 2, 3]})],
    )
    labels = logic.labelsFromValues(cmb, ["accept", "reject"], [[7.0, 8.0, 9.0], [0.5, 0.5, 0.5]])
    assert [(lb.target, lb.value) for lb in labels] == [  # CMB-1 unchanged: not committed again
        ("candidate:CMB-2", {"decision": "reject", "ras_mm": [-4.0, 5.5, 6.0]}),
        ("candidate:reader-1", {"decision": "add", "ras_mm": [7.0, 8.0, 9.0]}),
        ("candidate:reader-2", {"decision": "add", "ras_mm": [0.5, 0.5, 0.5]}),
    ]

    lge = label_controls("lge_certainty", None, n_slices=3)
    assert [(lb.target, lb.value) for lb in logic.labelsFromValues(lge, [None, 55, 0])] == [
        ("slice:1", 55.0), ("slice:2", 0.0)]  # fmt: skip


def test_panel_rows_show_suggestions_only_when_visible(logic) -> None:
    blind = logic.panelRows(label_controls("cmb_detect", _cmb_outputs(), show_suggestions=False))
    shown = logic.panelRows(label_controls("cmb_detect", _cmb_outputs()))
    assert [r["choices"] for r in blind] == [("accept", "reject")] * 2
    assert "confidence" not in blind[0]["hint"] and "R 1.0, A 2.0, S 3.0 mm" in blind[0]["hint"]
    assert shown[0]["hint"].startswith("model confidence 0.91") and shown[1]["ras"] == [-4.0, 5.5, 6.0]
    assert [r["initial"] for r in logic.panelRows(label_controls("mri_triage", None))] == [None, []]
    assert logic.progressText({"done": 2, "remaining": 3, "total": 5, "index": 1}) == (
        "2 done / 3 remaining - case 2 of 5")  # fmt: skip
    assert "Blind mode" in logic.overlayText(False, False, True)
    assert "Run task" in logic.overlayText(False, True, False)


def test_build_argv_passes_the_case_task_and_inputs_to_the_cli(logic, tmp_path: Path) -> None:
    from radtriage.cli import _parse_inputs, build_parser

    inputs = {"MAGNITUDE": tmp_path / "swi magnitude.nii.gz", "PHASE": tmp_path / "swi_phase.nii.gz"}
    argv = logic.buildArgv("cmb_detect", inputs)
    assert argv[:3] == [sys.executable, "-m", "radtriage"]
    args = build_parser().parse_args(argv[3:])
    assert (args.command, args.task, args.output, args.device) == ("infer", "cmb_detect", "{output_dir}", "auto")
    assert _parse_inputs(args.input) == inputs
    assert build_parser().parse_args(logic.buildArgv("body_region", {"CT": "ct.nrrd"}, "cpu")[3:]).device == "cpu"
    with pytest.raises(ValueError, match="KEY=PATH"):
        logic.buildArgv("body_region", {"a=b": "x.nrrd"})


def test_a_finished_run_replaces_the_result_folder_whole(logic, tmp_path: Path) -> None:
    result = tmp_path / "results" / "case1" / "body_region"
    result.mkdir(parents=True)
    (result / "result.json").write_text('{"outputs": {"old": true}}')
    (result / "stale_volume.nii.gz").write_text("old")
    run = logic.jobFolderFor(result)
    assert run.parent == result.parent and run.name.startswith(".body_region-run-") and run.is_dir()
    with pytest.raises(InputError, match=r"no result\.json"):
        logic.installJobResult(run, result)
    assert json.loads((result / "result.json").read_text()) == {"outputs": {"old": True}}  # untouched
    (run / "result.json").write_text('{"outputs": {"new": true}}')
    assert logic.installJobResult(run, result) == result / "result.json"
    assert json.loads((result / "result.json").read_text()) == {"outputs": {"new": True}}
    assert not (result / "stale_volume.nii.gz").exists() and not run.exists()
    assert sorted(p.name for p in result.parent.iterdir()) == ["body_region"]
    fresh = logic.jobFolderFor(tmp_path / "results" / "case2" / "lge_certainty")
    assert logic.discardJobFolder(fresh) and not fresh.exists()
    assert not logic.discardJobFolder(result)  # only hidden run folders are removed


def test_dicom_database_rows_give_the_same_cases_as_the_dicom_folder_reader(logic, tmp_path: Path) -> None:
    """Rows as slicer.dicomDatabase lists them -> one case per study, hashed patient key, series folders; the
    same case ids as the core's DICOM folder case list on the same files."""
    import pydicom
    from pydicom.data import get_testdata_file

    from radtriage.annotations import case_list_from_dicom

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rows = []
    for study, series in (("1.2.3.1", "1.2.3.1.1"), ("1.2.3.1", "1.2.3.1.2"), ("1.2.3.2", "1.2.3.2.1")):
        folder = tmp_path / "db" / study / series
        folder.mkdir(parents=True)
        ds = source.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = f"{series}.1"
        ds.save_as(folder / "1.dcm")
        rows.append({"patientId": str(ds.PatientID), "studyUid": study, "seriesUid": series,
                     "files": [str(folder / "1.dcm")]})  # fmt: skip
    cases = logic.dicomDatabaseCases(rows)
    assert len(cases) == 2 and cases.source == "Slicer DICOM database"
    first = cases[0]
    assert first.series_uids == ("1.2.3.1.1", "1.2.3.1.2")
    assert first.image_paths == (str(tmp_path / "db/1.2.3.1/1.2.3.1.1"), str(tmp_path / "db/1.2.3.1/1.2.3.1.2"))
    assert str(source.PatientID) not in repr(list(cases)) and first.patient_key != "unknown"
    assert sorted(cases.ids) == sorted(case_list_from_dicom(tmp_path / "db").ids)
    with pytest.raises(ValueError, match="no series"):
        logic.dicomDatabaseCases([])


# ================================================================ (b) the Logic against real slicer-core

IN_PROCESS_CASES = ("04-lge-stack", "05-body-ct")
"""Demo cases whose task the module's fixture runs in this process (the MRI cases are reviewed without a result)."""
JOB_CASE = "03-swi-microbleeds"
"""The demo case whose task runs once as a background job (``Run task`` in the widget)."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory, logic) -> dict:
    """The phantom demo cases and a project folder holding the task results: IN_PROCESS_CASES run with
    ``ReviewSession.run_task``, JOB_CASE through the Logic's ``startJob`` + ``installJobResult`` (run once)."""
    from radtriage.review import build_demo_cases

    pytest.importorskip("slicer")
    base = tmp_path_factory.mktemp("casereview")
    cases_dir = logic.buildDemoCases(str(base))
    assert cases_dir == build_demo_cases(base / "RadTriageDemoCases")  # built once, then reused
    project = base / "project"
    session = logic.openSession(logic.openCaseList(cases_dir, "folder"), project, "runner", False)
    try:
        session.go_to(JOB_CASE)
        before = session.result()
        job, case_id = logic.startJob(session, device="cpu")
        for case_id_in_process in IN_PROCESS_CASES:  # meanwhile, in this process
            session.run_task(case_id_in_process, device="cpu")
        state = job.wait(timeout=240)
        installed = logic.installJobResult(job.output_dir, session.result_folder(case_id)) if state.value == (
            "succeeded") else None  # fmt: skip
        run = {"before": before, "job": job, "case_id": case_id, "state": state.value, "installed": installed,
               "siblings": sorted(p.name for p in session.result_folder(case_id).parent.iterdir())}  # fmt: skip
    finally:
        session.store.close()
    return {"cases": cases_dir, "project": project, "run": run}


@pytest.fixture
def scene():
    from radtriage.mrml import create_headless_scene

    headless = create_headless_scene()
    yield headless.scene
    headless.close()


@pytest.fixture
def open_session(logic, demo):
    """``open_session(reader, blind)``: the Logic's openSession on the demo list; closed at the end."""
    opened = []

    def make(reader: str, blind: bool = False, task: str | None = None):
        session = logic.openSession(logic.openCaseList(demo["cases"], "folder"), demo["project"], reader, blind, task)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.store.close()


def _nodes_of_class(scene, class_name: str) -> list:
    return [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())
            if scene.GetNthNode(i).IsA(class_name)]  # fmt: skip


@pytest.mark.mrml
@pytest.mark.slow
def test_open_progress_navigation_and_resume_after_a_restart(logic, open_session, scene) -> None:
    session = open_session("nav")
    assert session.current.case_id == "01-brain-infarct"
    assert session.progress() == {"done": 0, "remaining": 5, "total": 5, "index": 0}
    header = logic.caseHeader(session)
    assert header["title"] == "01-brain-infarct (mri_triage)" and header["percent"] == 0
    assert header["progress"] == "0 done / 5 remaining - case 1 of 5"
    assert session.previous() is None and session.current.case_id == "01-brain-infarct"

    nodes = logic.loadCase(scene, session)
    assert set(nodes["inputs"]) and not nodes["shown"]  # no MRI result: images only
    controls = session.controls()
    with pytest.raises(ValueError, match="Answer 'Normal / abnormal'"):
        logic.commitValues(session, controls, [None, ["mass_effect"]])
    assert session.progress()["done"] == 0 and session.labels() == []
    submission, reload = logic.commitValues(session, controls, ["normal", []])
    assert len(submission.entries) == 2 and not reload
    assert submission.entries[0].model_version == "none"
    assert logic.commitValues(session, session.controls(), ["normal", []]) == (None, False)  # nothing new

    assert session.next().case_id == "02-brain-normal"
    assert session.next().case_id == "03-swi-microbleeds"
    session.go_to("05-body-ct")
    assert session.next() is None and session.current.case_id == "05-body-ct"
    body = session.controls()
    logic.commitValues(session, body, [body[0].suggestion] + [None] * (len(body) - 1))
    assert logic.caseHeader(session)["title"] == "05-body-ct (body_region) - labelled"
    assert session.progress() == {"done": 2, "remaining": 3, "total": 5, "index": 4}
    assert logic.caseHeader(session)["percent"] == 40
    session.store.close()

    restarted = open_session("nav")  # a new session object on the same store
    assert restarted.current.case_id == "02-brain-normal"  # first undone case in list order
    assert restarted.progress()["done"] == 2
    assert restarted.labels("01-brain-infarct")[0].value == "normal"
    other = open_session("someone-else")
    assert other.current.case_id == "01-brain-infarct" and other.progress()["done"] == 0


@pytest.mark.mrml
@pytest.mark.slow
def test_blind_mode_hides_the_overlays_until_commit_and_cmb_decisions_keep_ras(logic, open_session, scene) -> None:
    from radtriage.review.case_mrml import case_nodes

    session = open_session("blind", blind=True)
    session.go_to("03-swi-microbleeds")
    detections = session.result()["outputs"]["detections"]
    assert len(detections) >= 2
    nodes = logic.loadCase(scene, session)
    assert not nodes["shown"] and nodes["overlays"] == {}
    assert set(nodes["inputs"]) == {"MAGNITUDE", "PHASE"}
    assert _nodes_of_class(scene, "vtkMRMLMarkupsFiducialNode") == []
    hidden = len(case_nodes(scene, "03-swi-microbleeds"))
    controls = session.controls()
    assert [c.target for c in controls] == [f"candidate:{d['label']}" for d in detections]
    assert all(c.suggestion is None and "confidence" not in c.context for c in controls)

    values = ["accept", "reject"] + [None] * (len(controls) - 2)
    submission, reload = logic.commitValues(session, controls, values, [[10.5, -20.0, 30.25]])
    assert reload and len(submission.entries) == 3
    assert {e.model_version for e in submission.entries} == {BLINDED}
    nodes = logic.loadCase(scene, session)
    assert nodes["shown"]
    markups = _nodes_of_class(scene, "vtkMRMLMarkupsFiducialNode")
    assert len(markups) == 1 and markups[0].GetNumberOfControlPoints() == len(detections)
    assert len(case_nodes(scene, "03-swi-microbleeds")) > hidden
    shown = session.controls()
    assert shown[0].suggestion == pytest.approx(detections[0]["confidence"])
    assert shown[-1].target == "candidate:reader-1" and shown[-1].current["decision"] == "add"

    stored = {e.target: e.value for e in session.labels()}
    assert stored[controls[0].target] == {"decision": "accept", "ras_mm": pytest.approx(detections[0]["center_ras"])}
    assert stored[controls[1].target]["decision"] == "reject"
    assert stored["candidate:reader-1"] == {"decision": "add", "ras_mm": [10.5, -20.0, 30.25]}

    rows = logic.panelRows(shown)
    assert rows[-1]["choices"] == ("add", "reject") and rows[-1]["initial"] == "add"
    changed = [None] * len(shown)
    changed[0] = "reject"  # a second look, with the model's output on screen
    again, reload = logic.commitValues(session, shown, changed, [[1.0, 1.0, 1.0]])
    assert not reload and [e.target for e in again.entries] == [controls[0].target, "candidate:reader-2"]
    assert {e.model_version for e in again.entries} == {session.model_version()} != {BLINDED}
    history = session.store.history("03-swi-microbleeds", "blind", "cmb_review")
    assert len(history) == 5  # append-only: the first decision is still there

    logic.loadCase(scene, session, "04-lge-stack")  # loading another case removes this one's nodes
    assert case_nodes(scene, "03-swi-microbleeds") == [] and _nodes_of_class(scene, "vtkMRMLMarkupsFiducialNode") == []
    assert logic.clearCases(scene) > 0 and case_nodes(scene) == []


@pytest.mark.mrml
@pytest.mark.slow
def test_lge_slice_ratings_are_stored_per_slice(logic, open_session, scene) -> None:
    session = open_session("lge")
    session.go_to("04-lge-stack")
    nodes = logic.loadCase(scene, session)
    assert nodes["shown"] and nodes["task"] == "lge_certainty"  # not blind: overlays at once
    slices = session.result()["outputs"]["slices"]
    controls = session.controls()
    assert [c.target for c in controls] == [f"slice:{k}" for k in range(len(slices))]
    assert all(c.kind == "rating" and (c.minimum, c.maximum) == (0.0, 100.0) for c in controls)
    values = [None] * len(controls)
    values[0], values[2] = 80, 12.5
    submission, _reload = logic.commitValues(session, controls, values)
    assert [(e.target, e.value) for e in submission.entries] == [("slice:0", 80.0), ("slice:2", 12.5)]
    controls = session.controls()
    assert logic.commitValues(session, controls, values) == (None, False)
    values[2] = 30
    submission, _reload = logic.commitValues(session, controls, values)
    assert [(e.target, e.value) for e in submission.entries] == [("slice:2", 30.0)]
    assert {e.target: e.value for e in session.labels()} == {"slice:0": 80.0, "slice:2": 30.0}
    with pytest.raises(Exception, match="outside"):
        logic.commitValues(session, session.controls(), [101] + [None] * (len(controls) - 1))


@pytest.mark.mrml
@pytest.mark.slow
def test_body_region_correction_is_stored_per_slice_range(logic, open_session, scene) -> None:
    session = open_session("body")
    session.go_to("05-body-ct")
    nodes = logic.loadCase(scene, session)
    assert nodes["overlays"]["label_volume"] is not None
    controls = session.controls()
    assert controls and all(c.kind == "region" and c.target.startswith("slices:") for c in controls)
    first = controls[0]
    corrected = next(name for name in first.choices if name != first.suggestion)
    submission, _reload = logic.commitValues(session, controls, [corrected] + [None] * (len(controls) - 1))
    assert [(e.schema, e.target, e.value) for e in submission.entries] == [
        ("body_region_correction", first.target, corrected)
    ]
    assert logic.panelRows(session.controls())[0]["initial"] == corrected


@pytest.mark.mrml
def test_bad_case_list_names_the_file_and_writes_nothing(logic, demo, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(demo["cases"] / "04-lge-stack", cases / "a-good")
    broken = cases / "b-broken"
    broken.mkdir()
    (broken / "case.json").write_text('{"task": "lge_certainty", "inputs": ')
    project = tmp_path / "project"
    with pytest.raises(InputError) as error:
        logic.openSession(logic.openCaseList(cases, "folder"), project, "R1", True)
    assert error.value.path == str(broken / "case.json") and "cannot be read as JSON" in error.value.problem
    assert not project.exists()  # not even the store file

    (broken / "case.json").write_text(json.dumps({"task": "lge_certainty", "inputs": {"LGE": "gone.nii.gz"}}))
    store = open_store(project)  # an existing store keeps its counts
    before = store.counts()
    store.close()
    with pytest.raises(InputError) as error:
        logic.openSession(logic.openCaseList(cases, "folder"), project, "R1", True)
    assert error.value.path == str(broken / "gone.nii.gz") and "does not exist" in error.value.problem
    with open_store(project) as store:
        assert store.counts() == before and store.readers() == []

    csv = tmp_path / "list.csv"
    csv.write_text("case_id,image\nc1,missing.nii.gz\n")
    with pytest.raises(InputError) as error:
        logic.openSession(logic.openCaseList(csv), project, "R1", False, "body_region")
    assert error.value.path == str(tmp_path / "missing.nii.gz")
    with pytest.raises(ValueError, match="names no task"):
        body_ct = str(demo["cases"] / "05-body-ct" / "body_ct.nii.gz")
        logic.openSession(CaseList([CaseRef("c1", image_paths=(body_ct,))]), project, "R1", False)


@pytest.mark.mrml
@pytest.mark.slow
def test_run_task_job_writes_the_case_result_and_the_overlays_follow(logic, demo, open_session, scene) -> None:
    """startJob ran ``radtriage infer`` on the case's inputs in a child process; installJobResult made its output
    the case's result folder, and the overlays load from there."""
    run = demo["run"]
    assert run["before"] is None and run["case_id"] == JOB_CASE
    job = run["job"]
    assert run["state"] == "succeeded", job.error
    assert job.argv[3:6] == ["infer", "--task", "cmb_detect"]
    assert job.argv[job.argv.index("--input") + 1 : job.argv.index("--output")] == [
        f"MAGNITUDE={demo['cases'] / JOB_CASE / 'swi_magnitude.nii.gz'}",
        f"PHASE={demo['cases'] / JOB_CASE / 'swi_phase.nii.gz'}"]  # fmt: skip
    assert run["siblings"] == ["cmb_detect"]  # the run folder became the result folder; nothing left beside it
    session = open_session("job-viewer")
    session.go_to(JOB_CASE)
    assert run["installed"] == session.result_folder() / "result.json"
    assert session.result()["task"] == "cmb_detect"
    nodes = logic.loadCase(scene, session)
    assert nodes["shown"] and nodes["overlays"]["markups"].GetNumberOfControlPoints() == len(
        session.result()["outputs"]["detections"])  # fmt: skip
