"""Load a review case into an MRML scene: its input volumes and, when the reader may see them, the task's
overlays from the case's result folder, built by the task modules' own MRML builders (MRML layer: works on
``slicer.mrmlScene`` in Slicer and on a headless slicer-core scene)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radtriage import node_attributes
from radtriage.annotations import CaseRef
from radtriage.review.results import result_volume_paths
from radtriage.review.session import ReviewSession

CASE_ATTRIBUTE = node_attributes.REVIEW_CASE
ROLE_ATTRIBUTE = node_attributes.REVIEW_ROLE


def _reference_key(task: str, inputs: dict[str, Path], outputs: dict[str, Any] | None) -> str:
    """The input shown as background: the MRI result's reference contrast, else the first input."""
    if task == "mri_triage" and outputs:
        contrasts = outputs.get("contrasts") or {}
        key = (contrasts.get("inputs") or {}).get(contrasts.get("reference"))
        if key in inputs:
            return str(key)
    return next(iter(inputs))


def _add_overlays(scene: Any, task: str, folder: Path, data: dict[str, Any], reference: Any,
                  patient: str, study: str) -> dict[str, Any]:
    from radtriage.io import read_image

    volumes = {name: read_image(path) for name, path in result_volume_paths(folder, data).items()}
    if task == "mri_triage":
        from radtriage.tasks.mri_triage.mrml import add_mri_triage_outputs

        heatmaps = {name: img for name, img in volumes.items() if name.startswith("heatmap")}
        return add_mri_triage_outputs(scene, data, background=reference, patient_name=patient, study_name=study,
                                      heatmaps=heatmaps)
    if task == "cmb_detect":
        from radtriage.tasks.cmb_detect.mrml import add_cmb_outputs

        return add_cmb_outputs(scene, data, patient_name=patient, study_name=study)
    if task == "lge_certainty":
        from radtriage.tasks.lge_certainty.mrml import add_lge_outputs

        return add_lge_outputs(scene, data, patient_name=patient, study_name=study,
                               sax_image=volumes.get("lge_sax"))
    if task == "body_region":
        from radtriage.tasks.body_region.mrml import add_body_region_outputs
        from radtriage.tasks.body_region.runner import LABEL_VOLUME

        return add_body_region_outputs(scene, data["outputs"], volumes.get(LABEL_VOLUME), patient_name=patient,
                                       study_name=study, reference_node=reference)
    raise KeyError(f"no overlays for task {task!r}")


def load_case(
    scene: Any, session: ReviewSession, case: CaseRef | str | None = None, *, show_outputs: bool | None = None
) -> dict[str, Any]:
    """Add the case's input volumes (the reference one as background of every slice view) and — when
    ``show_outputs`` (default: the session's blind rule allows it) and a result exists — the task overlays.

    Every node added carries the attribute ``RadTriage.ReviewCase`` = case id, so :func:`clear_case` removes
    exactly them. Returns ``{"inputs": {key: node}, "reference": node, "overlays": {...} or {}, "shown": bool,
    "task": str, "result": the result.json content or None}``.
    """
    from radtriage.io import read_image
    from radtriage.mrml import image_to_volume_node, place_under_study, show_in_slice_views

    c = session.case(case)
    task = session.task_of(c)
    inputs = session.inputs(c)
    data = session.result(c)
    visible = session.outputs_visible(c) if show_outputs is None else bool(show_outputs)
    patient, study = c.patient_key, c.case_id
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    nodes = {}
    for key, path in inputs.items():
        node = image_to_volume_node(scene, read_image(path), f"{c.case_id} {key}")
        place_under_study(scene, node, patient, study)
        nodes[key] = node
    reference = nodes[_reference_key(task, inputs, data["outputs"] if data else None)]
    show_in_slice_views(scene, reference)
    overlays: dict[str, Any] = {}
    if visible and data is not None:
        overlays = _add_overlays(scene, task, session.result_folder(c), data, reference, patient, study)
    for i in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(i)
        if node.GetID() not in before and not node.IsSingleton():
            node.SetAttribute(CASE_ATTRIBUTE, c.case_id)
    return {"inputs": nodes, "reference": reference, "overlays": overlays, "shown": visible and data is not None,
            "task": task, "result": data}


def case_nodes(scene: Any, case_id: str | None = None) -> list[Any]:
    """Nodes added by :func:`load_case` (for ``case_id``, or for any case)."""
    out = []
    for i in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(i)
        value = node.GetAttribute(CASE_ATTRIBUTE)
        if value is not None and (case_id is None or value == case_id):
            out.append(node)
    return out


def clear_case(scene: Any, case_id: str | None = None) -> int:
    """Remove the nodes a loaded case added (with their display/storage nodes); returns how many."""
    nodes = case_nodes(scene, case_id)
    for node in nodes:
        if node.GetScene() is scene:
            scene.RemoveNode(node)
    return len(nodes)


def show_case(scene: Any, session: ReviewSession, case: CaseRef | str | None = None) -> dict[str, Any]:
    """Replace the review case shown in ``scene`` by ``case`` (default: the session's current case): every node
    of a loaded case is removed first, then :func:`load_case` adds this one's."""
    clear_case(scene)
    return load_case(scene, session, case)
