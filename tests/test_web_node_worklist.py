"""The web station's view of the DICOM node's live worklist (``radtriage serve --node-worklist DIR``): the rows
the node writes (with its own writer), ranked as the node ranks them, each task in words, times and waits; a
missing, malformed or oversized file is one message, never an exception; the view follows the file as it changes,
in a headless station."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radtriage.dicom_node.queue import Study
from radtriage.dicom_node.worklist import WORKLIST_FILE, write_worklist
from radtriage.web import node_worklist
from radtriage.web.node_worklist import NodeWorklistFollower, read_node_worklist

T0 = 1_780_000_000.0


def node_studies(folder: Path) -> list[Study]:
    """Four node studies: done, done and critical, failed, and a queued LGE slice."""
    triage = {"task": "mri_triage", "status": "done", "critical": True, "probability": 0.97, "seconds": 2.6,
              "notices": ["acute haemorrhage: not assessable (needs SWI)"]}
    body = {"task": "body_region", "status": "done", "critical": False, "probability": 0.0, "seconds": 0.8,
            "notices": []}
    return [
        Study("1.2.3.4", folder, "done", T0 + 5, T0 + 6, 12, T0 + 7, T0 + 9,
              {"tasks": {"body_region": body}}),
        Study("1.2.3.5", folder, "done", T0 + 10, T0 + 11, 40, T0 + 12, T0 + 14,
              {"tasks": {"mri_triage": triage, "body_region": body}}),
        Study("1.2.3.6", folder, "failed", T0 + 20, T0 + 21, 3, T0 + 22, T0 + 23,
              {"tasks": {"body_region": {"task": "body_region", "status": "failed",
                                         "error": "a.dcm: not an image (no pixel data)"}}},
              error="body_region: a.dcm: not an image (no pixel data)"),
        Study("1.2.3.7/1.2.3.7.1", folder, "queued", T0 + 30, T0 + 30, 1),
    ]


def test_rows_keep_the_nodes_ranking_and_say_each_task(tmp_path: Path) -> None:
    write_worklist(tmp_path, node_studies(tmp_path), [{"file": "x.dcm", "reason": "not DICOM", "at": T0}])
    shown = read_node_worklist(tmp_path)
    assert shown.message == "" and shown.rejected == 1 and shown.updated
    first = shown.rows[0]
    assert (first["study_uid"], first["critical"], first["rank"]) == ("1.2.3.5", True, 1)  # critical first
    assert first["wait_s"] == 3.0 and first["probability"] == pytest.approx(0.97)  # last instance -> result
    assert first["tasks"][0] == "mri_triage: CRITICAL p 0.97 (2.6 s) · 1 notice"
    assert [r["rank"] for r in shown.rows] == [1, 2, 3, 4]
    failed = next(r for r in shown.rows if r["status"] == "failed")
    assert failed["colour"] == "error"
    assert failed["tasks"] == ["body_region: failed: a.dcm: not an image (no pixel data)"]
    assert failed["error"].startswith("body_region: a.dcm")
    queued = next(r for r in shown.rows if r["status"] == "queued")
    assert queued["slice"] == "1.2.3.7.1" and queued["result_time"] is None and queued["wait_s"] is None
    assert len({r["key"] for r in shown.rows}) == 4
    assert all("patient" not in json.dumps(r).lower() for r in shown.rows)


@pytest.mark.parametrize("content, expected", [
    (None, "no worklist.json"),
    ("{ half a file", "unreadable (JSONDecodeError)"),
    ('{"no": "studies"}', "not a node worklist"),
    ('["a", "list"]', "not a node worklist"),
])
def test_a_missing_or_malformed_worklist_is_one_message(tmp_path: Path, content: str | None, expected: str) -> None:
    if content is not None:
        (tmp_path / WORKLIST_FILE).write_text(content)
    shown = read_node_worklist(tmp_path)
    assert shown.rows == [] and expected in shown.message and "\n" not in shown.message


def test_an_oversized_worklist_is_not_read(tmp_path: Path, monkeypatch) -> None:
    write_worklist(tmp_path, node_studies(tmp_path), [])
    monkeypatch.setattr(node_worklist, "MAX_WORKLIST_BYTES", 100)
    shown = read_node_worklist(tmp_path)
    assert shown.rows == [] and "more than the 100" in shown.message


def test_the_follower_rereads_only_when_the_file_changes(tmp_path: Path) -> None:
    follower = NodeWorklistFollower(tmp_path)
    assert "no worklist.json" in follower.current.message
    studies = node_studies(tmp_path)
    write_worklist(tmp_path, studies[:1], [])
    assert follower.refresh() and len(follower.current.rows) == 1
    assert not follower.refresh()  # unchanged file: nothing re-read
    write_worklist(tmp_path, studies, [])
    assert follower.refresh() and follower.current.rows[0]["study_uid"] == "1.2.3.5"


def test_a_headless_station_shows_the_node_worklist_and_follows_it(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("trame_slicer")
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame.app import get_server

    from radtriage.annotations import open_case_list, open_store
    from radtriage.review import ReviewSession, build_demo_cases
    from radtriage.web.app import ReviewStation

    node = tmp_path / "node"
    node.mkdir()
    session = ReviewSession(open_case_list(build_demo_cases(tmp_path / "cases")), open_store(tmp_path / "project"),
                            "node-reader")
    station = ReviewStation(get_server("test-node-worklist", client_type="vue3"), session, node_worklist=node)
    state = station.state
    assert state.node_enabled and state.node_rows == [] and "no worklist.json" in state.node_message
    studies = node_studies(node)
    write_worklist(node, studies[:2], [])
    assert station.refresh_node_worklist()
    assert [r["study_uid"] for r in state.node_rows] == ["1.2.3.5", "1.2.3.4"] and state.node_message == ""
    write_worklist(node, studies, [])
    assert station.refresh_node_worklist() and len(state.node_rows) == 4
    assert not station.refresh_node_worklist()


def test_serve_refuses_a_node_worklist_that_is_not_a_folder(tmp_path: Path, capsys) -> None:
    from radtriage.cli import main

    assert main(["serve", "--node-worklist", str(tmp_path / "no-such-node")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-node" in err and "not a folder" in err and len(err.splitlines()) == 1
