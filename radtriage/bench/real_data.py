"""The bench on real public scans, when they are present beside the checkout (``../shared/data``, or the folder in
``$RADTRIAGE_SHARED_DATA``): each task runs end to end on one real study — decode, the task, writing the result —
timed the same way as on the phantoms. Missing data is reported as skipped, never as a failure."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SHARED_DATA_ENV = "RADTRIAGE_SHARED_DATA"

REAL_CASES: dict[str, dict[str, str]] = {
    "mri_triage": {"T1": "VolumeRenderingData/stroke_T1.nii.gz", "T2": "VolumeRenderingData/stroke_T2.nii.gz",
                   "FLAIR": "VolumeRenderingData/stroke_FLAIR.nii.gz"},
    "cmb_detect": {"MAGNITUDE": "ROMEO.jl/Mag.nii"},
    "lge_certainty": {"LGE": "Seg3DData/example_dicom_LGE"},
    "body_region": {"CT": "Slicer/CTHeadAxialDicom"},
}
"""Per task, the real study it is timed on: input key -> path under the shared data folder (see its MANIFEST.md)."""


def shared_data_dir() -> Path | None:
    """``$RADTRIAGE_SHARED_DATA``, else ``../shared/data`` beside the checkout; None when neither exists."""
    env = os.environ.get(SHARED_DATA_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)


def bench_real_case(
    task: str, root: Path | None = None, *, repeats: int = 3, device: str = "cpu",
    cases: Mapping[str, Mapping[str, str]] = REAL_CASES,
) -> dict[str, Any]:
    """Median decode / task / write milliseconds of ``task`` on its real study under ``root``; ``{"skipped":
    reason}`` when the data is absent."""
    from radtriage.io import read_image
    from radtriage.tasks import run_task
    from radtriage.tasks.result import write_result

    root = root if root is not None else shared_data_dir()
    spec = cases.get(task)
    if spec is None:
        return {"skipped": f"no real study is listed for {task}"}
    if root is None:
        return {"skipped": f"no shared data folder (set ${SHARED_DATA_ENV} or put it at ../shared/data)"}
    paths = {key: root / rel for key, rel in spec.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        return {"skipped": f"not present: {', '.join(missing)}"}
    stages: dict[str, list[float]] = {"decode": [], "task": [], "write": []}
    size: list[int] = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        images = {key: read_image(path) for key, path in paths.items()}
        t1 = time.perf_counter()
        result = run_task(task, inputs=images, device=device, progress=None)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            write_result(result, out)
        t3 = time.perf_counter()
        for name, (a, b) in {"decode": (t0, t1), "task": (t1, t2), "write": (t2, t3)}.items():
            stages[name].append(1000.0 * (b - a))
        size = list(next(iter(images.values())).size)
    medians = {name: round(statistics.median(v), 2) for name, v in stages.items()}
    return {"inputs": dict(spec), "size": size, "stages_ms": medians,
            "end_to_end_ms": round(sum(medians.values()), 2), "bundle": dict(result.bundle)}
