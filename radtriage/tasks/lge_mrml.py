"""MRML outputs of the LGECertainty task: a per-slice table (and the SAX volume) under the study.

Core, Slicer-free code: works on ``slicer.mrmlScene`` in the application and on a headless scene from
:func:`radtriage.mrml.create_headless_scene`. The Slicer module only calls :func:`add_lge_outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from radtriage.image import Image

TABLE_NAME = "LGE per-slice certainty"
TABLE_COLUMNS: list[tuple[str, type]] = [
    ("slice", int),
    ("likelihood", float),
    ("certainty", str),
    ("reading", str),
    ("flag", int),
    ("hint", str),
    ("band", str),
]


def table_rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per slice from a result's ``outputs`` (the ``result.json`` ``outputs`` object)."""
    lo, hi = outputs["certainty_band"]
    band = f"{lo:g}-{hi:g}"
    return [
        {
            "slice": int(s["index"]),
            "likelihood": float(s["likelihood"]),
            "certainty": s["certainty"],
            "reading": s["reading"],
            "flag": int(bool(s["flag"])),
            "hint": s["hint"],
            "band": band,
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
) -> dict[str, Any]:
    """Add the per-slice table (and the SAX reformat when there is one) under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary. The table
    node carries attributes ``RadTriage.Task``, ``RadTriage.CertaintyBand`` and ``RadTriage.Bundle``. Returns
    ``{"table": node, "sax_volume": node or None}``.
    """
    from radtriage.mrml import image_to_volume_node, place_under_study, table_node_from_rows

    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    outputs = data["outputs"]
    table = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS, table_rows(outputs))
    lo, hi = outputs["certainty_band"]
    table.SetAttribute("RadTriage.Task", "lge_certainty")
    table.SetAttribute("RadTriage.CertaintyBand", f"{lo:g},{hi:g}")
    bundle = data.get("bundle") or {}
    table.SetAttribute("RadTriage.Bundle", f"{bundle.get('name', '')} {bundle.get('version', '')}".strip())
    table.SetAttribute("RadTriage.Demo", "1" if bundle.get("demo") else "0")
    place_under_study(scene, table, patient_name, study_name)
    volume = None
    image = sax_image
    if image is None and hasattr(result, "volumes"):
        image = result.volumes.get("lge_sax")
    if image is not None:
        volume = image_to_volume_node(scene, image, f"{name_prefix}LGE short-axis reformat")
        place_under_study(scene, volume, patient_name, study_name)
    return {"table": table, "sax_volume": volume}
