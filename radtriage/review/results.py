"""Task results of reviewed cases on disk: ``<results>/<case_id>/<task>/result.json`` plus its volumes — the layout
``radtriage batch`` writes, so a batch run's results show up in review without running anything again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NO_MODEL = "none"
"""``model_version`` recorded when no model output exists for the case."""


def result_volume_paths(folder: str | Path, data: dict[str, Any]) -> dict[str, Path]:
    """The result's volumes (heatmaps, label maps) by name, as files inside ``folder``."""
    out = {}
    for name, file in (data.get("volumes") or {}).items():
        path = Path(folder) / Path(str(file)).name
        if path.is_file():
            out[str(name)] = path
    return out


def model_version_of(data: dict[str, Any] | None) -> str:
    """``<bundle name>@<version>`` of a result (``"none"`` without one), as recorded with reader labels."""
    from radtriage.batch.labels import model_version

    return model_version(data.get("bundle") or {}) if data else NO_MODEL
