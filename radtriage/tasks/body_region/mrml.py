"""Slicer scene outputs of the body-region task, built with :mod:`radtriage.mrml` (headless or in Slicer).

:func:`add_body_region_outputs` adds, under the study's subject-hierarchy item:

* a colour table with the label set's colours and names (value = class index + 1; 0 is transparent),
* the per-slice label volume coloured by that table — a colour band along head-feet in sagittal and
  coronal views, and a tint of each axial slice — shown as the label layer over the reference volume,
* a table of region ranges (indices and mm) and a table of per-slice labels and confidences;
  the header-QA verdict is stored as attributes of the ranges table.

The Slicer module's logic only calls this with the task's outputs (``TaskResult`` or ``result.json``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from radtriage import node_attributes
from radtriage.image import Image
from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows
from radtriage.mrml.geometry import dimensions, ijk_to_ras, ijk_to_ras_rows, ras_to_ijk_rows, slice_index_at
from radtriage.mrml.outputs import into_chosen_node
from radtriage.mrml.scene import slice_composite_nodes

logger = logging.getLogger(__name__)

RANGE_COLUMNS: list[tuple[str, type]] = [
    ("region", str), ("display_name", str), ("snomed_code", str), ("first_index", int), ("last_index", int),
    ("n_slices", int), ("superior_z_mm", float), ("inferior_z_mm", float), ("length_mm", float),
    ("mean_confidence", float),
]
SLICE_COLUMNS: list[tuple[str, type]] = [
    ("index", int), ("region", str), ("confidence", float), ("raw_region", str), ("raw_probability", float),
    ("z_mm", float),
]
AXIS_INDEX = {"i": 0, "j": 1, "k": 2}


def add_region_colour_table(scene: Any, labelset: Mapping[str, Any], name: str | None = None) -> Any:
    """A ``vtkMRMLColorTableNode``: entry 0 transparent 'none', entry i+1 = class i with its colour and name."""
    names = list(labelset["class_names"])
    colours = list(labelset["colours"])
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name or f"BodyRegion colours ({labelset['name']})")
    node.SetTypeToUser()
    node.SetNumberOfColors(len(names) + 1)
    node.SetColor(0, "none", 0.0, 0.0, 0.0, 0.0)
    for i, (label, rgb) in enumerate(zip(names, colours, strict=True)):
        node.SetColor(i + 1, label, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, 1.0)
    node.SetAttribute(node_attributes.ROLE, "body_region_colours")
    return node


def _range_rows(ranges: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = [c for c, _ in RANGE_COLUMNS]
    return [{k: r.get(k) if k != "snomed_code" else (r.get(k) or "") for k in keys} for r in ranges]


def add_body_region_outputs(
    scene: Any,
    outputs: Mapping[str, Any],
    label_image: Image | None,
    *,
    patient_name: str,
    study_name: str,
    reference_node: Any | None = None,
    label_opacity: float = 0.4,
    ranges_table: Any | None = None,
) -> dict[str, Any]:
    """Add the task's outputs to ``scene`` under ``patient_name`` / ``study_name``; returns the nodes by role.

    ``outputs`` is ``TaskResult.outputs`` (or ``result.json``'s ``outputs``); ``label_image`` its
    ``region_labels`` volume (None to skip). With ``reference_node`` the label volume is shown as the
    label layer over it in every slice view. ``ranges_table``: the table node the user chose for the ranges
    (filled instead of a new one).
    """
    nodes: dict[str, Any] = {}
    labelset = outputs["labelset"]
    nodes["colour_table"] = colour = add_region_colour_table(scene, labelset)
    ranges_node = table_node_from_rows(scene, "Body region ranges", RANGE_COLUMNS,
                                       _range_rows(list(outputs.get("ranges", []))))
    ranges_node.SetAttribute(node_attributes.ROLE, "body_region_ranges")
    qa = outputs.get("header_qa") or {}
    ranges_node.SetAttribute(node_attributes.HEADER_QA_STATUS, str(qa.get("status", "")))
    ranges_node.SetAttribute(node_attributes.HEADER_QA_MESSAGE, str(qa.get("message", "")))
    ranges_node.SetAttribute(node_attributes.MODALITY, str(outputs.get("modality", "")))
    nodes["ranges_table"] = ranges_node
    slice_rows = [{k: s.get(k) for k, _ in SLICE_COLUMNS} for s in outputs.get("slices", [])]
    nodes["slices_table"] = table_node_from_rows(scene, "Body region per slice", SLICE_COLUMNS, slice_rows)
    nodes["slices_table"].SetAttribute(node_attributes.ROLE, "body_region_slices")
    if label_image is not None:
        label_node = image_to_volume_node(scene, label_image, "Body regions", labelmap=True)
        label_node.GetDisplayNode().SetAndObserveColorNodeID(colour.GetID())
        label_node.SetAttribute(node_attributes.ROLE, "body_region_labels")
        nodes["label_volume"] = label_node
        if reference_node is not None:
            for composite in slice_composite_nodes(scene):
                composite.SetBackgroundVolumeID(reference_node.GetID())
                composite.SetLabelVolumeID(label_node.GetID())
                composite.SetLabelOpacity(float(label_opacity))
    for role in ("label_volume", "ranges_table", "slices_table"):
        if role in nodes:
            place_under_study(scene, nodes[role], patient_name, study_name)
    nodes["ranges_table"] = into_chosen_node(scene, nodes["ranges_table"], ranges_table)
    return nodes


def add_task_result(scene: Any, result: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`add_body_region_outputs` for a ``TaskResult`` of the body-region task."""
    from radtriage.tasks.body_region.runner import LABEL_VOLUME

    return add_body_region_outputs(scene, result.outputs, result.volumes.get(LABEL_VOLUME), **kwargs)


# -- reading the result back (the module's slice lookup and panel texts) ---------------------------------------


def slice_axis(outputs: Mapping[str, Any]) -> int:
    """The IJK axis (0, 1, 2) the task labelled slices along."""
    return AXIS_INDEX[str(outputs.get("slice_axis", "k"))]


def slice_geometry(node: Any, axis: int = 2) -> list[dict[str, Any]]:
    """Per-slice geometry along IJK ``axis``: index, position in mm along that axis, RAS centre (no voxel copy)."""
    size = dimensions(node)
    column = [row[axis] for row in ijk_to_ras_rows(node)[:3]]
    length = sum(v * v for v in column) ** 0.5 or 1.0
    rows = []
    for index in range(size[axis]):
        ijk = [(n - 1) / 2.0 for n in size]
        ijk[axis] = float(index)
        ras = ijk_to_ras(node, ijk)
        position = sum(p * c for p, c in zip(ras, column, strict=True)) / length
        rows.append({"slice": index, "position_mm": position, "center_ras": tuple(float(v) for v in ras)})
    return rows


def slice_row(outputs: Mapping[str, Any], index: int) -> dict[str, Any] | None:
    """The per-slice row of ``index`` (native index along the slice axis), or None outside the volume."""
    return next((row for row in outputs.get("slices", []) if int(row["index"]) == index), None)


def display_name(outputs: Mapping[str, Any], region: str) -> str:
    """The label set's display name of a region (the region code when it has none)."""
    for entry in outputs.get("ranges", []):
        if entry.get("region") == region and entry.get("display_name"):
            return str(entry["display_name"])
    return region


def region_text_at(outputs: Mapping[str, Any], node: Any, ras: Any) -> str:
    """ "slice k: <region> (confidence)" for the slice of ``node`` through ``ras`` ("" outside the volume)."""
    index = slice_index_at(ras_to_ijk_rows(node), ras, slice_axis(outputs))
    row = slice_row(outputs, index)
    if row is None:
        return ""
    return f"slice {index}: {display_name(outputs, str(row['region']))} ({float(row['confidence']):.2f})"


def range_table_cells(outputs: Mapping[str, Any]) -> list[list[str]]:
    """One row of texts per region range: region, slice indices, superior/inferior z (mm), confidence."""
    return [
        [
            str(r.get("display_name") or r["region"]),
            f"{r['first_index']}-{r['last_index']}",
            f"{float(r['superior_z_mm']):.1f}",
            f"{float(r['inferior_z_mm']):.1f}",
            f"{float(r['mean_confidence']):.2f}",
        ]
        for r in outputs.get("ranges", [])
    ]


def range_centre_ras(outputs: Mapping[str, Any], row: int, node: Any) -> list[float] | None:
    """RAS of the centre of range ``row`` (middle slice, volume centre across it); None when there is none."""
    ranges = outputs.get("ranges", [])
    if not 0 <= row < len(ranges):
        return None
    centre = [(n - 1) / 2.0 for n in dimensions(node)]
    centre[slice_axis(outputs)] = (ranges[row]["first_index"] + ranges[row]["last_index"]) / 2.0
    return ijk_to_ras(node, centre)


def header_qa_text(outputs: Mapping[str, Any]) -> tuple[str, bool]:
    """The header-QA status line and whether it is flagged."""
    qa = outputs.get("header_qa") or {}
    status = str(qa.get("status", "")) or "not checked"
    message = str(qa.get("message", ""))
    return (f"{status}: {message}" if message else status), bool(qa.get("flag"))
