"""Database back-ends of the annotation store: SQLite (default, one file per project) and PostgreSQL (teams).

Plain DB-API (stdlib ``sqlite3``, ``psycopg`` 3 for PostgreSQL) rather than SQLAlchemy: the store needs a dozen
statements, the append-only triggers are dialect-specific DDL either way, and Slicer's bundled Python has
``sqlite3`` but no SQLAlchemy. The only differences are handled here: placeholder style, identity columns,
trigger syntax, how a write transaction starts and which errors mean "retry".

Both back-ends store the same tables; JSON values and UTC ISO-8601 timestamps are TEXT in both.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from radtriage.annotations.errors import StoreBusyError

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_MS = 30_000
RETRIES = 8
T = TypeVar("T")

_TABLES = """
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id {pk},
    case_id TEXT NOT NULL UNIQUE CHECK (case_id <> ''),
    patient_key TEXT NOT NULL,
    study_uid TEXT NOT NULL DEFAULT '',
    series_uids TEXT NOT NULL DEFAULT '[]',
    image_paths TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS readers (
    id {pk},
    reader_id TEXT NOT NULL UNIQUE CHECK (reader_id <> ''),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS label_schemas (
    id {pk},
    name TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    id {pk},
    uid TEXT NOT NULL UNIQUE,
    case_ref {ref} NOT NULL REFERENCES cases (id),
    reader_ref {ref} NOT NULL REFERENCES readers (id),
    n_entries INTEGER NOT NULL CHECK (n_entries > 0),
    created_at TEXT NOT NULL,
    UNIQUE (id, case_ref, reader_ref)
);
CREATE TABLE IF NOT EXISTS label_history (
    id {pk},
    submission_ref {ref} NOT NULL,
    case_ref {ref} NOT NULL REFERENCES cases (id),
    reader_ref {ref} NOT NULL REFERENCES readers (id),
    schema_ref {ref} NOT NULL REFERENCES label_schemas (id),
    target TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('set', 'retract')),
    value TEXT,
    retracts {ref} UNIQUE,
    model_version TEXT NOT NULL CHECK (model_version <> ''),
    created_at TEXT NOT NULL,
    UNIQUE (id, case_ref, reader_ref, schema_ref, target),
    FOREIGN KEY (submission_ref, case_ref, reader_ref) REFERENCES submissions (id, case_ref, reader_ref),
    FOREIGN KEY (retracts, case_ref, reader_ref, schema_ref, target)
        REFERENCES label_history (id, case_ref, reader_ref, schema_ref, target),
    CHECK ((action = 'set' AND value IS NOT NULL AND retracts IS NULL)
        OR (action = 'retract' AND value IS NULL AND retracts IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS label_history_key ON label_history (case_ref, reader_ref, schema_ref, target);
CREATE INDEX IF NOT EXISTS label_history_reader ON label_history (reader_ref, schema_ref);
CREATE INDEX IF NOT EXISTS label_history_submission ON label_history (submission_ref)
"""

APPEND_ONLY = {  # table -> operations refused
    "label_history": ("UPDATE", "DELETE"),
    "submissions": ("UPDATE", "DELETE"),
    "label_schemas": ("UPDATE", "DELETE"),
    "cases": ("DELETE",),
    "readers": ("DELETE",),
}


def _sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for table, ops in APPEND_ONLY.items()
        for op in ops
    ]


def _postgres_triggers() -> list[str]:
    out = [
        "CREATE OR REPLACE FUNCTION radtriage_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
    ]
    for table, ops in APPEND_ONLY.items():
        ops_sql = " OR ".join((*ops, "TRUNCATE"))
        out.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        out.append(
            f"CREATE TRIGGER {table}_append_only BEFORE {ops_sql} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION radtriage_append_only()"
        )
    return out


class Backend:
    """One open database connection plus the dialect details; statements use ``?`` placeholders."""

    name = "base"

    def __init__(self, connection: Any, location: str) -> None:
        self.connection = connection
        self.location = location

    # -- dialect hooks
    def sql(self, statement: str) -> str:
        """The statement in this driver's placeholder style."""
        return statement

    def ddl(self) -> list[str]:
        """Statements that create the tables, indexes and append-only triggers."""
        raise NotImplementedError

    def _begin(self, cursor: Any) -> None:
        raise NotImplementedError

    def _commit(self, cursor: Any) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _is_transient(self, exc: BaseException) -> bool:
        raise NotImplementedError

    # -- shared
    def insert(self, cursor: Any, statement: str, params: Sequence[Any]) -> int:
        """Run an INSERT and return the new row's id."""
        cursor.execute(self.sql(statement + " RETURNING id"), tuple(params))
        return int(cursor.fetchone()[0])

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (outside any write transaction)."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.sql(statement), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def transaction(self, work: Callable[[Any], T], what: str = "write") -> T:
        """Run ``work(cursor)`` in one write transaction: all of it commits or none of it does. Lock waits and
        serialisation failures are retried (the whole transaction) with jittered back-off."""
        delay = 0.05
        for attempt in range(1, RETRIES + 1):
            cursor = self.connection.cursor()
            try:
                self._begin(cursor)
                result = work(cursor)
                self._commit(cursor)
                return result
            except BaseException as exc:
                self._rollback()
                if not self._is_transient(exc) or attempt == RETRIES:
                    if self._is_transient(exc):
                        raise StoreBusyError(f"{self.location}: {what} gave up after {attempt} tries: {exc}") from exc
                    raise
                log.debug("%s: %s busy (%s), retry %d", self.location, what, exc, attempt)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
            finally:
                cursor.close()
        raise AssertionError("unreachable")

    def _tables_exist(self, cursor: Any) -> bool:
        raise NotImplementedError

    def create_schema(self) -> None:
        """Create the tables, indexes and triggers unless ``store_meta`` says they exist; check the version."""

        def work(cur: Any) -> None:
            if not self._tables_exist(cur):
                for statement in self.ddl():
                    cur.execute(statement)
            cur.execute(self.sql("SELECT value FROM store_meta WHERE key = ?"), ("schema_version",))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    self.sql("INSERT INTO store_meta (key, value) VALUES (?, ?)"), ("schema_version", SCHEMA_VERSION)
                )
            elif row[0] != SCHEMA_VERSION:
                raise RuntimeError(f"{self.location}: store schema version {row[0]}, this code needs {SCHEMA_VERSION}")

        self.transaction(work, "create tables")

    def integrity_problems(self) -> list[str]:
        """Database-level consistency problems (empty when sound)."""
        return []

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class SQLiteBackend(Backend):
    """SQLite in WAL mode with foreign keys on, a 30 s busy timeout and ``synchronous=FULL`` (every commit is
    on disk before it returns). Write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the
    lock instead of failing on a read-to-write upgrade. Keep the file on a local disk (WAL needs shared memory)."""

    name = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
        super().__init__(connection, str(path))
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("%s: journal_mode is %s, not WAL", path, mode)
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")

    def ddl(self) -> list[str]:
        tables = _TABLES.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT", ref="INTEGER")
        return [s.strip() for s in tables.split(";") if s.strip()] + _sqlite_triggers()

    def insert(self, cursor: Any, statement: str, params: Sequence[Any]) -> int:
        cursor.execute(statement, tuple(params))  # lastrowid: no need for SQLite >= 3.35's RETURNING
        return int(cursor.lastrowid)

    def _tables_exist(self, cursor: Any) -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'")
        return cursor.fetchone() is not None

    def _begin(self, cursor: Any) -> None:
        cursor.execute("BEGIN IMMEDIATE")

    def _commit(self, cursor: Any) -> None:
        cursor.execute("COMMIT")

    def _rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc).lower() for word in ("locked", "busy")
        )

    def integrity_problems(self) -> list[str]:
        problems = [str(r[0]) for r in self.query("PRAGMA integrity_check") if str(r[0]).lower() != "ok"]
        problems += [f"foreign key broken: {tuple(r)}" for r in self.query("PRAGMA foreign_key_check")]
        return problems


