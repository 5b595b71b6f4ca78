"""MRML layer on real slicer-core: volumes (exact geometry, checked against Slicer's own reader), heatmap display,
markups detections, typed tables, subject hierarchy, and the rule that the layer imports no Slicer GUI module."""

from __future__ import annotations

import ast
import math
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core (the MRML libraries) is not installed")

from radtriage.image import Image
from radtriage.mrml import (
    add_detections,
    add_heatmap_overlay,
    columns_of_table,
    create_headless_scene,
    find_color_node,
    image_to_volume_node,
    patient_and_study_of,
    place_under_study,
    read_detections,
    rows_from_table,
    slice_composite_nodes,
    subject_hierarchy,
    table_node_from_rows,
    volume_node_to_image,
)
from radtriage.mrml.volumes import vtk_matrix_to_numpy

pytestmark = pytest.mark.mrml
MRML_PACKAGE = Path(__file__).resolve().parents[1] / "radtriage" / "mrml"


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    a, b, c = np.radians(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def oblique_image(dtype=np.int16) -> Image:
    """A small oblique, anisotropic image whose voxels all differ (so any axis mix-up shows)."""
    array = (np.arange(5 * 6 * 7).reshape(5, 6, 7) - 40).astype(dtype)
    return Image(array, spacing=(0.7, 1.3, 2.5), origin=(12.5, -40.25, 7.0), direction=_rotation((20, -15, 35)))


@pytest.fixture()
def headless():
    started = time.perf_counter()
    slicer_scene = create_headless_scene()
    slicer_scene.creation_seconds = time.perf_counter() - started
    yield slicer_scene
    slicer_scene.close()


def test_headless_scene_has_logics_colours_and_slice_views(headless):
    app_logic = headless.app_logic
    for name in ("Colors", "Volumes", "Markups", "SubjectHierarchy", "Tables", "Data"):
        assert app_logic.GetModuleLogic(name) is not None, name
    assert find_color_node(headless.scene, "Grey").GetID() == "vtkMRMLColorTableNodeGrey"
    orientations = {name: logic.GetSliceNode().GetOrientation() for name, logic in headless.slice_logics.items()}
    assert orientations == {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}
    assert app_logic.GetSliceLogicByLayoutName("Red") is headless.slice_logic("Red")
    assert len(slice_composite_nodes(headless.scene)) == 3
    assert headless.creation_seconds < 5.0


def test_volume_round_trip_is_exact_for_oblique_anisotropic_geometry(headless):
    image = oblique_image()
    node = image_to_volume_node(headless.scene, image, "T1")
    assert node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode")
    matrix = vtk_matrix_to_numpy(_ijk_to_ras(node))
    np.testing.assert_allclose(matrix, image.ijk_to_ras, atol=1e-9)
    assert node.GetDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"

    back = volume_node_to_image(node)
    np.testing.assert_array_equal(back.array, image.array)
    assert back.array.dtype == image.array.dtype
    np.testing.assert_allclose(back.spacing, image.spacing, atol=1e-12)
    np.testing.assert_allclose(back.origin, image.origin, atol=1e-12)
    np.testing.assert_allclose(back.direction, image.direction, atol=1e-12)

    view = volume_node_to_image(node, copy=False)  # no copy: the node's own voxels, read-only
    np.testing.assert_array_equal(view.array, image.array)
    assert not view.array.flags.writeable and back.array.flags.writeable
    back.array.flat[0] += 1
    assert view.array.flat[0] == image.array.flat[0]  # the copy is independent of the node
    node.GetImageData().GetPointData().GetScalars().SetTuple1(0, 1234)
    assert view.array.flat[0] == 1234  # the view follows the node


def _ijk_to_ras(node):
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix


def _assert_same_as_slicer_reader(headless, image: Image, path: Path) -> None:
    """Slicer's own file reader (Volumes logic) gives the same IJKToRAS and voxels as our conversion."""
    from vtkmodules.vtkCommonCore import vtkStringArray

    ours = image_to_volume_node(headless.scene, image, "ours")
    theirs = headless.logics["Volumes"].AddArchetypeVolume(str(path), "theirs", 0, vtkStringArray())
    assert theirs is not None
    np.testing.assert_allclose(
        vtk_matrix_to_numpy(_ijk_to_ras(ours)), vtk_matrix_to_numpy(_ijk_to_ras(theirs)), atol=1e-4
    )
    np.testing.assert_array_equal(volume_node_to_image(theirs).array, image.array)


def test_geometry_matches_slicer_file_reader_on_generated_nrrd(headless, tmp_path):
    image = oblique_image()
    path = tmp_path / "oblique.nrrd"
    sitk.WriteImage(image.to_sitk(), str(path))
    _assert_same_as_slicer_reader(headless, image, path)


@pytest.mark.slow
def test_geometry_matches_slicer_file_reader_on_real_scan(headless, shared_data):
    path = shared_data / "pyradiomics" / "breast1_image.nrrd"
    image = Image.from_sitk(sitk.ReadImage(str(path)))
    _assert_same_as_slicer_reader(headless, image, path)


def test_labelmap_and_vector_volumes(headless):
    image = oblique_image(np.uint8)
    label = image_to_volume_node(headless.scene, image, "mask", labelmap=True)
    assert label.IsA("vtkMRMLLabelMapVolumeNode")
    assert label.GetDisplayNode().GetColorNode() is not None
    np.testing.assert_array_equal(volume_node_to_image(label).array, image.array)

    echoes = image.with_array(np.stack([image.array, image.array * 2], axis=-1).astype(np.float32))
    vector = image_to_volume_node(headless.scene, echoes, "echoes")
    assert vector.IsA("vtkMRMLVectorVolumeNode")
    np.testing.assert_array_equal(volume_node_to_image(vector).array, echoes.array)

    bools = image_to_volume_node(headless.scene, image.with_array(image.array > 10), "bools", labelmap=True)
    assert volume_node_to_image(bools).array.dtype == np.uint8

    with pytest.raises(ValueError, match="integer"):
        image_to_volume_node(headless.scene, image.with_array(image.array * 0.5), "bad", labelmap=True)


def test_heatmap_overlay_display_and_composite_nodes(headless):
    background = image_to_volume_node(headless.scene, oblique_image(), "T1")
    heat = oblique_image(np.float32)
    heat = heat.with_array(np.linspace(0, 1, heat.array.size, dtype=np.float32).reshape(heat.array.shape))
    node = add_heatmap_overlay(
        headless.scene, background, heat, "heat", color="Iron", threshold=0.3, opacity=0.6, window_level=(0.8, 0.5)
    )
    display = node.GetDisplayNode()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeIron"
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((0.8, 0.5))
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.3)
    assert not display.GetAutoWindowLevel()
    for composite in slice_composite_nodes(headless.scene):
        assert composite.GetBackgroundVolumeID() == background.GetID()
        assert composite.GetForegroundVolumeID() == node.GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.6)

    with pytest.raises(KeyError, match="NoSuchColours"):
        add_heatmap_overlay(headless.scene, background, heat, "bad", color="NoSuchColours")
    with pytest.raises(ValueError, match="opacity"):
        add_heatmap_overlay(headless.scene, background, heat, "bad", opacity=1.5)


