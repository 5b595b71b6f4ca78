"""MRITriage in a real (headless slicer-core) scene: results table, heatmap overlays under the study, .mrb reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radtriage.labelsets import BRAIN_FINDINGS
from radtriage.mrml import (
    create_headless_scene,
    load_mrb,
    patient_and_study_of,
    rows_from_table,
    save_mrb,
    slice_composite_nodes,
    volume_node_to_image,
)
from radtriage.phantoms import make_brain_case
from radtriage.preprocess import GridSpec
from radtriage.tasks.mri_triage import TriageModel, run, write_untrained_bundle
from radtriage.tasks.mri_triage.mrml import TABLE_NAME, add_mri_triage_outputs

PATIENT, STUDY = "Anon 1", "Brain MRI 1"


@pytest.fixture(scope="module")
def scene_and_result(tmp_path_factory: pytest.TempPathFactory):
    model = TriageModel.from_bundle(write_untrained_bundle(tmp_path_factory.mktemp("b") / "mri-untrained"), "cpu")
    case = make_brain_case(4, "infarct", shape=(36, 40, 28), spacing=(5.0, 5.0, 6.0), contrasts=["T1", "T2"])
    result = run(dict(case.images), model=model)
    headless = create_headless_scene()
    nodes = add_mri_triage_outputs(headless.scene, result, case.images["T1"], PATIENT, STUDY)
    path = save_mrb(headless.scene, tmp_path_factory.mktemp("mrb") / "triage.mrb")
    yield headless, nodes, result, case, path
    headless.close()


def test_table_has_one_row_per_output(scene_and_result) -> None:
    _, nodes, result, _, _ = scene_and_result
    rows = rows_from_table(nodes["table"])
    assert [r["output"] for r in rows] == list(BRAIN_FINDINGS)
    for row in rows:
        p = result.outputs["probabilities"][row["output"]]
        assert row["probability"] == pytest.approx(p, abs=1e-6)
        assert row["decision"] == ("positive" if p >= row["threshold"] else "negative")
    assert nodes["table"].GetAttribute("RadTriage.Demo") == "1"
    assert nodes["table"].GetAttribute("RadTriage.MissingContrasts") == "T1post,FLAIR,DWI,ADC,SWI,other"


def test_everything_is_under_the_study_and_heatmaps_overlay_the_reference(scene_and_result) -> None:
    headless, nodes, _, case, _ = scene_and_result
    assert set(nodes["heatmaps"]) == set(BRAIN_FINDINGS)
    for node in [nodes["table"], nodes["background"], *nodes["heatmaps"].values()]:
        assert patient_and_study_of(headless.scene, node) == (PATIENT, STUDY)
    for output, node in nodes["heatmaps"].items():
        assert node.GetAttribute("RadTriage.Role") == "heatmap" and node.GetAttribute("RadTriage.Output") == output
        image = volume_node_to_image(node)
        assert GridSpec.from_image(case.images["T1"]).same_as(image, tol=1e-4)
    shown = nodes["heatmaps"][nodes["shown"]].GetID()
    for composite in slice_composite_nodes(headless.scene):
        assert composite.GetBackgroundVolumeID() == nodes["background"].GetID()
        assert composite.GetForegroundVolumeID() == shown


def test_mrb_reload_keeps_table_heatmaps_and_hierarchy(scene_and_result) -> None:
    _, nodes, _, _, path = scene_and_result
    assert Path(path).is_file()
    with load_mrb(path) as reloaded:
        scene = reloaded.scene
        table = scene.GetFirstNodeByName(TABLE_NAME)
        assert table is not None
        for got, want in zip(rows_from_table(table), rows_from_table(nodes["table"]), strict=True):
            assert (got["output"], got["decision"]) == (want["output"], want["decision"])
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-6)
            assert got["threshold"] == pytest.approx(want["threshold"])
        assert patient_and_study_of(scene, table) == (PATIENT, STUDY)
        for output, original in nodes["heatmaps"].items():
            node = scene.GetFirstNodeByName(original.GetName())
            assert node is not None and patient_and_study_of(scene, node) == (PATIENT, STUDY)
            a, b = volume_node_to_image(node), volume_node_to_image(original)
            assert np.allclose(a.array, b.array, atol=1e-6), output
            assert GridSpec.from_image(b).same_as(a, tol=1e-4)
