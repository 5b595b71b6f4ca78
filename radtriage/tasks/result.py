"""What every task returns, and how it is written to an output folder (the ``radtriage infer`` contract)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.image import Image

RESULT_FILE = "result.json"


@dataclass
class TaskResult:
    """A task's answer for one study or stack.

    ``outputs`` is the JSON summary (probabilities, per-slice scores, region ranges, detections...);
    ``volumes`` are images to write (heatmaps, label maps) on the input's native geometry; ``points`` are
    detections with RAS/LPS coordinates; ``notices`` are lines a reader must see (demo model, missing inputs).
    """

    task: str
    bundle: dict[str, Any]
    outputs: dict[str, Any]
    volumes: dict[str, Image] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written as ``result.json`` (volumes referenced by file name)."""
        return {
            "task": self.task,
            "bundle": self.bundle,
            "outputs": self.outputs,
            "volumes": {name: f"{name}.nii.gz" for name in self.volumes},
            "points": self.points,
            "notices": self.notices,
        }


def to_plain(value: Any) -> Any:
    """Recursively turn numpy scalars/arrays and tuples into JSON values; NaN and infinity become None."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_result(result: TaskResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``result.json`` and every volume (NIfTI) into ``out_dir``; returns the files by role."""
    from radtriage.io import write_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, image in result.volumes.items():
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"volume name {name!r} must be a plain file name")
        written[name] = write_volume(image, out / f"{name}.nii.gz")
    path = out / RESULT_FILE
    path.write_text(json.dumps(to_plain(result.to_dict()), indent=2, allow_nan=False))
    written["result"] = path
    return written
