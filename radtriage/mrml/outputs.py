"""Results into the output node the user chose (an Add-enabled node selector), else into the node made for them."""

from __future__ import annotations

from typing import Any

from radtriage.mrml.hierarchy import subject_hierarchy


def into_chosen_node(scene: Any, made: Any, chosen: Any | None) -> Any:
    """The node a result ends in: ``chosen`` with ``made``'s content (``made`` is then removed), else ``made``.

    ``chosen`` keeps its name and ID (so the selector keeps showing it) and takes ``made``'s place in the
    subject hierarchy; a ``chosen`` node of another class raises ValueError naming both.
    """
    if chosen is None or made is None or chosen is made or scene.GetNodeByID(chosen.GetID()) is None:
        return made
    if chosen.GetClassName() != made.GetClassName():
        raise ValueError(
            f"the output {chosen.GetName()!r} is a {chosen.GetClassName()}, the result needs a "
            f"{made.GetClassName()}: pick another output node or 'none'"
        )
    name = chosen.GetName()
    chosen.CopyContent(made, True)
    chosen.SetName(name)
    sh = subject_hierarchy(scene)
    made_item = sh.GetItemByDataNode(made) if sh is not None else 0
    parent = sh.GetItemParent(made_item) if made_item else 0
    made_display = made.GetDisplayNode() if hasattr(made, "GetDisplayNode") else None
    scene.RemoveNode(made)
    if made_display is not None and made_display.GetScene() is not None:
        scene.RemoveNode(made_display)
    if sh is not None and parent:
        item = sh.GetItemByDataNode(chosen) or sh.CreateItem(sh.GetSceneItemID(), chosen)
        sh.SetItemParent(item, parent)
    return chosen
