"""Annotation store: schema validation, append-only history, current labels, retraction, bad input, kill -9
crash safety and two-process concurrency, on SQLite and (when its binaries are here) a throwaway PostgreSQL."""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from radtriage.annotations import (
    BLINDED,
    AnnotationError,
    AnnotationStore,
    CaseRef,
    ConflictError,
    Label,
    LabelSchema,
    LabelValueError,
    UnknownCaseError,
    UnknownReaderError,
    UnknownSchemaError,
    candidate_target,
    open_store,
    slice_range_target,
)
from radtriage.annotations.schema import BUILTIN_SCHEMAS

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb in a temp folder, run as 'postgres' when we are root) on a free
    loopback port; yields the DSN of its 'postgres' database and stops the server afterwards."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed; apt-get install postgresql to run these")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('psycopg 3 not installed (pip install "psycopg[binary]")')
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="radtriage-pg-")
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no 'postgres' user to run initdb as")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(root, "data")
    port = _free_port()
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                data,
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "-l",
                os.path.join(root, "server.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = Path(root, "server.log")
        detail = log.read_text()[-500:] if log.exists() else getattr(exc, "stderr", b"")
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL server: {exc}; {detail!r}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A DSN whose ``search_path`` is a fresh, empty schema on the throwaway server; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{pg_server}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where to open a store: a project folder (SQLite) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "project")
    return request.getfixturevalue("pg_database")


@pytest.fixture
def store(location: str) -> Iterator[AnnotationStore]:
    """An open store with cases c1..c4 and readers r1, r2."""
    s = open_store(location)
    s.add_cases(CaseRef(f"c{i}", patient_key=f"pk{i}", image_paths=(f"/data/c{i}.nii.gz",)) for i in range(1, 5))
    s.add_reader("r1")
    s.add_reader("r2")
    yield s
    s.close()


def _raw(store: AnnotationStore, sql: str) -> None:
    """Run one statement directly on the store's connection (bypassing the API)."""
    store.backend.connection.execute(sql)  # sqlite3 and psycopg (autocommit) connections both have execute()


# ----------------------------------------------------------------- schemas
def test_schema_validation_names_case_reader_and_value() -> None:
    lge = BUILTIN_SCHEMAS["lge_rating"]
    assert lge.validate_value(42, case_id="c1", reader_id="r1") == 42.0
    assert lge.validate_target(7) == "slice:7"
    with pytest.raises(LabelValueError, match=r"case 'c9'.*reader 'rx'.*lge_rating.*101.*outside \[0, 100\]"):
        lge.validate_value(101, case_id="c9", reader_id="rx")
    for bad in (True, float("nan"), "50", None):
        with pytest.raises(LabelValueError, match="finite number"):
            lge.validate_value(bad)
    with pytest.raises(LabelValueError, match="not a slice target"):
        lge.validate_target("slice:-1")

    findings = BUILTIN_SCHEMAS["mri_critical_findings"]
    assert findings.validate_value(["mass_effect", "acute_infarct"]) == ["acute_infarct", "mass_effect"]
    assert findings.validate_value([]) == []
    with pytest.raises(LabelValueError, match=r"unknown finding.*'tumour'"):
        findings.validate_value(["tumour"])
    with pytest.raises(LabelValueError, match="twice"):
        findings.validate_value(["mass_effect", "mass_effect"])
    with pytest.raises(LabelValueError, match="list of findings"):
        findings.validate_value("mass_effect")

    cmb = BUILTIN_SCHEMAS["cmb_review"]
    assert cmb.validate_value({"decision": "add", "ras_mm": [1, -2.5, 3]}) == {
        "decision": "add",
        "ras_mm": [1.0, -2.5, 3.0],
    }
    for bad in (
        {"decision": "maybe", "ras_mm": [0, 0, 0]},
        {"decision": "accept"},
        {"decision": "accept", "ras_mm": [0, 0]},
        {"decision": "reject", "ras_mm": [0, 0, float("inf")]},
    ):
        with pytest.raises(LabelValueError):
            cmb.validate_value(bad)
    assert cmb.validate_target(candidate_target(3)) == "candidate:3"

    region = BUILTIN_SCHEMAS["body_region_correction"]
    assert region.validate_target(slice_range_target(10, 20)) == "slices:10-20"
    with pytest.raises(LabelValueError, match="ends before it starts"):
        region.validate_target("slices:20-10")
    with pytest.raises(LabelValueError, match="not one of"):
        region.validate_value("torso")
    with pytest.raises(LabelValueError, match="target must be empty"):
        BUILTIN_SCHEMAS["mri_normal_abnormal"].validate_target("slice:1")

    with pytest.raises(LabelValueError, match="minimum must be below"):
        LabelSchema("bad", "t", "rating", "case", minimum=5, maximum=1)
    with pytest.raises(LabelValueError, match="at least 2 classes"):
        LabelSchema("bad", "t", "choice", "case", ("only",))
    again = LabelSchema.from_definition(lge.to_definition())
    assert again == lge


