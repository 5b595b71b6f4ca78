"""CMBDetect module's review and scene work (radtriage.tasks.cmb_detect.mrml), outside Slicer, on a real
headless MRML scene: the confidence filter, the N / P walk, the table rows, the reader's accept / reject / add
decisions in the append-only annotation store - under the case id of the volume the job RAN ON, even when the
selection changed while it ran - and the detections in the point list the user chose.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "RadTriageCommon"))

from RadTriageCommonLib import module_base as mb

from radtriage.image import Image
from radtriage.mrml import create_headless_scene, image_to_volume_node
from radtriage.tasks.cmb_detect import mrml as cmb

NAN = float("nan")


def _points(confidences: list[float]) -> list[dict]:
    return [
        {"label": f"CMB-{i + 1}", "center_ras": [float(i), 0.0, 0.0], "confidence": c,
         "description": f"lobar; apparent radius {1.5 + i:.1f} mm"}
        for i, c in enumerate(confidences)
    ]  # fmt: skip


def test_threshold_hides_low_confidence_and_navigation_skips_hidden() -> None:
    confidences = [0.99, 0.40, 0.80, NAN, 0.55]  # NaN: a point the reader added
    flags = cmb.visible_flags(confidences, 0.6)
    assert flags == [True, False, True, True, False]
    assert cmb.visible_flags(confidences, 0.0) == [True] * 5
    assert cmb.visible_flags(confidences, 1.0) == [False, False, False, True, False]

    assert cmb.neighbour_index(None, flags, 1) == 0
    assert cmb.neighbour_index(None, flags, -1) == 3
    assert cmb.neighbour_index(0, flags, 1) == 2
    assert cmb.neighbour_index(3, flags, 1) == 0  # wraps, skipping the hidden 4
    assert cmb.neighbour_index(2, flags, -1) == 0
    assert cmb.neighbour_index(0, [False, False], 1) is None
    assert cmb.neighbour_index(None, [], 1) is None


def test_table_rows_show_visible_detections_with_decisions() -> None:
    points = _points([0.91, 0.30, 0.72])
    points.append(
        {"label": "added-1", "center_ras": [1, 2, 3], "confidence": NAN, "description": "added by the reader"}
    )
    flags = cmb.visible_flags([p["confidence"] for p in points], 0.5)
    decisions = {"CMB-3": {"decision": "reject", "ras_mm": [2.0, 0.0, 0.0]}, "added-1": {"decision": "add"}}
    rows = cmb.detection_rows(points, flags, decisions)
    assert [r["index"] for r in rows] == [0, 2, 3]
    assert rows[0]["cells"] == ["CMB-1", "0.910", "lobar", "1.5", ""]
    assert rows[1]["cells"] == ["CMB-3", "0.720", "lobar", "3.5", "reject"] and rows[1]["decision"] == "reject"
    assert rows[2]["cells"][:2] == ["added-1", ""] and rows[2]["decision"] == "add"
    assert (
        cmb.detection_summary(points[0], None)
        == "CMB-1: confidence 0.910, lobar; apparent radius 1.5 mm - not reviewed"
    )
    assert cmb.detection_summary(points[2], decisions["CMB-3"]).endswith("your decision: reject")


def test_case_id_model_version_and_store_folder(tmp_path: Path) -> None:
    assert cmb.case_id_for("SWI phantom #1") == "cmb_SWI_phantom_1"
    assert len(cmb.case_id_for("x" * 200)) == 64
    assert cmb.model_version({"bundle": {"name": "cmb-detect-demo", "version": "0.1.0"}}) == "cmb-detect-demo 0.1.0"
    assert cmb.model_version({}) == "cmb_detect"
    assert cmb.store_folder_for(str(tmp_path), "/scenes/a.mrml", "/tmp") == tmp_path
    assert cmb.store_folder_for("", str(tmp_path / "scene.mrml"), "/tmp") == tmp_path
    assert cmb.store_folder_for(".", "", str(tmp_path)) == tmp_path / "RadTriageAnnotations"


def test_review_decisions_are_appended_never_overwritten(tmp_path: Path) -> None:
    from radtriage.annotations import LabelValueError, open_store

    folder = tmp_path / "store"
    store = cmb.open_review_store(folder)
    try:
        cmb.review_detection(store, "cmb_case", "R1", "CMB-1", "accept", [1.0, 2.0, 3.0], "demo 0.1")
        cmb.review_detection(store, "cmb_case", "R1", "CMB-2", "reject", [4.0, 5.0, 6.0], "demo 0.1")
        cmb.review_detection(store, "cmb_case", "R1", "CMB-1", "reject", [1.0, 2.0, 3.0], "demo 0.1")
        first = cmb.add_missed(store, "cmb_case", "R1", [7.0, 8.0, 9.0], "demo 0.1")
        second = cmb.add_missed(store, "cmb_case", "R1", [0.0, 0.0, 0.0], "demo 0.1")
        cmb.review_detection(store, "cmb_case", "R2", "CMB-1", "accept", [1.0, 2.0, 3.0], "blinded")
        with pytest.raises(LabelValueError, match="decision 'maybe'"):
            cmb.review_detection(store, "cmb_case", "R1", "CMB-3", "maybe", [0, 0, 0], "demo 0.1")
    finally:
        store.close()
    assert (first, second) == ("added-1", "added-2")
    assert cmb.next_added_label(["CMB-1", "added-2", "added-10", "added-x"]) == "added-11"

    with open_store(folder) as again:  # reopened: nothing lost, history kept
        decisions = cmb.review_decisions(again, "cmb_case", "R1")
        assert decisions == {
            "CMB-2": {"decision": "reject", "ras_mm": [4.0, 5.0, 6.0]},
            "CMB-1": {"decision": "reject", "ras_mm": [1.0, 2.0, 3.0]},
            "added-1": {"decision": "add", "ras_mm": [7.0, 8.0, 9.0]},
            "added-2": {"decision": "add", "ras_mm": [0.0, 0.0, 0.0]},
        }
        assert cmb.review_decisions(again, "cmb_case", "R2") == {"CMB-1": {"decision": "accept", "ras_mm": [1, 2, 3]}}
        history = again.history("cmb_case", "R1", "cmb_review", "candidate:CMB-1")
        assert [e.value["decision"] for e in history] == ["accept", "reject"]
        assert {e.model_version for e in history} == {"demo 0.1"}
        assert again.verify() == []


@pytest.mark.slow
def test_demo_detections_in_a_headless_scene_filter_and_review(tmp_path: Path) -> None:
    """Core output on an SWI phantom -> markups and count table; the threshold hides points; reviews stored."""
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
        flags = cmb.visible_flags(confidences, threshold)
        for index, visible in enumerate(flags):
            markups.SetNthControlPointVisibility(index, visible)
        shown = [markups.GetNthControlPointVisibility(i) for i in range(markups.GetNumberOfControlPoints())]
        assert shown == [c >= threshold for c in confidences]
        assert 0 < sum(shown) < len(points)
        rows = cmb.detection_rows(points, flags, {})
        assert [r["cells"][0] for r in rows] == [p["label"] for p, f in zip(points, flags, strict=True) if f]

        index = cmb.add_point(markups, "added-1", [1.0, 2.0, 3.0])
        added = read_cmb_markups(markups)[index]
        assert added["label"] == "added-1" and math.isnan(added["confidence"])
        assert cmb.visible_flags([p["confidence"] for p in read_cmb_markups(markups)], 1.0)[index]
    finally:
        app.close()

    store = cmb.open_review_store(tmp_path)
    try:
        version = cmb.model_version(result)
        assert version.startswith(result["bundle"]["name"])
        top = points[0]
        cmb.review_detection(store, "cmb_phantom", "R1", top["label"], "accept", top["center_ras"], version)
        assert cmb.review_decisions(store, "cmb_phantom", "R1")[top["label"]]["ras_mm"] == pytest.approx(
            top["center_ras"]
        )
    finally:
        store.close()


# -- the volume the job ran on ------------------------------------------------------------------------------------

RESULT = {
    "task": "cmb_detect",
    "bundle": {"name": "cmb-detect-demo", "version": "0.2.1", "demo": True},
    "outputs": {
        "threshold": 0.5,
        "n_detections": 2,
        "detections": [
            {"label": "CMB-1", "center_ras": [1.0, 2.0, 3.0], "confidence": 0.9, "location": "lobar", "radius_mm": 1.5},
            {"label": "CMB-2", "center_ras": [4.0, 5.0, 6.0], "confidence": 0.6, "location": "deep", "radius_mm": 2.0},
        ],
        "location_counts": [{"location": "lobar", "count": 1}, {"location": "deep", "count": 1}, {"location": "total",
                                                                                               "count": 2}],
    },
}  # fmt: skip


def _volume(scene, name: str):
    image = Image(np.zeros((4, 8, 8), np.float32), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))
    return image_to_volume_node(scene, image, name)


def test_review_goes_under_the_case_of_the_volume_the_job_ran_on(tmp_path: Path) -> None:
    """The job runs on "SWI first"; the reader selects "SWI second" before it ends; the detections and every
    decision belong to "SWI first" (the old module took the selection at finish)."""
    from test_module_base import FakeJob, TaskWidget

    class ReviewWidget(TaskWidget):
        def onJobFinished(self, outputs, inputs) -> None:  # what CMBDetectWidget.onJobFinished/showResult do
            volume = inputs["inputVolume"]
            self.nodes = cmb.add_cmb_outputs(self.scene, outputs, "RadTriage", f"CMB: {volume.GetName()}")
            self.caseId = cmb.case_id_for(volume.GetName())

    with create_headless_scene() as app:
        first, second = _volume(app.scene, "SWI first"), _volume(app.scene, "SWI second")
        widget = ReviewWidget(app.scene, FakeJob(RESULT))
        widget._parameterNode = SimpleNamespace(inputVolume=first, phaseVolume=None)
        widget.onApplyButton()
        widget._parameterNode.inputVolume = second
        widget.job.done = True
        widget._jobs.poll()
        assert widget.errors == [] and widget.caseId == "cmb_SWI_first"
        points = cmb.read_cmb_markups(widget.nodes["markups"])
        store = cmb.open_review_store(tmp_path)
        try:
            cmb.review_detection(store, widget.caseId, "R1", points[0]["label"], "accept", points[0]["center_ras"],
                                 cmb.model_version(RESULT))  # fmt: skip
            assert set(cmb.review_decisions(store, "cmb_SWI_first", "R1")) == {"CMB-1"}
            assert cmb.review_decisions(store, cmb.case_id_for(second.GetName()), "R1") == {}
        finally:
            store.close()


def test_detections_go_into_the_chosen_point_list_and_table() -> None:
    with create_headless_scene() as app:
        points = app.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "My detections")
        table = app.scene.AddNewNodeByClass("vtkMRMLTableNode", "My counts")
        nodes = cmb.add_cmb_outputs(app.scene, RESULT, "P", "S", markups_node=points, table_node=table)
        assert nodes == {"markups": points, "table": table}
        read = cmb.read_cmb_markups(points)
        assert [p["label"] for p in read] == ["CMB-1", "CMB-2"]
        np.testing.assert_allclose([p["confidence"] for p in read], [0.9, 0.6])  # confidences survive the copy
        assert points.GetName() == "My detections" and table.GetNumberOfRows() == 3
        assert app.scene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode") == 1
        other = cmb.add_cmb_outputs(app.scene, RESULT, "P", "S")
        assert other["markups"] is not points and other["markups"].GetNumberOfControlPoints() == 2


def test_store_folder_never_reads_a_dot_as_a_choice(tmp_path: Path) -> None:
    assert cmb.store_folder_for(mb.pathFieldText("."), "", str(tmp_path)) == tmp_path / "RadTriageAnnotations"
    assert mb.pathFieldText(Path()) == ""
