"""The annotation store: cases, readers, label schemas and an append-only label history.

Nothing is ever updated or deleted (database triggers refuse it): a new label for the same
(case, reader, schema, target) is a new history entry, and a retraction is a new entry that points at the
entries it withdraws. The *current* label of a key is its latest entry that no retraction points at.

Each commit (one or several labels of one reader on one case) is a ``submissions`` row plus its entries,
written in one transaction; the row records how many entries it has, so :meth:`AnnotationStore.verify` can
prove no commit was half written.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from radtriage.annotations.backend import (
    BUSY_TIMEOUT_MS,
    Backend,
    PostgresBackend,
    SQLiteBackend,
    is_postgres_location,
)
from radtriage.annotations.errors import (
    AnnotationError,
    ConflictError,
    LabelValueError,
    UnknownCaseError,
    UnknownReaderError,
    UnknownSchemaError,
)
from radtriage.annotations.records import CaseRef, Label, LabelEntry, Submission, check_identifier
from radtriage.annotations.schema import BUILTIN_SCHEMAS, LabelSchema

log = logging.getLogger(__name__)

STORE_FILENAME = "radtriage_annotations.sqlite"
"""The store's file inside a project folder."""
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")

_ENTRY_SELECT = """
SELECT h.id, s.uid, c.case_id, r.reader_id, ls.name, h.target, h.action, h.value, h.retracts,
       h.model_version, h.created_at
FROM label_history h
JOIN submissions s ON s.id = h.submission_ref
JOIN cases c ON c.id = h.case_ref
JOIN readers r ON r.id = h.reader_ref
JOIN label_schemas ls ON ls.id = h.schema_ref
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def store_location(location: str | Path) -> str:
    """Where :func:`open_store` will open ``location``: a PostgreSQL DSN as given, an ``.sqlite``/``.db`` file,
    or ``<project folder>/radtriage_annotations.sqlite``."""
    if is_postgres_location(location):
        return str(location)
    path = Path(location)
    if path.suffix.lower() in SQLITE_SUFFIXES:
        return str(path)
    return str(path / STORE_FILENAME)


def open_store(
    location: str | Path, *, builtin_schemas: bool = True, busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000
) -> AnnotationStore:
    """Open (creating when needed) the annotation store of a project folder, an SQLite file, or a PostgreSQL
    server (``postgresql://user@host:port/db``). New stores get the built-in label schemas. ``busy_timeout_s``:
    how long an SQLite writer waits for another writer's lock before a retry."""
    where = store_location(location)
    postgres = is_postgres_location(where)
    backend: Backend = PostgresBackend(where) if postgres else SQLiteBackend(where, busy_timeout_s)
    try:
        backend.create_schema()
        store = AnnotationStore(backend)
        if builtin_schemas:
            store.register_schemas(BUILTIN_SCHEMAS.values())
    except BaseException:
        backend.close()
        raise
    return store


class AnnotationStore:
    """Reads and appends labels; one instance per process (connections are not shared across threads)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._schemas: dict[str, tuple[int, LabelSchema]] = {}

    # ------------------------------------------------------------------ basics
    @property
    def kind(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.backend.name

    @property
    def location(self) -> str:
        """The SQLite file or the PostgreSQL DSN (password removed)."""
        return self.backend.location

    def close(self) -> None:
        """Close the database connection."""
        self.backend.close()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- cases
    def add_cases(self, cases: Iterable[CaseRef]) -> int:
        """Store cases (one transaction); re-adding an identical case is a no-op, a different one with the same
        ``case_id`` raises ``ConflictError``. Returns how many were new."""
        items = list(cases)
        for c in items:
            if not isinstance(c, CaseRef):
                raise AnnotationError(f"add_cases: expected CaseRef, got {type(c).__name__}")

        def work(cur: Any) -> int:
            new = 0
            for c in items:
                row = (c.patient_key, c.study_uid, _json(list(c.series_uids)), _json(list(c.image_paths)))
                cur.execute(
                    self.backend.sql(
                        "INSERT INTO cases (case_id, patient_key, study_uid, series_uids, image_paths, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (case_id) DO NOTHING"
                    ),
                    (c.case_id, *row, _now()),
                )
                if cur.rowcount == 1:
                    new += 1
                    continue
                cur.execute(
                    self.backend.sql(
                        "SELECT patient_key, study_uid, series_uids, image_paths FROM cases WHERE case_id = ?"
                    ),
                    (c.case_id,),
                )
                if tuple(cur.fetchone()) != row:
                    raise ConflictError(f"case {c.case_id!r} is already stored with other references")
            return new

        return self.backend.transaction(work, "add cases")

    def add_case(self, case: CaseRef) -> bool:
        """Store one case; True when it was new."""
        return self.add_cases([case]) == 1

    def cases(self) -> list[CaseRef]:
        """Every stored case in the order they were added."""
        rows = self.backend.query(
            "SELECT case_id, patient_key, study_uid, series_uids, image_paths FROM cases ORDER BY id"
        )
        return [CaseRef(r[0], r[1], r[2], tuple(json.loads(r[3])), tuple(json.loads(r[4]))) for r in rows]

    def get_case(self, case_id: str) -> CaseRef:
        """One stored case; ``UnknownCaseError`` when absent."""
        rows = self.backend.query(
            "SELECT case_id, patient_key, study_uid, series_uids, image_paths FROM cases WHERE case_id = ?", (case_id,)
        )
        if not rows:
            raise UnknownCaseError(f"case {case_id!r} is not in the store {self.location}")
        r = rows[0]
        return CaseRef(r[0], r[1], r[2], tuple(json.loads(r[3])), tuple(json.loads(r[4])))

    # ----------------------------------------------------------------- readers
    def add_reader(self, reader_id: str) -> bool:
        """Register a reader (idempotent); True when new."""
        check_identifier(reader_id, "reader_id")

        def work(cur: Any) -> bool:
            cur.execute(
                self.backend.sql(
                    "INSERT INTO readers (reader_id, created_at) VALUES (?, ?) ON CONFLICT (reader_id) DO NOTHING"
                ),
                (reader_id, _now()),
            )
            return cur.rowcount == 1

        return self.backend.transaction(work, "add reader")

    def readers(self) -> list[str]:
        """Reader ids in the order they were added."""
        return [r[0] for r in self.backend.query("SELECT reader_id FROM readers ORDER BY id")]

    # ----------------------------------------------------------------- schemas
    def register_schemas(self, schemas: Iterable[LabelSchema]) -> None:
        """Store label schemas (one transaction). Schemas are immutable: an identical re-registration is a no-op,
        a different definition under a stored name raises ``ConflictError`` (use a new name instead)."""
        items = list(schemas)

        def work(cur: Any) -> None:
            for s in items:
                definition = _json(s.to_definition())
                cur.execute(
                    self.backend.sql(
                        "INSERT INTO label_schemas (name, task, kind, definition, created_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (name) DO NOTHING"
                    ),
                    (s.name, s.task, s.kind, definition, _now()),
                )
                if cur.rowcount == 1:
                    continue
                cur.execute(self.backend.sql("SELECT definition FROM label_schemas WHERE name = ?"), (s.name,))
                stored = LabelSchema.from_definition(json.loads(cur.fetchone()[0]))
                if stored != s:
                    raise ConflictError(
                        f"label schema {s.name!r} is already stored with another definition; schemas never change, "
                        "register the new one under a new name"
                    )

        self.backend.transaction(work, "register schemas")
        self._schemas.clear()

    def register_schema(self, schema: LabelSchema) -> None:
        """Store one label schema (see :meth:`register_schemas`)."""
        self.register_schemas([schema])

    def _load_schemas(self) -> None:
        rows = self.backend.query("SELECT id, definition FROM label_schemas ORDER BY id")
        schemas = ((int(i), LabelSchema.from_definition(json.loads(d))) for i, d in rows)
        self._schemas = {s.name: (i, s) for i, s in schemas}

    def _schema_ref(self, name: str) -> tuple[int, LabelSchema]:
        if name not in self._schemas:
            self._load_schemas()
        try:
            return self._schemas[name]
        except KeyError:
            raise UnknownSchemaError(
                f"label schema {name!r} is not in the store; known: {', '.join(sorted(self._schemas)) or 'none'}"
            ) from None

    def schema(self, name: str) -> LabelSchema:
        """A stored label schema by name; ``UnknownSchemaError`` lists the known ones."""
        return self._schema_ref(name)[1]

    def schemas(self) -> list[LabelSchema]:
        """Every stored label schema."""
        self._load_schemas()
        return [s for _, s in self._schemas.values()]

    # ------------------------------------------------------------------ writes
    def _refs(self, cur: Any, case_id: str, reader_id: str) -> tuple[int, int]:
        cur.execute(self.backend.sql("SELECT id FROM cases WHERE case_id = ?"), (case_id,))
        case = cur.fetchone()
        if case is None:
            raise UnknownCaseError(f"case {case_id!r} is not in the store (reader {reader_id!r}); add it first")
        cur.execute(self.backend.sql("SELECT id FROM readers WHERE reader_id = ?"), (reader_id,))
        reader = cur.fetchone()
        if reader is None:
            raise UnknownReaderError(f"reader {reader_id!r} is not in the store (case {case_id!r}); add it first")
        return int(case[0]), int(reader[0])

    def _insert_submission(self, cur: Any, case_ref: int, reader_ref: int, n: int, at: str) -> tuple[int, str]:
        uid = uuid.uuid4().hex
        sub = self.backend.insert(
            cur,
            "INSERT INTO submissions (uid, case_ref, reader_ref, n_entries, created_at) VALUES (?, ?, ?, ?, ?)",
            (uid, case_ref, reader_ref, n, at),
        )
        return sub, uid

    def _insert_entry(
        self,
        cur: Any,
        refs: tuple[int, int, int, int],
        target: str,
        action: str,
        value: str | None,
        retracts: int | None,
        model_version: str,
        at: str,
    ) -> int:
        sub, case_ref, reader_ref, schema_ref = refs
        return self.backend.insert(
            cur,
            "INSERT INTO label_history (submission_ref, case_ref, reader_ref, schema_ref, target, action, value, "
            "retracts, model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sub, case_ref, reader_ref, schema_ref, target, action, value, retracts, model_version, at),
        )

    @staticmethod
    def _check_model_version(model_version: Any, case_id: str, reader_id: str) -> str:
        if not isinstance(model_version, str) or not model_version.strip():
            raise LabelValueError(
                f"case {case_id!r}, reader {reader_id!r}: model_version must name the model shown, or be 'blinded'"
            )
        return model_version.strip()

    def commit_labels(self, case_id: str, reader_id: str, labels: Sequence[Label], *, model_version: str) -> Submission:
        """Append one reader's labels for one case, all in one transaction (all stored or none).

        Every value and target is checked against its schema first; a ``LabelValueError`` names the case,
        reader, target and value. ``model_version`` is the model whose output the reader saw, or ``"blinded"``."""
        mv = self._check_model_version(model_version, case_id, reader_id)
        if not labels:
            raise LabelValueError(f"case {case_id!r}, reader {reader_id!r}: no labels to commit")
        prepared: list[tuple[int, str, str, str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for label in labels:
            if not isinstance(label, Label):
                raise LabelValueError(f"case {case_id!r}, reader {reader_id!r}: expected Label, got {label!r}")
            ref, schema = self._schema_ref(label.schema)
            target = schema.validate_target(label.target, case_id=case_id, reader_id=reader_id)
            value = schema.validate_value(label.value, case_id=case_id, reader_id=reader_id, target=target)
            if (schema.name, target) in seen:
                raise LabelValueError(
                    f"case {case_id!r}, reader {reader_id!r}: schema {schema.name!r}, target {target!r} "
                    "appears twice in one commit"
                )
            seen.add((schema.name, target))
            prepared.append((ref, schema.name, target, _json(value), value))
        at = _now()

        def work(cur: Any) -> Submission:
            case_ref, reader_ref = self._refs(cur, case_id, reader_id)
            sub, uid = self._insert_submission(cur, case_ref, reader_ref, len(prepared), at)
            entries = []
            for schema_ref, name, target, text, value in prepared:
                entry_id = self._insert_entry(
                    cur, (sub, case_ref, reader_ref, schema_ref), target, "set", text, None, mv, at
                )
                entries.append(LabelEntry(entry_id, uid, case_id, reader_id, name, target, "set", value, None, mv, at))
            return Submission(uid, case_id, reader_id, at, tuple(entries))

        submission = self.backend.transaction(work, f"commit {len(prepared)} label(s)")
        log.debug("committed %d label(s) as submission %s", len(prepared), submission.uid)
        return submission

    def set_label(
        self, case_id: str, reader_id: str, schema: str, value: Any, *, target: str | int = "", model_version: str
    ) -> LabelEntry:
        """Append one label (see :meth:`commit_labels`); returns its history entry."""
        sub = self.commit_labels(case_id, reader_id, [Label(schema, value, target)], model_version=model_version)
        return sub.entries[0]

    def retract(
        self, case_id: str, reader_id: str, schema: str, *, target: str | int = "", model_version: str
    ) -> Submission:
        """Withdraw the reader's label for (case, schema, target): one retraction entry for each of its entries
        not yet withdrawn, so no current label is left. ``ConflictError`` when there is nothing to withdraw."""
        mv = self._check_model_version(model_version, case_id, reader_id)
        schema_ref, s = self._schema_ref(schema)
        norm = s.validate_target(target, case_id=case_id, reader_id=reader_id)
        at = _now()

        def work(cur: Any) -> Submission:
            case_ref, reader_ref = self._refs(cur, case_id, reader_id)
            cur.execute(
                self.backend.sql(
                    "SELECT h.id FROM label_history h WHERE h.case_ref = ? AND h.reader_ref = ? AND h.schema_ref = ? "
                    "AND h.target = ? AND h.action = 'set' "
                    "AND NOT EXISTS (SELECT 1 FROM label_history x WHERE x.retracts = h.id) ORDER BY h.id"
                ),
                (case_ref, reader_ref, schema_ref, norm),
            )
            live = [int(r[0]) for r in cur.fetchall()]
            if not live:
                raise ConflictError(
                    f"case {case_id!r}, reader {reader_id!r}, schema {schema!r}, target {norm!r}: no label to retract"
                )
            return self._write_retractions(
                cur, (case_ref, reader_ref, schema_ref), live, (case_id, reader_id, schema), norm, mv, at
            )

        return self.backend.transaction(work, "retract")

    def retract_entry(self, entry_id: int, *, model_version: str) -> Submission:
        """Withdraw one history entry only; an older entry of the same key, if any, becomes current again."""
        at = _now()

        def work(cur: Any) -> Submission:
            cur.execute(
                self.backend.sql(
                    "SELECT h.case_ref, h.reader_ref, h.schema_ref, h.target, h.action, c.case_id, r.reader_id, "
                    "ls.name "
                    "FROM label_history h JOIN cases c ON c.id = h.case_ref JOIN readers r ON r.id = h.reader_ref "
                    "JOIN label_schemas ls ON ls.id = h.schema_ref WHERE h.id = ?"
                ),
                (int(entry_id),),
            )
            row = cur.fetchone()
            if row is None:
                raise ConflictError(f"history entry {entry_id} does not exist")
            case_ref, reader_ref, schema_ref, target, action, case_id, reader_id, name = row
            mv = self._check_model_version(model_version, case_id, reader_id)
            cur.execute(self.backend.sql("SELECT 1 FROM label_history WHERE retracts = ?"), (int(entry_id),))
            if action != "set" or cur.fetchone() is not None:
                raise ConflictError(f"history entry {entry_id} is a retraction or already retracted")
            return self._write_retractions(
                cur, (case_ref, reader_ref, schema_ref), [int(entry_id)], (case_id, reader_id, name), target, mv, at
            )

        return self.backend.transaction(work, "retract entry")

    def _write_retractions(
        self,
        cur: Any,
        refs: tuple[int, int, int],
        entry_ids: list[int],
        names: tuple[str, str, str],
        target: str,
        mv: str,
        at: str,
    ) -> Submission:
        case_ref, reader_ref, schema_ref = refs
        case_id, reader_id, schema = names
        sub, uid = self._insert_submission(cur, case_ref, reader_ref, len(entry_ids), at)
        entries = []
        for old in entry_ids:
            new = self._insert_entry(cur, (sub, case_ref, reader_ref, schema_ref), target, "retract", None, old, mv, at)
            entries.append(LabelEntry(new, uid, case_id, reader_id, schema, target, "retract", None, old, mv, at))
        return Submission(uid, case_id, reader_id, at, tuple(entries))

    # ------------------------------------------------------------------- reads
    def _entries(self, where: list[str], params: list[Any]) -> list[LabelEntry]:
        sql = _ENTRY_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY h.id"
        rows = self.backend.query(sql, params)
        out = []
        for r in rows:
            value = None if r[7] is None else json.loads(r[7])
            retracts = None if r[8] is None else int(r[8])
            out.append(LabelEntry(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], value, retracts, r[9], r[10]))
        return out

    @staticmethod
    def _filters(case_id: str | None, reader_id: str | None, schema: str | None) -> tuple[list[str], list[Any]]:
        where, params = [], []
        for column, value in (("c.case_id", case_id), ("r.reader_id", reader_id), ("ls.name", schema)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return where, params

    def history(
        self,
        case_id: str | None = None,
        reader_id: str | None = None,
        schema: str | None = None,
        target: str | None = None,
    ) -> list[LabelEntry]:
        """Every history entry (labels and retractions) matching the filters, oldest first."""
        where, params = self._filters(case_id, reader_id, schema)
        if target is not None:
            where.append("h.target = ?")
            params.append(target)
        return self._entries(where, params)

    def current_labels(
        self, case_id: str | None = None, reader_id: str | None = None, schema: str | None = None
    ) -> list[LabelEntry]:
        """The current label of every (case, reader, schema, target) matching the filters: its latest entry that
        no retraction withdrew. Ordered by entry id."""
        where, params = self._filters(case_id, reader_id, schema)
        where += ["h.action = 'set'", "NOT EXISTS (SELECT 1 FROM label_history x WHERE x.retracts = h.id)"]
        latest: dict[tuple[str, str, str, str], LabelEntry] = {}
        for entry in self._entries(where, params):
            latest[entry.key] = entry
        return sorted(latest.values(), key=lambda e: e.entry_id)

    def current_label(self, case_id: str, reader_id: str, schema: str, target: str | int = "") -> LabelEntry | None:
        """The current label of one key, or None (never labelled, or retracted)."""
        norm = self.schema(schema).validate_target(target, case_id=case_id, reader_id=reader_id)
        for entry in reversed(self.current_labels(case_id, reader_id, schema)):
            if entry.target == norm:
                return entry
        return None

    def submission(self, uid: str) -> Submission | None:
        """A stored submission and its entries, or None when no such commit exists."""
        entries = self._entries(["s.uid = ?"], [uid])
        if not entries:
            return None
        e = entries[0]
        return Submission(uid, e.case_id, e.reader_id, e.created_at, tuple(entries))

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        tables = ("cases", "readers", "label_schemas", "submissions", "label_history")
        return {t: int(self.backend.query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables}

    def verify(self) -> list[str]:
        """Everything wrong with the stored data (empty list = sound): database integrity, commits whose entry
        count differs from what they recorded, and stored values that no longer validate."""
        problems = self.backend.integrity_problems()
        rows = self.backend.query(
            "SELECT s.uid, s.n_entries, COUNT(h.id) FROM submissions s LEFT JOIN label_history h "
            "ON h.submission_ref = s.id GROUP BY s.id, s.uid, s.n_entries HAVING COUNT(h.id) <> s.n_entries"
        )
        problems += [f"submission {uid}: {have} of {want} entries stored" for uid, want, have in rows]
        self._load_schemas()
        for entry in self.history():
            if entry.action != "set":
                continue
            try:
                self.schema(entry.schema).validate_value(entry.value, case_id=entry.case_id, reader_id=entry.reader_id)
            except AnnotationError as exc:
                problems.append(f"entry {entry.entry_id}: {exc}")
        return problems
