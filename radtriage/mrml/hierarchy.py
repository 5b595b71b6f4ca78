"""Subject hierarchy: file data nodes under patient and study items, creating or reusing them by name."""

from __future__ import annotations

from typing import Any

from slicer import vtkMRMLSubjectHierarchyConstants, vtkMRMLSubjectHierarchyNode


def subject_hierarchy(scene: Any) -> Any:
    """The scene's subject hierarchy node (created when missing)."""
    sh_node = vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh_node is None:
        raise RuntimeError("the scene has no subject hierarchy node")
    return sh_node


def _child_at_level(sh_node: Any, parent: int, name: str, level: str) -> int:
    """The child item of ``parent`` with this name and level, or 0 (invalid item) when none."""
    children = _children(sh_node, parent)
    for item in children:
        if sh_node.GetItemName(item) == name and sh_node.GetItemLevel(item) == level:
            return item
    return 0


def _children(sh_node: Any, parent: int) -> list[int]:
    """Direct children of an item."""
    from vtkmodules.vtkCommonCore import vtkIdList

    ids = vtkIdList()
    sh_node.GetItemChildren(parent, ids, False)
    return [ids.GetId(i) for i in range(ids.GetNumberOfIds())]


def place_under_study(scene: Any, node: Any, patient_name: str, study_name: str) -> int:
    """Put ``node`` under the study ``study_name`` of the patient ``patient_name`` (both reused if present).

    Returns the study's subject hierarchy item ID.
    """
    sh_node = subject_hierarchy(scene)
    patient_level = vtkMRMLSubjectHierarchyConstants.GetDICOMLevelPatient()
    study_level = vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy()
    patient = _child_at_level(sh_node, sh_node.GetSceneItemID(), patient_name, patient_level)
    if not patient:
        patient = sh_node.CreateSubjectItem(sh_node.GetSceneItemID(), patient_name)
    study = _child_at_level(sh_node, patient, study_name, study_level)
    if not study:
        study = sh_node.CreateStudyItem(patient, study_name)
    item = sh_node.GetItemByDataNode(node)
    if item:
        sh_node.SetItemParent(item, study)
    else:
        sh_node.CreateItem(study, node)
    return study


def patient_and_study_of(scene: Any, node: Any) -> tuple[str | None, str | None]:
    """Names of the patient and study items above ``node`` (None where there is none)."""
    sh_node = subject_hierarchy(scene)
    item = sh_node.GetItemByDataNode(node)
    if not item:
        return (None, None)
    names = []
    for level in (
        vtkMRMLSubjectHierarchyConstants.GetDICOMLevelPatient(),
        vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy(),
    ):
        ancestor = sh_node.GetItemAncestorAtLevel(item, level)
        names.append(sh_node.GetItemName(ancestor) if ancestor else None)
    return (names[0], names[1])