def test_detections_round_trip_in_memory(headless):
    points = np.array([[10.5, -20.25, 30.0], [0.0, 1.0, -2.0], [5.0, 5.0, 5.0]])
    node = add_detections(
        headless.scene,
        "CMB",
        points,
        labels=["CMB 1", "CMB 2", "CMB 3"],
        descriptions=["left lobar", "right deep", ""],
        confidences=[0.91, 0.42, math.nan],
    )
    assert node.IsA("vtkMRMLMarkupsFiducialNode")
    detections = read_detections(node)
    assert [d.label for d in detections] == ["CMB 1", "CMB 2", "CMB 3"]
    assert [d.description for d in detections] == ["left lobar", "right deep", ""]
    np.testing.assert_allclose([d.position_ras for d in detections], points, atol=1e-9)
    assert detections[0].confidence == pytest.approx(0.91) and detections[1].confidence == pytest.approx(0.42)
    assert math.isnan(detections[2].confidence)

    # Deleting a point in Slicer keeps the others' confidences (stored by control-point ID).
    node.RemoveNthControlPoint(0)
    first = read_detections(node)[0]
    assert (first.label, first.confidence) == ("CMB 2", pytest.approx(0.42))

    # Without the attribute, the per-point measurement is used.
    other = add_detections(headless.scene, "x", points[:2], confidences=[0.1, 0.2])
    other.RemoveAttribute("RadTriage.Confidences")
    assert [d.confidence for d in read_detections(other)] == pytest.approx([0.1, 0.2])
    assert [d.label for d in read_detections(other)] == ["x-1", "x-2"]

    with pytest.raises(ValueError, match="labels"):
        add_detections(headless.scene, "bad", points, labels=["only one"])


