"""Turn metric dictionaries into plain JSON (no numpy types, no NaN) and write the summary file."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SUMMARY_NAME = "metrics.json"


def to_plain(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays, tuples and paths to JSON types; NaN/inf become None."""
    if isinstance(obj, Mapping):
        return {str(key): to_plain(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_plain(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to a JSON summary")


def write_summary(metrics: Mapping[str, Any], out_dir: str | Path, name: str = SUMMARY_NAME) -> Path:
    """Write ``metrics`` as indented plain JSON to ``out_dir/name`` (folder created) and return the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    text = json.dumps(to_plain(metrics), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    log.info("wrote evaluation summary %s", path)
    return path
