"""The web station's server logic without a browser: access token, keyboard map, label panel data, slice facts,
task jobs, the CLI defaults and the MRML helpers on a headless scene."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from radtriage.annotations import LabelEntry
from radtriage.commands import serve as serve_command
from radtriage.review import label_controls
from radtriage.web import access, keys
from radtriage.web.jobs import TaskJob
from radtriage.web.labels import control_state, controls_state, label_for, to_plain
from radtriage.web.slice_info import current_slice_info
from radtriage.web.station import page_url

# ------------------------------------------------------------------------------------------------ access token


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("192.168.1.20", False), ("::", False), ("example.org", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert access.is_loopback(host) is loopback


def test_a_token_is_required_on_every_bind() -> None:
    generated = access.resolve_token(None)
    assert generated and len(generated) >= 22  # at least 128 random bits
    assert access.resolve_token(None) != generated  # fresh every start
    assert access.resolve_token("given-token-16ch") == "given-token-16ch"
    with pytest.raises(ValueError):
        access.resolve_token("a")


def test_middleware_refuses_requests_without_the_token_and_sets_the_cookie() -> None:
    """A real aiohttp server with the middleware: 403 without token, the token exchanged for a cookie named with
    the port (and removed from the URL), the cookie then suffices."""
    from aiohttp import CookieJar, web
    from aiohttp.test_utils import TestClient, TestServer

    token = "s3cret-s3cret-s3cret"

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page")

    async def scenario() -> None:
        app = web.Application(middlewares=[access.access_middleware([token], access.Origins("127.0.0.1"),
                                                                     secret="wslink")])
        app.router.add_get("/index.html", page)
        app.router.add_get("/", page)
        async with TestClient(TestServer(app), cookie_jar=CookieJar(unsafe=True)) as client:
            assert (await client.get("/")).status == 403
            assert (await client.get("/?token=nope")).status == 403
            ok = await client.get(f"/?token={token}")  # redirected to index.html?secret=wslink, cookie set
            assert ok.status == 200 and await ok.text() == "page"
            assert "token" not in str(ok.url) and ok.url.query["secret"] == "wslink"
            assert access.cookie_name(client.server.port) in ok.history[0].cookies
            again = await client.get("/index.html?secret=wslink")  # the client now sends the cookie
            assert again.status == 200

    asyncio.run(scenario())


def test_install_access_sets_the_wslink_secret_and_guards_on_bind() -> None:
    class Ctrl:
        def __init__(self) -> None:
            self.callbacks: list = []
            self.on_server_bind = self

        def add(self, fn):  # trame's controller.on_server_bind.add
            self.callbacks.append(fn)

    class Server:
        controller = Ctrl()
        cli = argparse.ArgumentParser()

    class Bound:
        app = type("App", (), {"middlewares": [], "on_response_prepare": []})()

    Server.cli.add_argument("--authKey", default="wslink-secret")
    access.install_access(Server, "t" * 20, "per-launch", access.Origins("127.0.0.1"))
    assert Server.cli.parse_args([]).authKey == "per-launch"
    Server.controller.callbacks[0](Bound)
    assert len(Bound.app.middlewares) == 1 and len(Bound.app.on_response_prepare) == 1


# ------------------------------------------------------------------------------------------------ keyboard


def test_keys_map_to_actions() -> None:
    assert keys.action_for_key("ArrowRight") == ("next", None)
    assert keys.action_for_key("ArrowLeft") == ("previous", None)
    assert keys.action_for_key("R") == ("run", None)
    assert keys.action_for_key("7") == ("digit", 7)
    assert keys.action_for_key("x") is None
    assert keys.action_for_key("Shift") is None


def test_digits_give_each_kind_of_control_its_value() -> None:
    choice = {"kind": "choice", "choices": ["normal", "abnormal"], "current": None}
    assert keys.value_for_digit(choice, 2) == "abnormal"
    assert keys.value_for_digit(choice, 3) is None
    assert keys.value_for_digit(choice, 0) is None
    multi = {"kind": "multilabel", "choices": ["a", "b", "c"], "current": ["a"]}
    assert keys.value_for_digit(multi, 2) == ["a", "b"]
    assert keys.value_for_digit(multi, 1) == []
    rating = {"kind": "rating", "choices": [], "minimum": 0.0, "maximum": 100.0}
    assert keys.value_for_digit(rating, 7) == 70.0
    assert keys.value_for_digit(rating, 10) == 100.0
    assert keys.value_for_digit({**rating, "maximum": 50.0}, 7) is None
    cmb = {"kind": "cmb", "choices": ["accept", "reject"]}
    assert keys.value_for_digit(cmb, 2) == "reject"


# ------------------------------------------------------------------------------------------------ label panel


def _entry(schema: str, value, target: str = "") -> LabelEntry:
    return LabelEntry(1, "uid", "case", "reader", schema, target, "set", value, None, "none", "2026-01-01T00:00:00")


def test_label_panel_state_is_json_and_round_trips_to_labels() -> None:
    outputs = {"probabilities": {"abnormal": 0.8, "acute_infarct": float("nan")}, "decisions": {"abnormal": True}}
    current = [_entry("mri_normal_abnormal", "normal")]
    controls = label_controls("mri_triage", outputs, current)
    state = controls_state(controls)
    json.dumps(state)  # NaN became None, tuples lists
    assert [c["schema"] for c in state] == ["mri_normal_abnormal", "mri_critical_findings"]
    assert state[0]["choices"] == ["normal", "abnormal"] and state[0]["suggestion"] == "abnormal"
    assert state[0]["current"] == "normal" and state[0]["current_text"] == "normal"
    label = label_for(controls, 0, keys.value_for_digit(state[0], 2))
    assert (label.schema, label.value, label.target) == ("mri_normal_abnormal", "abnormal", "")
    with pytest.raises(IndexError):
        label_for(controls, 5, "x")


def test_cmb_control_value_becomes_a_decision_with_coordinates() -> None:
    outputs = {"detections": [{"label": "CMB-1", "center_ras": [1.0, 2.0, 3.0], "confidence": 0.9,
                               "radius_mm": 2.0, "location": "lobar"}]}
    controls = label_controls("cmb_detect", outputs)
    state = control_state(controls[0], 0)
    assert state["target"] == "candidate:CMB-1" and state["suggestion"] == pytest.approx(0.9)
    label = label_for(controls, 0, "accept")
    assert label.value == {"decision": "accept", "ras_mm": [1.0, 2.0, 3.0]}


def test_json_safe_handles_numpy_and_non_finite() -> None:
    assert to_plain({"a": (np.float32(1.5), float("inf")), 2: np.int64(3)}) == {"a": [1.5, None], "2": 3}


# ------------------------------------------------------------------------------------------------ slice facts


def test_body_region_of_the_current_slice() -> None:
    outputs = {"slices": [{"index": 0, "region": "pelvis", "confidence": 0.9},
                          {"index": 1, "region": "abdomen", "confidence": 0.7}]}
    info = current_slice_info("body_region", outputs, 1)
    assert info["region"] == "abdomen" and "abdomen" in info["text"] and "0.70" in info["text"]
    assert "region" not in current_slice_info("body_region", outputs, 7)
    assert current_slice_info("body_region", None, 1)["text"] == "slice 1"


def test_lge_score_of_the_slice_nearest_the_viewed_plane() -> None:
    outputs = {"slices": [{"index": i, "likelihood": 10.0 * i, "certainty": "high", "reading": "negative",
                           "centre_ras": [0.0, 0.0, 8.0 * i]} for i in range(5)]}
    info = current_slice_info("lge_certainty", outputs, None, ([3.0, -2.0, 17.0], [0.0, 0.0, 1.0]))
    assert info["lge_slice"] == 2 and info["likelihood"] == 20.0 and "20/100" in info["text"]
    by_index = current_slice_info("lge_certainty", outputs, 4)
    assert by_index["likelihood"] == 40.0


# ------------------------------------------------------------------------------------------------ task job


def test_a_task_job_names_every_input_stages_the_output_and_checks_the_case_options(tmp_path: Path) -> None:
    from radtriage.tasks.options import OptionError

    inputs = {"MAGNITUDE": tmp_path / "m.nii.gz", "PHASE": tmp_path / "p.nii.gz"}
    argv = TaskJob("c", "cmb_detect", inputs, tmp_path / "out", options={"threshold": "0.7"}).argv
    assert argv[:4] == [sys.executable, "-m", "radtriage", "infer"]
    assert argv[argv.index("--option") + 1] == "threshold=0.7"
    with pytest.raises(OptionError, match="threshold=2 is not allowed"):
        TaskJob("c", "cmb_detect", inputs, tmp_path / "out", options={"threshold": 2})
    assert f"MAGNITUDE={tmp_path / 'm.nii.gz'}" in argv and f"PHASE={tmp_path / 'p.nii.gz'}" in argv
    assert argv[argv.index("--output") + 1] == "{output_dir}" and argv[argv.index("--progress") + 1] == "json"


def test_a_failing_task_run_reports_failure_and_leaves_no_result(tmp_path: Path) -> None:
    out = tmp_path / "results" / "case" / "mri_triage"
    job = TaskJob("case", "mri_triage", {"T1": tmp_path / "missing.nii.gz"}, out)
    assert job.start().running
    job.job.wait(120)
    status = job.poll()
    assert status.state == "failed" and status.error
    assert status.to_state()["running"] is False
    assert not (out / "result.json").exists()


# ------------------------------------------------------------------------------------------------ CLI


def test_serve_arguments_default_to_loopback_and_the_demo() -> None:
    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    args = parser.parse_args([])
    assert args.host == "127.0.0.1" and args.cases is None and not args.blind
    args = parser.parse_args(["--host", "0.0.0.0", "--port", "9000", "--blind", "--reader", "dr-a"])
    assert (args.port, args.blind, args.reader) == (9000, True, "dr-a")
    assert args.allowed_origin == [] and args.readers is None
    assert page_url("0.0.0.0", 9000, "tok") == "http://127.0.0.1:9000/?token=tok"
    assert page_url("127.0.0.1", 8080, "tok") == "http://127.0.0.1:8080/?token=tok"


@pytest.mark.parametrize(("argv", "problem"), [
    (["--token", "a"], "at least 16 characters"),
    (["--allowed-origin", "review.example.org"], "not an origin"),
    (["--readers", "/nonexistent/readers.txt"], "cannot read the readers file"),
    (["--cases", "/nonexistent/cases"], "/nonexistent/cases"),
    (["--port", "99999"], "not a port number"),
])
def test_bad_serve_arguments_are_one_line_before_anything_starts(argv, problem, tmp_path: Path, capsys) -> None:
    from radtriage.cli import main

    assert main(["serve", "--workdir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radtriage: error:") and problem in err and "\n" not in err and "Traceback" not in err


def test_cases_without_a_task_are_one_line(tmp_path: Path, capsys) -> None:
    from radtriage.cli import main

    (tmp_path / "cases" / "c1").mkdir(parents=True)
    (tmp_path / "cases" / "c1" / "T1.nii.gz").write_bytes(b"")
    assert main(["serve", "--workdir", str(tmp_path), "--cases", str(tmp_path / "cases")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radtriage: error:") and "task" in err and "\n" not in err


def test_serve_is_a_radtriage_subcommand() -> None:
    from radtriage.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "0", "--workdir", "/tmp/x"])
    assert args.port == 0 and args.workdir == "/tmp/x"


# ------------------------------------------------------------------------------------------------ MRML helpers


@pytest.mark.mrml
def test_slice_index_and_heatmap_peak_on_a_headless_scene() -> None:
    pytest.importorskip("slicer")
    from radtriage.image import Image
    from radtriage.mrml import create_headless_scene, image_to_volume_node, show_in_slice_views, show_slice_through
    from radtriage.web import overlay_mrml

    array = np.zeros((10, 20, 30), dtype=np.float32)  # k, j, i
    array[6, 5, 25] = 0.9  # the peak on slice k=6
    array[2, 10, 10] = 1.0  # hotter, but on another slice
    image = Image(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    with create_headless_scene() as hs:
        node = image_to_volume_node(hs.scene, image, "heat")
        show_in_slice_views(hs.scene, node, node, 0.5)
        logic = hs.slice_logic("Red")
        show_slice_through(logic, tuple(image.ijk_to_ras[:3, :] @ np.array([25, 5, 6, 1.0])), (200, 100))
        assert overlay_mrml.current_slice_index(hs.app_logic, node) == 6
        peak = overlay_mrml.heatmap_peak_on_slice(hs.app_logic, node, 0.2)
        assert peak is not None and peak["value"] == pytest.approx(0.9) and peak["ijk"] == [25, 5, 6]
        assert 0.0 <= peak["x"] <= 1.0 and 0.0 <= peak["y"] <= 1.0
        assert overlay_mrml.heatmap_peak_on_slice(hs.app_logic, node, 0.95) is None
        overlay_mrml.set_overlay_opacity(hs.scene, 0.3)
        composite = logic.GetSliceCompositeNode()
        assert composite.GetForegroundOpacity() == pytest.approx(0.3)
        assert overlay_mrml.shown_heatmap(hs.scene).GetID() == node.GetID()
        # after a run the station moves the views through the volume's hottest voxel (k=2), keeping the plane
        hottest = overlay_mrml.heatmap_peak_ras(node)
        assert hottest == pytest.approx(list(image.ijk_to_ras[:3, :] @ np.array([10, 10, 2, 1.0])))
        from radtriage.review.mrml_views import jump_slices_to

        jump_slices_to(hs.scene, hottest, centred=False)
        assert overlay_mrml.current_slice_index(hs.app_logic, node) == 2
        assert overlay_mrml.heatmap_peak_on_slice(hs.app_logic, node, 0.2)["ijk"] == [10, 10, 2]
        assert overlay_mrml.heatmap_peak_ras(None) is None


# ------------------------------------------------------------------------------------------------ the station


@pytest.mark.slow
@pytest.mark.mrml
def test_station_blind_mode_hides_outputs_until_a_keyboard_label(tmp_path: Path, monkeypatch) -> None:
    """The station without a browser: a real trame server object and trame-slicer scene, no HTTP."""
    pytest.importorskip("trame_slicer")
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame.app import get_server

    from radtriage.annotations import open_case_list, open_store
    from radtriage.review import ReviewSession, build_demo_cases
    from radtriage.web.app import ReviewStation

    cases = open_case_list(build_demo_cases(tmp_path / "cases"))
    session = ReviewSession(cases, open_store(tmp_path / "project"), "blind-reader", blind=True)
    session.run_task("05-body-ct")  # a stored result, as `radtriage batch` would leave it
    station = ReviewStation(get_server("test-station-blind", client_type="vue3"), session)
    assert station.state.case_id == "01-brain-infarct" and station.state.task == "mri_triage"
    station.on_key("PageDown")
    assert station.state.case_id == "02-brain-normal"
    station.go_to("05-body-ct")
    assert station.state.result_exists and not station.state.outputs_shown
    assert "hidden" in station.state.summary
    assert station.controls and all(c["suggestion"] is None for c in station.state.controls)  # blind
    station.on_key("1")  # region choice 1 for the first slice range: 17 regions, so "1" waits for a second digit
    assert session.labels("05-body-ct") == [] and station.state.pending_digit == 1
    station.on_key("Enter")  # ... Enter applies the 1 alone
    labels = session.labels("05-body-ct")
    assert len(labels) == 1 and labels[0].model_version == "blinded"
    assert station.state.outputs_shown and station.state.slice_info.get("region")  # revealed after the label
    assert json.loads(station.state.status_text)["case_id"] == "05-body-ct"


def test_model_line_says_a_demo_model_is_not_for_clinical_use() -> None:
    from radtriage.web.app import ReviewStation

    demo = {"bundle": {"name": "cmb-detect-demo", "version": "0.2.0", "demo": True}}
    user = {"bundle": {"name": "site-cmb", "version": "1.0", "demo": False}}
    assert ReviewStation._model_line(demo) == "model cmb-detect-demo 0.2.0 — demo, not for clinical use"
    assert ReviewStation._model_line(user) == "model site-cmb 1.0"
    assert ReviewStation._model_line(None) == ""
