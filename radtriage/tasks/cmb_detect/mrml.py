"""MRML outputs of CMBDetect: a fiducial node (``CMB-n`` with confidence) and a per-location count table.

Core, Slicer-free code: works on ``slicer.mrmlScene`` and on a headless scene from
:func:`radtriage.mrml.create_headless_scene`. The Slicer module only calls :func:`add_cmb_outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MARKUPS_NAME = "CMB detections"
TABLE_NAME = "CMB count by location"
TABLE_COLUMNS: list[tuple[str, type]] = [("location", str), ("count", int)]


def _detections_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(data["outputs"]["detections"])


def add_cmb_outputs(scene: Any, result: Any, patient_name: str = "Patient", study_name: str = "SWI study",
                    name_prefix: str = "") -> dict[str, Any]:
    """Add the detections (markups fiducials labelled ``CMB-n``, confidence per point, description with radius
    and location) and the location count table under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary. Returns
    ``{"markups": node, "table": node}``.
    """
    from radtriage.mrml import add_detections, place_under_study, table_node_from_rows

    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    dets = _detections_of(data)
    node = add_detections(
        scene,
        f"{name_prefix}{MARKUPS_NAME}",
        [d["center_ras"] for d in dets],
        labels=[d["label"] for d in dets],
        descriptions=[f"{d['location']}; apparent radius {d['radius_mm']:.1f} mm" for d in dets],
        confidences=[float(d["confidence"]) for d in dets],
    )
    bundle = data.get("bundle") or {}
    for target in (node,):
        target.SetAttribute("RadTriage.Task", "cmb_detect")
        target.SetAttribute("RadTriage.Bundle", f"{bundle.get('name', '')} {bundle.get('version', '')}".strip())
        target.SetAttribute("RadTriage.Demo", "1" if bundle.get("demo") else "0")
        target.SetAttribute("RadTriage.Threshold", f"{float(data['outputs']['threshold']):.4f}")
    place_under_study(scene, node, patient_name, study_name)
    table = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS,
                                 location_rows(data["outputs"]["location_counts"]))
    table.SetAttribute("RadTriage.Task", "cmb_detect")
    place_under_study(scene, table, patient_name, study_name)
    return {"markups": node, "table": table}


def location_rows(counts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table rows ``{"location", "count"}`` from ``outputs["location_counts"]``."""
    return [{"location": str(r["location"]), "count": int(r["count"])} for r in counts]


def read_cmb_markups(node: Any) -> list[dict[str, Any]]:
    """Detections back from a fiducial node: label, RAS, confidence (via :func:`radtriage.mrml.read_detections`)."""
    from radtriage.mrml import read_detections

    return [{"label": d.label, "center_ras": list(d.position_ras), "confidence": d.confidence,
             "description": d.description} for d in read_detections(node)]
