"""CMBDetect module: its pure Logic helpers cut out of ``CMBDetect/CMBDetect.py`` and run without Slicer.

The helpers filter detections by confidence, walk them with N / P, build the table rows and store the
reader's accept / reject / add-missed decisions in the append-only annotation store.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest
import slicer_static as ss

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")


@pytest.fixture(scope="module")
def logic() -> types.SimpleNamespace:
    """Every @staticmethod of CMBDetectLogic, executed without Slicer, reachable as ``CMBDetectLogic.name``."""
    return ss.logic_static_methods(ROOT, "CMBDetect")[0]


def _points(confidences: list[float]) -> list[dict]:
    return [
        {"label": f"CMB-{i + 1}", "center_ras": [float(i), 0.0, 0.0], "confidence": c,
         "description": f"lobar; apparent radius {1.5 + i:.1f} mm"}
        for i, c in enumerate(confidences)
    ]  # fmt: skip


def test_build_argv_names_magnitude_and_phase_and_passes_the_threshold(logic, tmp_path: Path) -> None:
    from radtriage.cli import _parse_inputs, _parse_options

    mag, pha = tmp_path / "image.nrrd", tmp_path / "phase.nrrd"
    plain = logic.buildArgv(mag)
    assert plain == [sys.executable, "-m", "radtriage", "infer", "--task", "cmb_detect", "--input", str(mag),
                     "--output", "{output_dir}"]  # fmt: skip
    argv = logic.buildArgv(mag, pha, 0.75)
    inputs = argv[argv.index("--input") + 1 : argv.index("--output")]
    assert _parse_inputs(inputs) == {"magnitude": mag, "phase": pha}
    assert _parse_options([argv[argv.index("--option") + 1]]) == {"threshold": 0.75}
    assert "--option" not in logic.buildArgv(mag, pha)


def test_threshold_hides_low_confidence_and_navigation_skips_hidden(logic) -> None:
    confidences = [0.99, 0.40, 0.80, NAN, 0.55]  # NaN: a point the reader added
    flags = logic.visibleFlags(confidences, 0.6)
    assert flags == [True, False, True, True, False]
    assert logic.visibleFlags(confidences, 0.0) == [True] * 5
    assert logic.visibleFlags(confidences, 1.0) == [False, False, False, True, False]

    assert logic.neighbourIndex(None, flags, 1) == 0
    assert logic.neighbourIndex(None, flags, -1) == 3
    assert logic.neighbourIndex(0, flags, 1) == 2
    assert logic.neighbourIndex(3, flags, 1) == 0  # wraps, skipping the hidden 4
    assert logic.neighbourIndex(2, flags, -1) == 0
    assert logic.neighbourIndex(0, [False, False], 1) is None
    assert logic.neighbourIndex(None, [], 1) is None


def test_table_rows_show_visible_detections_with_decisions(logic) -> None:
    points = _points([0.91, 0.30, 0.72])
    points.append(
        {"label": "added-1", "center_ras": [1, 2, 3], "confidence": NAN, "description": "added by the reader"}
    )
    flags = logic.visibleFlags([p["confidence"] for p in points], 0.5)
    decisions = {"CMB-3": {"decision": "reject", "ras_mm": [2.0, 0.0, 0.0]}, "added-1": {"decision": "add"}}
    rows = logic.detectionRows(points, flags, decisions)
    assert [r["index"] for r in rows] == [0, 2, 3]
    assert rows[0]["cells"] == ["CMB-1", "0.910", "lobar", "1.5", ""]
    assert rows[1]["cells"] == ["CMB-3", "0.720", "lobar", "3.5", "reject"] and rows[1]["decision"] == "reject"
    assert rows[2]["cells"][:2] == ["added-1", ""] and rows[2]["decision"] == "add"
    assert (
        logic.detectionSummary(points[0], None)
        == "CMB-1: confidence 0.910, lobar; apparent radius 1.5 mm - not reviewed"
    )
    assert logic.detectionSummary(points[2], decisions["CMB-3"]).endswith("your decision: reject")


def test_case_id_model_version_and_store_folder(logic, tmp_path: Path) -> None:
    assert logic.caseIdFor("SWI phantom #1") == "cmb_SWI_phantom_1"
    assert len(logic.caseIdFor("x" * 200)) == 64
    assert logic.modelVersion({"bundle": {"name": "cmb-detect-demo", "version": "0.1.0"}}) == "cmb-detect-demo 0.1.0"
    assert logic.modelVersion({}) == "cmb_detect"
    assert logic.storeFolderFor(str(tmp_path), "/scenes/a.mrml", "/tmp") == tmp_path
    assert logic.storeFolderFor("", str(tmp_path / "scene.mrml"), "/tmp") == tmp_path
    assert logic.storeFolderFor(".", "", str(tmp_path)) == tmp_path / "RadTriageAnnotations"


def test_review_decisions_are_appended_never_overwritten(logic, tmp_path: Path) -> None:
    from radtriage.annotations import LabelValueError, open_store

    folder = tmp_path / "store"
    store = logic.openStore(folder)
    try:
        logic.reviewDetection(store, "cmb_case", "R1", "CMB-1", "accept", [1.0, 2.0, 3.0], "demo 0.1")
        logic.reviewDetection(store, "cmb_case", "R1", "CMB-2", "reject", [4.0, 5.0, 6.0], "demo 0.1")
        logic.reviewDetection(store, "cmb_case", "R1", "CMB-1", "reject", [1.0, 2.0, 3.0], "demo 0.1")
        first = logic.addMissed(store, "cmb_case", "R1", [7.0, 8.0, 9.0], "demo 0.1")
        second = logic.addMissed(store, "cmb_case", "R1", [0.0, 0.0, 0.0], "demo 0.1")
        logic.reviewDetection(store, "cmb_case", "R2", "CMB-1", "accept", [1.0, 2.0, 3.0], "blinded")
        with pytest.raises(LabelValueError, match="decision 'maybe'"):
            logic.reviewDetection(store, "cmb_case", "R1", "CMB-3", "maybe", [0, 0, 0], "demo 0.1")
    finally:
        store.close()
    assert (first, second) == ("added-1", "added-2")
    assert logic.nextAddedLabel(["CMB-1", "added-2", "added-10", "added-x"]) == "added-11"

    with open_store(folder) as again:  # reopened: nothing lost, history kept
        decisions = logic.reviewDecisions(again, "cmb_case", "R1")
        assert decisions == {
            "CMB-2": {"decision": "reject", "ras_mm": [4.0, 5.0, 6.0]},
            "CMB-1": {"decision": "reject", "ras_mm": [1.0, 2.0, 3.0]},
            "added-1": {"decision": "add", "ras_mm": [7.0, 8.0, 9.0]},
            "added-2": {"decision": "add", "ras_mm": [0.0, 0.0, 0.0]},
        }
        assert logic.reviewDecisions(again, "cmb_case", "R2") == {"CMB-1": {"decision": "accept", "ras_mm": [1, 2, 3]}}
        history = again.history("cmb_case", "R1", "cmb_review", "candidate:CMB-1")
        assert [e.value["decision"] for e in history] == ["accept", "reject"]
        assert {e.model_version for e in history} == {"demo 0.1"}
        assert again.verify() == []


@pytest.mark.slow
def test_demo_detections_in_a_headless_scene_filter_and_review(logic, tmp_path: Path) -> None:
    """Core output on an SWI phantom -> markups and count table; the threshold hides points; reviews stored."""
    from radtriage.mrml import create_headless_scene
    from radtriage.phantoms import make_swi_case
    from radtriage.tasks import run_task
    from radtriage.tasks.cmb_detect.mrml import add_cmb_outputs, read_cmb_markups
    from radtriage.tasks.result import to_plain

    case = make_swi_case(seed=1, shape=(64, 64, 32))
    result = to_plain(run_task("cmb_detect", inputs={"magnitude": case.magnitude, "phase": case.phase},
                               threshold=0.5).to_dict())  # fmt: skip
    detections = result["outputs"]["detections"]
    assert len(detections) >= 2
    app = create_headless_scene()
    try:
        nodes = add_cmb_outputs(app.scene, result, "RadTriage", "CMB: phantom")
        markups, table = nodes["markups"], nodes["table"]
        points = read_cmb_markups(markups)
        assert [p["label"] for p in points] == [f"CMB-{i + 1}" for i in range(len(detections))]
        counts = {table.GetCellText(r, 0): int(table.GetCellText(r, 1)) for r in range(table.GetNumberOfRows())}
        assert counts["total"] == len(detections)

        confidences = [p["confidence"] for p in points]
        threshold = sorted(confidences)[len(confidences) // 2]
        flags = logic.visibleFlags(confidences, threshold)
        for index, visible in enumerate(flags):
            markups.SetNthControlPointVisibility(index, visible)
        shown = [markups.GetNthControlPointVisibility(i) for i in range(markups.GetNumberOfControlPoints())]
        assert shown == [c >= threshold for c in confidences]
        assert 0 < sum(shown) < len(points)
        rows = logic.detectionRows(points, flags, {})
        assert [r["cells"][0] for r in rows] == [p["label"] for p, f in zip(points, flags, strict=True) if f]

        index = logic.addPoint(markups, "added-1", [1.0, 2.0, 3.0])
        added = read_cmb_markups(markups)[index]
        assert added["label"] == "added-1" and math.isnan(added["confidence"])
        assert logic.visibleFlags([p["confidence"] for p in read_cmb_markups(markups)], 1.0)[index]
    finally:
        app.close()

    store = logic.openStore(tmp_path)
    try:
        version = logic.modelVersion(result)
        assert version.startswith(result["bundle"]["name"])
        top = points[0]
        logic.reviewDetection(store, "cmb_phantom", "R1", top["label"], "accept", top["center_ras"], version)
        assert logic.reviewDecisions(store, "cmb_phantom", "R1")[top["label"]]["ras_mm"] == pytest.approx(
            top["center_ras"]
        )
    finally:
        store.close()
