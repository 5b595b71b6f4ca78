"""The MRITriage module's work on a Slicer scene: contrast table, the job's inputs, results under the study.

Core, Slicer-free code (MRML classes only): works on ``slicer.mrmlScene`` in the application and on a headless
scene from :func:`radtriage.mrml.create_headless_scene`. The Slicer module is glue around these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from radtriage import node_attributes
from radtriage.image import Image
from radtriage.models.output_requirements import decision_text, probability_text
from radtriage.tasks.mri_triage.model import CRITICAL_OUTPUTS

logger = logging.getLogger(__name__)

TABLE_NAME = "MRI triage results"
TABLE_COLUMNS: list[tuple[str, type]] = [
    ("output", str),
    ("probability", str),
    ("decision", str),
    ("threshold", float),
]
HEATMAP_COLORMAP = "Iron"
"""The colour map of the heatmap overlays (radtriage.mrml.DEFAULT_HEATMAP_COLORMAP)."""

IGNORE_CONTRAST = "(not used)"
"""Choice in the contrast table that leaves a volume out of the triage."""

TUNED_OPERATING_POINT, FIXED_OPERATING_POINT = "balanced", "default"
"""Operating points stored with the model bundle: thresholds tuned per output, or 0.5 for every output."""

NO_CRITICAL_TEXT = "No critical finding above threshold"
DEFAULT_PATIENT = "RadTriage"


# ------------------------------------------------------------------------------------------ inputs
def load_study_nodes(scene: Any, folder: str | Path, app_logic: Any | None = None) -> list[Any]:
    """Read every series of a study (``radtriage.tasks.mri_triage.load_study``) into volume nodes.

    Each node keeps what the reader knew (tags, series description, file) for contrast detection; with
    ``app_logic`` the first one is shown in the slice views as ``slicer.util.loadVolume`` shows a volume.
    """
    from radtriage.mrml.contrast import store_image_evidence
    from radtriage.mrml.volumes import image_to_volume_node, show_volume
    from radtriage.tasks.mri_triage.inputs import load_study

    nodes = []
    for name, image in load_study(folder).items():
        node = image_to_volume_node(scene, image, name)
        store_image_evidence(node, image)
        nodes.append(node)
    if app_logic is not None and nodes:
        show_volume(app_logic, nodes[0])
    logger.info("loaded %d volumes from a study folder", len(nodes))
    return nodes


def triage_candidates(scene: Any) -> list[Any]:
    """The scene's scalar volumes the triage can take: label maps and this module's heatmaps left out."""
    volumes = [n for n in _scalar_volumes(scene) if not n.IsA("vtkMRMLLabelMapVolumeNode")]
    return [n for n in volumes if n.GetAttribute(node_attributes.ROLE) != "heatmap"]


def _scalar_volumes(scene: Any) -> list[Any]:
    kind = "vtkMRMLScalarVolumeNode"
    return [scene.GetNthNodeByClass(i, kind) for i in range(scene.GetNumberOfNodesByClass(kind))]


def contrast_table(nodes: Iterable[Any], dicom_database: Any | None = None) -> dict[str, dict[str, Any]]:
    """Node ID -> the core's guess (contrast, confidence, explanation, usable), the contrasts the table offers
    (``choices``) and the one it starts on (``choice``: the guess, or "(not used)" for a volume that must feed no
    channel, such as a localizer, a phase image or one with no evidence)."""
    from radtriage.io.contrast import CONTRAST_ORDER
    from radtriage.mrml.contrast import assign_node_contrasts

    choices = [c.value for c in CONTRAST_ORDER]
    assignment = assign_node_contrasts(list(nodes), dicom_database)
    unusable = set(assignment.unusable())
    return {
        node_id: {"contrast": guess.contrast.value, "confidence": float(guess.confidence),
                  "explanation": guess.explanation, "usable": node_id not in unusable, "choices": choices,
                  "choice": IGNORE_CONTRAST if node_id in unusable else guess.contrast.value}
        for node_id, guess in assignment.items()
    }  # fmt: skip


def contrast_owners(assignment: Mapping[str, str], names: Mapping[str, str] | None = None) -> dict[str, str]:
    """{contrast: volume node ID} from the table's {volume node ID: contrast}; refuses a contrast given twice.

    ``names`` (node ID -> volume name) makes the refusal name the volumes; rows set to "(not used)" are skipped.
    """
    names = names or {}
    owners: dict[str, str] = {}
    for node_id, contrast in assignment.items():
        if contrast == IGNORE_CONTRAST:
            continue
        if contrast in owners:
            first, second = names.get(owners[contrast], owners[contrast]), names.get(node_id, node_id)
            raise ValueError(f"{second} and {first} are both assigned {contrast}; keep one")
        owners[contrast] = node_id
    if not owners:
        raise ValueError("no volume is assigned a contrast")
    return owners


def images_by_contrast(scene: Any, assignment: Mapping[str, str]) -> dict[str, Image]:
    """{contrast: Image} of the job's inputs from {volume node ID: contrast}: the keys are the user's contrasts."""
    from radtriage.mrml.volumes import volume_node_to_image

    nodes = {node_id: scene.GetNodeByID(node_id) for node_id in assignment}
    gone = [node_id for node_id, node in nodes.items() if node is None]
    if gone:
        raise ValueError(f"volume {', '.join(gone)} is no longer in the scene; detect the contrasts again")
    owners = contrast_owners(assignment, {node_id: node.GetName() for node_id, node in nodes.items()})
    return {contrast: volume_node_to_image(nodes[node_id]) for contrast, node_id in owners.items()}


def operating_point_for(use_bundle_thresholds: bool) -> str:
    """The bundle's operating point: its tuned thresholds, or the fixed 0.5 for every output."""
    return TUNED_OPERATING_POINT if use_bundle_thresholds else FIXED_OPERATING_POINT


