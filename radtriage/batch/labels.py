"""Model outputs as annotation-store labels, so model-vs-reader agreement uses the same schemas as readers.

The model is a reader whose id is ``model:<bundle>:<version>`` (``@`` is not allowed in reader ids).

=================  ===============================  =====================================================
task               schema                           label
=================  ===============================  =====================================================
``mri_triage``     ``mri_normal_abnormal``          "abnormal" when the thresholded abnormal decision is set
                   ``mri_critical_findings``        the critical findings whose thresholded decision is set
``lge_certainty``  ``lge_rating`` (per slice)       the slice's 0-100 likelihood
``cmb_detect``     ``cmb_review`` (per detection)   ``{"decision": "add", "ras_mm": centre}`` on ``candidate:<label>``
``body_region``    ``body_region_correction``       the region of each contiguous slice range
=================  ===============================  =====================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from radtriage.annotations.records import Label, check_identifier
from radtriage.annotations.schema import (
    CRITICAL_FINDINGS,
    candidate_target,
    slice_range_target,
    slice_target,
)


def model_reader_id(bundle: Mapping[str, Any]) -> str:
    """``model:<name>:<version>`` of a result's bundle record, made to fit the store's identifier rule."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(bundle.get("name") or "unknown"))
    version = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(bundle.get("version") or "0"))
    reader = f"model:{name}:{version}"
    if len(reader) > 64:
        reader = f"model:{name[: 63 - len('model:') - len(version) - 1]}:{version}"
    return check_identifier(reader, "model reader id")


def model_version(bundle: Mapping[str, Any]) -> str:
    """``<name>@<version>`` of a result's bundle record: the model version stored with labels — by the model
    reader here and, for the output a reader saw, by the review session."""
    return f"{bundle.get('name') or 'unknown'}@{bundle.get('version') or '0'}"


def labels_from_result(task: str, outputs: Mapping[str, Any]) -> list[Label]:
    """The labels a model's result stands for (may be empty, e.g. no microbleed detected)."""
    if task == "mri_triage":
        decisions = outputs.get("decisions", {})
        labels = [Label("mri_normal_abnormal", "abnormal" if decisions.get("abnormal") else "normal")]
        labels.append(Label("mri_critical_findings", [f for f in CRITICAL_FINDINGS if decisions.get(f)]))
        return labels
    if task == "lge_certainty":
        return [Label("lge_rating", float(s["likelihood"]), slice_target(int(s["index"])))
                for s in outputs.get("slices", []) if s.get("likelihood") is not None]
    if task == "cmb_detect":
        return [Label("cmb_review", {"decision": "add", "ras_mm": [float(v) for v in d["center_ras"]]},
                      candidate_target(d.get("label") or f"model-{n + 1}"))
                for n, d in enumerate(outputs.get("detections", []))]
    if task == "body_region":
        return [Label("body_region_correction", r["region"], slice_range_target(*r["index_range"]))
                for r in outputs.get("ranges", [])]
    return []