# ------------------------------------------------------------- store basics
def test_store_file_settings(tmp_path: Path) -> None:
    with open_store(tmp_path / "proj") as s:
        assert Path(s.location) == tmp_path / "proj" / "radtriage_annotations.sqlite"
        conn = s.backend.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert {x.name for x in s.schemas()} == set(BUILTIN_SCHEMAS)
    with open_store(tmp_path / "proj") as s:  # reopening keeps everything and re-registers nothing
        assert s.counts()["label_schemas"] == len(BUILTIN_SCHEMAS)


def test_cases_readers_and_schemas_are_idempotent_but_never_silently_changed(store: AnnotationStore) -> None:
    assert store.add_case(CaseRef("c1", patient_key="pk1", image_paths=("/data/c1.nii.gz",))) is False
    with pytest.raises(ConflictError, match="c1"):
        store.add_case(CaseRef("c1", patient_key="other"))
    assert store.get_case("c2").image_paths == ("/data/c2.nii.gz",)
    assert store.add_reader("r1") is False
    assert store.readers() == ["r1", "r2"]
    with pytest.raises(AnnotationError, match="never a person's name"):
        CaseRef("c9", patient_key="DOE^JOHN")
    with pytest.raises(AnnotationError, match="reader_id"):
        store.add_reader("Dr Who")
    custom = LabelSchema("quality", "qa", "choice", "case", ("good", "poor"))
    store.register_schema(custom)
    store.register_schema(custom)
    with pytest.raises(ConflictError, match="never change"):
        store.register_schema(LabelSchema("quality", "qa", "choice", "case", ("good", "bad", "poor")))
    assert store.schema("quality") == custom


def test_current_label_is_latest_entry_and_history_keeps_everything(store: AnnotationStore) -> None:
    first = store.set_label("c1", "r1", "mri_normal_abnormal", "normal", model_version=BLINDED)
    second = store.set_label("c1", "r1", "mri_normal_abnormal", "abnormal", model_version="triage-1.0")
    store.set_label("c1", "r2", "mri_normal_abnormal", "normal", model_version=BLINDED)
    current = store.current_label("c1", "r1", "mri_normal_abnormal")
    assert current is not None and current.entry_id == second.entry_id and current.value == "abnormal"
    assert current.model_version == "triage-1.0"
    hist = store.history(case_id="c1", reader_id="r1")
    assert [h.value for h in hist] == ["normal", "abnormal"]
    assert hist[0].entry_id == first.entry_id and hist[0].model_version == BLINDED
    assert {(e.reader_id, e.value) for e in store.current_labels(case_id="c1")} == {
        ("r1", "abnormal"),
        ("r2", "normal"),
    }
    # per-slice targets are separate labels
    store.commit_labels("c2", "r1", [Label("lge_rating", 10 * k, k) for k in range(5)], model_version="lge-2")
    store.set_label("c2", "r1", "lge_rating", 99, target=2, model_version="lge-2")
    values = {e.target: e.value for e in store.current_labels(case_id="c2", schema="lge_rating")}
    assert values == {"slice:0": 0, "slice:1": 10, "slice:2": 99, "slice:3": 30, "slice:4": 40}
    assert store.verify() == []


