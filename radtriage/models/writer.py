"""Writing a bundle: configs, weights with their SHA-256 and the model card, each checked before anything is
written (the network the config builds must take the weights). Imports torch; reading stays torch-free."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from radtriage.models.bundle import (
    DEFAULT_WEIGHT_FILES,
    INFERENCE_FILE,
    METADATA_FILE,
    MODEL_CARD_FILE,
    WEIGHT_FORMATS,
    BundleError,
    model_card,
    parse_metadata,
    read_metadata,
    sha256_file,
)
from radtriage.models.networks import NETWORK_KEY, WORKFLOW_CONFIG, build_network, check_config
from radtriage.models.safe_load import check_state_dict

log = logging.getLogger(__name__)


def write_bundle(
    folder: str | Path,
    network: Any,
    meta: Mapping[str, Any],
    network_def: Mapping[str, Any],
    *,
    weights_format: str = "pytorch",
    model_card_text: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a complete bundle to ``folder``: configs, weights with their SHA-256, and the model card.

    ``meta`` is a metadata object (see :func:`default_metadata`); its ``radtriage.weights`` is filled here.
    ``network_def`` is ``{"_target_": <allowed class>, **args}``; ``extra_config`` adds plain-data items to
    ``inference.json`` (e.g. values ``network_def`` refers to with ``@``), beside the MONAI inference workflow's
    items (:data:`~radtriage.models.networks.WORKFLOW_CONFIG`: ``python -m monai.bundle run``). Everything is
    checked before any file is written: the network ``network_def`` builds must take ``network``'s state dict (same
    keys and shapes).
    Returns the folder.
    """
    folder = Path(folder)
    if weights_format not in WEIGHT_FORMATS:
        raise ValueError(f"weights_format must be one of {list(WEIGHT_FORMATS)}, got {weights_format!r}")
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise BundleError(folder, "folder exists and is not empty; pass overwrite=True to replace it")
        shutil.rmtree(folder)
    config = {**WORKFLOW_CONFIG, **dict(extra_config or {}), NETWORK_KEY: dict(network_def)}
    inference_path = folder / INFERENCE_FILE
    check_config(config, str(inference_path))
    weights_file = DEFAULT_WEIGHT_FILES[weights_format]
    raw = json.loads(json.dumps(dict(meta)))  # a deep, JSON-clean copy
    raw.setdefault("radtriage", {})
    raw["radtriage"]["weights"] = {"file": weights_file, "sha256": "0" * 64, "format": weights_format}
    parse_metadata(raw, folder / METADATA_FILE, folder.name)  # refuse bad metadata before writing

    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in network.state_dict().items()}
    check_state_dict(build_network(config, str(inference_path)), state, inference_path)
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    path = folder / weights_file
    if weights_format == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={"format": "pt", "radtriage_bundle": str(raw.get("name", folder.name))})
    else:
        torch.save(state, path)
    raw["radtriage"]["weights"]["sha256"] = sha256_file(path)
    (folder / METADATA_FILE).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    inference_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    parsed = read_metadata(folder)
    (folder / MODEL_CARD_FILE).write_text(model_card_text or model_card(parsed), encoding="utf-8")
    log.info("wrote bundle %s (%s %s, %s)", folder, parsed.task, parsed.version, weights_format)
    return folder
