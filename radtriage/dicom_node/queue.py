"""The node's persistent work queue: studies, their instances on disk and their state, in one SQLite file.

A study is ``receiving`` while instances arrive, ``queued`` once it has been quiet for the quiet time, then
``running``, ``done`` or ``failed``. A node restarted after a crash finds every study again (a ``running`` study
goes back to ``queued``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUE_FILE = "queue.sqlite"
STATES = ("receiving", "queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, folder TEXT NOT NULL, status TEXT NOT NULL, arrival REAL NOT NULL,
    last_instance REAL NOT NULL, n_instances INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL,
    summary TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '', quiet_s REAL);
CREATE TABLE IF NOT EXISTS rejected (
    at REAL NOT NULL, source TEXT NOT NULL, reason TEXT NOT NULL);
"""


@dataclass
class Study:
    """One row of the queue."""

    study_uid: str
    folder: Path
    status: str
    arrival: float
    last_instance: float
    n_instances: int = 0
    started: float | None = None
    finished: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


_COLUMNS = "study_uid, folder, status, arrival, last_instance, n_instances, started, finished, summary, error"


class WorkQueue:
    """Thread-safe access to ``<dir>/queue.sqlite`` (the network thread adds, the worker takes)."""

    def __init__(self, folder: str | Path, max_studies: int = 1000) -> None:
        self.path = Path(folder) / QUEUE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_studies = max_studies
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._db.execute("UPDATE studies SET status='queued' WHERE status='running'")  # interrupted by a restart

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def pending(self) -> int:
        """Studies not finished yet (receiving, queued, running)."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM studies WHERE status IN ('receiving','queued','running')")
            return int(row.fetchone()[0])

    def has_room(self, study_uid: str) -> bool:
        """True when an instance of ``study_uid`` may be taken (a known study, or fewer than ``max_studies``)."""
        with self._lock:
            known = self._db.execute("SELECT 1 FROM studies WHERE study_uid=? AND status='receiving'",
                                     (study_uid,)).fetchone()
        return known is not None or self.pending() < self.max_studies

    def add_instance(self, study_uid: str, folder: Path, now: float | None = None,
                     quiet_s: float | None = None) -> None:
        """Record one received instance of ``study_uid`` (a job key: a study, or a study's one LGE slice) stored
        under ``folder``; ``quiet_s`` overrides the node's quiet time for it (0: due at once). A finished one
        reopens."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "INSERT INTO studies (study_uid, folder, status, arrival, last_instance, n_instances, quiet_s) "
                "VALUES (?, ?, 'receiving', ?, ?, 1, ?) ON CONFLICT(study_uid) DO UPDATE SET "
                "last_instance=excluded.last_instance, n_instances=n_instances+1, "
                "status=CASE WHEN status='running' THEN 'running' ELSE 'receiving' END",
                (study_uid, str(folder), now, now, quiet_s))

    def reject(self, source: str, reason: str) -> None:
        """Log an instance that was refused (corrupt, disk full, queue full)."""
        with self._lock:
            self._db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (time.time(), source, reason))

    def rejected(self) -> list[dict[str, Any]]:
        """Every refused instance, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT at, source, reason FROM rejected ORDER BY at").fetchall()
        return [{"at": at, "source": source, "reason": reason} for at, source, reason in rows]

    def promote_quiet(self, quiet_s: float, now: float | None = None) -> int:
        """Mark studies quiet for ``quiet_s`` seconds as queued; returns how many."""
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute("UPDATE studies SET status='queued' WHERE status='receiving' AND "
                                   "last_instance + COALESCE(quiet_s, ?) <= ?", (quiet_s, now))
            return cur.rowcount

    def take(self) -> Study | None:
        """The oldest queued study, marked running; None when there is none."""
        with self._lock:
            row = self._db.execute("SELECT study_uid FROM studies WHERE status='queued' ORDER BY last_instance "
                                   "LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE studies SET status='running', started=? WHERE study_uid=?", (time.time(), row[0]))
        return self.get(row[0])

    def finish(self, study_uid: str, summary: dict[str, Any], error: str = "") -> None:
        """Record a study's outcome (``failed`` when ``error``); instances that came in meanwhile requeue it."""
        with self._lock:
            self._db.execute(
                "UPDATE studies SET status=CASE WHEN last_instance>started THEN 'receiving' WHEN ?<>'' THEN 'failed' "
                "ELSE 'done' END, finished=?, summary=?, error=? WHERE study_uid=?",
                (error, time.time(), json.dumps(summary, default=str), error, study_uid))

    def get(self, study_uid: str) -> Study | None:
        """One study, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM studies WHERE study_uid=?", (study_uid,)).fetchone()
        return None if row is None else _study(row)

    def studies(self) -> list[Study]:
        """Every study."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM studies").fetchall()
        return [_study(r) for r in rows]


def _study(row: tuple[Any, ...]) -> Study:
    uid, folder, status, arrival, last, n, started, finished, summary, error = row
    return Study(uid, Path(folder), status, arrival, last, n, started, finished, json.loads(summary or "{}"), error)