def test_retract_is_a_new_entry(store: AnnotationStore) -> None:
    store.set_label("c1", "r1", "mri_critical_findings", ["mass_effect"], model_version=BLINDED)
    store.set_label("c1", "r1", "mri_critical_findings", ["acute_infarct"], model_version=BLINDED)
    before = store.counts()["label_history"]
    sub = store.retract("c1", "r1", "mri_critical_findings", model_version=BLINDED)
    assert len(sub.entries) == 2 and all(e.action == "retract" for e in sub.entries)
    assert store.current_label("c1", "r1", "mri_critical_findings") is None
    assert store.counts()["label_history"] == before + 2  # nothing removed, two retractions added
    with pytest.raises(ConflictError, match="no label to retract"):
        store.retract("c1", "r1", "mri_critical_findings", model_version=BLINDED)
    # labelling again after a retraction gives a current label again
    again = store.set_label("c1", "r1", "mri_critical_findings", [], model_version=BLINDED)
    assert store.current_label("c1", "r1", "mri_critical_findings") == again
    # retracting a single entry brings the previous one back (undo)
    newer = store.set_label("c1", "r1", "mri_critical_findings", ["acute_haemorrhage"], model_version="m")
    store.retract_entry(newer.entry_id, model_version="m")
    assert store.current_label("c1", "r1", "mri_critical_findings") == again
    with pytest.raises(ConflictError, match="already retracted"):
        store.retract_entry(newer.entry_id, model_version="m")
    assert [e.action for e in store.history(case_id="c1", schema="mri_critical_findings")] == [
        "set",
        "set",
        "retract",
        "retract",
        "set",
        "set",
        "retract",
    ]
    assert store.verify() == []


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE label_history SET value = '\"normal\"'",
        "DELETE FROM label_history",
        "UPDATE submissions SET n_entries = 5",
        "DELETE FROM submissions",
        "DELETE FROM cases",
        "UPDATE label_schemas SET kind = 'rating'",
    ],
)
def test_history_is_append_only_in_the_database(store: AnnotationStore, sql: str) -> None:
    store.set_label("c1", "r1", "mri_normal_abnormal", "abnormal", model_version=BLINDED)
    before = store.history()
    with pytest.raises(Exception, match="append-only"):
        _raw(store, sql)
    assert store.history() == before
    assert store.verify() == []


