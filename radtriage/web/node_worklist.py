"""The DICOM node's live worklist as the web station shows it (``radtriage serve --node-worklist DIR``).

Reads the ``worklist.json`` that ``radtriage listen --out DIR`` keeps (:mod:`radtriage.dicom_node.worklist`):
studies ranked by urgency (a critical finding first, then probability, then arrival) with arrival time, result
time and status. Pure and read-only: it never writes to the node's folder, and a missing, half-written, too large
or malformed file gives a one-line message instead of rows (the node writes the file atomically, so a reader
normally never sees half of it). The node keeps no patient identity in the file, and neither does this view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.dicom_node.worklist import WORKLIST_FILE

MAX_WORKLIST_BYTES = 8 * 1024 * 1024
"""A worklist file larger than this is not read (the node keeps at most its bounded queue in it)."""
STATUS_COLOURS = {"done": "success", "failed": "error", "running": "info", "queued": "warning",
                  "receiving": "grey"}
"""Vuetify colour of each study status of the node's queue (others: ``grey``)."""


@dataclass(frozen=True)
class NodeWorklist:
    """What the station shows: the rows, when the node last wrote the file, and a message when it cannot."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    updated: str | None = None
    message: str = ""
    rejected: int = 0


def task_line(name: str, task: Mapping[str, Any]) -> str:
    """One task of a study in words: ``mri_triage: CRITICAL p 0.97 (2.6 s)``, ``... failed: reason``."""
    status = str(task.get("status", "?"))
    if status == "failed":
        return f"{name}: failed: {task.get('error') or 'no reason given'}"
    words = [f"{name}:", "CRITICAL" if task.get("critical") else status]
    if isinstance(task.get("probability"), (int, float)):
        words.append(f"p {float(task['probability']):.2f}")
    if isinstance(task.get("seconds"), (int, float)):
        words.append(f"({float(task['seconds']):.1f} s)")
    notices = task.get("notices") or []
    if notices:
        words.append(f"· {len(notices)} notice{'s' if len(notices) != 1 else ''}")
    return " ".join(words)


def display_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A worklist row as the page shows it (plain values only)."""
    status = str(row.get("status", "?"))
    tasks = row.get("tasks") if isinstance(row.get("tasks"), Mapping) else {}
    uid = str(row.get("study_uid", "?"))
    instance = row.get("instance_uid")
    return {
        "key": f"{uid}/{instance}" if instance else uid,
        "rank": int(row.get("rank", 0) or 0),
        "study": uid if len(uid) <= 28 else f"…{uid[-27:]}",
        "study_uid": uid,
        "slice": None if instance is None else str(instance),
        "status": status,
        "colour": STATUS_COLOURS.get(status, "grey"),
        "critical": bool(row.get("critical")),
        "probability": float(row["probability"]) if isinstance(row.get("probability"), (int, float)) else None,
        "arrival": row.get("arrival"),
        "result_time": row.get("result_time"),
        "wait_s": float(row["wait_s"]) if isinstance(row.get("wait_s"), (int, float)) else None,
        "n_instances": int(row.get("n_instances", 0) or 0),
        "tasks": [task_line(str(k), t) for k, t in tasks.items() if isinstance(t, Mapping)],
        "error": str(row.get("error") or ""),
    }


def read_node_worklist(folder: Path) -> NodeWorklist:
    """The node's worklist in ``folder`` (the ``--out`` folder of ``radtriage listen``), ranked as the node
    ranked it; a message instead of rows when there is none yet or it cannot be read."""
    path = Path(folder) / WORKLIST_FILE
    if not path.is_file():
        return NodeWorklist(message=f"no {WORKLIST_FILE} in {folder} yet: is `radtriage listen --out {folder}` "
                                    "running?")
    try:
        size = path.stat().st_size
        if size > MAX_WORKLIST_BYTES:
            return NodeWorklist(message=f"{path}: {size} bytes, more than the {MAX_WORKLIST_BYTES} this view reads")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return NodeWorklist(message=f"{path}: unreadable ({type(exc).__name__}); the next update will be read")
    studies = doc.get("studies") if isinstance(doc, Mapping) else None
    if not isinstance(studies, list):
        return NodeWorklist(message=f"{path}: not a node worklist (no 'studies' list)")
    rows = [display_row(r) for r in studies if isinstance(r, Mapping)]  # in the node's ranking
    rejected = doc.get("rejected_instances")
    return NodeWorklist(rows=rows, updated=doc.get("updated") if isinstance(doc.get("updated"), str) else None,
                        rejected=len(rejected) if isinstance(rejected, list) else 0)


class NodeWorklistFollower:
    """Re-reads the node's worklist when its file changes (cheap to call often: one ``stat`` when unchanged)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._seen = self._stamp()
        self.current = read_node_worklist(self.folder)

    def _stamp(self) -> tuple[int, int, int] | None:
        """Identity of the file now (the node replaces it atomically: a new inode each time), None when absent."""
        try:
            st = (self.folder / WORKLIST_FILE).stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def refresh(self) -> bool:
        """Read the file again if it changed since the last read; True when :attr:`current` changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        latest = read_node_worklist(self.folder)
        changed = latest != self.current
        self.current = latest
        return changed
