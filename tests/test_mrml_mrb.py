"""Every node type the MRML layer makes survives a .mrb save and reload into a fresh headless scene."""

from __future__ import annotations

import math
import os
import zipfile

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core (the MRML libraries) is not installed")

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.mrml import (
    add_detections,
    add_heatmap_overlay,
    columns_of_table,
    create_headless_scene,
    image_to_volume_node,
    load_mrb,
    patient_and_study_of,
    place_under_study,
    read_detections,
    rows_from_table,
    save_mrb,
    slice_composite_nodes,
    table_node_from_rows,
    volume_node_to_image,
)

pytestmark = pytest.mark.mrml

PATIENT, STUDY = "Anon^Roundtrip", "MR Brain 2024"
POINTS = np.array([[10.25, -20.5, 3.125], [-7.0, 14.75, -30.5]])
TABLE_COLUMNS = [("finding", str), ("probability", float), ("count", int)]
TABLE_ROWS = [("microbleed", 0.875, 3), ("no finding", None, 0)]


def _oblique_image() -> Image:
    a, b = np.radians(25.0), np.radians(-10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    array = np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8) / 7.0
    return Image(array, spacing=(0.6, 0.85, 3.3), origin=(-11.125, 22.5, -5.75), direction=rz @ rx)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A scene with one node of every kind, saved to a .mrb; yields (path, what was put in)."""
    image = _oblique_image()
    heat = image.with_array(np.where(image.array > 40, 1.0, 0.0).astype(np.float32))
    with create_headless_scene() as headless:
        scene = headless.scene
        volume = image_to_volume_node(scene, image, "T1 oblique")
        mask = image_to_volume_node(scene, heat.with_array(heat.array.astype(np.uint8)), "mask", labelmap=True)
        add_heatmap_overlay(scene, volume, heat, "heat", color="Iron", threshold=0.5, opacity=0.65, window_level=(2, 1))
        detections = add_detections(
            scene, "CMB", POINTS, ["CMB 1", "CMB 2"], ["left lobar", "deep, right"], [0.93, 0.27]
        )
        table = table_node_from_rows(scene, "Findings", TABLE_COLUMNS, TABLE_ROWS)
        for node in (volume, mask, detections, table):
            place_under_study(scene, node, PATIENT, STUDY)
        path = save_mrb(scene, tmp_path_factory.mktemp("mrb") / "case.mrb")
    return path, image, heat


@pytest.fixture()
def reloaded(bundle):
    with load_mrb(bundle[0]) as headless:
        yield headless


def _node(scene, name):
    node = scene.GetFirstNodeByName(name)
    assert node is not None, f"{name} missing after reload"
    return node


def test_bundle_holds_data_files(bundle):
    names = zipfile.ZipFile(bundle[0]).namelist()
    assert any(n.endswith(".mrml") for n in names)
    assert sum(n.endswith(".nrrd") for n in names) == 3  # volume, labelmap, heatmap
    assert any(n.endswith(".mrk.json") for n in names) and any(n.endswith(".tsv") for n in names)


def test_volumes_survive_with_exact_geometry(bundle, reloaded):
    _, image, heat = bundle
    volume = volume_node_to_image(_node(reloaded.scene, "T1 oblique"))
    np.testing.assert_array_equal(volume.array, image.array)
    np.testing.assert_allclose(volume.ijk_to_ras, image.ijk_to_ras, atol=1e-6)
    np.testing.assert_allclose(volume.spacing, image.spacing, atol=1e-6)
    np.testing.assert_allclose(volume.direction, image.direction, atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.origin, atol=1e-6)
    mask_node = _node(reloaded.scene, "mask")
    assert mask_node.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_array_equal(volume_node_to_image(mask_node).array, heat.array.astype(np.uint8))


def test_heatmap_display_and_slice_layers_survive(bundle, reloaded):
    heat_node = _node(reloaded.scene, "heat")
    np.testing.assert_array_equal(volume_node_to_image(heat_node).array, bundle[2].array)
    display = heat_node.GetDisplayNode()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeIron"
    assert display.GetColorNode() is not None
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((2.0, 1.0))
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.5)
    assert heat_node.GetAttribute("RadTriage.Role") == "heatmap"
    background_id = _node(reloaded.scene, "T1 oblique").GetID()
    composites = slice_composite_nodes(reloaded.scene)
    assert len(composites) == 3
    for composite in composites:
        assert composite.GetForegroundVolumeID() == heat_node.GetID()
        assert composite.GetBackgroundVolumeID() == background_id
        assert composite.GetForegroundOpacity() == pytest.approx(0.65)


def test_detections_survive(reloaded):
    detections = read_detections(_node(reloaded.scene, "CMB"))
    assert [d.label for d in detections] == ["CMB 1", "CMB 2"]
    assert [d.description for d in detections] == ["left lobar", "deep, right"]
    assert [d.confidence for d in detections] == pytest.approx([0.93, 0.27])
    np.testing.assert_allclose([d.position_ras for d in detections], POINTS, atol=1e-6)


def test_detection_confidences_survive_in_measurement_alone(reloaded):
    node = _node(reloaded.scene, "CMB")
    node.RemoveAttribute("RadTriage.Confidences")
    assert [d.confidence for d in read_detections(node)] == pytest.approx([0.93, 0.27])


def test_table_survives_with_types(reloaded):
    table = _node(reloaded.scene, "Findings")
    assert columns_of_table(table) == TABLE_COLUMNS
    rows = rows_from_table(table)
    assert rows[0] == {"finding": "microbleed", "probability": 0.875, "count": 3}
    assert rows[1]["finding"] == "no finding" and math.isnan(rows[1]["probability"]) and rows[1]["count"] == 0


def test_subject_hierarchy_survives(reloaded):
    for name in ("T1 oblique", "mask", "CMB", "Findings"):
        assert patient_and_study_of(reloaded.scene, _node(reloaded.scene, name)) == (PATIENT, STUDY), name


def test_bad_bundles_raise_input_error_and_keep_working_directory(tmp_path):
    cwd = os.getcwd()
    with pytest.raises(InputError, match="not found"):
        load_mrb(tmp_path / "absent.mrb")
    junk = tmp_path / "junk.mrb"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match=r"junk\.mrb: not a Slicer scene bundle"):
        load_mrb(junk)
    no_scene = tmp_path / "no_scene.mrb"
    with zipfile.ZipFile(no_scene, "w") as archive:
        archive.writestr("case/readme.txt", "no scene here")
    with pytest.raises(InputError, match=r"no \.mrml"):
        load_mrb(no_scene)
    with create_headless_scene() as headless, pytest.raises(ValueError, match=r"\.mrb extension"):
        save_mrb(headless.scene, tmp_path / "case.zip")
    assert os.getcwd() == cwd


def test_scene_read_keeps_working_directory(bundle):
    """Reading goes through Slicer's vtkArchive, which changes the working directory while it unzips."""
    cwd = os.getcwd()
    with load_mrb(bundle[0]) as headless:
        assert headless.scene.GetFirstNodeByName("heat") is not None
    assert os.getcwd() == cwd