def test_bad_input_never_changes_stored_labels(store: AnnotationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.commit_labels("c1", "r1", [Label("lge_rating", 20, 0), Label("lge_rating", 30, 1)], model_version="m")
    store.set_label("c1", "r1", "mri_normal_abnormal", "normal", model_version=BLINDED)
    counts, current = store.counts(), store.current_labels()

    def attempt(
        exc: type[Exception], match: str, *labels: Label, case: str = "c1", reader: str = "r1", mv: str = "m"
    ) -> None:
        with pytest.raises(exc, match=match):
            store.commit_labels(case, reader, list(labels), model_version=mv)
        assert store.counts() == counts and store.current_labels() == current

    good = Label("lge_rating", 50, 2)
    attempt(
        LabelValueError,
        r"case 'c1', reader 'r1', schema 'lge_rating', target 'slice:3': value 101",
        good,
        Label("lge_rating", 101, 3),
    )
    attempt(UnknownSchemaError, "'lge_ratings' is not in the store", good, Label("lge_ratings", 5, 3))
    attempt(UnknownCaseError, "case 'nope'", good, case="nope")
    attempt(UnknownReaderError, "reader 'r9'", good, reader="r9")
    attempt(LabelValueError, "model_version", good, mv=" ")
    attempt(LabelValueError, "twice in one commit", good, Label("lge_rating", 60, "slice:2"))
    attempt(LabelValueError, "not one of", Label("mri_normal_abnormal", "unsure"))
    attempt(LabelValueError, "no labels", case="c1")

    # a failure inside the transaction, after some rows were written, rolls the whole commit back
    real_insert = store.backend.insert
    calls = {"n": 0}

    def failing_insert(cur: object, statement: str, params: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:  # submission row and one entry are in; the second entry fails
            raise RuntimeError("disk on fire")
        return real_insert(cur, statement, params)  # type: ignore[arg-type]

    monkeypatch.setattr(store.backend, "insert", failing_insert)
    attempt(RuntimeError, "disk on fire", good, Label("lge_rating", 70, 3))
    monkeypatch.undo()
    assert store.verify() == []
    store.commit_labels("c1", "r1", [good], model_version="m")  # the store still works
    assert store.counts()["submissions"] == counts["submissions"] + 1


def test_sqlite_writer_retries_while_another_holds_the_lock(tmp_path: Path) -> None:
    with open_store(tmp_path / "p", busy_timeout_s=0.05) as s:
        s.add_case(CaseRef("c1"))
        s.add_reader("r1")
        blocker = sqlite3.connect(s.location, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.4, lambda: blocker.execute("COMMIT"))
        timer.start()
        t0 = time.monotonic()
        s.set_label("c1", "r1", "lge_rating", 5, target=0, model_version="m")
        waited = time.monotonic() - t0
        timer.join()
        blocker.close()
        assert waited >= 0.3  # it had to wait for the blocker, longer than one busy timeout, and then succeeded
        assert s.counts()["label_history"] == 1 and s.verify() == []


# ------------------------------------------------------- crash and concurrency
WRITER = r"""
import sys, time, os
from radtriage.annotations import Label, open_store
location, reader, n_slices, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
store = open_store(location)
store.add_reader(reader)
pause_at = int(os.environ.get("PAUSE_AT_INSERT", "0"))
if pause_at:  # stop inside a write transaction, some rows written, and wait to be killed
    real_insert, calls = store.backend.insert, [0]
    def insert(cur, statement, params):
        calls[0] += 1
        if calls[0] == pause_at:
            print("MIDWRITE", flush=True)
            time.sleep(60)
        return real_insert(cur, statement, params)
    store.backend.insert = insert
print("READY", flush=True)
while go != "-" and not os.path.exists(go):
    time.sleep(0.005)
for i in range(count):
    labels = [Label("lge_rating", (i * 7 + k) % 101, k) for k in range(n_slices)]
    sub = store.commit_labels(f"c{i % 4 + 1}", reader, labels, model_version="lge-1")
    print(sub.uid, flush=True)
print("DONE", flush=True)
"""


def _writer(
    location: str, reader: str, n_slices: int, count: int, go: str = "-", pause_at: int = 0
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["PAUSE_AT_INSERT"] = str(pause_at)
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, location, reader, str(n_slices), str(count), go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _reported(lines: list[str]) -> list[str]:
    return [ln.strip() for ln in lines if ln.endswith("\n") and len(ln.strip()) == 32]


def test_kill_9_mid_write_loses_no_committed_label(tmp_path: Path) -> None:
    location = str(tmp_path / "project")
    with open_store(location) as s:
        s.add_cases(CaseRef(f"c{i}") for i in range(1, 5))
    rng = random.Random(1234)
    n_slices, reported = 40, []
    for round_no in range(4):
        # round 0 is killed for certain inside a transaction: 5 commits done, the 6th has its submission row and
        # 19 of 40 entries written; later rounds are killed at a random moment of a fast write loop
        pause_at = 5 * (n_slices + 1) + 21 if round_no == 0 else 0
        proc = _writer(location, "crashy", n_slices, 100_000, pause_at=pause_at)
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        assert lines[0].strip() == "READY", proc.stderr.read() if proc.stderr else ""
        if pause_at:
            while lines[-1].strip() != "MIDWRITE":
                lines.append(proc.stdout.readline())
            assert len(_reported(lines)) == 5
        else:
            wanted = rng.randint(3, 25)
            while len(_reported(lines)) < wanted:
                lines.append(proc.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        lines += proc.stdout.readlines()  # whatever it printed before it died
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        reported += _reported(lines)

        check = sqlite3.connect(str(Path(location) / "radtriage_annotations.sqlite"))
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check.close()
        with open_store(location) as s:
            assert s.verify() == []
            for uid in reported:
                sub = s.submission(uid)
                assert sub is not None, f"committed submission {uid} lost"
                assert len(sub.entries) == n_slices
            counts = s.counts()
            # the half-written commit of round 0 left nothing; later rounds may each have committed one more
            # submission than the writer had time to report
            assert len(reported) <= counts["submissions"] <= len(reported) + round_no
            assert counts["label_history"] == counts["submissions"] * n_slices


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_write_at_once_counts_exact(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    location = str(tmp_path / "project") if backend == "sqlite" else request.getfixturevalue("pg_database")
    with open_store(location) as s:
        s.add_cases(CaseRef(f"c{i}") for i in range(1, 5))
    go = tmp_path / "go"
    count, n_slices = 60, 4
    procs = {r: _writer(location, r, n_slices, count, str(go)) for r in ("ra", "rb")}
    for p in procs.values():
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    go.touch()  # both are connected and waiting: release them together
    outputs = {}
    for r, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip().endswith("DONE")
        outputs[r] = _reported(out.splitlines(keepends=True))
    with open_store(location) as s:
        assert s.verify() == []
        counts = s.counts()
        assert counts["submissions"] == 2 * count
        assert counts["label_history"] == 2 * count * n_slices
        for r, uids in outputs.items():
            assert len(uids) == count
            stored = {e.submission_uid for e in s.history(reader_id=r)}
            assert stored == set(uids)
            # the current rating of each (case, slice) is the reader's last write to it
            current = {(e.case_id, e.target): e.value for e in s.current_labels(reader_id=r)}
            for i in range(count - 4, count):
                for k in range(n_slices):
                    assert current[(f"c{i % 4 + 1}", f"slice:{k}")] == (i * 7 + k) % 101
