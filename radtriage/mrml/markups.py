"""Detections as a Markups fiducial node: per-point position, label, description and confidence.

Confidence is stored twice, both saved with the scene: a node attribute ``RadTriage.Confidences`` (JSON object
mapping control-point ID to confidence; survives point deletion/reordering in Slicer and is what
:func:`read_detections` reads first) and a Slicer static measurement named ``confidence`` with one value per
control point (written to the ``.mrk.json`` file and shown in Slicer's Markups module; the fallback).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from vtkmodules.vtkCommonCore import vtkDoubleArray

from radtriage import node_attributes

logger = logging.getLogger(__name__)

CONFIDENCE_ATTRIBUTE = node_attributes.CONFIDENCES
CONFIDENCE_MEASUREMENT = "confidence"


@dataclass(frozen=True)
class Detection:
    """One detected finding: RAS position (mm), label, free-text description and confidence (NaN if unknown)."""

    position_ras: tuple[float, float, float]
    label: str
    description: str = ""
    confidence: float = math.nan


def _per_point(values: Sequence[Any] | None, n: int, default: Any, what: str) -> list[Any]:
    """``values`` as a list of length ``n`` (``default`` everywhere when None)."""
    if values is None:
        return [default] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{what}: expected {n} values (one per point), got {len(values)}")
    return values


def add_detections(
    scene: Any,
    name: str,
    points_ras: np.ndarray | Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    descriptions: Sequence[str] | None = None,
    confidences: Sequence[float] | None = None,
) -> Any:
    """Add a fiducial node with one control point per detection; returns the ``vtkMRMLMarkupsFiducialNode``.

    ``points_ras`` is ``(N, 3)`` in RAS millimetres. Labels default to ``"<name>-<n>"``.
    """
    points = np.asarray(points_ras, dtype=float).reshape(-1, 3)
    n = len(points)
    labels = _per_point(labels, n, None, "labels")
    descriptions = _per_point(descriptions, n, "", "descriptions")
    confidences = [float(c) for c in _per_point(confidences, n, math.nan, "confidences")]

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.CreateDefaultDisplayNodes()
    was_modifying = node.StartModify()
    confidence_by_id: dict[str, float] = {}
    for index, (point, label, description, confidence) in enumerate(
        zip(points, labels, descriptions, confidences, strict=True)
    ):
        label = str(label) if label is not None else f"{name}-{index + 1}"
        point_index = node.AddControlPoint(tuple(float(v) for v in point), label)
        node.SetNthControlPointDescription(point_index, str(description))
        confidence_by_id[node.GetNthControlPointID(point_index)] = confidence
    node.EndModify(was_modifying)
    _store_confidences(node, confidence_by_id, confidences)
    return node


def _store_confidences(node: Any, by_id: dict[str, float], in_order: list[float]) -> None:
    """Write confidences as the node attribute (by point ID) and a static per-point measurement."""
    node.SetAttribute(CONFIDENCE_ATTRIBUTE, json.dumps({k: _json_number(v) for k, v in by_id.items()}))
    from slicer import vtkMRMLStaticMeasurement

    measurement = vtkMRMLStaticMeasurement()
    measurement.SetName(CONFIDENCE_MEASUREMENT)
    measurement.SetPrintFormat("%.3f")
    values = vtkDoubleArray()
    values.SetName(CONFIDENCE_MEASUREMENT)
    for value in in_order:
        values.InsertNextValue(value)
    measurement.SetControlPointValues(values)
    existing = node.GetMeasurement(CONFIDENCE_MEASUREMENT)
    if existing is not None:
        for i in range(node.GetNumberOfMeasurements()):
            if node.GetNthMeasurement(i) is existing:
                node.RemoveNthMeasurement(i)
                break
    node.AddMeasurement(measurement)


def _json_number(value: float) -> float | None:
    """JSON has no NaN: unknown confidences are stored as null."""
    return None if math.isnan(value) else value


def _confidences(node: Any) -> list[float]:
    """Per-point confidences from the attribute (by point ID), else the measurement (by index), else NaN."""
    n = node.GetNumberOfControlPoints()
    raw = node.GetAttribute(CONFIDENCE_ATTRIBUTE)
    if raw:
        try:
            by_id = json.loads(raw)
        except json.JSONDecodeError:
            logger.warning("markups node %s has an unreadable %s attribute", node.GetID(), CONFIDENCE_ATTRIBUTE)
        else:
            values = [by_id.get(node.GetNthControlPointID(i)) for i in range(n)]
            return [math.nan if v is None else float(v) for v in values]
    measurement = node.GetMeasurement(CONFIDENCE_MEASUREMENT)
    array = measurement.GetControlPointValues() if measurement is not None else None
    if array is not None and array.GetNumberOfTuples() == n:
        return [float(array.GetValue(i)) for i in range(n)]
    return [math.nan] * n


def read_detections(node: Any) -> list[Detection]:
    """The detections stored in a fiducial node (as written by :func:`add_detections`, or placed by hand)."""
    confidences = _confidences(node)
    detections = []
    for i in range(node.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(i, position)
        detections.append(
            Detection(
                position_ras=(position[0], position[1], position[2]),
                label=node.GetNthControlPointLabel(i),
                description=node.GetNthControlPointDescription(i),
                confidence=confidences[i],
            )
        )
    return detections
