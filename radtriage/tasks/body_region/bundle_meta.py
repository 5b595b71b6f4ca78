"""What a body-region bundle records: its label set (names, colours, SNOMED codes) and preprocessing.

Design choice: **one bundle per modality** (``body-region-ct`` with 17 classes, ``body-region-mr``
with 18). The bundle format gives each bundle one input modality and one class list, the two label
sets differ (MR has ``breast``), and CT (calibrated HU) and MR (arbitrary units, scaled per volume)
need different intensity handling; separate bundles also let either model be replaced on its own.
The runner picks the bundle whose ``radtriage.inputs.modality`` matches the input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radtriage.labelsets import LabelSet, body_region_labelset
from radtriage.models import check_config, default_metadata
from radtriage.models.bundle import INFERENCE_FILE, METADATA_FILE
from radtriage.nets.body_region import NETWORK_NAME
from radtriage.preprocess.transforms import PREPROCESSING_KEY
from radtriage.tasks.body_region.intensity import intensity_config

TASK = "body_region"
SLICE_SIZE = 64
"""Canonical slice grid (pixels per side)."""
FOV_MM = 512.0
"""Canonical field of view (mm per side): 8 mm pixels, so body size is preserved for the network."""
FEATURES = (16, 24, 48, 64)
DEMO_NOTICE = "demo, not for clinical use"


def bundle_name(modality: str) -> str:
    """The conventional bundle name for a modality: ``body-region-ct`` or ``body-region-mr``."""
    return f"body-region-{body_region_labelset(modality).modality.lower()}"


def labelset_metadata(labelset: LabelSet) -> dict[str, Any]:
    """The label set as stored in a bundle: name, class names, display names, colours and SNOMED codes."""
    return {
        "name": labelset.name,
        "modality": labelset.modality,
        "order": "head to feet (arm classes at the level where the arms hang)",
        "class_names": list(labelset.names),
        "display_names": [c.display_name for c in labelset.classes],
        "colours": [list(c.colour) for c in labelset.classes],
        "snomed": [
            {"code": c.snomed_code, "scheme": "SCT", "meaning": c.snomed_meaning} for c in labelset.classes
        ],
    }


def inference_extra(modality: str) -> dict[str, Any]:
    """The body-region items of ``inference.json`` besides the network: the preprocessing pipeline."""
    return {PREPROCESSING_KEY: intensity_config(modality)}


def network_def(modality: str) -> dict[str, Any]:
    """The ``network_def`` of a body-region bundle for ``modality``."""
    return {
        "_target_": NETWORK_NAME,
        "in_channels": 1,
        "out_channels": len(body_region_labelset(modality)),
        "spatial_dims": 2,
        "features": list(FEATURES),
    }


def body_region_metadata(
    modality: str,
    *,
    version: str,
    demo: bool,
    description: str | None = None,
    name: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    changelog: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A complete bundle metadata object for a body-region bundle (label set and preprocessing included)."""
    labelset = body_region_labelset(modality)
    mod = labelset.modality
    text = description or (
        f"Per-slice body-region classifier for {mod} ({len(labelset)} regions, head to feet) with "
        "head-to-feet sequence smoothing."
    )
    if demo and DEMO_NOTICE not in text:
        text += f" Trained on synthetic body phantoms only: {DEMO_NOTICE}."
    meta = default_metadata(
        name or bundle_name(mod),
        TASK,
        version=version,
        description=text,
        class_names=labelset.names,
        inputs={"contrasts": [mod], "modality": mod, "spacing": [FOV_MM / SLICE_SIZE] * 2,
                "patch_size": [SLICE_SIZE, SLICE_SIZE]},
        outputs={"kind": "multiclass", "activation": "softmax", "channels": len(labelset)},
        demo=demo,
        changelog=changelog,
    )
    meta["radtriage"]["labelset"] = labelset_metadata(labelset)
    if metrics is not None:
        meta["radtriage"]["metrics"] = dict(metrics)
    return meta


def labelset_card_table(labelset: LabelSet) -> list[str]:
    """Markdown table of the label set (index, name, display name, colour, SNOMED CT code)."""
    lines = ["| # | Class | Display name | Colour (RGB) | SNOMED CT |", "|---|---|---|---|---|"]
    for c in labelset.classes:
        code = f"{c.snomed_code} ({c.snomed_meaning})" if c.snomed_code else "-"
        lines.append(f"| {c.index} | `{c.name}` | {c.display_name} | {', '.join(map(str, c.colour))} | {code} |")
    return lines


def annotate_bundle(folder: str | Path, modality: str, metrics: Mapping[str, Any] | None = None,
                    card_section: str | None = None) -> Path:
    """Add the body-region sections (label set, preprocessing, metrics) to a bundle written by the trainer.

    ``configs/metadata.json`` gains ``radtriage.labelset`` and (if given) ``radtriage.metrics``;
    ``configs/inference.json`` gets the modality's preprocessing (:func:`inference_extra`); ``card_section``
    (Markdown, from its first line on) is appended to the model card, replacing a section with the same first
    line. The weights and their SHA-256 are untouched; both configs are checked again after writing.
    """
    from radtriage.models.bundle import MODEL_CARD_FILE, read_metadata

    folder = Path(folder)
    labelset = body_region_labelset(modality)
    path = folder / METADATA_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    if list(raw["radtriage"]["class_names"]) != list(labelset.names):
        raise ValueError(f"{path}: class names are not the {labelset.modality} body-region label set")
    raw["radtriage"]["labelset"] = labelset_metadata(labelset)
    raw["radtriage"].pop("preprocessing", None)  # where bundles before the preprocessing Compose kept it
    if metrics is not None:
        raw["radtriage"]["metrics"] = json.loads(json.dumps(dict(metrics)))
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    read_metadata(folder)
    inference_path = folder / INFERENCE_FILE
    inference = json.loads(inference_path.read_text(encoding="utf-8"))
    inference.update(inference_extra(labelset.modality))
    check_config(inference, str(inference_path))
    inference_path.write_text(json.dumps(inference, indent=2) + "\n", encoding="utf-8")
    if card_section:
        card = folder / MODEL_CARD_FILE
        text = card.read_text(encoding="utf-8")
        heading = card_section.strip().splitlines()[0]
        if heading in text:  # annotating again replaces the earlier section
            text = text[: text.index(heading)]
        card.write_text(text.rstrip("\n") + "\n\n" + card_section.strip() + "\n", encoding="utf-8")
    return folder
