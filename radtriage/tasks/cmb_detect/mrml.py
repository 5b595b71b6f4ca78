"""MRML outputs of CMBDetect and the reader's review of them.

A fiducial node (``CMB-n`` with confidence) and a per-location count table; the confidence filter, the
detection walk (N / P), the panel rows, and the reader's accept / reject / add decisions in the append-only
annotation store under the case id of the reviewed volume.

Core, Slicer-free code: works on ``slicer.mrmlScene`` and on a headless scene from
:func:`radtriage.mrml.create_headless_scene`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtriage import node_attributes

MARKUPS_NAME = "CMB detections"
TABLE_NAME = "CMB count by location"
TABLE_COLUMNS: list[tuple[str, type]] = [("location", str), ("count", int)]
REVIEW_SCHEMA = "cmb_review"
SUSCEPTIBILITY_CONTRAST_KEYS = ("SWI", "GRE", "T2STAR", "T2*")
"""Substrings of a contrast guess (its enum name or value, upper case) that mean SWI or T2*-weighted GRE."""
ADDED_PREFIX = "added-"
"""Candidate id prefix of a lesion the reader added (``added-1``, ``added-2`` ...)."""


def _detections_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(data["outputs"]["detections"])


def add_cmb_outputs(scene: Any, result: Any, patient_name: str = "Patient", study_name: str = "SWI study",
                    name_prefix: str = "", markups_node: Any | None = None,
                    table_node: Any | None = None) -> dict[str, Any]:
    """Add the detections (markups fiducials labelled ``CMB-n``, confidence per point, description with radius
    and location) and the location count table under ``patient_name``/``study_name``.

    ``result`` is a :class:`~radtriage.tasks.result.TaskResult` or its ``result.json`` dictionary;
    ``markups_node`` / ``table_node`` are the output nodes the user chose (filled instead of new ones). Returns
    ``{"markups": node, "table": node}``.
    """
    from radtriage.mrml import add_detections, place_under_study, table_node_from_rows
    from radtriage.mrml.outputs import into_chosen_node

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
    node_attributes.stamp_result(node, "cmb_detect", data.get("bundle"))
    node.SetAttribute(node_attributes.THRESHOLD, f"{float(data['outputs']['threshold']):.4f}")
    place_under_study(scene, node, patient_name, study_name)
    table = table_node_from_rows(scene, f"{name_prefix}{TABLE_NAME}", TABLE_COLUMNS,
                                 location_rows(data["outputs"]["location_counts"]))
    table.SetAttribute(node_attributes.TASK, "cmb_detect")
    place_under_study(scene, table, patient_name, study_name)
    return {"markups": into_chosen_node(scene, node, markups_node), "table": into_chosen_node(scene, table, table_node)}


def location_rows(counts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table rows ``{"location", "count"}`` from ``outputs["location_counts"]``."""
    return [{"location": str(r["location"]), "count": int(r["count"])} for r in counts]


def read_cmb_markups(node: Any) -> list[dict[str, Any]]:
    """Detections back from a fiducial node: label, RAS, confidence (via :func:`radtriage.mrml.read_detections`)."""
    from radtriage.mrml import read_detections

    return [{"label": d.label, "center_ras": list(d.position_ras), "confidence": d.confidence,
             "description": d.description} for d in read_detections(node)]


def susceptibility_guess(image: Any) -> tuple[bool, str, float, str]:
    """(looks like SWI / T2*-GRE, the contrast guessed, its confidence, why) for the detector's input image."""
    from radtriage.io.contrast import classify_image

    guess = classify_image(image)
    label = str(getattr(guess.contrast, "value", guess.contrast))
    keys = f"{getattr(guess.contrast, 'name', '')} {label}".upper()
    ok = any(key in keys for key in SUSCEPTIBILITY_CONTRAST_KEYS)
    return ok, label, float(guess.confidence), str(guess.explanation)


# -- review ---------------------------------------------------------------------------------------------------


def visible_flags(confidences: Sequence[float], threshold: float) -> list[bool]:
    """Which detections are shown: confidence at or above ``threshold``; unknown (reader-added) always."""
    return [math.isnan(float(value)) or float(value) >= float(threshold) for value in confidences]


def neighbour_index(current: int | None, flags: Sequence[bool], step: int) -> int | None:
    """The next (``step`` 1) or previous (-1) shown detection after ``current``, wrapping; None if none."""
    n = len(flags)
    if n == 0 or not any(flags):
        return None
    start = (-1 if step > 0 else n) if current is None else current
    for offset in range(1, n + 1):
        index = (start + step * offset) % n
        if flags[index]:
            return index
    return None


