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
        p = result.outputs["probabilities"].get(row["output"])
        if p is None:  # T1 + T2: no DWI/ADC, no SWI
            assert row["output"] in ("acute_infarct", "acute_haemorrhage") and row["probability"] == "not assessable"
            assert row["decision"].startswith("not assessable (needs ")
            continue
        assert row["probability"] == f"{p:.3f}"
        assert row["decision"] == ("positive" if p >= row["threshold"] else "negative")
    assert nodes["table"].GetAttribute("RadTriage.Demo") == "1"
    assert nodes["table"].GetAttribute("RadTriage.MissingContrasts") == "T1post,FLAIR,DWI,ADC,SWI,other"


def test_everything_is_under_the_study_and_heatmaps_overlay_the_reference(scene_and_result) -> None:
    headless, nodes, _, case, _ = scene_and_result
    assert set(nodes["heatmaps"]) == {"abnormal", "mass_effect"}  # none for outputs that are not assessable
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


# ------------------------------------------------------------------------ the module's work on a real scene
@pytest.fixture
def headless():
    scene = create_headless_scene()
    yield scene
    scene.close()


@pytest.fixture(scope="module")
def small_case():
    return make_brain_case(5, "haemorrhage", shape=(20, 22, 5), spacing=(9.0, 9.0, 9.0))


def _study_folder(case, folder: Path) -> Path:
    """A study as a scanner export leaves it: two DICOM series and two NIfTI files with BIDS names."""
    from test_mrml_contrast import _write_series

    from radtriage.io import write_volume

    _write_series(case.images["FLAIR"], folder / "dicom" / "s1", "FLAIR")
    _write_series(case.images["SWI"], folder / "dicom" / "s2", "SWI")
    write_volume(case.images["T1"], folder / "sub-01_T1w.nii.gz")
    write_volume(case.images["DWI"], folder / "sub-01_dwi.nii.gz")
    return folder


def test_load_study_shows_the_first_volume_and_keeps_contrast_evidence(headless, small_case, tmp_path) -> None:
    from radtriage.io.contrast import classify_image
    from radtriage.tasks.mri_triage.inputs import load_study
    from radtriage.tasks.mri_triage.mrml import contrast_table, load_study_nodes, triage_candidates

    folder = _study_folder(small_case, tmp_path / "study")
    nodes = load_study_nodes(headless.scene, folder, headless.app_logic)
    images = load_study(folder)
    assert [node.GetName() for node in nodes] == list(images)
    for composite in slice_composite_nodes(headless.scene):  # shown as slicer.util.loadVolume shows a volume
        assert composite.GetBackgroundVolumeID() == nodes[0].GetID()
    table = contrast_table(triage_candidates(headless.scene))  # no DICOM database: the evidence kept on the node
    for node, image in zip(nodes, images.values(), strict=True):
        want = classify_image(image)
        got = table[node.GetID()]
        assert (got["contrast"], got["confidence"]) == (want.contrast.value, want.confidence), node.GetName()
    assert sorted(row["contrast"] for row in table.values()) == ["DWI", "FLAIR", "SWI", "T1"]
    assert all(row["choices"][-1] == "other" and len(row["choices"]) == 8 for row in table.values())


def test_job_inputs_follow_the_users_contrasts_and_refuse_duplicates(headless, small_case) -> None:
    from radtriage.mrml import image_to_volume_node
    from radtriage.tasks.mri_triage.mrml import IGNORE_CONTRAST, images_by_contrast

    scene = headless.scene
    a = image_to_volume_node(scene, small_case.images["FLAIR"], "ax FLAIR")
    b = image_to_volume_node(scene, small_case.images["T1"], "sag T1")
    c = image_to_volume_node(scene, small_case.images["T2"], "ax T2")
    images = images_by_contrast(scene, {a.GetID(): "T2", b.GetID(): "T1", c.GetID(): IGNORE_CONTRAST})
    assert sorted(images) == ["T1", "T2"]  # the user's relabelling of the FLAIR volume is the job's key
    np.testing.assert_array_equal(images["T2"].array, small_case.images["FLAIR"].array)
    with pytest.raises(ValueError, match="sag T1 and ax FLAIR are both assigned T1"):
        images_by_contrast(scene, {a.GetID(): "T1", b.GetID(): "T1"})
    scene.RemoveNode(c)
    with pytest.raises(ValueError, match="no longer in the scene"):
        images_by_contrast(scene, {c.GetID(): "T2"})


def test_results_fill_the_users_output_table(headless, scene_and_result) -> None:
    from radtriage.mrml import image_to_volume_node
    from radtriage.tasks.mri_triage.mrml import add_results

    _, _, result, case, _ = scene_and_result
    scene = headless.scene
    t1 = image_to_volume_node(scene, case.images["T1"], "T1")
    mine = scene.AddNewNodeByClass("vtkMRMLTableNode", "my triage table")  # created with the selector's Add
    data = result.to_dict()
    nodes = add_results(scene, data, result.volumes, {t1.GetID(): "T1"}, table=mine)
    assert nodes["table"] is mine and mine.GetName() == "my triage table"
    assert [r["output"] for r in rows_from_table(mine)] == list(BRAIN_FINDINGS)
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 1
    assert mine.GetAttribute("RadTriage.Task") == "mri_triage"
