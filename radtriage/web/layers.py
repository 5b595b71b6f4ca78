"""What the slice views layer: which loaded series is the background (every input of the case, and the LGE
short-axis reformat), which MRI heatmap is the foreground, the heatmap's colour bar on its fixed 0..1
probability scale, and the body-region colour legend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAX_REFORMAT = "short-axis reformat"
"""The background choice of the LGE task's rated short-axis reformat (a 3D LGE input)."""
HEATMAP_TITLES = {"abnormal": "abnormal", "acute_infarct": "acute infarct", "acute_haemorrhage": "acute haemorrhage",
                  "mass_effect": "mass effect"}
"""How the picker names each MRI output's heatmap."""
BAR_STOPS = 11


def echo_nodes(scene: Any, key: str, node: Any) -> dict[str, Any]:
    """One scalar volume per component of a multi-component (multi-echo) volume, ``{"KEY echo N": node}``;
    ``{key: node}`` for a scalar one. The new nodes carry the node's case attribute (cleared with the case)."""
    from radtriage.mrml import image_to_volume_node
    from radtriage.mrml.volumes import volume_node_to_image
    from radtriage.review.case_mrml import CASE_ATTRIBUTE

    if not node.IsA("vtkMRMLVectorVolumeNode"):
        return {key: node}
    image = volume_node_to_image(node, copy=False)
    echoes = {}
    for e in range(image.n_components):
        echo = image_to_volume_node(scene, image.with_array(image.array[..., e].copy()),
                                    f"{node.GetName()} echo {e + 1}")
        echo.SetAttribute(CASE_ATTRIBUTE, node.GetAttribute(CASE_ATTRIBUTE) or "")
        echoes[f"{key} echo {e + 1}"] = echo
    return echoes


def background_nodes(scene: Any, loaded: Mapping[str, Any]) -> dict[str, Any]:
    """{choice: volume node} of the series a case can show as background: its inputs (a multi-echo one as one
    choice per echo), then the LGE short-axis reformat the task rated."""
    nodes: dict[str, Any] = {}
    for key, node in (loaded.get("inputs") or {}).items():
        nodes.update(echo_nodes(scene, key, node))
    sax = (loaded.get("overlays") or {}).get("sax_volume")
    if sax is not None:
        nodes[SAX_REFORMAT] = sax
    return nodes


def first_shown(nodes: Mapping[str, Any], reference: Any) -> str:
    """The background a case opens on: the rated short-axis reformat, else the reference (its first echo)."""
    if SAX_REFORMAT in nodes:
        return SAX_REFORMAT
    for key, node in nodes.items():
        if node is reference or node.GetName().startswith(f"{reference.GetName()} echo "):
            return key
    return next(iter(nodes))


def show_background(scene: Any, node: Any) -> None:
    """Make ``node`` the background of every slice view (the foreground and label layers stay)."""
    from radtriage.mrml import slice_composite_nodes

    for composite in slice_composite_nodes(scene):
        composite.SetBackgroundVolumeID(node.GetID())


def shown_background(scene: Any, nodes: Mapping[str, Any]) -> str:
    """The choice of ``nodes`` the axial view shows as background ('' when none is)."""
    from radtriage.mrml import slice_composite_nodes

    ids = {composite.GetLayoutName(): composite.GetBackgroundVolumeID() for composite in slice_composite_nodes(scene)}
    return next((key for key, node in nodes.items() if node.GetID() == ids.get("Red")), "")


def show_heatmap(scene: Any, node: Any | None) -> None:
    """Make the heatmap ``node`` the foreground of every slice view (None: no foreground)."""
    from radtriage.mrml import slice_composite_nodes

    for composite in slice_composite_nodes(scene):
        composite.SetForegroundVolumeID(node.GetID() if node is not None else None)


def heatmap_choices(heatmaps: Mapping[str, Any]) -> list[dict[str, str]]:
    """The heatmap picker's items: ``{"value": output, "title": readable name}``."""
    return [{"value": name, "title": HEATMAP_TITLES.get(name, name.replace("_", " "))} for name in heatmaps]


def colour_bar(scene: Any, threshold: float, colormap: str | None = None) -> dict[str, Any]:
    """The heatmap colour bar: a CSS gradient of the colour map over the fixed probability range 0..1 (the
    heatmaps' window/level is 1/0.5 whatever the case), transparent below ``threshold``, with its tick labels."""
    from radtriage.mrml.overlay import find_color_node
    from radtriage.tasks.mri_triage.mrml import HEATMAP_COLORMAP

    colormap = colormap or HEATMAP_COLORMAP
    lut = find_color_node(scene, colormap).GetLookupTable()
    low, high = lut.GetRange()
    stops = []
    for i in range(BAR_STOPS):
        p = i / (BAR_STOPS - 1)
        r, g, b = [0.0, 0.0, 0.0]
        rgb = [r, g, b]
        lut.GetColor(low + p * (high - low), rgb)
        r, g, b = rgb
        stops.append(f"rgb({round(255 * r)},{round(255 * g)},{round(255 * b)}) {100 * p:.0f}%")
    return {"gradient": f"linear-gradient(to right, {', '.join(stops)})", "threshold": float(threshold),
            "ticks": [0.0, float(threshold), 0.5, 1.0]}


def region_legend(outputs: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The body-region colour legend: ``{"name", "colour"}`` per class of the result's label set, key order."""
    labelset = (outputs or {}).get("labelset") or {}
    names = list(labelset.get("display_names") or labelset.get("class_names") or [])
    colours = list(labelset.get("colours") or [])
    return [{"name": str(name), "colour": "rgb({},{},{})".format(*(int(v) for v in rgb[:3]))}
            for name, rgb in zip(names, colours, strict=False)]
