"""The reading room's logic without a browser: two-digit type-ahead, the worklist's status, urgency, sort and
filters, undo in the review session, window/level presets, echoes and layers on a headless scene, and one
headless station (a real trame server object and trame-slicer scene, no HTTP) driven through its actions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radtriage.web import worklist
from radtriage.web.keys import SHORTCUTS, TypeAhead, action_for_key

# ------------------------------------------------------------------------------------------------ keys


def test_type_ahead_reaches_every_option_of_a_long_control() -> None:
    short = TypeAhead()
    assert short.feed(7, 9, 0.0) == 7  # nine options or fewer: one digit is enough
    ahead = TypeAhead(timeout_s=0.8)
    assert ahead.feed(1, 17, 0.0) is None  # 1 could start 10-17: wait for the second digit
    assert ahead.feed(7, 17, 0.5) == 17
    assert ahead.feed(3, 17, 1.0) == 3  # 30 > 17: nothing to wait for
    assert ahead.feed(1, 17, 2.0) is None
    assert ahead.flush() == 1 and ahead.flush() is None  # Enter or the timer: just the 1
    assert ahead.feed(1, 17, 3.0) is None
    assert ahead.feed(2, 17, 5.0) == 2 and ahead.pending is None  # too late for 12 (the timer applied the 1)


def test_undo_and_enter_keys() -> None:
    assert action_for_key("u") == ("undo", None) and action_for_key("Enter") == ("enter", None)
    assert {"next", "previous"} <= set(SHORTCUTS.values())


# ------------------------------------------------------------------------------------------------ worklist


def _row(i: int, critical: bool = False, p: float | None = None, status: str = worklist.NOT_RUN,
         done: bool = False) -> dict:
    return {"id": f"c{i}", "index": i, "critical": critical, "probability": p, "status": status, "done": done}


def test_worklist_puts_critical_first_then_probability_then_list_order() -> None:
    rows = [_row(0, p=0.9, status=worklist.RESULT), _row(1), _row(2, True, 0.6, worklist.RESULT),
            _row(3, p=0.95, status=worklist.MINE, done=True), _row(4)]
    assert [r["id"] for r in worklist.sort_rows(rows, "urgency")] == ["c2", "c3", "c0", "c1", "c4"]
    assert [r["id"] for r in worklist.sort_rows(rows, "file")] == ["c0", "c1", "c2", "c3", "c4"]
    assert [r["id"] for r in worklist.filter_rows(rows, "todo")] == ["c0", "c1", "c2", "c4"]
    assert [r["id"] for r in worklist.filter_rows(rows, "critical")] == ["c2"]
    assert [r["id"] for r in worklist.filter_rows(rows, "not run")] == ["c1", "c4"]
    with pytest.raises(KeyError):
        worklist.filter_rows(rows, "nope")


def test_case_status_and_urgency_of_each_task() -> None:
    assert worklist.case_status(False, False, False) == worklist.NOT_RUN
    assert worklist.case_status(True, False, False) == worklist.RESULT
    assert worklist.case_status(True, False, True) == worklist.OTHERS
    assert worklist.case_status(True, True, True) == worklist.MINE
    mri = {"outputs": {"probabilities": {"abnormal": 0.8}, "findings": [
        {"output": "acute_infarct", "probability": 0.7, "threshold": 0.5, "decision": True, "critical": True}]}}
    assert worklist.urgency("mri_triage", mri) == (True, 0.8)
    cmb = {"outputs": {"detections": [{"confidence": 0.4}, {"confidence": 0.9}]}}
    assert worklist.urgency("cmb_detect", cmb) == (False, 0.9)
    lge = {"outputs": {"slices": [{"likelihood": 30.0}, {"likelihood": 70.0}]}}
    assert worklist.urgency("lge_certainty", lge) == (False, 0.7)
    assert worklist.urgency("body_region", {"outputs": {"ranges": []}}) == (False, None)
    assert worklist.urgency("mri_triage", None) == (False, None)


# ------------------------------------------------------------------------------------------------ session


@pytest.fixture
def session(tmp_path: Path):
    from radtriage.annotations import open_case_list, open_store
    from radtriage.review import ReviewSession, build_demo_cases

    cases = open_case_list(build_demo_cases(tmp_path / "cases"))
    return ReviewSession(cases, open_store(tmp_path / "project"), "undo-reader")


def test_undo_withdraws_the_last_commit_and_keeps_the_history(session) -> None:
    from radtriage.annotations import Label

    case = "01-brain-infarct"
    assert session.last_commit(case) == [] and session.undo_last_commit(case) == []
    session.commit([Label("mri_normal_abnormal", "normal")], case)
    session.commit([Label("mri_normal_abnormal", "abnormal")], case)
    assert [e.value for e in session.labels(case)] == ["abnormal"]
    session.undo_last_commit(case)
    assert [e.value for e in session.labels(case)] == ["normal"]  # the previous value is current again
    session.undo_last_commit(case)
    assert session.labels(case) == [] and not session.is_done(case)
    history = session.store.history(case_id=case, reader_id="undo-reader")
    assert [e.action for e in history] == ["set", "set", "retract", "retract"]


# ------------------------------------------------------------------------------------------------ MRML


@pytest.mark.mrml
def test_presets_echoes_and_colour_bar_on_a_headless_scene() -> None:
    pytest.importorskip("trame_slicer")
    from radtriage.image import Image
    from radtriage.mrml import create_headless_scene, image_to_volume_node
    from radtriage.review.case_mrml import CASE_ATTRIBUTE
    from radtriage.web import layers
    from radtriage.web import window_level as wl

    rng = np.random.default_rng(0)
    ct = Image(rng.uniform(-1024, 1500, (6, 8, 8)).astype(np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    mr = ct.with_array(rng.uniform(0, 900, (6, 8, 8)).astype(np.float32))
    gre = ct.with_array(np.stack([np.full((6, 8, 8), 100.0 * (e + 1), np.float32) for e in range(4)], axis=-1))
    with create_headless_scene() as hs:
        ct_node = image_to_volume_node(hs.scene, ct, "ct")
        mr_node = image_to_volume_node(hs.scene, mr, "mr")
        assert wl.is_ct(ct_node) and not wl.is_ct(mr_node)
        assert wl.default_preset(ct_node, "body_region") == "soft tissue"
        assert wl.default_preset(ct_node, "mri_triage") == "brain"
        assert wl.default_preset(mr_node, "mri_triage") == wl.AUTO
        assert wl.apply_preset(ct_node, "lung") == (1500.0, -600.0) == wl.window_level_of(ct_node)
        window, level = wl.apply_preset(mr_node, wl.AUTO)
        assert 0 < level - window / 2 < level + window / 2 < 900
        with pytest.raises(KeyError):
            wl.apply_preset(mr_node, "nope")
        gre_node = image_to_volume_node(hs.scene, gre, "gre")
        gre_node.SetAttribute(CASE_ATTRIBUTE, "case-1")
        echoes = layers.echo_nodes(hs.scene, "GRE", gre_node)
        assert list(echoes) == ["GRE echo 1", "GRE echo 2", "GRE echo 3", "GRE echo 4"]
        assert [n.GetImageData().GetScalarRange()[0] for n in echoes.values()] == [100.0, 200.0, 300.0, 400.0]
        assert all(n.GetAttribute(CASE_ATTRIBUTE) == "case-1" and not n.IsA("vtkMRMLVectorVolumeNode")
                   for n in echoes.values())
        assert layers.first_shown(echoes, gre_node) == "GRE echo 1"
        assert layers.echo_nodes(hs.scene, "MR", mr_node) == {"MR": mr_node}
        bar = layers.colour_bar(hs.scene, 0.2)
        assert bar["ticks"] == [0.0, 0.2, 0.5, 1.0] and bar["gradient"].startswith("linear-gradient(to right, rgb(")


def test_region_legend_and_heatmap_names() -> None:
    from radtriage.web import layers

    outputs = {"labelset": {"class_names": ["head", "neck"], "display_names": ["Head", "Neck"],
                            "colours": [[255, 0, 0], [0, 128, 255]]}}
    assert layers.region_legend(outputs) == [{"name": "Head", "colour": "rgb(255,0,0)"},
                                             {"name": "Neck", "colour": "rgb(0,128,255)"}]
    assert layers.region_legend(None) == []
    assert layers.heatmap_choices({"acute_haemorrhage": None})[0]["title"] == "acute haemorrhage"


@pytest.mark.slow
@pytest.mark.mrml
def test_station_reading_room_actions(tmp_path: Path, monkeypatch) -> None:
    """One headless station: series and heatmap pickers, W/L presets and custom, type-ahead on 17 regions,
    undo, blind-mode CMB markers and an added microbleed, the LGE score from the short-axis view."""
    pytest.importorskip("trame_slicer")
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame.app import get_server

    from radtriage.annotations import open_case_list, open_store
    from radtriage.review import ReviewSession, build_demo_cases
    from radtriage.web import overlay_mrml
    from radtriage.web.app import ReviewStation

    cases = open_case_list(build_demo_cases(tmp_path / "cases"))
    session = ReviewSession(cases, open_store(tmp_path / "project"), "room-reader", blind=True)
    for case_id in ("01-brain-infarct", "03-swi-microbleeds", "04-lge-stack", "05-body-ct"):
        session.run_task(case_id)
    station = ReviewStation(get_server("test-reading-room", client_type="vue3"), session)
    state = station.state
    state.ready()  # change handlers run from here on, as in a served page
    assert state.worklist_sort == "file"  # blind mode: no urgency order, it would leak the model's read
    assert not state.node_enabled and not station.refresh_node_worklist()  # no --node-worklist: no Node tab
    assert all(r["hidden"] for r in state.worklist if r["status"] == worklist.RESULT)

    # MRI: every series as background, window/level presets, custom after a change
    assert {"ADC", "DWI", "FLAIR", "T1"} <= set(state.backgrounds) and state.heatmaps == []  # blind
    state.background = "FLAIR"
    state.flush()
    assert station._background_node().GetName().endswith("FLAIR")
    state.wl_preset = "brain"
    state.flush()
    assert json.loads(state.status_text)["window_level"] == [80.0, 40.0]
    station._background_node().GetDisplayNode().SetWindowLevel(300.0, 100.0)  # what a left-drag does
    assert state.wl_preset == "custom" and state.wl_text == "W 300 L 100"
    station.on_key("2")  # abnormal: the outputs appear (blind mode)
    assert state.outputs_shown and [h["value"] for h in state.heatmaps][:1] == ["abnormal"]
    state.heatmap = "mass_effect"
    state.flush()
    assert overlay_mrml.shown_heatmap(station.slicer.scene).GetAttribute("RadTriage.Output") == "mass_effect"
    assert state.can_undo
    station.on_key("u")
    assert session.labels("01-brain-infarct") == [] and "undone" in state.message

    # CMB in blind mode: candidates marked without confidences; a click adds one with its RAS
    station.go_to("03-swi-microbleeds")
    assert not state.message  # the previous case's message is gone
    assert station._markers is not None
    labels = [station._markers.GetNthControlPointLabel(i) for i in range(station._markers.GetNumberOfControlPoints())]
    assert labels and all(label.startswith("CMB-") and " " not in label for label in labels)
    station.focus(1)
    ras = station.controls[1].context["ras_mm"]
    red = json.loads(state.status_text)["slice_info"]["views"]["Red"]
    assert abs(red["offset_mm"] - ras[2]) < 1.0  # the views jumped to the candidate
    station.set_add_mode(True)
    station.add_microbleed([1.0, 2.0, 3.0])
    added = [e for e in session.labels("03-swi-microbleeds") if e.target == "candidate:reader-1"]
    assert added and added[0].value == {"decision": "add", "ras_mm": [1.0, 2.0, 3.0]} and not state.add_mode

    # the crosshair (Shift+click): shown at the point in every view, every slice view moved through it
    station.place_crosshair([5.0, -10.0, 20.0])
    crosshair = station.slicer.scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    assert list(crosshair.GetCrosshairRAS()) == pytest.approx([5.0, -10.0, 20.0])
    assert crosshair.GetCrosshairMode() == crosshair.ShowBasic
    views = json.loads(state.status_text)["slice_info"]["views"]
    assert views["Red"]["offset_mm"] == pytest.approx(20.0, abs=1.0)  # axial through S 20
    assert json.loads(state.status_text)["crosshair"] == [5.0, -10.0, 20.0]

    # LGE: the score follows the view that shows the stack's slices
    station.go_to("04-lge-stack")
    info = state.slice_info
    assert info["view"] == "Yellow" and "lge_slice" not in info  # blind: no score before a rating
    station.on_key("5")
    info = state.slice_info
    assert "lge_slice" in info
    logic = overlay_mrml.get_slice_logic(station.slicer.app_logic, "Yellow")
    logic.SetSliceOffset(logic.GetSliceOffset() + 8.0)
    assert state.slice_info["lge_slice"] != info["lge_slice"]

    # body region: 17 classes, two-digit type-ahead, the colour legend
    station.go_to("05-body-ct")
    assert state.wl_preset == "soft tissue"
    control = state.controls[0]
    assert control["kind"] == "region" and len(control["choices"]) > 9
    station.on_key("1")
    assert state.pending_digit == 1 and session.labels("05-body-ct") == []
    station.on_key("2")
    assert session.labels("05-body-ct")[0].value == control["choices"][11]
    assert len(state.region_legend) == len(state.controls[0]["choices"])


def test_a_cmb_case_without_candidates_can_be_read_as_no_microbleeds(session) -> None:
    from radtriage.review import label_controls
    from radtriage.review.label_controls import CMB_CASE_READ, NO_MICROBLEEDS

    controls = label_controls("cmb_detect", {"detections": []})
    assert [(c.schema, c.kind, c.choices) for c in controls] == [(CMB_CASE_READ.name, "choice", CMB_CASE_READ.classes)]
    assert label_controls("cmb_detect", None) == []  # not run: nothing to read yet
    case = "03-swi-microbleeds"
    session.commit([controls[0].label(NO_MICROBLEEDS)], case)
    assert session.is_done(case) and case in session.done_case_ids()
    assert session.resume() is not None and session.current.case_id != case  # resume no longer reopens it
    assert [e.value for e in session.labels(case)] == [NO_MICROBLEEDS]


@pytest.mark.mrml
def test_the_rated_short_axis_reformat_is_shown_and_followed_in_the_sagittal_view() -> None:
    pytest.importorskip("slicer")
    from radtriage.mrml import create_headless_scene, get_slice_logic, image_to_volume_node, show_in_slice_views
    from radtriage.phantoms import SAX_DIRECTION, make_lge_stack
    from radtriage.web import overlay_mrml

    stack, _ = make_lge_stack(3, direction=SAX_DIRECTION)  # an oblique short-axis grid, as a reformat has
    with create_headless_scene() as hs:
        node = image_to_volume_node(hs.scene, stack, "LGE short-axis reformat")
        show_in_slice_views(hs.scene, node)
        overlay_mrml.show_stack_in(hs.app_logic, node, overlay_mrml.STACK_VIEW)
        assert overlay_mrml.view_showing_stack(hs.app_logic, node) == "Yellow"
        logic = get_slice_logic(hs.app_logic, "Yellow")
        first = overlay_mrml.current_slice_index(hs.app_logic, node, "Yellow")
        assert first is not None
        logic.SetSliceOffset(logic.GetSliceOffset() + 2 * stack.spacing[2])
        assert overlay_mrml.current_slice_index(hs.app_logic, node, "Yellow") == first + 2
        info = overlay_mrml.view_info(hs.app_logic, node, "Yellow")
        assert info["of"] == stack.size[2] and info["slice"] == first + 3