# ------------------------------------------------------------------------------------------ results text
def reference_node_id(outputs: Mapping[str, Any], assignment: Mapping[str, str]) -> str | None:
    """The volume node (ID) the heatmaps lie on: the one the user gave the study's reference contrast."""
    contrasts = outputs.get("contrasts") or {}
    reference = contrasts.get("reference")
    key = (contrasts.get("inputs") or {}).get(reference) if reference else None
    return next((node_id for node_id, contrast in assignment.items() if contrast == key), None) if key else None


def critical_findings(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The critical outputs (acute infarct, acute haemorrhage, mass effect) decided positive, in that order."""
    findings = {f["output"]: f for f in outputs.get("findings", [])}
    return [findings[name] for name in CRITICAL_OUTPUTS
            if name in findings and findings[name]["decision"] and findings[name].get("critical", True)]  # fmt: skip


def critical_banner(outputs: Mapping[str, Any]) -> tuple[str, bool]:
    """The banner text and whether it is critical: each positive critical finding with its probability."""
    found = critical_findings(outputs)
    if not found:
        return NO_CRITICAL_TEXT, False
    parts = [f"{f['output'].replace('_', ' ')} (p = {float(f['probability']):.2f} >= {float(f['threshold']):.2f})"
             for f in found]  # fmt: skip
    return "CRITICAL finding above threshold: " + ", ".join(parts), True


def missing_contrasts_text(outputs: Mapping[str, Any]) -> str:
    """Which contrasts were used and which were missing (their channels are left empty, never filled)."""
    used = (outputs.get("contrasts") or {}).get("used") or []
    missing = outputs.get("missing_contrasts") or []
    text = f"Used: {', '.join(used) or 'none'}."
    return f"{text} Missing contrasts: {', '.join(missing)}." if missing else f"{text} No contrast missing."


def notices_text(result: Mapping[str, Any]) -> str:
    """The result's notices (demo disclaimer, missing contrasts, unused inputs...), one a line."""
    return "\n".join(str(notice) for notice in result.get("notices") or [])


# ------------------------------------------------------------------------------------------ results in the scene
def study_names(scene: Any, node: Any) -> tuple[str, str]:
    """(patient, study) of ``node`` in the subject hierarchy; a RadTriage patient and a named study otherwise."""
    from radtriage.mrml import patient_and_study_of

    patient, study = patient_and_study_of(scene, node) if node is not None else (None, None)
    if patient and study:
        return patient, study
    return patient or DEFAULT_PATIENT, f"MRI triage: {node.GetName() if node is not None else 'study'}"


def heatmaps_in_scene(scene: Any) -> dict[str, Any]:
    """{output: heatmap node} of the heatmaps this module left in the scene (e.g. a reloaded .mrb)."""
    heatmaps = [n for n in _scalar_volumes(scene) if n.GetAttribute(node_attributes.ROLE) == "heatmap"]
    return {n.GetAttribute(node_attributes.OUTPUT): n for n in heatmaps if n.GetAttribute(node_attributes.OUTPUT)}


def add_results(
    scene: Any,
    result: Mapping[str, Any],
    heatmaps: Mapping[str, Image],
    assignment: Mapping[str, str],
    opacity: float = 0.5,
    table: Any | None = None,
) -> dict[str, Any]:
    """Put a finished job's table and heatmaps under the study of the volumes it ran on (``assignment``).

    ``assignment`` is the job's own {volume node ID: contrast}, kept from its start: the heatmaps lie over its
    reference volume whatever is selected now. ``table`` is the user's output table, filled in place when given.
    Returns :func:`add_mri_triage_outputs`'s nodes.
    """
    from radtriage.mrml import place_under_study

    outputs = result["outputs"]
    background_id = reference_node_id(outputs, assignment)
    background = scene.GetNodeByID(background_id) if background_id else None
    patient, study = study_names(scene, background)
    nodes = add_mri_triage_outputs(
        scene, result, background, patient, study, heatmaps=heatmaps, opacity=opacity, table=table
    )
    for node_id in assignment:
        node = scene.GetNodeByID(node_id)
        if node is not None:
            place_under_study(scene, node, patient, study)
    return nodes


def show_heatmap(scene: Any, background: Any, heatmap: Any, opacity: float, colormap: str) -> None:
    """Show ``heatmap`` over ``background`` in every slice view with ``colormap`` and foreground ``opacity``."""
    from radtriage.mrml import find_color_node, show_in_slice_views

    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    heatmap.GetDisplayNode().SetAndObserveColorNodeID(find_color_node(scene, colormap).GetID())
    show_in_slice_views(scene, background, heatmap, opacity)


def table_rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model output from a result's ``outputs`` (probability as text: "not assessable" when the
    study lacks the contrasts the output needs)."""
    return [
        {"output": f["output"], "probability": probability_text(f),
         "decision": decision_text(f), "threshold": float(f["threshold"])}
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
    table: Any | None = None,
) -> dict[str, Any]:
    """Add the results table and one heatmap overlay per output under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary (then give the
    ``heatmaps`` images, ``heatmap_<output>`` -> Image). ``background`` is the reference volume node (or an
    :class:`Image`, added as a volume) the heatmaps are shown over. The table has columns output, probability,
    decision, threshold and attributes ``RadTriage.Task``/``Bundle``/``Demo``/``MissingContrasts``; an existing
    ``table`` node (the module's Add-enabled output selector) is filled instead of a new one. Returns
    ``{"table": node, "heatmaps": {output: node}, "background": node or None, "shown": output}``.
    """
    from radtriage.mrml import (
        add_heatmap_overlay,
        image_to_volume_node,
        place_under_study,
        table_node_from_rows,
    )
    from radtriage.mrml.outputs import into_chosen_node
    from radtriage.mrml.overlay import show_in_slice_views

    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    outputs = data["outputs"]
    images = dict(heatmaps) if heatmaps is not None else dict(getattr(result, "volumes", {}) or {})
    made = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS, table_rows(outputs))
    place_under_study(scene, made, patient_name, study_name)
    table = into_chosen_node(scene, made, table)
    node_attributes.stamp_result(table, "mri_triage", data.get("bundle"))
    table.SetAttribute(node_attributes.MISSING_CONTRASTS, ",".join(outputs.get("missing_contrasts", [])))
    table.SetAttribute(node_attributes.OPERATING_POINT, str(outputs.get("operating_point", "")))

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
        node.SetAttribute(node_attributes.OUTPUT, output)
        place_under_study(scene, node, patient_name, study_name)
        nodes[output] = node
    shown = _shown_output(outputs)
    if shown in nodes:
        show_in_slice_views(scene, background_node, nodes[shown], opacity)
    return {"table": table, "heatmaps": nodes, "background": background_node, "shown": shown}
