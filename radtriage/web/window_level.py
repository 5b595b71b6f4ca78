"""Window / level of the background volume: CT presets, the modality default (a CT preset for a volume in
Hounsfield units, trame-slicer's 0.1-99.9 percentile range otherwise) and left-drag in the slice views
(Slicer's own window/level widget, active in the ``AdjustWindowLevel`` interaction mode)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trame_slicer.core import VolumeWindowLevel

AUTO = "auto"
CUSTOM = "custom"
PRESETS: dict[str, tuple[float, float]] = {
    "brain": (80.0, 40.0),
    "subdural": (215.0, 75.0),
    "stroke": (40.0, 40.0),
    "bone": (2000.0, 500.0),
    "soft tissue": (400.0, 40.0),
    "lung": (1500.0, -600.0),
}
"""CT presets (window, level) in Hounsfield units."""
CT_MINIMUM_HU = -500.0
"""A volume whose minimum is at or below this is taken for CT in Hounsfield units (air is -1000)."""
CT_DEFAULTS = {"mri_triage": "brain", "cmb_detect": "brain"}
"""The CT preset a task opens with; others open with soft tissue."""


def preset_names() -> list[str]:
    """Every choice of the window/level picker: the modality default (auto) and the CT presets."""
    return [AUTO, *PRESETS]


def is_ct(volume_node: Any) -> bool:
    """Whether the volume looks like CT in Hounsfield units (its minimum reaches air)."""
    return float(volume_node.GetImageData().GetScalarRange()[0]) <= CT_MINIMUM_HU


def default_preset(volume_node: Any, task: str) -> str:
    """The window/level a volume opens with: a CT preset for CT, ``auto`` (percentile range) otherwise."""
    if not is_ct(volume_node):
        return AUTO
    return CT_DEFAULTS.get(task, "soft tissue")


def preset_window_level(volume_node: Any, name: str) -> tuple[float, float]:
    """(window, level) of preset ``name`` for the volume (``auto``: its 0.1-99.9 percentile range)."""
    if name == AUTO:
        low, high = VolumeWindowLevel.get_volume_auto_min_max_range(volume_node)
        window, level = VolumeWindowLevel.min_max_to_window_level(low, high)
    elif name in PRESETS:
        window, level = PRESETS[name]
    else:
        raise KeyError(f"no window/level preset {name!r}; known: {', '.join(preset_names())}")
    return float(window), float(level)


def set_window_level(volume_node: Any, window_level: tuple[float, float]) -> None:
    """Set the volume's (window, level) (automatic window/level off)."""
    VolumeWindowLevel.set_volume_node_window_level(volume_node, *window_level)


def apply_preset(volume_node: Any, name: str) -> tuple[float, float]:
    """Set the volume's window/level to preset ``name``; returns (window, level)."""
    values = preset_window_level(volume_node, name)
    set_window_level(volume_node, values)
    return values


def window_level_of(volume_node: Any) -> tuple[float, float]:
    """The volume's current (window, level)."""
    display = VolumeWindowLevel.get_volume_display_node(volume_node)
    return float(display.GetWindow()), float(display.GetLevel())


def window_level_text(window: float, level: float) -> str:
    """ "W 80 L 40"."""
    return f"W {window:.0f} L {level:.0f}"


def enable_drag(app_logic: Any) -> None:
    """Left-drag in a slice view adjusts the background's window/level (Slicer's AdjustWindowLevel mode; the
    wheel still scrolls slices, right-drag zooms and middle-drag pans)."""
    node = app_logic.GetInteractionNode()
    node.SetCurrentInteractionMode(node.AdjustWindowLevel)


class Follower:
    """The window/level of the background on screen: the preset last applied and its values; a change made
    anywhere else (a left-drag) calls ``on_change(preset, text)`` with the preset ``custom``."""

    def __init__(self, on_change: Callable[[str, str], None]) -> None:
        self.on_change = on_change
        self.node: Any | None = None
        self.applied: tuple[float, float] = (0.0, 0.0)
        self._tag: int | None = None

    def follow(self, node: Any | None, preset: str | None = None) -> None:
        """Follow ``node`` (None: nothing), taking its current values as preset ``preset``."""
        from vtkmodules.vtkCommonCore import vtkCommand

        if self.node is not None and self._tag is not None:
            self.node.GetDisplayNode().RemoveObserver(self._tag)
        self.node, self._tag = node, None
        if node is None:
            return
        self.applied = window_level_of(node)
        self._tag = node.GetDisplayNode().AddObserver(vtkCommand.ModifiedEvent, self._on_modified)
        if preset is not None:
            self.on_change(preset, self.text())

    def apply(self, preset: str) -> None:
        """Apply ``preset`` to the followed volume (``custom``: nothing to apply)."""
        if self.node is None or preset == CUSTOM:
            return
        self.applied = preset_window_level(self.node, preset)  # first: the display node calls back at once
        set_window_level(self.node, self.applied)
        self.on_change(preset, self.text())

    def text(self) -> str:
        """ "W 80 L 40" of the followed volume ('' when none)."""
        return window_level_text(*window_level_of(self.node)) if self.node is not None else ""

    def _on_modified(self, *_: Any) -> None:
        if self.node is not None and window_level_of(self.node) != self.applied:
            self.applied = window_level_of(self.node)
            self.on_change(CUSTOM, self.text())
