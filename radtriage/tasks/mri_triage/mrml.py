"""MRML outputs of the MRITriage task: a results table and heatmap overlays, all under the study.

Core, Slicer-free code: works on ``slicer.mrmlScene`` in the application and on a headless scene from
:func:`radtriage.mrml.create_headless_scene`. The Slicer module only calls :func:`add_mri_triage_outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from radtriage.image import Image

TABLE_NAME = "MRI triage results"
TABLE_COLUMNS: list[tuple[str, type]] = [
    ("output", str),
    ("probability", float),
    ("decision", str),
    ("threshold", float),
]
HEATMAP_COLORMAP = "Iron"
"""The colour map of the heatmap overlays (radtriage.mrml.DEFAULT_HEATMAP_COLORMAP)."""


def table_rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model output from a result's ``outputs``."""
    return [
        {"output": f["output"], "probability": float(f["probability"]),
         "decision": "positive" if f["decision"] else "negative", "threshold": float(f["threshold"])}
        for f in outputs["findings"]
    ]


def _shown_output(outputs: Mapping[str, Any]) -> str:
    """The output whose heatmap is shown first: the most probable positive critical finding, else abnormal."""
    positive = [f for f in outputs["findings"] if f["decision"] and f.get("critical")]
    if positive:
        return max(positive, key=lambda f: f["probability"])["output"]
    return "abnormal"


def add_mri_triage_outputs(
    scene: Any,
    result: Any,
    background: Any | None = None,
    patient_name: str = "Patient",
    study_name: str = "Brain MRI study",
    heatmaps: Mapping[str, Image] | None = None,
    heatmap_threshold: float = 0.2,
    opacity: float = 0.5,
    name_prefix: str = "",
) -> dict[str, Any]:
    """Add the results table and one heatmap overlay per output under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary (then give the
    ``heatmaps`` images, ``heatmap_<output>`` -> Image). ``background`` is the reference volume node (or an
    :class:`Image`, added as a volume) the heatmaps are shown over. The table has columns output, probability,
    decision, threshold and attributes ``RadTriage.Task``/``Bundle``/``Demo``/``MissingContrasts``. Returns
    ``{"table": node, "heatmaps": {output: node}, "background": node or None, "shown": output}``.
    """
    from radtriage.mrml import add_heatmap_overlay, image_to_volume_node, place_under_study, table_node_from_rows
    from radtriage.mrml.overlay import show_in_slice_views

    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    outputs = data["outputs"]
    images = dict(heatmaps) if heatmaps is not None else dict(getattr(result, "volumes", {}) or {})
    table = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS, table_rows(outputs))
    bundle = data.get("bundle") or {}
    table.SetAttribute("RadTriage.Task", "mri_triage")
    table.SetAttribute("RadTriage.Bundle", f"{bundle.get('name', '')} {bundle.get('version', '')}".strip())
    table.SetAttribute("RadTriage.Demo", "1" if bundle.get("demo") else "0")
    table.SetAttribute("RadTriage.MissingContrasts", ",".join(outputs.get("missing_contrasts", [])))
    table.SetAttribute("RadTriage.OperatingPoint", str(outputs.get("operating_point", "")))
    place_under_study(scene, table, patient_name, study_name)

    background_node = background
    if isinstance(background, Image):
        background_node = image_to_volume_node(scene, background, f"{name_prefix}Reference")
        place_under_study(scene, background_node, patient_name, study_name)
    nodes: dict[str, Any] = {}
    for key, image in images.items():
        if not key.startswith("heatmap_"):
            continue
        output = key[len("heatmap_"):]
        node = add_heatmap_overlay(scene, background_node, image, f"{name_prefix}{key}", HEATMAP_COLORMAP,
                                   threshold=heatmap_threshold, opacity=opacity, window_level=(1.0, 0.5))
        node.SetAttribute("RadTriage.Output", output)
        place_under_study(scene, node, patient_name, study_name)
        nodes[output] = node
    shown = _shown_output(outputs)
    if shown in nodes:
        show_in_slice_views(scene, background_node, nodes[shown], opacity)
    return {"table": table, "heatmaps": nodes, "background": background_node, "shown": shown}
