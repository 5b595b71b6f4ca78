"""The live worklist of the node: ``<dir>/worklist.json``, studies ranked by urgency (critical, then probability)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from radtriage.dicom_node.queue import Study

WORKLIST_FILE = "worklist.json"


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def entry(study: Study) -> dict[str, Any]:
    """One worklist row: no patient identity, only the study UID, times, status and the task summaries."""
    tasks = study.summary.get("tasks", {})
    return {
        "study_uid": study.study_uid.split("/")[0], "status": study.status,
        "instance_uid": study.study_uid.split("/")[1] if "/" in study.study_uid else None,  # a one-slice LGE job
        "critical": any(t.get("critical") for t in tasks.values()),
        "probability": max((t.get("probability") or 0.0 for t in tasks.values()), default=0.0),
        "arrival": _iso(study.arrival), "last_instance": _iso(study.last_instance), "result_time": _iso(study.finished),
        "wait_s": None if study.finished is None else round(study.finished - study.last_instance, 1),
        "n_instances": study.n_instances, "tasks": tasks, "error": study.error,
    }


def ranked(studies: list[Study]) -> list[dict[str, Any]]:
    """Rows ranked: critical first, then by probability (highest first), then by arrival."""
    rows = sorted(((entry(s), s.arrival) for s in studies), key=lambda r: (not r[0]["critical"],
                                                                           -r[0]["probability"], r[1]))
    return [{"rank": n, **row} for n, (row, _) in enumerate(rows, start=1)]


def write_worklist(folder: Path, studies: list[Study], rejected: list[dict[str, Any]]) -> Path:
    """Write the worklist atomically (a reader never sees half a file); returns its path."""
    path = Path(folder) / WORKLIST_FILE
    doc = {"updated": _iso(time.time()), "studies": ranked(studies),
           "rejected_instances": [{**r, "at": _iso(r["at"])} for r in rejected[-200:]]}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)
    return path
