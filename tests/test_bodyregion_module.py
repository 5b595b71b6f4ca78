"""BodyRegion module's scene work (radtriage.tasks.body_region.mrml) on a real headless MRML scene: the ranges
go into the table the user chose, slice lookups read the volume's own geometry (no voxel copy), and the
Red-view text sits where DataProbe's corner annotations never write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "RadTriageCommon"))

from RadTriageCommonLib import module_base as mb

from radtriage.image import Image
from radtriage.mrml import create_headless_scene, image_to_volume_node, rows_from_table
from radtriage.tasks.body_region import mrml as br

OUTPUTS = {
    "slice_axis": "k",
    "labelset": {"name": "ct", "class_names": ["chest", "abdomen"], "colours": [[200, 0, 0], [0, 0, 200]]},
    "slices": [{"index": k, "region": "chest" if k < 3 else "abdomen", "confidence": 0.9} for k in range(6)],
    "ranges": [
        {"region": "chest", "display_name": "Chest", "first_index": 2, "last_index": 0, "n_slices": 3,
         "superior_z_mm": 5.0, "inferior_z_mm": -5.0, "length_mm": 10.0, "mean_confidence": 0.91},
        {"region": "abdomen", "display_name": "", "first_index": 5, "last_index": 3, "n_slices": 3,
         "superior_z_mm": -10.0, "inferior_z_mm": -20.0, "length_mm": 10.0, "mean_confidence": 0.8},
    ],
    "header_qa": {"status": "mismatch", "flag": True, "message": "header says HEAD"},
}  # fmt: skip


@pytest.fixture
def scene():
    with create_headless_scene() as headless:
        yield headless.scene


def _volume(scene, shape=(6, 20, 10), spacing=(1.0, 1.0, 2.0), direction=None):
    image = Image(np.zeros(shape, np.float32), spacing=spacing, origin=(3.0, -4.0, 7.0),
                  direction=np.eye(3) if direction is None else np.asarray(direction, float))  # fmt: skip
    return image, image_to_volume_node(scene, image, "CT")


def test_panel_texts_from_the_result() -> None:
    assert br.range_table_cells(OUTPUTS)[0] == ["Chest", "2-0", "5.0", "-5.0", "0.91"]
    assert br.range_table_cells(OUTPUTS)[1][0] == "abdomen"
    assert br.header_qa_text(OUTPUTS) == ("mismatch: header says HEAD", True)
    assert br.header_qa_text({}) == ("not checked", False)
    assert br.slice_row(OUTPUTS, 4)["region"] == "abdomen" and br.slice_row(OUTPUTS, 6) is None
    assert br.display_name(OUTPUTS, "chest") == "Chest" and br.display_name(OUTPUTS, "abdomen") == "abdomen"


def test_slice_lookup_and_range_centres_on_an_oblique_volume(scene) -> None:
    c, s = np.cos(0.4), np.sin(0.4)
    _image, volume = _volume(scene, direction=[[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    geometry = br.slice_geometry(volume)
    assert [g["slice"] for g in geometry] == list(range(6))
    np.testing.assert_allclose(np.diff([g["position_mm"] for g in geometry]), 2.0, atol=1e-6)
    for entry in geometry:
        text = br.region_text_at(OUTPUTS, volume, entry["center_ras"])
        region = "Chest" if entry["slice"] < 3 else "abdomen"
        assert text == f"slice {entry['slice']}: {region} (0.90)"
    assert br.region_text_at(OUTPUTS, volume, [1000.0, 0.0, 0.0]) == ""
    centre = br.range_centre_ras(OUTPUTS, 1, volume)
    from radtriage.mrml.geometry import ras_to_ijk_rows

    ijk = np.array(ras_to_ijk_rows(volume)) @ [*centre, 1.0]
    np.testing.assert_allclose(ijk[:3], [4.5, 9.5, 4.0], atol=1e-6)  # middle of slices 3-5, volume centre across
    assert br.range_centre_ras(OUTPUTS, 2, volume) is None


def test_ranges_go_into_the_chosen_table_else_into_a_new_one(scene) -> None:
    _image, volume = _volume(scene)
    chosen = scene.AddNewNodeByClass("vtkMRMLTableNode", "My ranges")
    nodes = br.add_body_region_outputs(scene, OUTPUTS, None, patient_name="P", study_name="S",
                                       reference_node=volume, ranges_table=chosen)  # fmt: skip
    assert nodes["ranges_table"] is chosen and chosen.GetName() == "My ranges"
    assert [r["region"] for r in rows_from_table(chosen)] == ["chest", "abdomen"]
    assert chosen.GetAttribute("RadTriage.HeaderQA.Status") == "mismatch"
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 2  # the chosen ranges table + the per-slice table
    again = br.add_body_region_outputs(scene, OUTPUTS, None, patient_name="P", study_name="S")
    assert again["ranges_table"] is not chosen and again["ranges_table"].GetNumberOfRows() == 2


def test_geometry_and_slice_count_copy_no_voxels(scene, monkeypatch) -> None:
    """Counting slices reads the image-data dimensions; the voxel array is never copied."""
    import radtriage.mrml.volumes as volumes

    _image, volume = _volume(scene, shape=(7, 5, 4))
    monkeypatch.setattr(volumes, "volume_node_to_image", lambda *a, **k: pytest.fail("the voxels were copied"))
    assert mb.ModuleLogicBase.sliceCount(volume) == 7
    assert len(br.slice_geometry(volume)) == 7


def test_red_view_text_survives_dataprobe_redrawing_its_corners() -> None:
    """SliceViewAnnotations.drawCornerAnnotations (v5.12.3 l.647-666) sets positions 0-3 on every slice change;
    updateCornerAnnotation clears them (l.401-402). The old text at UpperRight (3) was overwritten."""
    from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation

    corner = vtkCornerAnnotation()
    mb.setViewText(corner, "slice 3: abdomen (0.90)")
    for position, text in enumerate(["B: CT", "", "Patient", "Institution"]):
        corner.SetText(position, text)
    assert corner.GetText(mb.VIEW_TEXT_POSITION) == "slice 3: abdomen (0.90)"
    assert mb.VIEW_TEXT_POSITION not in range(4)
    mb.setViewText(corner, "")
    assert not corner.GetText(mb.VIEW_TEXT_POSITION)
