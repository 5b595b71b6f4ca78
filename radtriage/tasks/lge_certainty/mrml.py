"""MRML outputs of the LGECertainty task and what the module reads back from them.

A per-slice table (and the SAX volume) under the study; the slice a view shows; the panel's rows and texts
(blinded to the model until the reader rated a slice); the reader's rating sheet beside the scene.

Core, Slicer-free code: works on ``slicer.mrmlScene`` in the application and on a headless scene from
:func:`radtriage.mrml.create_headless_scene`. The Slicer module calls :func:`add_lge_outputs`,
:func:`show_stack_slices`, :func:`slice_in_view` and :func:`slice_images`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtriage import node_attributes
from radtriage.image import Image

TABLE_NAME = "LGE per-slice certainty"
SLICE_TABLE_HEADERS = ["Slice", "Likelihood", "Certainty", "Reading", "Hint", "Your rating"]
HIDDEN_TEXT = "(rate first)"
"""What a blinded reader sees in the model's columns of a slice not rated yet."""
TABLE_COLUMNS: list[tuple[str, type]] = [
    ("slice", int),
    ("likelihood", float),
    ("certainty", str),
    ("reading", str),
    ("flag", int),
    ("hint", str),
    ("certainty_by", str),
]


def certainty_by(outputs: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    """What decided a slice's certainty: the learned head (with its low-certainty probability) or the band."""
    if entry.get("certainty_source", outputs.get("certainty_source")) == "certainty_head":
        p_low = entry.get("low_certainty_probability")
        return "certainty head" + ("" if p_low is None else f" (p low {float(p_low):.0f}%)")
    lo, hi = outputs["certainty_band"]
    return f"likelihood band {lo:g}-{hi:g}"


def table_rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per slice from a result's ``outputs`` (the ``result.json`` ``outputs`` object)."""
    return [
        {
            "slice": int(s["index"]),
            "likelihood": float(s["likelihood"]),
            "certainty": s["certainty"],
            "reading": s["reading"],
            "flag": int(bool(s["flag"])),
            "hint": s["hint"],
            "certainty_by": certainty_by(outputs, s),
        }
        for s in outputs["slices"]
    ]


def add_lge_outputs(
    scene: Any,
    result: Any,
    patient_name: str = "Patient",
    study_name: str = "LGE study",
    sax_image: Image | None = None,
    name_prefix: str = "",
    table_node: Any | None = None,
) -> dict[str, Any]:
    """Add the per-slice table (and the SAX reformat when there is one) under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary. The table
    node carries attributes ``RadTriage.Task``, ``RadTriage.CertaintyBand`` and ``RadTriage.Bundle``. Returns
    ``{"table": node, "sax_volume": node or None}``; ``table_node`` is the table the user chose (filled instead
    of a new one).
    """
    from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows
    from radtriage.mrml.outputs import into_chosen_node

    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    outputs = data["outputs"]
    table = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS, table_rows(outputs))
    lo, hi = outputs["certainty_band"]
    node_attributes.stamp_result(table, "lge_certainty", data.get("bundle"))
    table.SetAttribute(node_attributes.CERTAINTY_BAND, f"{lo:g},{hi:g}")
    table.SetAttribute(node_attributes.CERTAINTY_SOURCE, str(outputs.get("certainty_source", "likelihood_band")))
    place_under_study(scene, table, patient_name, study_name)
    table = into_chosen_node(scene, table, table_node)
    volume = None
    image = sax_image
    if image is None and hasattr(result, "volumes"):
        image = result.volumes.get("lge_sax")
    if image is not None:
        volume = image_to_volume_node(scene, image, f"{name_prefix}LGE short-axis reformat")
        place_under_study(scene, volume, patient_name, study_name)
    return {"table": table, "sax_volume": volume}


STACK_AXIS = 2
"""The task scores the stack slice by slice along its k axis."""


def slice_images(node: Any) -> list[Image]:
    """Every k slice of the stack as a one-slice ``Image`` that keeps its own position in space."""
    from radtriage.mrml.volumes import volume_node_to_image

    image = volume_node_to_image(node)
    slices = []
    for k in range(image.size[STACK_AXIS]):
        origin = image.index_to_lps([(0.0, 0.0, float(k))])[0]
        slices.append(Image(array=image.array[k : k + 1], spacing=image.spacing,
                            origin=tuple(float(v) for v in origin), direction=image.direction,
                            metadata={**image.metadata, "slice_index": k}))  # fmt: skip
    return slices


