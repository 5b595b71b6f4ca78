"""The review core (radtriage.review): case inputs and manifests, the label panel, the reader's session (resume,
progress, blind mode, commits), result folders, and loading a case into a real slicer-core scene."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from radtriage.annotations import BLINDED, open_case_list, open_store
from radtriage.annotations.records import CaseRef
from radtriage.errors import InputError
from radtriage.review import (
    NO_MODEL,
    ReviewSession,
    added_cmb_label,
    build_demo_cases,
    case_inputs,
    case_task,
    label_controls,
)
from radtriage.tasks.result import read_result, write_result_staged


@pytest.fixture(scope="module")
def demo_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo case list, built once; the LGE and CMB cases' tasks run once into a shared results folder."""
    root = tmp_path_factory.mktemp("review")
    folder = build_demo_cases(root / "cases")
    session = ReviewSession(open_case_list(folder), open_store(root / "setup"), "setup",
                            results_dir=root / "results")
    for case_id in ("03-swi-microbleeds", "04-lge-stack"):
        session.run_task(case_id)
    return folder


@pytest.fixture()
def session_factory(demo_cases: Path, tmp_path: Path):
    """Sessions over a copy-free demo list, sharing one store per test and the module's results."""
    results = demo_cases.parent / "results"

    def make(reader: str = "r1", blind: bool = False) -> ReviewSession:
        return ReviewSession(open_case_list(demo_cases), open_store(tmp_path / "project"), reader, blind=blind,
                             results_dir=results)

    return make


# ------------------------------------------------------------------------------------------------ case inputs
def test_demo_list_has_every_task_in_order_and_is_built_once(demo_cases: Path) -> None:
    cases = open_case_list(demo_cases)
    assert [case_task(c) for c in cases] == ["mri_triage", "mri_triage", "cmb_detect", "lge_certainty",
                                             "body_region"]
    stamp = (demo_cases / "04-lge-stack" / "lge_sax.nii.gz").stat().st_mtime_ns
    assert build_demo_cases(demo_cases) == demo_cases
    assert (demo_cases / "04-lge-stack" / "lge_sax.nii.gz").stat().st_mtime_ns == stamp


def test_folder_inputs_leave_out_masks_and_truth(demo_cases: Path) -> None:
    brain = open_case_list(demo_cases)["01-brain-infarct"]
    keys = set(case_inputs(brain))
    assert {"T1", "T2", "FLAIR", "DWI", "ADC"} <= keys
    assert not any("mask" in k.lower() for k in keys)
    swi = case_inputs(open_case_list(demo_cases)["03-swi-microbleeds"])
    assert set(swi) == {"MAGNITUDE", "PHASE"}


def test_manifest_problems_name_the_file(tmp_path: Path) -> None:
    case_dir = tmp_path / "c1"
    case_dir.mkdir()
    (case_dir / "img.nii.gz").write_bytes(b"")
    case = CaseRef("c1", image_paths=(str(case_dir),))
    manifest = case_dir / "case.json"
    for text, problem in [("{not json", "cannot be read"), ('{"inputs": {"A": "../outside.nii.gz"}}', "outside"),
                          ('{"inputs": ["img.nii.gz"]}', "must map"), ('{"task": "astrology"}', "unknown task")]:
        manifest.write_text(text)
        with pytest.raises(InputError, match=problem) as info:
            case_task(case) if "task" in text else case_inputs(case)
        assert str(manifest) in str(info.value)
    manifest.write_text('{"inputs": {"A": "missing.nii.gz"}}')
    with pytest.raises(InputError, match="does not exist") as info:
        case_inputs(case)
    assert "missing.nii.gz" in str(info.value)
    manifest.unlink()
    (case_dir / "img.nii.gz").rename(case_dir / "lesion_mask.nii.gz")
    with pytest.raises(InputError, match="no input images"):
        case_inputs(case)


# ------------------------------------------------------------------------------------------------ label panel
def test_lge_panel_has_one_slider_per_slice_with_model_suggestions(session_factory) -> None:
    session = session_factory()
    controls = session.controls("04-lge-stack")
    result = session.result("04-lge-stack")
    assert result is not None
    slices = result["outputs"]["slices"]
    assert [c.target for c in controls] == [f"slice:{k}" for k in range(len(slices))]
    assert [c.suggestion for c in controls] == [s["likelihood"] for s in slices]
    assert all(c.kind == "rating" and (c.minimum, c.maximum) == (0.0, 100.0) for c in controls)


def test_blind_panel_hides_suggestions_and_confidences_until_commit(session_factory) -> None:
    session = session_factory(blind=True)
    controls = session.controls("03-swi-microbleeds")
    assert controls, "the demo SWI case should have detections to review"
    assert all(c.suggestion is None and "confidence" not in c.context for c in controls)
    assert all(len(c.context["ras_mm"]) == 3 for c in controls)  # the reader still sees where to look
    assert not session.outputs_visible("03-swi-microbleeds")
    session.commit([controls[0].label("reject")], "03-swi-microbleeds")
    assert session.outputs_visible("03-swi-microbleeds")
    after = session.controls("03-swi-microbleeds")
    assert after[0].current == {"decision": "reject", "ras_mm": controls[0].context["ras_mm"]}
    assert all(isinstance(c.suggestion, float) for c in after)


