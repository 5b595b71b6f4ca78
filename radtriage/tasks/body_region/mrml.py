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

from radtriage.image import Image
from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows
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
ROLE_ATTRIBUTE = "RadTriage.Role"


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
    node.SetAttribute(ROLE_ATTRIBUTE, "body_region_colours")
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
) -> dict[str, Any]:
    """Add the task's outputs to ``scene`` under ``patient_name`` / ``study_name``; returns the nodes by role.

    ``outputs`` is ``TaskResult.outputs`` (or ``result.json``'s ``outputs``); ``label_image`` its
    ``region_labels`` volume (None to skip). With ``reference_node`` the label volume is shown as the
    label layer over it in every slice view.
    """
    nodes: dict[str, Any] = {}
    labelset = outputs["labelset"]
    nodes["colour_table"] = colour = add_region_colour_table(scene, labelset)
    ranges_node = table_node_from_rows(scene, "Body region ranges", RANGE_COLUMNS,
                                       _range_rows(list(outputs.get("ranges", []))))
    ranges_node.SetAttribute(ROLE_ATTRIBUTE, "body_region_ranges")
    qa = outputs.get("header_qa") or {}
    ranges_node.SetAttribute("RadTriage.HeaderQA.Status", str(qa.get("status", "")))
    ranges_node.SetAttribute("RadTriage.HeaderQA.Message", str(qa.get("message", "")))
    ranges_node.SetAttribute("RadTriage.Modality", str(outputs.get("modality", "")))
    nodes["ranges_table"] = ranges_node
    slice_rows = [{k: s.get(k) for k, _ in SLICE_COLUMNS} for s in outputs.get("slices", [])]
    nodes["slices_table"] = table_node_from_rows(scene, "Body region per slice", SLICE_COLUMNS, slice_rows)
    nodes["slices_table"].SetAttribute(ROLE_ATTRIBUTE, "body_region_slices")
    if label_image is not None:
        label_node = image_to_volume_node(scene, label_image, "Body regions", labelmap=True)
        label_node.GetDisplayNode().SetAndObserveColorNodeID(colour.GetID())
        label_node.SetAttribute(ROLE_ATTRIBUTE, "body_region_labels")
        nodes["label_volume"] = label_node
        if reference_node is not None:
            for composite in slice_composite_nodes(scene):
                composite.SetBackgroundVolumeID(reference_node.GetID())
                composite.SetLabelVolumeID(label_node.GetID())
                composite.SetLabelOpacity(float(label_opacity))
    for role in ("label_volume", "ranges_table", "slices_table"):
        if role in nodes:
            place_under_study(scene, nodes[role], patient_name, study_name)
    return nodes


def add_task_result(scene: Any, result: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`add_body_region_outputs` for a ``TaskResult`` of the body-region task."""
    from radtriage.tasks.body_region.runner import LABEL_VOLUME

    return add_body_region_outputs(scene, result.outputs, result.volumes.get(LABEL_VOLUME), **kwargs)