def show_stack_slices(slice_node: Any, stack_node: Any) -> None:
    """Turn a slice view so that it shows the stack's k planes (its normal along the stack's k axis).

    ``RotateToVolumePlane`` would pick the volume axis closest to the view's current orientation, which for an
    oblique short-axis stack is often i or j (vtkMRMLSliceNode.h, v5.12.3 lines 440-447).
    """
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    directions = vtkMatrix4x4()
    stack_node.GetIJKToRASDirectionMatrix(directions)
    slice_node.RotateToAxes(directions, STACK_AXIS)


def slice_in_view(stack_node: Any, slice_node: Any) -> int | None:
    """The stack slice (k index) a slice view shows, or None when the view cuts the stack across its slices."""
    from radtriage.mrml.geometry import slice_to_ras_rows, view_slice

    axis, index = view_slice(stack_node, slice_to_ras_rows(slice_node))
    return index if axis == STACK_AXIS else None


# -- the module panel: rows, texts, slice lookup, rating sheets ------------------------------------------------


def slice_row(result: Mapping[str, Any], index: int) -> dict[str, Any] | None:
    """The table row (slice, likelihood, certainty, reading, flag, hint) of slice ``index``, or None."""
    return next((row for row in table_rows(result["outputs"]) if row["slice"] == index), None)


def slice_centre_ras(result: Mapping[str, Any], index: int) -> list[float] | None:
    """The RAS centre of slice ``index`` of the scored stack, or None outside it."""
    entry = next((s for s in result["outputs"]["slices"] if int(s["index"]) == index), None)
    return None if entry is None else [float(v) for v in entry["centre_ras"]]


def hidden_from_reader(blinded: bool, rating: float | None) -> bool:
    """Whether the model's answer for a slice is hidden: blinded and not rated yet."""
    return bool(blinded) and rating is None


def display_rows(result: Mapping[str, Any], ratings: Mapping[int, float], blinded: bool) -> list[dict[str, Any]]:
    """One row per slice for the panel: ``cells`` (texts of SLICE_TABLE_HEADERS) and ``highlight``.

    Low-certainty rows are highlighted; a blinded reader sees the model columns only for rated slices.
    """
    rows = []
    for row in table_rows(result["outputs"]):
        rating = ratings.get(row["slice"])
        hidden = hidden_from_reader(blinded, rating)
        model = [f"{row['likelihood']:.1f}", row["certainty"], row["reading"], row["hint"]]
        cells = [str(row["slice"]), *([HIDDEN_TEXT] * len(model) if hidden else model)]
        cells.append("" if rating is None else f"{rating:g}")
        rows.append({"slice": row["slice"], "cells": cells, "highlight": bool(row["flag"]) and not hidden})
    return rows


def slice_summary(row: Mapping[str, Any], rating: float | None, blinded: bool) -> str:
    """ "slice k: likelihood L (certainty)" plus the hint and the reader's rating; hidden when blinded."""
    if hidden_from_reader(blinded, rating):
        return f"slice {row['slice']}: rate it first (blinded)"
    text = f"slice {row['slice']}: likelihood {row['likelihood']:.1f} ({row['certainty']} certainty)"
    if row["hint"]:
        text += f" - {row['hint']}"
    return text if rating is None else f"{text}; your rating {rating:g}"


def rating_sheet_path(folder: str, scene_file: str, fallback_folder: str, series_name: str, reader: str) -> Path:
    """Where ``reader``'s sheet for the series lives: the chosen folder, else beside the scene file."""
    from radtriage.tasks.lge_certainty.ratings import sidecar_path

    chosen = folder.strip() not in ("", ".")
    base = Path(folder) if chosen else Path(scene_file).parent if scene_file else Path(fallback_folder)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", series_name).strip("_") or "series"
    return sidecar_path(base / stem, reader)


def open_rating_sheet(path: str | Path, reader: str, blinded: bool, series_name: str, result: Mapping[str, Any]):
    """The reader's existing sheet at ``path`` or a new one (ValueError for a sheet of another reader)."""
    from radtriage.tasks.lge_certainty.ratings import RatingSheet

    if Path(path).is_file():
        sheet = RatingSheet.load(path)
        if sheet.reader != reader:
            raise ValueError(f"{path} belongs to another reader")
        return sheet
    return RatingSheet(reader, blinded, series_name, tuple(result["outputs"]["certainty_band"]))


def markups_points(markups_node: Any) -> list[list[float]]:
    """The world (RAS) positions of a markups node's control points ([] for None)."""
    if markups_node is None:
        return []
    points = []
    for index in range(markups_node.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        markups_node.GetNthControlPointPositionWorld(index, position)
        points.append(position)
    return points


def long_axis_options(points: list[list[float]]) -> dict[str, Any] | None:
    """Task options for a user long axis from two RAS points (apex, then mitral-valve centre); else None."""
    if len(points) != 2:
        return None
    return {"apex": [float(v) for v in points[0]], "base": [float(v) for v in points[1]], "coordinates": "RAS"}
