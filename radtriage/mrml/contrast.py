"""MR contrast of volume nodes: the evidence a Slicer scene holds, classified exactly as the image readers' images.

A volume node loaded by Slicer's DICOM module carries the SOP instance UIDs of its slices in the node attribute
``DICOM.instanceUIDs`` (``DICOMScalarVolumePlugin.setVolumeNodeProperties``) and a subject hierarchy series item
with ``DICOM.SeriesDescription`` / ``DICOM.Modality``; Slicer's DICOM database (``slicer.dicomDatabase``, a
``ctkDICOMDatabase``) maps an instance UID to its file (``fileForInstance``) or to a tag value (``instanceValue``).
A node loaded from a file has a storage node with the file name; every node has a name. :func:`node_metadata`
turns these into the metadata ``radtriage.io.read_image`` gives an image (``dicom_tags``, ``series_description``,
``modality``, ``source_path``, ``description``), so :func:`radtriage.io.contrast.classify_image` gives the same
guess on the node as on the image. No voxels are read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage import node_attributes
from radtriage.errors import InputError
from radtriage.io.contrast import ContrastAssignment, ContrastGuess, assign_contrasts, classify_image
from radtriage.io.tags import CONTRAST_TAG_KEYWORDS, PRIVATE_BVALUE_TAGS
from radtriage.mrml.volumes import INSTANCE_UIDS_ATTRIBUTE

logger = logging.getLogger(__name__)


EVIDENCE_ATTRIBUTE = node_attributes.CONTRAST_EVIDENCE
"""Node attribute (JSON) keeping what a reader of this project knew about the image the node was made from."""

_SH_INSTANCE_UIDS = "DICOMInstanceUID"
_KEPT_METADATA = ("dicom_tags", "modality", "series_description", "source_path", "format")


@dataclass(frozen=True)
class NodeEvidence:
    """A volume node's contrast evidence as image metadata (what ``classify_image`` reads)."""

    metadata: dict[str, Any] = field(default_factory=dict)