def test_added_microbleed_gets_a_fresh_target_and_shows_in_the_panel(session_factory) -> None:
    session = session_factory()
    first = added_cmb_label([1.0, 2.0, 3.0], [])
    second = added_cmb_label([4.0, 5.0, 6.0], [first.target])
    assert first.target != second.target
    session.commit([first, second], "03-swi-microbleeds")
    added = [c for c in session.controls("03-swi-microbleeds") if "added by reader" in c.title]
    assert sorted(c.context["ras_mm"] for c in added) == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_mri_panel_without_result_has_no_suggestion_and_unknown_task_is_refused() -> None:
    controls = label_controls("mri_triage", None)
    assert [c.schema for c in controls] == ["mri_normal_abnormal", "mri_critical_findings"]
    assert all(c.suggestion is None for c in controls)
    assert controls[1].label(["mass_effect"]).value == ["mass_effect"]
    with pytest.raises(KeyError, match="astrology"):
        label_controls("astrology", None)


# ------------------------------------------------------------------------------------------------ session
def test_resume_after_restart_lands_on_the_first_undone_case(session_factory) -> None:
    session = session_factory("r1")
    assert session.resume() == 0
    na = session.controls("01-brain-infarct")[0]
    session.commit([na.label("abnormal")], "01-brain-infarct")
    session.commit([session.controls("02-brain-normal")[0].label("normal")], "02-brain-normal")
    restarted = session_factory("r1")
    assert restarted.resume() == 2 and restarted.current.case_id == "03-swi-microbleeds"
    assert restarted.progress() == {"done": 2, "remaining": 3, "total": 5, "index": 2}
    other = session_factory("r2")
    assert other.resume() == 0 and other.progress()["done"] == 0
    assert restarted.next().case_id == "04-lge-stack"
    assert restarted.previous().case_id == "03-swi-microbleeds"


def test_commit_records_what_model_output_was_on_screen(session_factory) -> None:
    blind = session_factory("blind-reader", blind=True)
    first = blind.commit([blind.controls("04-lge-stack")[0].label(70)], "04-lge-stack")
    assert first.entries[0].model_version == BLINDED
    second = blind.commit([blind.controls("04-lge-stack")[1].label(10)], "04-lge-stack")
    assert second.entries[0].model_version == blind.model_version("04-lge-stack") != NO_MODEL
    open_reader = session_factory("open-reader")
    no_result = open_reader.commit([open_reader.controls("02-brain-normal")[0].label("normal")], "02-brain-normal")
    assert no_result.entries[0].model_version == NO_MODEL
    assert [e.value for e in blind.labels("04-lge-stack")] == [70, 10]


def test_bad_label_is_refused_and_nothing_is_stored(session_factory) -> None:
    session = session_factory()
    control = session.controls("04-lge-stack")[0]
    with pytest.raises(Exception, match="outside"):
        session.commit([session.controls("04-lge-stack")[1].label(50), control.label(250)], "04-lge-stack")
    assert session.labels("04-lge-stack") == []


def test_result_is_replaced_whole_and_no_temporary_folder_stays(session_factory, tmp_path: Path) -> None:
    from radtriage.tasks.result import TaskResult

    folder = tmp_path / "results" / "case" / "lge_certainty"
    write_result_staged(TaskResult("lge_certainty", {"name": "b", "version": "1"}, {"n": 1}), folder)
    write_result_staged(TaskResult("lge_certainty", {"name": "b", "version": "2"}, {"n": 2}), folder)
    assert read_result(folder)["outputs"] == {"n": 2}
    assert [p.name for p in folder.parent.iterdir()] == ["lge_certainty"]
    (folder / "result.json").write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        read_result(folder)


# ------------------------------------------------------------------------------------------------ MRML scene
@pytest.fixture(scope="module")
def scene():
    pytest.importorskip("slicer", reason="slicer-core (the mrml extra) is not installed")
    from radtriage.mrml import create_headless_scene

    return create_headless_scene().scene


def test_blind_case_loads_without_overlays_then_with_them_after_commit(scene, session_factory) -> None:
    from radtriage.review.case_mrml import case_nodes, clear_case, load_case

    baseline = scene.GetNumberOfNodes()
    session = session_factory("mrml-reader", blind=True)
    hidden = load_case(scene, session, "03-swi-microbleeds")
    assert hidden["shown"] is False and hidden["overlays"] == {}
    assert scene.GetNodesByClass("vtkMRMLMarkupsFiducialNode").GetNumberOfItems() == 0
    assert set(hidden["inputs"]) == {"MAGNITUDE", "PHASE"}
    assert clear_case(scene, "03-swi-microbleeds") > 0 and scene.GetNumberOfNodes() == baseline

    session.commit([session.controls("03-swi-microbleeds")[0].label("accept")], "03-swi-microbleeds")
    shown = load_case(scene, session, "03-swi-microbleeds")
    markups = shown["overlays"]["markups"]
    n_detections = len(session.result("03-swi-microbleeds")["outputs"]["detections"])
    assert markups.GetNumberOfControlPoints() == n_detections
    composite = scene.GetNodesByClass("vtkMRMLSliceCompositeNode").GetItemAsObject(0)
    assert composite.GetBackgroundVolumeID() == shown["reference"].GetID()
    assert markups in case_nodes(scene, "03-swi-microbleeds")
    clear_case(scene)
    assert scene.GetNumberOfNodes() == baseline


def test_case_without_result_loads_its_inputs_only(scene, session_factory, tmp_path: Path) -> None:
    from radtriage.review.case_mrml import clear_case, load_case

    session = session_factory()
    shutil.rmtree(session.results_dir / "05-body-ct", ignore_errors=True)
    nodes = load_case(scene, session, "05-body-ct")
    assert nodes["shown"] is False and list(nodes["inputs"]) == ["CT"]
    assert json.loads((Path(session.inputs("05-body-ct")["CT"]).parent / "case.json").read_text())["task"] == \
        "body_region"
    clear_case(scene)
