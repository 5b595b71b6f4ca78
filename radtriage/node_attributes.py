"""The MRML node attributes the project sets (saved with the scene, so their names are a stored format) and the
one stamp every task result's node gets: which task, which bundle, demo or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "RadTriage."
ROLE = PREFIX + "Role"
"""What a node is for (``heatmap``, ``body_region_ranges`` ...)."""
TASK = PREFIX + "Task"
BUNDLE = PREFIX + "Bundle"
"""``<bundle name> <version>`` of the model that made the node."""
DEMO = PREFIX + "Demo"
"""``1`` when that bundle is a demo bundle (not for clinical use), else ``0``."""
OUTPUT = PREFIX + "Output"
"""The model output a heatmap belongs to."""
THRESHOLD = PREFIX + "Threshold"
OPERATING_POINT = PREFIX + "OperatingPoint"
MISSING_CONTRASTS = PREFIX + "MissingContrasts"
CERTAINTY_BAND = PREFIX + "CertaintyBand"
CERTAINTY_SOURCE = PREFIX + "CertaintySource"
CONFIDENCES = PREFIX + "Confidences"
CONTRAST_EVIDENCE = PREFIX + "ContrastEvidence"
HEADER_QA_STATUS = PREFIX + "HeaderQA.Status"
HEADER_QA_MESSAGE = PREFIX + "HeaderQA.Message"
MODALITY = PREFIX + "Modality"
REVIEW_CASE = PREFIX + "ReviewCase"
REVIEW_ROLE = PREFIX + "ReviewRole"


def stamp_result(node: Any, task: str, bundle: Mapping[str, Any] | None) -> None:
    """Set :data:`TASK`, :data:`BUNDLE` and :data:`DEMO` on a node that shows ``task``'s result of ``bundle``
    (the result's ``bundle`` dict: name, version, demo)."""
    bundle = bundle or {}
    node.SetAttribute(TASK, task)
    node.SetAttribute(BUNDLE, f"{bundle.get('name', '')} {bundle.get('version', '')}".strip())
    node.SetAttribute(DEMO, "1" if bundle.get("demo") else "0")
