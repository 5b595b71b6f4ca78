"""Background jobs: real child processes, JSON-line events, staged outputs, failure and whole-tree cancel."""

from __future__ import annotations

import io
import json
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from radtriage.runtime import (
    BackgroundJob,
    Event,
    JobState,
    emit_error,
    emit_log,
    emit_progress,
    emit_result,
    parse_line,
)
from radtriage.runtime.runner import STAGING_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def _job(tmp_path: Path, body: str, **kwargs) -> BackgroundJob:
    env = {"PYTHONPATH": str(PROJECT_ROOT), **kwargs.pop("env", {})}
    return BackgroundJob(_script(tmp_path, body), tmp_path / "out", env=env, **kwargs)


def _collect_until(job: BackgroundJob, condition, timeout: float = 20.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += job.poll()
        if condition(events):
            return events
        time.sleep(0.02)
    raise AssertionError(f"condition not met in {timeout}s; events: {[e.to_dict() for e in events]}")


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, waiting for its parent to reap it
    except psutil.NoSuchProcess:
        return True


# -- the wire protocol --------------------------------------------------------------------------------------------


def test_emitted_lines_parse_back_into_events():
    buf = io.StringIO()
    emit_progress(1.7, "clipped", stream=buf)
    emit_log("hello", "warning", stream=buf)
    emit_result({"report": "/x/report.html"}, stream=buf)
    emit_error("boom", stream=buf)
    events = [parse_line(line) for line in buf.getvalue().splitlines()]
    assert [e.kind for e in events] == ["progress", "log", "result", "error"]
    assert events[0].fraction == 1.0 and events[0].message == "clipped"
    assert events[1].data["level"] == "warning"
    assert events[2].data["outputs"] == {"report": "/x/report.html"}
    assert events[3].message == "boom"


@pytest.mark.parametrize("line", ["plain text", '{"no_event": 1}', '{"event": "shutdown"}', "{broken json", "[1, 2]"])
def test_lines_that_are_not_events_become_log_events(line):
    event = parse_line(line + "\n")
    assert event.kind == "log" and event.message == line and event.data["stream"] == "stdout"
    assert parse_line("   \n") is None


# -- real child processes ----------------------------------------------------------------------------------------


def test_progress_arrives_in_order_and_outputs_move_into_place(tmp_path):
    job = _job(
        tmp_path,
        """
        import os, sys, time
        from radtriage.runtime.events import emit_progress, emit_result, job_output_dir
        out = job_output_dir()
        for i in range(5):
            emit_progress(i / 4, f"step {i}")
            time.sleep(0.05)
        print("a plain line")
        print("to stderr", file=sys.stderr)
        (out / "report.txt").write_text("done " + os.environ["EXTRA"])
        (out / "sub").mkdir()
        (out / "sub" / "mask.bin").write_bytes(b"1234")
        emit_result({"report": str(out / "report.txt"), "arg": sys.argv[1]})
        """,
        env={"EXTRA": "from-env"},
    )
    job.argv.append("{output_dir}/x")
    t0 = time.monotonic()
    job.start()
    assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    first = job.poll()  # must not block while the child is still starting
    assert time.monotonic() - t0 < 0.1
    assert job.state is JobState.RUNNING
    staging = job.staging_dir
    assert staging.parent == tmp_path / "out" and staging.name.startswith(STAGING_PREFIX)

    events = first + _collect_until(job, lambda ev: any(e.kind == "finished" for e in ev))
    progress = [e.fraction for e in events if e.kind == "progress"]
    assert progress == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [e.message for e in events if e.kind == "log" and e.data["stream"] == "stdout"] == ["a plain line"]
    assert any(e.message == "to stderr" and e.data["stream"] == "stderr" for e in events)
    assert events[-1].kind == "finished" and events[-1].data["state"] == "succeeded"

    out = tmp_path / "out"
    assert job.state is JobState.SUCCEEDED and job.returncode == 0
    assert (out / "report.txt").read_text() == "done from-env"
    assert (out / "sub" / "mask.bin").read_bytes() == b"1234"
    assert not staging.exists()
    assert sorted(p.name for p in out.iterdir()) == ["report.txt", "sub"]
    assert job.outputs == {"report": str(out / "report.txt"), "arg": str(out / "x")}


def test_cancel_kills_child_and_grandchild_and_removes_partial_output(tmp_path):
    job = _job(
        tmp_path,
        """
        import subprocess, sys, time
        from radtriage.runtime.events import emit_log, emit_progress, job_output_dir
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(job_output_dir() / "partial.nii", "wb") as fh:
            fh.write(b"half a volume")
            fh.flush()
            emit_log(f"grandchild={grandchild.pid}")
            while True:
                emit_progress(0.1, "working")
                time.sleep(0.2)
        """,
    )
    job.start()
    events = _collect_until(job, lambda ev: any(e.message.startswith("grandchild=") for e in ev))
    grandchild = int(next(e.message for e in events if e.message.startswith("grandchild=")).split("=")[1])
    child = job.pid
    assert psutil.pid_exists(grandchild) and psutil.Process(grandchild).ppid() == child
    assert (job.staging_dir / "partial.nii").exists()
    assert job.wait(timeout=0.3) is JobState.RUNNING  # wait() honours its timeout

    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < 5.0
    assert job.state is JobState.CANCELLED
    deadline = time.monotonic() + 5.0
    while not (_dead(child) and _dead(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead(child) and _dead(grandchild)
    assert not psutil.pid_exists(child)  # the job reaped its own child
    assert not job.staging_dir.exists()
    assert list((tmp_path / "out").iterdir()) == []
    assert job.poll()[-1].data["state"] == "cancelled"
    job.cancel()  # a second cancel is harmless
    assert job.state is JobState.CANCELLED


@pytest.mark.skipif(sys.platform == "win32", reason="a child that ignores SIGTERM needs POSIX signals")
def test_cancel_without_blocking_finishes_on_poll_and_kills_what_ignores_sigterm(tmp_path):
    job = _job(
        tmp_path,
        """
        import signal, subprocess, sys, time
        from radtriage.runtime.events import emit_log, job_output_dir
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        (job_output_dir() / "partial.nii").write_bytes(b"half")
        emit_log(f"grandchild={grandchild.pid}")
        time.sleep(120)
        """,
    )
    job.start()
    events = _collect_until(job, lambda ev: any(e.message.startswith("grandchild=") for e in ev))
    grandchild = int(next(e.message for e in events if e.message.startswith("grandchild=")).split("=")[1])
    child = job.pid
    t0 = time.monotonic()
    job.cancel(timeout=0.5, block=False)
    assert time.monotonic() - t0 < 0.3, "cancel(block=False) must return at once"
    assert job.state is JobState.RUNNING and not _dead(child)  # SIGTERM ignored: the SIGKILL comes later
    events = _collect_until(job, lambda ev: any(e.kind == "finished" for e in ev), timeout=10)
    assert time.monotonic() - t0 >= 0.5 and events[-1].data["state"] == "cancelled"
    assert job.state is JobState.CANCELLED and _dead(child) and _dead(grandchild)
    assert not psutil.pid_exists(child) and not job.staging_dir.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_failing_child_is_failed_with_stderr_tail_and_no_output(tmp_path):
    job = _job(
        tmp_path,
        """
        import sys
        from radtriage.runtime.events import emit_progress, job_output_dir
        (job_output_dir() / "partial.nrrd").write_bytes(b"half")
        emit_progress(0.5, "halfway")
        print("early noise", file=sys.stderr)
        raise ValueError("boom: the volume is sheared")
        """,
    )
    job.start()
    assert job.wait(timeout=20) is JobState.FAILED
    assert job.returncode == 1
    assert "exit code 1" in job.error and "ValueError: boom: the volume is sheared" in job.error
    assert "Traceback" in job.stderr_tail and job.stderr_tail.splitlines()[-1].startswith("ValueError")
    events = job.poll()
    assert [e.kind for e in events if e.kind != "log"] == ["progress", "finished"]
    assert events[-1].data["state"] == "failed" and "boom" in events[-1].data["stderr_tail"]
    assert list((tmp_path / "out").iterdir()) == []


def test_error_event_fails_the_job_even_with_exit_code_zero(tmp_path):
    job = _job(
        tmp_path,
        """
        from radtriage.runtime.events import emit_error, job_output_dir
        (job_output_dir() / "result.json").write_text("{}")
        emit_error("no T1 series found")
        """,
    )
    seen: list[Event] = []
    assert job.start().wait(timeout=20, on_event=seen.append) is JobState.FAILED
    assert job.returncode == 0 and "no T1 series found" in job.error
    assert [e.kind for e in seen] == ["error", "finished"]
    assert job.poll() == []  # wait(on_event=...) already handed them out
    assert list((tmp_path / "out").iterdir()) == []


def test_outputs_replace_older_ones_only_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.txt").write_text("old")
    body = """
        import sys
        from radtriage.runtime.events import job_output_dir
        (job_output_dir() / "report.txt").write_text("new")
        sys.exit(int(sys.argv[1]))
        """
    failing = _job(tmp_path, body)
    failing.argv.append("2")
    assert failing.start().wait(timeout=20) is JobState.FAILED
    assert (out / "report.txt").read_text() == "old"
    ok = _job(tmp_path, body)
    ok.argv.append("0")
    assert ok.start().wait(timeout=20) is JobState.SUCCEEDED
    assert (out / "report.txt").read_text() == "new"
    assert sorted(p.name for p in out.iterdir()) == ["report.txt"]


def test_a_command_that_cannot_start_fails_clearly(tmp_path):
    job = BackgroundJob([str(tmp_path / "no-such-program")], tmp_path / "out")
    job.start()
    assert job.state is JobState.FAILED and "cannot start" in job.error and "no-such-program" in job.error
    assert job.poll()[-1].kind == "finished"
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(RuntimeError, match="already started"):
        job.start()


def test_events_json_is_one_object_per_line(tmp_path):
    job = _job(
        tmp_path,
        """
        from radtriage.runtime.events import emit_log
        emit_log("line one\\nline two")
        """,
    )
    assert job.start().wait(timeout=20) is JobState.SUCCEEDED
    logs = [e for e in job.poll() if e.kind == "log"]
    assert [e.message for e in logs] == ["line one\nline two"]
    assert json.loads(json.dumps(logs[0].to_dict()))["event"] == "log"
