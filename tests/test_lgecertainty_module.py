"""LGECertainty module's scene work (radtriage.tasks.lge_certainty.mrml) on a real headless MRML scene: the slice
the Red view shows comes from the stack axis closest to the view normal (RotateToVolumePlane does not always give
k-planes), the table goes into the node the user chose, and the panel rows, blinding and rating sheets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from radtriage.image import Image
from radtriage.mrml import create_headless_scene, image_to_volume_node
from radtriage.mrml.geometry import ijk_to_ras, ras_to_ijk_rows, slice_index_at, slice_to_ras_rows
from radtriage.tasks.lge_certainty import mrml as lge


@pytest.fixture
def app():
    with create_headless_scene() as headless:
        yield headless


def _stack(scene, direction, n_slices: int = 9):
    image = Image(np.zeros((n_slices, 20, 24), np.float32), spacing=(1.5, 1.5, 8.0), origin=(10.0, -5.0, 3.0),
                  direction=np.asarray(direction, float))  # fmt: skip
    return image_to_volume_node(scene, image, "LGE stack")


# LPS columns: i mostly superior, j posterior, k mostly left - a stack whose slices are not axial-like
TILTED = [[math.sin(0.5), 0.0, math.cos(0.5)], [0.0, 1.0, 0.0], [math.cos(0.5), 0.0, -math.sin(0.5)]]


def _result(likelihoods: list[float], band: tuple[float, float] = (30.0, 70.0)) -> dict:
    from radtriage.tasks.lge_certainty.certainty import CertaintyBand, band_slice

    slices = [
        {"index": k, **band_slice(value, CertaintyBand(*band)).to_dict(), "centre_ras": [0.0, 0.0, 2.0 * k]}
        for k, value in enumerate(likelihoods)
    ]
    return {"outputs": {"certainty_band": list(band), "slices": slices}, "notices": []}


def test_red_view_after_rotate_to_volume_plane_is_not_taken_for_a_k_slice(app) -> None:
    """RotateToVolumePlane turns the axial Red view to the stack's i-planes here; the old lookup read the k index
    of the view centre and reported the same "slice" for every i-plane the reader browsed through."""
    stack = _stack(app.scene, TILTED)
    red = app.slice_logic("Red").GetSliceNode()
    red.RotateToVolumePlane(stack)
    old_lookup = []
    for i in range(0, 24, 6):
        red.JumpSliceByOffsetting(*ijk_to_ras(stack, [i, 10, 4]))
        assert lge.slice_in_view(stack, red) is None  # the view cuts across the scored slices
        centre = [row[3] for row in slice_to_ras_rows(red)[:3]]
        old_lookup.append(slice_index_at(ras_to_ijk_rows(stack), centre, 2))
    assert len(set(old_lookup)) == 1  # what the old code showed: one k index for four different planes


def test_stack_slices_in_the_red_view_after_turning_it_to_k(app) -> None:
    stack = _stack(app.scene, TILTED)
    red = app.slice_logic("Red").GetSliceNode()
    lge.show_stack_slices(red, stack)
    for k in range(9):
        red.JumpSliceByOffsetting(*ijk_to_ras(stack, [5.0, 7.0, k]))
        assert lge.slice_in_view(stack, red) == k
    red.JumpSliceByOffsetting(*ijk_to_ras(stack, [5.0, 7.0, 40.0]))
    assert lge.slice_in_view(stack, red) == 40  # outside: the caller finds no row for it


def test_slice_images_keep_their_positions(app) -> None:
    stack = _stack(app.scene, np.eye(3), n_slices=4)
    slices = lge.slice_images(stack)
    assert len(slices) == 4 and all(s.size[2] == 1 for s in slices)
    np.testing.assert_allclose([s.origin[2] for s in slices], [3.0, 11.0, 19.0, 27.0])


def test_table_goes_into_the_chosen_node(app) -> None:
    result = {**_result([10.0, 50.0, 90.0]), "bundle": {"name": "lge-demo", "version": "0.1", "demo": True}}
    chosen = app.scene.AddNewNodeByClass("vtkMRMLTableNode", "My LGE table")
    nodes = lge.add_lge_outputs(app.scene, result, "P", "S", table_node=chosen)
    assert nodes["table"] is chosen and chosen.GetNumberOfRows() == 3 and chosen.GetName() == "My LGE table"
    assert chosen.GetAttribute("RadTriage.CertaintyBand") == "30,70"
    assert app.scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1
    assert lge.add_lge_outputs(app.scene, result, "P", "S")["table"] is not chosen


def test_panel_rows_blinding_and_rating_sheets(tmp_path: Path) -> None:
    from radtriage.tasks.lge_certainty.ratings import RatingSheet

    result = _result([10.0, 30.0, 55.5, 70.0, 90.0])  # 30 and 70 sit on the inclusive band edges
    rows = lge.display_rows(result, {}, False)
    assert [r["highlight"] for r in rows] == [False, True, True, True, False]
    assert rows[2]["cells"][:5] == ["2", "55.5", "low", "uncertain", "consider repeat / extra view"]
    blinded = lge.display_rows(result, {2: 60.0}, True)
    hidden = lge.HIDDEN_TEXT
    assert [r["cells"][1] for r in blinded] == [hidden, hidden, "55.5", hidden, hidden]
    assert [r["highlight"] for r in blinded] == [False, False, True, False, False]
    assert blinded[2]["cells"][5] == "60"

    row = lge.slice_row(result, 2)
    assert lge.slice_summary(row, None, True) == "slice 2: rate it first (blinded)"
    assert lge.slice_summary(row, 60.0, True).startswith("slice 2: likelihood 55.5 (low certainty)")
    assert lge.slice_row(result, 5) is None and lge.slice_centre_ras(result, 5) is None
    assert lge.long_axis_options([[1, 2, 3]]) is None
    assert lge.long_axis_options([[1, 2, 3], [4, 5, 6]])["coordinates"] == "RAS"

    path = lge.rating_sheet_path(str(tmp_path), "", "/nowhere", "LGE stack #1", "R1")
    assert path == tmp_path / "LGE_stack_1.ratings.R1.json"
    assert lge.rating_sheet_path("", str(tmp_path / "scene.mrml"), "/nowhere", "s", "R1").parent == tmp_path
    assert lge.rating_sheet_path(".", "", str(tmp_path), "s", "R1").parent == tmp_path  # "." is not a choice
    sheet = lge.open_rating_sheet(path, "R1", True, "s", result)
    sheet.rate(3, 80)
    sheet.save(path)
    assert RatingSheet.load(path).rating(3) == 80.0
    with pytest.raises(ValueError, match="another reader"):
        lge.open_rating_sheet(path, "R2", True, "s", result)


def test_markups_points_read_world_positions(app) -> None:
    points = app.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "axis")
    points.AddControlPoint(10.0, 20.0, 30.0)
    points.AddControlPoint(-5.0, 0.0, 60.0)
    assert lge.markups_points(points) == [[10.0, 20.0, 30.0], [-5.0, 0.0, 60.0]]
    assert lge.markups_points(None) == []
