"""Heatmap overlays: a volume with a colour table and threshold shown as the foreground of every slice view."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from radtriage import node_attributes
from radtriage.image import Image
from radtriage.mrml.scene import slice_composite_nodes
from radtriage.mrml.volumes import image_to_volume_node

logger = logging.getLogger(__name__)

DEFAULT_HEATMAP_COLORMAP = "Iron"
"""Red to yellow, never grey: every voxel above threshold stands out from a grey background (built into every scene)."""


def find_color_node(scene: Any, color: str) -> Any:
    """The colour node with ID ``color``, else the first colour node named ``color`` (e.g. 'Iron', 'PET-Heat')."""
    node = scene.GetNodeByID(color)
    if node is not None and node.IsA("vtkMRMLColorNode"):
        return node
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLColorNode")):
        candidate = scene.GetNthNodeByClass(i, "vtkMRMLColorNode")
        if candidate.GetName() == color:
            return candidate
    raise KeyError(f"no colour node with ID or name {color!r} in the scene")


def show_in_slice_views(
    scene: Any, background_node: Any | None, foreground_node: Any | None = None, opacity: float = 1.0
) -> None:
    """Set background/foreground volumes and foreground opacity on every slice composite node."""
    for composite in slice_composite_nodes(scene):
        if background_node is not None:
            composite.SetBackgroundVolumeID(background_node.GetID())
        composite.SetForegroundVolumeID(foreground_node.GetID() if foreground_node is not None else None)
        composite.SetForegroundOpacity(float(opacity))


def add_heatmap_overlay(
    scene: Any,
    background_node: Any,
    heatmap: Image,
    name: str,
    color: str = DEFAULT_HEATMAP_COLORMAP,
    threshold: float | None = None,
    opacity: float = 0.5,
    window_level: tuple[float, float] | None = None,
) -> Any:
    """Add ``heatmap`` as a coloured volume and show it over ``background_node`` in every slice view.

    ``color`` is a colour node ID or name. Voxels below ``threshold`` are transparent (no threshold: none are).
    ``window_level`` is (window, level); by default the heatmap's min..max range. Returns the heatmap volume node.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    if heatmap.n_components != 1:
        raise ValueError("a heatmap must have one component per voxel")
    color_node = find_color_node(scene, color)
    node = image_to_volume_node(scene, heatmap.with_array(heatmap.array.astype(np.float32)), name)
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(color_node.GetID())
    display.AutoWindowLevelOff()
    if window_level is None:
        low, high = float(np.min(heatmap.array)), float(np.max(heatmap.array))
        window_level = (max(high - low, 1e-6), (high + low) / 2.0)
    display.SetWindowLevel(float(window_level[0]), float(window_level[1]))
    if threshold is not None:
        display.AutoThresholdOff()
        display.SetThreshold(float(threshold), float(np.max(heatmap.array)) + 1.0)
        display.ApplyThresholdOn()
    else:
        display.ApplyThresholdOff()
    node.SetAttribute(node_attributes.ROLE, "heatmap")
    show_in_slice_views(scene, background_node, node, opacity)
    return node