class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3 (``pip install "psycopg[binary]"``); READ COMMITTED transactions, retried on
    serialisation failures and deadlocks. Table creation is serialised with an advisory lock."""

    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError('PostgreSQL stores need psycopg 3: pip install "psycopg[binary]"') from exc
        self._psycopg = psycopg
        connection = psycopg.connect(dsn, autocommit=True)
        super().__init__(connection, _redact(dsn))

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def ddl(self) -> list[str]:
        tables = _TABLES.format(pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", ref="BIGINT")
        return [s.strip() for s in tables.split(";") if s.strip()] + _postgres_triggers()

    def _tables_exist(self, cursor: Any) -> bool:
        cursor.execute("SELECT pg_advisory_xact_lock(7263541)")  # two first openers: one creates, one waits
        cursor.execute("SELECT to_regclass('store_meta') IS NOT NULL")
        return bool(cursor.fetchone()[0])

    def _begin(self, cursor: Any) -> None:
        cursor.execute("BEGIN")

    def _commit(self, cursor: Any) -> None:
        cursor.execute("COMMIT")

    def _rollback(self) -> None:
        if self.connection.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
            self.connection.execute("ROLLBACK")

    def _is_transient(self, exc: BaseException) -> bool:
        errors = self._psycopg.errors
        return isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable))

    def integrity_problems(self) -> list[str]:
        return []  # PostgreSQL enforces every constraint at commit; there is no partial page to find


def _redact(dsn: str) -> str:
    """The DSN without a password, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return dsn


def is_postgres_location(location: str | os.PathLike[str]) -> bool:
    """True for ``postgresql://`` / ``postgres://`` URLs and libpq ``key=value`` strings."""
    text = str(location)
    return text.startswith(("postgresql://", "postgres://")) or ("=" in text and "dbname" in text)
