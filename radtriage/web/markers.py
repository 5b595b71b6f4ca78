"""Point markers the model's overlay does not draw: the microbleeds the reader added, and — in blind mode, where
the model's markups stay hidden — the candidates to accept or reject, at their positions only (no confidence)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from radtriage.review import LabelControl

MARKERS_NAME = "Review points"
READER_COLOUR = (0.2, 0.9, 0.3)
CANDIDATE_COLOUR = (1.0, 0.85, 0.2)


def marker_points(controls: Sequence[LabelControl], outputs_shown: bool) -> list[tuple[str, list[float]]]:
    """(label, RAS) of every CMB control to mark: reader additions always, model candidates only while the
    model's own markups are hidden."""
    points = []
    for control in controls:
        if control.kind != "cmb" or control.context.get("ras_mm") is None:
            continue
        name = control.target.split(":", 1)[-1]
        if name.startswith("reader-") or not outputs_shown:
            points.append((name, [float(v) for v in control.context["ras_mm"]]))
    return points


def show_markers(scene: Any, points: Sequence[tuple[str, Sequence[float]]], case_id: str,
                 previous: Any | None = None) -> Any | None:
    """Replace ``previous`` (a node this function made) with a fiducial node of ``points``; None when empty.
    The node carries the case attribute, so clearing the case removes it."""
    from radtriage.mrml import add_detections
    from radtriage.review.case_mrml import CASE_ATTRIBUTE

    if previous is not None and previous.GetScene() is scene:
        scene.RemoveNode(previous)
    if not points:
        return None
    node = add_detections(scene, MARKERS_NAME, [p for _, p in points], labels=[n for n, _ in points])
    node.SetAttribute(CASE_ATTRIBUTE, case_id)
    reader = all(n.startswith("reader-") for n, _ in points)
    node.GetDisplayNode().SetSelectedColor(*(READER_COLOUR if reader else CANDIDATE_COLOUR))
    node.SetLocked(True)
    return node