def test_typed_table_round_trip_in_memory(headless):
    columns = [("finding", str), ("probability", float), ("slice", int)]
    rows = [
        {"finding": "microbleed", "probability": 0.87, "slice": 12},
        ("lacune, left", None, 2**40),
        {"finding": None, "probability": 0.5, "slice": -3},
    ]
    node = table_node_from_rows(headless.scene, "Findings", columns, rows)
    assert columns_of_table(node) == columns
    out = rows_from_table(node)
    assert out[0] == {"finding": "microbleed", "probability": 0.87, "slice": 12}
    assert out[1]["finding"] == "lacune, left" and math.isnan(out[1]["probability"]) and out[1]["slice"] == 2**40
    assert out[2] == {"finding": "", "probability": 0.5, "slice": -3}
    assert all(type(r["slice"]) is int and type(r["probability"]) is float for r in out)

    with pytest.raises(ValueError, match="tabs"):
        table_node_from_rows(headless.scene, "bad", columns, [("a\tb", 1.0, 1)])
    with pytest.raises(ValueError, match="type must be"):
        table_node_from_rows(headless.scene, "bad", [("x", list)], [])
    with pytest.raises(ValueError, match="missing"):
        table_node_from_rows(headless.scene, "bad", columns, [("a", 1.0, None)])


def test_place_under_study_creates_then_reuses_items(headless):
    first = image_to_volume_node(headless.scene, oblique_image(), "T1")
    second = table_node_from_rows(headless.scene, "Findings", {"a": int}, [{"a": 1}])
    study = place_under_study(headless.scene, first, "Anon^Patient", "MR Brain")
    assert place_under_study(headless.scene, second, "Anon^Patient", "MR Brain") == study
    other_study = place_under_study(
        headless.scene, add_detections(headless.scene, "d", [[0, 0, 0]]), "Anon^Patient", "CT"
    )
    assert other_study != study
    assert patient_and_study_of(headless.scene, first) == ("Anon^Patient", "MR Brain")
    assert patient_and_study_of(headless.scene, second) == ("Anon^Patient", "MR Brain")
    sh_node = subject_hierarchy(headless.scene)
    assert sh_node.GetItemParent(other_study) == sh_node.GetItemParent(study)  # one patient item, two studies


FORBIDDEN_MODULES = ("slicer.util", "slicer.app", "qt", "ctk", "trame", "trame_slicer", "slicer.ScriptedLoadableModule")


def test_mrml_layer_imports_no_slicer_gui_module():
    for path in sorted(MRML_PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "slicer":
                names = [f"slicer.{node.attr}"]
            for name in names:
                bad = [m for m in FORBIDDEN_MODULES if name == m or name.startswith(m + ".")]
                assert not bad, f"{path.name} uses {name}"