def _tag_string(keyword: str) -> str | None:
    """``SeriesDescription`` -> ``0008,103E``: the tag form ``ctkDICOMDatabase.instanceValue`` takes."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return None if tag is None else f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


def _instance_uids(node: Any) -> list[str]:
    """The node's DICOM instance UIDs: its ``DICOM.instanceUIDs`` attribute, else its subject hierarchy item's."""
    text = node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or ""
    if not text.strip() and node.GetScene() is not None:
        from radtriage.mrml.hierarchy import subject_hierarchy

        sh_node = subject_hierarchy(node.GetScene())
        text = sh_node.GetItemUID(sh_node.GetItemByDataNode(node), _SH_INSTANCE_UIDS) or ""
    return [uid for uid in text.split() if uid != "Unknown"]


def _tags_from_file(path: str) -> dict[str, Any] | None:
    """The contrast tags of one instance file (header only), or None when it cannot be read."""
    from radtriage.io.dicom import read_header
    from radtriage.io.tags import extract_tags

    try:
        return extract_tags(read_header(path))
    except (InputError, OSError, ValueError) as exc:
        logger.warning("cannot read DICOM header of %s: %s", path, exc)
        return None


def _tags_from_database(database: Any, uid: str) -> dict[str, Any]:
    """The contrast tags of one instance from ``instanceValue`` (values as the database gives them, text)."""
    tags: dict[str, Any] = {}
    for keyword in CONTRAST_TAG_KEYWORDS:
        tag = _tag_string(keyword)
        value = str(database.instanceValue(uid, tag) or "").strip() if tag else ""
        if value:
            tags[keyword] = value
    if "DiffusionBValue" not in tags:
        for group, element in PRIVATE_BVALUE_TAGS:
            value = str(database.instanceValue(uid, f"{group:04X},{element:04X}") or "").strip()
            if value:
                tags["DiffusionBValue"] = value
                break
    return tags


def dicom_metadata(instance_uids: Iterable[str], database: Any) -> dict[str, Any]:
    """Reader metadata of a DICOM series from Slicer's DICOM database; ``{}`` when it knows none of the instances.

    The first instance with a file gives the tags (header read with pydicom); an instance without a file gives
    them through ``instanceValue``. ``source_path`` is the file (one instance) or its folder, as the reader's.
    """
    uids = list(instance_uids)
    for uid in uids:
        path = str(database.fileForInstance(uid) or "")
        if path and os.path.isfile(path):
            tags = _tags_from_file(path)
            if tags is not None:
                source = path if len(uids) == 1 else str(Path(path).parent)
                return _dicom_fields(tags, source)
    for uid in uids[:1]:
        tags = _tags_from_database(database, uid)
        if tags:
            return _dicom_fields(tags, None)
    return {}


def _dicom_fields(tags: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": "dicom",
        "dicom_tags": dict(tags),
        "modality": str(tags.get("Modality", "") or ""),
        "series_description": str(tags.get("SeriesDescription", "") or ""),
    }
    if source:
        out["source_path"] = source
    return out


def _hierarchy_metadata(node: Any) -> dict[str, Any]:
    """Series description and modality that Slicer's DICOM import put on the node's subject hierarchy item."""
    from slicer import vtkMRMLSubjectHierarchyConstants

    from radtriage.mrml.hierarchy import subject_hierarchy

    if node.GetScene() is None:
        return {}
    sh_node = subject_hierarchy(node.GetScene())
    item = sh_node.GetItemByDataNode(node)
    if not item:
        return {}
    prefix = vtkMRMLSubjectHierarchyConstants.GetDICOMAttributePrefix()
    modality = sh_node.GetItemAttribute(item, vtkMRMLSubjectHierarchyConstants.GetDICOMSeriesModalityAttributeName())
    description = sh_node.GetItemAttribute(item, prefix + "SeriesDescription")
    out = {"modality": modality or "", "series_description": description or ""}
    return {key: value for key, value in out.items() if value}


def _storage_metadata(node: Any) -> dict[str, Any]:
    """``source_path`` and ``description`` of the file the node was read from (its storage node's file name)."""
    from radtriage.io.volume import description_from_name

    storage = node.GetStorageNode() if hasattr(node, "GetStorageNode") else None
    file_name = storage.GetFileName() if storage is not None else None
    if not file_name:
        return {}
    return {"source_path": str(file_name), "description": description_from_name(file_name)}


def _stored_metadata(node: Any) -> dict[str, Any]:
    text = node.GetAttribute(EVIDENCE_ATTRIBUTE)
    if not text:
        return {}
    try:
        stored = json.loads(text)
    except ValueError:
        logger.warning("volume %s: attribute %s is not JSON; ignored", node.GetName(), EVIDENCE_ATTRIBUTE)
        return {}
    return {key: stored[key] for key in _KEPT_METADATA if key in stored} if isinstance(stored, dict) else {}


def node_metadata(node: Any, dicom_database: Any | None = None) -> dict[str, Any]:
    """The image-reader metadata of a volume node, from every source Slicer has (later sources fill gaps only).

    DICOM tags through ``DICOM.instanceUIDs`` and ``dicom_database`` come first, then the evidence a project
    reader stored on the node (:func:`store_image_evidence`), the subject hierarchy's series description and
    modality, the storage node's file name. The node name is the ``description`` only when nothing else names
    the image (Slicer names a loaded file after its file and a DICOM series after its description, so there the
    name would only repeat it, and an edited name must not outvote the file the reader would see).
    """
    metadata: dict[str, Any] = {}
    sources = []
    if dicom_database is not None:
        uids = _instance_uids(node)
        if uids:
            sources.append(dicom_metadata(uids, dicom_database))
    sources += [_stored_metadata(node), _hierarchy_metadata(node), _storage_metadata(node)]
    for source in sources:
        for key, value in source.items():
            if value and not metadata.get(key):
                metadata[key] = value
    name = node.GetName()
    if name and not (metadata.get("description") or metadata.get("series_description")):
        metadata["description"] = name
    return metadata


def node_evidence(node: Any, dicom_database: Any | None = None) -> NodeEvidence:
    """What :func:`classify_image` / :func:`assign_contrasts` need of a volume node."""
    return NodeEvidence(node_metadata(node, dicom_database))


def classify_volume_node(node: Any, dicom_database: Any | None = None) -> ContrastGuess:
    """The contrast of a volume node, as ``classify_image`` gives it on the image the node was made from."""
    return classify_image(node_evidence(node, dicom_database))


def assign_node_contrasts(
    nodes: Iterable[Any],
    dicom_database: Any | None = None,
    overrides: Mapping[str, str] | None = None,
) -> ContrastAssignment:
    """``assign_contrasts`` on volume nodes, keyed by node ID (``overrides`` by node ID too)."""
    return assign_contrasts({node.GetID(): node_evidence(node, dicom_database) for node in nodes}, overrides)


def store_image_evidence(node: Any, image: Any) -> None:
    """Keep what a project reader knew about ``image`` (tags, series description, file) on the node it became."""
    metadata = getattr(image, "metadata", None) or {}
    kept = {key: metadata[key] for key in _KEPT_METADATA if metadata.get(key)}
    if kept:
        node.SetAttribute(EVIDENCE_ATTRIBUTE, json.dumps(kept, default=str))
