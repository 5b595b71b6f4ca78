"""CaseReview module: its Logic's work, in the slicer-free review core (``radtriage.review.opening``, ``.panel``,
``.runs``, ``.keys``, ``.case_mrml``, ``.mrml_views``), run here without Slicer's GUI.

(a) the pure helpers: reader id, case list choices, panel values -> labels, the background job's argv (parsed by
the real CLI), installing a finished run as the case's result, DICOM database rows -> cases;
(b) the same calls the module makes, against real slicer-core: a headless MRML scene with the phantom demo cases —
open, resume after a restart, blind mode, navigation, progress, CMB accept / reject / add with RAS, LGE slice
ratings, body-region corrections, a bad case list that names the file and writes nothing, and a background run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from radtriage.annotations import BLINDED, CaseList, CaseRef
from radtriage.errors import InputError
from radtriage.review import label_controls, opening, panel
from radtriage.review.case_mrml import clear_case, show_case
from radtriage.review.runs import ReviewRun, plan_run
from radtriage.runtime.infer_command import infer_argv

# ================================================================ (a) pure helpers


def test_reader_id_task_and_case_list_choices(tmp_path: Path) -> None:
    assert opening.reader_id_problem("R1.a-b:c") == ""
    assert "Enter your reader id" in opening.reader_id_problem("  ")
    assert "never a person's name" in opening.reader_id_problem("Jane Doe")
    assert opening.reader_id_problem("x" * 65) != ""
    assert opening.session_task("from case.json") is None and opening.session_task("cmb_detect") == "cmb_detect"
    assert opening.case_list_open_kind("CSV file") == "csv" and opening.case_list_open_kind("DICOM folder") == "dicom"
    with pytest.raises(ValueError):
        opening.case_list_open_kind("DICOM database")
    assert opening.case_list_needs_path("folder") and not opening.case_list_needs_path("demo cases")
    assert opening.case_list_wants_file("CSV file") and not opening.case_list_wants_file("folder")
    assert opening.store_folder_for(str(tmp_path), "/tmp/slicer") == tmp_path
    assert opening.store_folder_for("", "/tmp/slicer", True) == Path("/tmp/slicer/RadTriageDemoProject")
    with pytest.raises(ValueError, match="project folder"):
        opening.store_folder_for(".", "/tmp/slicer")
    with pytest.raises(ValueError, match="folder or CSV"):
        opening.open_path_case_list("", "folder")


def _cmb_outputs() -> dict:
    return {"detections": [
        {"label": "CMB-1", "center_ras": [1.0, 2.0, 3.0], "confidence": 0.91, "radius_mm": 2.0, "location": "lobar"},
        {"label": "CMB-2", "center_ras": [-4.0, 5.5, 6.0], "confidence": 0.42, "radius_mm": 1.5, "location": "deep"},
    ]}  # fmt: skip


def test_panel_values_become_labels_only_when_changed() -> None:
    mri = label_controls("mri_triage", None)
    labels = panel.labels_from_values(mri, ["abnormal", ["mass_effect", "acute_infarct"]])
    assert [(lb.schema, lb.value, lb.target) for lb in labels] == [
        ("mri_normal_abnormal", "abnormal", ""),
        ("mri_critical_findings", ["acute_infarct", "mass_effect"], ""),
    ]
    assert panel.labels_from_values(mri, [None, []])[0].value == []  # an unticked list is an answer: no finding
    assert panel.labels_from_values(mri, [None, None]) == []
    with pytest.raises(ValueError, match="2 label controls"):
        panel.labels_from_values(mri, ["normal"])

    from radtriage.annotations import LabelEntry

    def entry(schema, target, value):
        return LabelEntry(1, "u", "c", "r", schema, target, "set", value, None, "m", "t")

    cmb = label_controls(
        "cmb_detect",
        _cmb_outputs(),
        [entry("cmb_review", "candidate:CMB-1", {"decision": "accept", "ras_mm": [1, 2, 3]})],
    )
    labels = panel.labels_from_values(cmb, ["accept", "reject"], [[7.0, 8.0, 9.0], [0.5, 0.5, 0.5]])
    assert [(lb.target, lb.value) for lb in labels] == [  # CMB-1 unchanged: not committed again
        ("candidate:CMB-2", {"decision": "reject", "ras_mm": [-4.0, 5.5, 6.0]}),
        ("candidate:reader-1", {"decision": "add", "ras_mm": [7.0, 8.0, 9.0]}),
        ("candidate:reader-2", {"decision": "add", "ras_mm": [0.5, 0.5, 0.5]}),
    ]

    lge = label_controls("lge_certainty", None, n_slices=3)
    assert [(lb.target, lb.value) for lb in panel.labels_from_values(lge, [None, 55, 0])] == [
        ("slice:1", 55.0), ("slice:2", 0.0)]  # fmt: skip


def test_panel_rows_show_suggestions_only_when_visible() -> None:
    blind = panel.panel_rows(label_controls("cmb_detect", _cmb_outputs(), show_suggestions=False))
    shown = panel.panel_rows(label_controls("cmb_detect", _cmb_outputs()))
    assert [r["choices"] for r in blind] == [("accept", "reject")] * 2
    assert "confidence" not in blind[0]["hint"] and "R 1.0, A 2.0, S 3.0 mm" in blind[0]["hint"]
    assert shown[0]["hint"].startswith("model confidence 0.91") and shown[1]["ras"] == [-4.0, 5.5, 6.0]
    assert [r["initial"] for r in panel.panel_rows(label_controls("mri_triage", None))] == [None, []]
    assert panel.progress_text({"done": 2, "remaining": 3, "total": 5, "index": 1}) == (
        "2 done / 3 remaining - case 2 of 5")  # fmt: skip
    assert "Blind mode" in panel.overlay_text(False, False, True)
    assert "Run task" in panel.overlay_text(False, True, False)


def test_build_argv_passes_the_case_task_and_inputs_to_the_cli(tmp_path: Path) -> None:
    from radtriage.cli import build_parser
    from radtriage.commands.common import parse_inputs
    from radtriage.runtime.runner import radtriage_argv

    inputs = {"MAGNITUDE": tmp_path / "swi magnitude.nii.gz", "PHASE": tmp_path / "swi_phase.nii.gz"}
    argv = infer_argv("cmb_detect", inputs, device="auto")
    assert argv[:3] == radtriage_argv()[:3] and argv[1:3] == ["-m", "radtriage"]
    args = build_parser().parse_args(argv[3:])
    assert (args.command, args.task, args.output, args.device) == ("infer", "cmb_detect", "{output_dir}", "auto")
    assert parse_inputs(args.input) == inputs
    assert build_parser().parse_args(infer_argv("body_region", {"CT": "ct.nrrd"}, device="cpu")[3:]).device == "cpu"
    with pytest.raises(ValueError, match="KEY=PATH"):
        infer_argv("body_region", {"a=b": "x.nrrd"})


def test_a_finished_run_replaces_the_result_folder_whole(tmp_path: Path) -> None:
    result = tmp_path / "results" / "case1" / "body_region"
    result.mkdir(parents=True)
    (result / "result.json").write_text('{"outputs": {"old": true}}')
    (result / "stale_volume.nii.gz").write_text("old")
    output = tmp_path / "job" / "output"
    output.mkdir(parents=True)
    run = ReviewRun("case1", "body_region", [], result)
    with pytest.raises(InputError, match=r"no result\.json"):
        run.install(output)
    assert json.loads((result / "result.json").read_text()) == {"outputs": {"old": True}}  # untouched
    (output / "result.json").write_text('{"outputs": {"new": true}}')
    (output / "label_volume.nii.gz").write_text("new")
    assert run.install(output) == result / "result.json"
    assert json.loads((result / "result.json").read_text()) == {"outputs": {"new": True}}
    assert sorted(p.name for p in result.iterdir()) == ["label_volume.nii.gz", "result.json"]  # stale one gone
    assert sorted(p.name for p in result.parent.iterdir()) == ["body_region"]  # no run folder left beside it
    assert (output / "result.json").is_file()  # a copy: the job folder is the job controller's to remove


def test_dicom_database_rows_give_the_same_cases_as_the_dicom_folder_reader(tmp_path: Path) -> None:
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
    cases = opening.dicom_database_cases(rows)
    assert len(cases) == 2 and cases.source == "Slicer DICOM database"
    first = cases[0]
    assert first.series_uids == ("1.2.3.1.1", "1.2.3.1.2")
    assert first.image_paths == (str(tmp_path / "db/1.2.3.1/1.2.3.1.1"), str(tmp_path / "db/1.2.3.1/1.2.3.1.2"))
    assert str(source.PatientID) not in repr(list(cases)) and first.patient_key != "unknown"
    assert sorted(cases.ids) == sorted(case_list_from_dicom(tmp_path / "db").ids)
    with pytest.raises(ValueError, match="no series"):
        opening.dicom_database_cases([])


def test_dicom_database_rows_read_a_ctk_dicom_database(tmp_path: Path) -> None:
    """``dicom_database_rows`` through the ctkDICOMDatabase calls Slicer's DICOM database answers (patients ->
    studies -> series -> files, ``fileValue``), here served from real DICOM files by pydicom."""
    import pydicom
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    files = {}
    for study, series in (("1.2.3.1", "1.2.3.1.1"), ("1.2.3.1", "1.2.3.1.2")):
        ds = source.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, f"{series}.1"
        files[(study, series)] = str(tmp_path / f"{series}.dcm")
        ds.save_as(files[(study, series)])

    class Database:  # the ctkDICOMDatabase methods the function calls, answered from the files above
        isOpen = True

        def patients(self):
            return ["1"]

        def studiesForPatient(self, patient):
            return sorted({study for study, _ in files})

        def seriesForStudy(self, study):
            return [series for (s, series) in files if s == study]

        def filesForSeries(self, series):
            return [path for (_, s), path in files.items() if s == series]

        def fileValue(self, path, tag):
            group, element = (int(part, 16) for part in tag.split(","))
            return str(pydicom.dcmread(path)[group, element].value)

    rows = opening.dicom_database_rows(Database())
    assert [(r["studyUid"], r["seriesUid"], r["files"]) for r in rows] == [
        ("1.2.3.1", "1.2.3.1.1", [files["1.2.3.1", "1.2.3.1.1"]]),
        ("1.2.3.1", "1.2.3.1.2", [files["1.2.3.1", "1.2.3.1.2"]])]  # fmt: skip
    assert {r["patientId"] for r in rows} == {str(source.PatientID)}
    assert len(opening.dicom_database_cases(rows)) == 1  # one study
    closed = Database()
    closed.isOpen = False
    for database in (None, closed):
        with pytest.raises(ValueError, match="No DICOM database is open"):
            opening.dicom_database_rows(database)


# ================================================================ (b) the Logic against real slicer-core

IN_PROCESS_CASES = ("04-lge-stack", "05-body-ct")
"""Demo cases whose task the module's fixture runs in this process (the MRI cases are reviewed without a result)."""
JOB_CASE = "03-swi-microbleeds"
"""The demo case whose task runs once as a background job (``Run task`` in the widget)."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """The phantom demo cases and a project folder holding the task results: IN_PROCESS_CASES run with
    ``ReviewSession.run_task``, JOB_CASE as a background run (``plan_run`` + ``ReviewRun.finish``, run once)
    while the reader has moved to another case."""
    from radtriage.review import build_demo_cases

    pytest.importorskip("slicer")
    base = tmp_path_factory.mktemp("casereview")
    cases = opening.demo_case_list(base)
    cases_dir = base / opening.DEMO_CASES_FOLDER
    assert cases_dir == build_demo_cases(cases_dir) and len(cases) == 5  # built once, then reused
    project = base / "project"
    session = opening.open_reader_session(cases, project, "runner", False)
    try:
        session.go_to(JOB_CASE)
        before = session.result()
        job_run = plan_run(session, device="cpu").start(base / "RadTriage-job" / "output")
        session.go_to(IN_PROCESS_CASES[0])  # the reader moves on while the job runs
        for case_id_in_process in IN_PROCESS_CASES:  # meanwhile, in this process
            session.run_task(case_id_in_process, device="cpu")
        state = job_run.job.wait(timeout=240)
        installed = job_run.install() if state.value == "succeeded" else None
        run = {"before": before, "job": job_run.job, "case_id": job_run.case_id, "state": state.value,
               "installed": installed, "shown": job_run.shown_in(session),
               "siblings": sorted(p.name for p in session.result_folder(JOB_CASE).parent.iterdir())}  # fmt: skip
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
def open_session(demo):
    """``open_session(reader, blind, task, case)``: the module's session opening on the demo list (at ``case``);
    closed at the end."""
    opened = []

    def make(reader: str, blind: bool = False, task: str | None = None, case: str | None = None):
        cases = opening.open_path_case_list(demo["cases"], "folder")
        session = opening.open_reader_session(cases, demo["project"], reader, blind, task)
        opened.append(session)
        if case is not None:
            session.go_to(case)
        return session

    yield make
    for session in opened:
        session.store.close()


def _nodes_of_class(scene, class_name: str) -> list:
    return [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())
            if scene.GetNthNode(i).IsA(class_name)]  # fmt: skip


@pytest.mark.mrml
@pytest.mark.slow
def test_open_progress_navigation_and_resume_after_a_restart(open_session, scene) -> None:
    session = open_session("nav")
    assert session.current.case_id == "01-brain-infarct"
    assert session.progress() == {"done": 0, "remaining": 5, "total": 5, "index": 0}
    header = panel.case_header(session)
    assert header["title"] == "01-brain-infarct (mri_triage)" and header["percent"] == 0
    assert header["progress"] == "0 done / 5 remaining - case 1 of 5"
    assert session.previous() is None and session.current.case_id == "01-brain-infarct"

    nodes = show_case(scene, session)
    assert set(nodes["inputs"]) and not nodes["shown"]  # no MRI result: images only
    controls = session.controls()
    with pytest.raises(ValueError, match="Answer 'Normal / abnormal'"):
        panel.commit_values(session, controls, [None, ["mass_effect"]])
    assert session.progress()["done"] == 0 and session.labels() == []
    submission, reload = panel.commit_values(session, controls, ["normal", []])
    assert len(submission.entries) == 2 and not reload
    assert submission.entries[0].model_version == "none"
    assert panel.commit_values(session, session.controls(), ["normal", []]) == (None, False)  # nothing new

    assert session.next().case_id == "02-brain-normal"
    assert session.next().case_id == "03-swi-microbleeds"
    session.go_to("05-body-ct")
    assert session.next() is None and session.current.case_id == "05-body-ct"
    body = session.controls()
    panel.commit_values(session, body, [body[0].suggestion] + [None] * (len(body) - 1))
    assert panel.case_header(session)["title"] == "05-body-ct (body_region) - labelled"
    assert session.progress() == {"done": 2, "remaining": 3, "total": 5, "index": 4}
    assert panel.case_header(session)["percent"] == 40
    session.store.close()

    restarted = open_session("nav")  # a new session object on the same store
    assert restarted.current.case_id == "02-brain-normal"  # first undone case in list order
    assert restarted.progress()["done"] == 2
    assert restarted.labels("01-brain-infarct")[0].value == "normal"
    other = open_session("someone-else")
    assert other.current.case_id == "01-brain-infarct" and other.progress()["done"] == 0


@pytest.mark.mrml
@pytest.mark.slow
def test_blind_mode_hides_the_overlays_until_commit_and_cmb_decisions_keep_ras(open_session, scene) -> None:
    from radtriage.review.case_mrml import case_nodes

    session = open_session("blind", blind=True)
    session.go_to("03-swi-microbleeds")
    detections = session.result()["outputs"]["detections"]
    assert len(detections) >= 2
    nodes = show_case(scene, session)
    assert not nodes["shown"] and nodes["overlays"] == {}
    assert set(nodes["inputs"]) == {"MAGNITUDE", "PHASE"}
    assert _nodes_of_class(scene, "vtkMRMLMarkupsFiducialNode") == []
    hidden = len(case_nodes(scene, "03-swi-microbleeds"))
    controls = session.controls()
    assert [c.target for c in controls] == [f"candidate:{d['label']}" for d in detections]
    assert all(c.suggestion is None and "confidence" not in c.context for c in controls)

    values = ["accept", "reject"] + [None] * (len(controls) - 2)
    submission, reload = panel.commit_values(session, controls, values, [[10.5, -20.0, 30.25]])
    assert reload and len(submission.entries) == 3
    assert {e.model_version for e in submission.entries} == {BLINDED}
    nodes = show_case(scene, session)
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

    rows = panel.panel_rows(shown)
    assert rows[-1]["choices"] == ("add", "reject") and rows[-1]["initial"] == "add"
    changed = [None] * len(shown)
    changed[0] = "reject"  # a second look, with the model's output on screen
    again, reload = panel.commit_values(session, shown, changed, [[1.0, 1.0, 1.0]])
    assert not reload and [e.target for e in again.entries] == [controls[0].target, "candidate:reader-2"]
    assert {e.model_version for e in again.entries} == {session.model_version()} != {BLINDED}
    history = session.store.history("03-swi-microbleeds", "blind", "cmb_review")
    assert len(history) == 5  # append-only: the first decision is still there

    show_case(scene, session, "04-lge-stack")  # loading another case removes this one's nodes
    assert case_nodes(scene, "03-swi-microbleeds") == [] and _nodes_of_class(scene, "vtkMRMLMarkupsFiducialNode") == []
    assert clear_case(scene) > 0 and case_nodes(scene) == []


@pytest.mark.mrml
@pytest.mark.slow
def test_lge_slice_ratings_are_stored_per_slice(open_session, scene) -> None:
    nodes = show_case(scene, session := open_session("lge", case="04-lge-stack"))
    assert nodes["shown"] and nodes["task"] == "lge_certainty"  # not blind: overlays at once
    slices = session.result()["outputs"]["slices"]
    controls = session.controls()
    assert [c.target for c in controls] == [f"slice:{k}" for k in range(len(slices))]
    assert all(c.kind == "rating" and (c.minimum, c.maximum) == (0.0, 100.0) for c in controls)
    values = [None] * len(controls)
    values[0], values[2] = 80, 12.5
    submission, _reload = panel.commit_values(session, controls, values)
    assert [(e.target, e.value) for e in submission.entries] == [("slice:0", 80.0), ("slice:2", 12.5)]
    controls = session.controls()
    assert panel.commit_values(session, controls, values) == (None, False)
    values[2] = 30
    submission, _reload = panel.commit_values(session, controls, values)
    assert [(e.target, e.value) for e in submission.entries] == [("slice:2", 30.0)]
    assert {e.target: e.value for e in session.labels()} == {"slice:0": 80.0, "slice:2": 30.0}
    with pytest.raises(Exception, match="outside"):
        panel.commit_values(session, session.controls(), [101] + [None] * (len(controls) - 1))


@pytest.mark.mrml
@pytest.mark.slow
def test_body_region_correction_is_stored_per_slice_range(open_session, scene) -> None:
    nodes = show_case(scene, session := open_session("body", case="05-body-ct"))
    assert nodes["overlays"]["label_volume"] is not None
    controls = session.controls()
    assert controls and all(c.kind == "region" and c.target.startswith("slices:") for c in controls)
    first = controls[0]
    corrected = next(name for name in first.choices if name != first.suggestion)
    submission, _reload = panel.commit_values(session, controls, [corrected] + [None] * (len(controls) - 1))
    assert [(e.schema, e.target, e.value) for e in submission.entries] == [
        ("body_region_correction", first.target, corrected)
    ]
    assert panel.panel_rows(session.controls())[0]["initial"] == corrected


@pytest.mark.mrml
def test_bad_case_list_names_the_file_and_writes_nothing(demo, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(demo["cases"] / "04-lge-stack", cases / "a-good")
    broken = cases / "b-broken"
    broken.mkdir()
    (broken / "case.json").write_text('{"task": "lge_certainty", "inputs": ')
    project = tmp_path / "project"
    # a broken case is left out with its reason (naming its file); the others open
    session = opening.open_reader_session(opening.open_path_case_list(cases, "folder"), project, "R1", True)
    assert session.cases.ids == ["a-good"]
    assert str(broken / "case.json") in session.skipped_cases["b-broken"]
    assert "cannot be read as JSON" in session.skipped_cases["b-broken"]
    session.store.close()

    (broken / "case.json").write_text(json.dumps({"task": "lge_certainty", "inputs": {"LGE": "gone.nii.gz"}}))
    session = opening.open_reader_session(opening.open_path_case_list(cases, "folder"), project, "R1", True)
    assert "does not exist" in session.skipped_cases["b-broken"] and str(broken / "gone.nii.gz") in \
        session.skipped_cases["b-broken"]
    session.store.close()
    project = tmp_path / "project-2"
    only_broken = tmp_path / "only-broken"
    shutil.copytree(broken, only_broken / "b-broken")
    with pytest.raises(InputError) as error:  # nothing usable: refused, nothing written
        opening.open_reader_session(opening.open_path_case_list(only_broken, "folder"), project, "R1", True)
    assert error.value.path == str(only_broken / "b-broken" / "gone.nii.gz") and "does not exist" in error.value.problem
    assert not project.exists()  # not even the store file

    csv = tmp_path / "list.csv"
    csv.write_text("case_id,image\nc1,missing.nii.gz\n")
    with pytest.raises(InputError) as error:
        opening.open_reader_session(opening.open_path_case_list(csv), project, "R1", False, "body_region")
    assert error.value.path == str(tmp_path / "missing.nii.gz")
    with pytest.raises(InputError, match="names no task"):
        body_ct = str(demo["cases"] / "05-body-ct" / "body_ct.nii.gz")
        opening.open_reader_session(CaseList([CaseRef("c1", image_paths=(body_ct,))]), project, "R1", False)


@pytest.mark.mrml
@pytest.mark.slow
def test_run_task_job_writes_the_case_result_and_the_overlays_follow(demo, open_session, scene) -> None:
    """The run ``radtriage infer`` on the case's inputs in a child process while the reader moved to another case;
    its output became the result folder of the case it ran on, and the overlays load from there."""
    run = demo["run"]
    assert run["before"] is None and run["case_id"] == JOB_CASE and not run["shown"]
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
    nodes = show_case(scene, session)
    assert nodes["shown"] and nodes["overlays"]["markups"].GetNumberOfControlPoints() == len(
        session.result()["outputs"]["detections"])  # fmt: skip


@pytest.mark.mrml
def test_crosshair_and_jump_work_on_the_slice_views(scene) -> None:
    from radtriage.review.mrml_views import crosshair_ras, jump_slices_to

    crosshair = scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    crosshair.SetCrosshairRAS(1.5, -2.0, 30.25)
    assert crosshair_ras(scene) == [1.5, -2.0, 30.25]
    assert jump_slices_to(scene, [10.0, -20.0, 5.0]) == 3
    for name in ("Red", "Yellow", "Green"):
        node = next(n for n in _nodes_of_class(scene, "vtkMRMLSliceNode") if n.GetName() == name)
        assert [node.GetSliceToRAS().GetElement(row, 3) for row in range(3)] == pytest.approx([10.0, -20.0, 5.0])
    scene.RemoveNode(crosshair)
    with pytest.raises(ValueError, match="no crosshair"):
        crosshair_ras(scene)