def detection_rows(
    points: Sequence[Mapping[str, Any]], flags: Sequence[bool], decisions: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Table rows of the shown detections: ``index`` (control point), ``cells``, ``decision`` (or None)."""
    rows = []
    for index, (point, shown) in enumerate(zip(points, flags, strict=True)):
        if not shown:
            continue
        confidence = point["confidence"]
        location, _sep, radius = str(point.get("description") or "").partition("; apparent radius ")
        decision = (decisions.get(point["label"]) or {}).get("decision")
        cells = [point["label"], "" if math.isnan(confidence) else f"{confidence:.3f}", location,
                 radius.replace(" mm", ""), decision or ""]  # fmt: skip
        rows.append({"index": index, "cells": cells, "decision": decision})
    return rows


def detection_summary(point: Mapping[str, Any], decision: Mapping[str, Any] | None) -> str:
    """ "CMB-n: confidence c, description" plus the reader's decision."""
    text = point["label"]
    if not math.isnan(point["confidence"]):
        text += f": confidence {point['confidence']:.3f}"
    if point.get("description"):
        text += f", {point['description']}"
    return text + (f" - your decision: {decision['decision']}" if decision else " - not reviewed")


def case_id_for(volume_name: str) -> str:
    """The annotation-store case id of a reviewed volume (``cmb_`` plus the name, safe characters only)."""
    stem = re.sub(r"[^A-Za-z0-9_.:-]+", "_", volume_name).strip("_") or "volume"
    return f"cmb_{stem}"[:64]


def model_version(result: Mapping[str, Any]) -> str:
    """The model whose output the reader saw: ``<bundle name> <version>``."""
    bundle = result.get("bundle") or {}
    return f"{bundle.get('name', 'cmb_detect')} {bundle.get('version', '')}".strip()


def store_folder_for(folder: str, scene_file: str, fallback_folder: str) -> Path:
    """The annotation store's folder: the chosen one, else beside the saved scene, else ``fallback_folder``."""
    if folder.strip() not in ("", "."):
        return Path(folder)
    if scene_file:
        return Path(scene_file).parent
    return Path(fallback_folder) / "RadTriageAnnotations"


def open_review_store(folder: str | Path):
    """Open (creating when needed) the annotation store in ``folder``; close it after use."""
    from radtriage.annotations import open_store

    Path(folder).mkdir(parents=True, exist_ok=True)
    return open_store(folder)


def review_detection(store, case_id: str, reader_id: str, label: str, decision: str, ras: Sequence[float],
                     version: str):  # fmt: skip
    """Append the reader's decision (accept / reject / add) on one candidate at RAS mm; returns the entry.

    The store is append-only: a later decision on the same detection is a new history entry.
    """
    from radtriage.annotations import CaseRef, candidate_target

    store.add_case(CaseRef(case_id))
    store.add_reader(reader_id)
    value = {"decision": decision, "ras_mm": [float(v) for v in ras]}
    return store.set_label(case_id, reader_id, REVIEW_SCHEMA, value, target=candidate_target(label),
                           model_version=version)  # fmt: skip


def review_decisions(store, case_id: str, reader_id: str) -> dict[str, dict[str, Any]]:
    """The reader's current decisions on the case: {candidate id: {"decision", "ras_mm"}}."""
    entries = store.current_labels(case_id, reader_id, REVIEW_SCHEMA)
    return {entry.target.partition(":")[2]: dict(entry.value) for entry in entries}


def next_added_label(existing: Sequence[str]) -> str:
    """A new candidate id ``added-N`` for a reader-added lesion, after those in ``existing``."""
    numbers = [int(x[len(ADDED_PREFIX) :]) for x in existing if re.fullmatch(rf"{ADDED_PREFIX}\d+", x)]
    return f"{ADDED_PREFIX}{max(numbers, default=0) + 1}"


def add_missed(store, case_id: str, reader_id: str, ras: Sequence[float], version: str) -> str:
    """Store a missed microbleed at RAS mm as a new ``added-N`` candidate; returns its id."""
    label = next_added_label(list(review_decisions(store, case_id, reader_id)))
    review_detection(store, case_id, reader_id, label, "add", ras, version)
    return label


def add_point(markups_node: Any, label: str, ras: Sequence[float]) -> int:
    """Add a reader-added control point (no confidence) to the detections; returns its index."""
    index = markups_node.AddControlPoint(tuple(float(v) for v in ras), label)
    markups_node.SetNthControlPointDescription(index, "added by the reader")
    return index
