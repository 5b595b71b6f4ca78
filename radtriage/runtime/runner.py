"""Run a long job in a child process and follow it without blocking (from a Qt timer or a CLI loop).

The child writes JSON-line events on stdout (see :mod:`radtriage.runtime.events`) and its output files into a
staging folder inside ``output_dir`` (``$RADTRIAGE_JOB_OUTPUT_DIR``, also substituted for ``{output_dir}`` in
argv). Only when the child succeeds are the staged files moved into ``output_dir``; on failure or cancel the
staging folder is deleted, so no half-written output survives. ``cancel()`` kills the whole process tree.

The child is started as Slicer starts its own helper processes: inside Slicer with ``PythonSlicer``
(:func:`job_python`), with no console window on Windows (:func:`popen_options`), and with the folder that holds
the running ``radtriage`` package on its ``PYTHONPATH`` (:func:`job_environment`): Slicer puts an extension's
``qt-scripted-modules`` folder, or a source checkout, on ``sys.path`` only, never on ``PYTHONPATH``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib.util
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import IO, Any

import psutil

from radtriage.runtime.events import OUTPUT_DIR_ENV, Event, parse_line
from radtriage.slicer_host import (  # noqa: F401  (public here too)
    JobStartError,
    job_python,
    popen_options,
)

log = logging.getLogger(__name__)

OUTPUT_DIR_PLACEHOLDER = "{output_dir}"
STAGING_PREFIX = ".radtriage-partial-"
JOB_PACKAGES = ("radtriage",)
"""Packages a job imports: the folder holding each (as this process imported it) goes on the child's PYTHONPATH."""

class JobState(str, Enum):
    """Life cycle of a :class:`BackgroundJob`."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """True once the job can change no more."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def radtriage_argv(*args: str) -> list[str]:
    """``[python, "-m", "radtriage", *args]`` with :func:`job_python` (what the Slicer modules start).

    Raises :class:`JobStartError` when no interpreter is found.
    """
    return [job_python(), "-m", "radtriage", *args]


def package_folders(packages: Sequence[str] = JOB_PACKAGES) -> list[str]:
    """The folder holding each package (where this process imports it from), skipping site-packages folders.

    An installed extension or a build tree gives ``.../lib/Slicer-X.Y/qt-scripted-modules``, a source checkout its
    root folder; a package installed into the interpreter (site-packages) needs no entry.
    """
    folders = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            parent = os.path.dirname(os.path.abspath(location))
            if os.path.basename(parent) not in ("site-packages", "dist-packages"):
                folders.append(parent)
    return folders


def _unique_paths(entries: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        key = os.path.normcase(os.path.abspath(entry))
        if entry and key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def job_environment(
    env: Mapping[str, str] | None = None,
    *,
    packages: Sequence[str] = JOB_PACKAGES,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``base`` (default ``os.environ``) updated with ``env``, with :func:`package_folders` put first on
    ``PYTHONPATH``; the existing entries are kept after them, each path once."""
    merged = {**(os.environ if base is None else base), **(env or {})}
    existing = merged.get("PYTHONPATH", "").split(os.pathsep)
    pythonpath = _unique_paths([*package_folders(packages), *existing])
    if pythonpath:
        merged["PYTHONPATH"] = os.pathsep.join(pythonpath)
    else:
        merged.pop("PYTHONPATH", None)
    return merged


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, only waiting to be reaped by its parent
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait (without reaping anyone) until every process is dead; returns those still alive at ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if not _gone(p)]
    return alive


def _signal_group(pgid: int, sig: int) -> None:
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return []


def _terminate(procs: list[psutil.Process], pgid: int | None, sig: int) -> None:
    """Send ``sig`` (SIGTERM or SIGKILL) to each process, and to the process group ``pgid`` (POSIX) if given."""
    if pgid is not None:
        _signal_group(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill() if sig == getattr(signal, "SIGKILL", None) else proc.terminate()


def kill_process_tree(pid: int, timeout: float = 5.0, *, process_group: bool = False) -> list[int]:
    """Terminate ``pid`` and all its descendants (SIGTERM, then SIGKILL after ``timeout``); returns the PIDs hit.

    With ``process_group`` (POSIX) the process group ``pid`` leads is signalled too, which also reaches
    descendants that were re-parented after their parent died. Nothing is reaped here: the caller that
    started ``pid`` collects its exit status. This waits (at most twice ``timeout``); ``BackgroundJob.cancel``
    with ``block=False`` does the same without waiting.
    """
    procs = _process_tree(pid)
    pgid = pid if process_group else None
    _terminate(procs, pgid, signal.SIGTERM)
    alive = _wait_gone(procs, timeout)
    _terminate(alive, pgid, getattr(signal, "SIGKILL", signal.SIGTERM))
    _wait_gone(alive, timeout)
    return [p.pid for p in procs]


def _move_into(staging: Path, output_dir: Path) -> None:
    for entry in sorted(staging.iterdir()):
        dest = output_dir / entry.name
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        os.replace(entry, dest)
    staging.rmdir()


def _remap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep) or value.startswith(old + "/")):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _remap(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, old, new) for v in value]
    return value


@dataclasses.dataclass
class _Cancel:
    """A cancel in progress: the process tree it signalled, its group (POSIX), when to SIGKILL."""

    procs: list[psutil.Process]
    pgid: int | None
    timeout: float
    deadline: float
    killed: bool = False
    gone_at: float | None = None


class StagedJob:
    """What every job shares: staged outputs moved into ``output_dir`` only on success, the events of its stdout
    lines, the stderr tail, the final ``finished`` event. Subclasses run the command (:meth:`start`), feed its
    lines to :meth:`_take_line` and its end to :meth:`_complete` from :meth:`_pump`, and :meth:`cancel` it."""

    def __init__(self, argv: Sequence[str], output_dir: str | Path, *, stderr_lines: int = 40) -> None:
        self.argv = [str(a) for a in argv]
        self.output_dir = Path(output_dir)
        self.returncode: int | None = None
        self.outputs: dict[str, Any] | None = None
        self.error: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._state = JobState.PENDING
        self._stderr: collections.deque[str] = collections.deque(maxlen=stderr_lines)
        self._error_event: str | None = None
        self._pending: list[Event] = []
        self._staging: Path | None = None
        self._lock = threading.RLock()

    # -- public API -----------------------------------------------------------------------------------------

    @property
    def state(self) -> JobState:
        """Current state (updated from the job's output and end on every access)."""
        with self._lock:
            self._pump()
            return self._state

    @property
    def staging_dir(self) -> Path | None:
        """The temporary folder inside ``output_dir`` the job writes to (gone once the job is done)."""
        return self._staging

    @property
    def stderr_tail(self) -> str:
        """The last lines the job wrote on stderr."""
        with self._lock:
            self._pump()
            return "\n".join(self._stderr)

    def start(self) -> StagedJob:
        raise NotImplementedError

    def cancel(self, timeout: float = 5.0, *, block: bool = True) -> None:
        raise NotImplementedError

    def poll(self) -> list[Event]:
        """Events received since the last call, in order; never blocks. Ends with a ``finished`` event."""
        with self._lock:
            self._pump()
            events, self._pending = self._pending, []
            return events

    def wait(self, timeout: float | None = None, on_event: Callable[[Event], None] | None = None) -> JobState:
        """Block until the job is done or ``timeout`` seconds pass; returns the state (RUNNING on timeout).

        With ``on_event``, each event is passed to it as it arrives (and is then no longer returned by poll()).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if on_event is not None:
                for event in self.poll():
                    on_event(event)
            state = self.state
            if state.done or state is JobState.PENDING:
                if on_event is not None:
                    for event in self.poll():
                        on_event(event)
                return state
            if deadline is not None and time.monotonic() >= deadline:
                return state
            time.sleep(0.005)

    def __enter__(self) -> StagedJob:
        return self.start() if self._state is JobState.PENDING else self

    def __exit__(self, *exc: object) -> None:
        if self.state is JobState.RUNNING:
            self.cancel()

    # -- for subclasses -------------------------------------------------------------------------------------

    def _pump(self) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        """Create the staging folder; the job starts now."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.output_dir))
        self.started_at = time.time()

    def _take_line(self, stream: str, line: str) -> None:
        """One line the job wrote on ``stream`` (stdout: its events; stderr: kept for the tail)."""
        event = parse_line(line, stream)
        if event is None:
            return
        if stream == "stderr":
            self._stderr.append(line.rstrip("\r\n"))
        if event.kind == "result":
            outputs = event.data.get("outputs")
            self.outputs = dict(outputs) if isinstance(outputs, dict) else {}
        elif event.kind == "error":
            self._error_event = event.message or "the job reported an error"
        self._pending.append(event)

    def _complete(self, returncode: int | None) -> None:
        """The job ended with ``returncode``: succeed (exit 0, no error event) or fail with the reason."""
        self.returncode = returncode
        if returncode == 0 and self._error_event is None:
            self._succeed()
            return
        reason = self._error_event or f"exit code {returncode}"
        tail = "\n".join(self._stderr)
        self.error = f"job failed: {reason}" + (f"\n--- last stderr lines ---\n{tail}" if tail else "")
        self._remove_staging()
        self._finish(JobState.FAILED)

    def _succeed(self) -> None:
        assert self._staging is not None
        try:
            _move_into(self._staging, self.output_dir)
        except OSError as exc:
            self.error = f"job finished but its outputs could not be moved into {self.output_dir}: {exc}"
            self._remove_staging()
            self._finish(JobState.FAILED)
            return
        if self.outputs is not None:
            self.outputs = _remap(self.outputs, str(self._staging), str(self.output_dir))
        self._finish(JobState.SUCCEEDED)

    def _finish_cancel(self) -> None:
        self._remove_staging()
        self.error = "cancelled"
        self._finish(JobState.CANCELLED)

    def _remove_staging(self) -> None:
        if self._staging is not None and self._staging.exists():
            shutil.rmtree(self._staging, ignore_errors=True)

    def _fail_to_start(self, message: str) -> None:
        self.error = message
        self._remove_staging()
        self._finish(JobState.FAILED)

    def _finish(self, state: JobState) -> None:
        self._state = state
        self.finished_at = time.time()
        data: dict[str, Any] = {"state": state.value, "returncode": self.returncode}
        if self.error:
            data["message"] = self.error
        if state is JobState.SUCCEEDED:
            data["outputs"] = self.outputs or {}
        if self._stderr:
            data["stderr_tail"] = "\n".join(self._stderr)
        self._pending.append(Event("finished", data))
        log.info("job %s %s (exit code %s)", self.argv[3:5], state.value, self.returncode)


class BackgroundJob(StagedJob):
    """A child process reporting JSON-line events, with staged outputs and whole-tree cancel.

    ``argv`` is any command (e.g. :func:`radtriage_argv`); ``env`` entries are added to this process's
    environment, and the folders holding ``python_packages`` are put on the child's ``PYTHONPATH``
    (:func:`job_environment`). Call :meth:`start`, then :meth:`poll` regularly (it never blocks) or :meth:`wait`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        output_dir: str | Path,
        env: Mapping[str, str] | None = None,
        *,
        cwd: str | Path | None = None,
        stderr_lines: int = 40,
        exit_grace_s: float = 2.0,
        python_packages: Sequence[str] = JOB_PACKAGES,
    ) -> None:
        super().__init__(argv, output_dir, stderr_lines=stderr_lines)
        self.env = dict(env or {})
        self.cwd = None if cwd is None else str(cwd)
        self.exit_grace_s = exit_grace_s
        self.python_packages = tuple(python_packages)
        self._queue: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._open_streams: set[str] = set()
        self._readers: list[threading.Thread] = []
        self._proc: subprocess.Popen[str] | None = None
        self._exited_at: float | None = None
        self._cancel: _Cancel | None = None

    @property
    def pid(self) -> int | None:
        """PID of the child process (None before start)."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> BackgroundJob:
        """Start the child process; returns self. A command that cannot start leaves the job failed."""
        with self._lock:
            if self._state is not JobState.PENDING:
                raise RuntimeError(f"job already started (state {self._state.value})")
            self._begin()
            argv = [a.replace(OUTPUT_DIR_PLACEHOLDER, str(self._staging)) for a in self.argv]
            env = {**job_environment(self.env, packages=self.python_packages), OUTPUT_DIR_ENV: str(self._staging)}
            env["PYTHONUNBUFFERED"] = "1"
            env.setdefault("PYTHONIOENCODING", "utf-8")
            try:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    env=env,
                    cwd=self.cwd,
                    **popen_options(),
                )
            except OSError as exc:
                self._fail_to_start(f"cannot start {argv[0]!r}: {exc}")
                return self
            self._state = JobState.RUNNING
            log.info("started job pid %s: %s", self._proc.pid, " ".join(argv[:4]))
            for name, stream in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr)):
                self._open_streams.add(name)
                thread = threading.Thread(target=self._read, args=(name, stream), daemon=True, name=f"job-{name}")
                thread.start()
                self._readers.append(thread)
            return self

    def cancel(self, timeout: float = 5.0, *, block: bool = True) -> None:
        """Kill the child and all its descendants and delete the staged (partial) outputs.

        The tree gets SIGTERM, then SIGKILL after ``timeout``. With ``block=False`` (a GUI) this returns at once
        and :meth:`poll` finishes the job (a ``finished`` event with state ``cancelled``) once the tree is gone.
        """
        with self._lock:
            self._pump()
            if self._state is JobState.PENDING:
                self._state = JobState.CANCELLED
                return
            if self._state is not JobState.RUNNING or self._proc is None or self._cancel is not None:
                return
            pgid = self._proc.pid if os.name == "posix" else None
            if block:
                pids = kill_process_tree(self._proc.pid, timeout, process_group=pgid is not None)
                log.info("cancelled job pid %s (killed %d process(es))", self._proc.pid, len(pids))
                self.returncode = self._proc.wait(timeout)
                for thread in self._readers:
                    thread.join(timeout=1.0)
                self._finish_cancel()
                return
            self._cancel = _Cancel(_process_tree(self._proc.pid), pgid, timeout, time.monotonic() + timeout)
            _terminate(self._cancel.procs, pgid, signal.SIGTERM)
            log.info("cancelling job pid %s (%d process(es))", self._proc.pid, len(self._cancel.procs))
            self._pump()

    # -- internals ------------------------------------------------------------------------------------------

    def _read(self, name: str, stream: IO[str] | None) -> None:
        if stream is None:
            self._queue.put((name, None))
            return
        try:
            for line in iter(stream.readline, ""):
                self._queue.put((name, line))
        except (OSError, ValueError):  # stream closed under us on cancel
            pass
        finally:
            self._queue.put((name, None))

    def _drain(self) -> None:
        while True:
            try:
                name, line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._open_streams.discard(name)
                continue
            self._take_line(name, line)

    def _pump(self) -> None:
        self._drain()
        if self._state is not JobState.RUNNING or self._proc is None:
            return
        if self._cancel is not None:
            self._pump_cancel(self._cancel)
            return
        if self._proc.poll() is None:
            return
        now = time.monotonic()
        if self._exited_at is None:
            self._exited_at = now
        # Wait for the readers to hit end-of-file, but not forever: a leftover grandchild may hold the pipes.
        if self._open_streams and now - self._exited_at < self.exit_grace_s:
            return
        self._drain()
        self._complete(self._proc.returncode)

    def _pump_cancel(self, cancel: _Cancel) -> None:
        """Non-blocking cancel: SIGKILL what outlived the deadline; finish once the whole tree is gone (or, as
        the blocking cancel does, ``timeout`` seconds after the SIGKILL)."""
        assert self._proc is not None
        now = time.monotonic()
        alive = [p for p in cancel.procs if not _gone(p)]
        if alive and now >= cancel.deadline and not cancel.killed:
            _terminate(alive, cancel.pgid, getattr(signal, "SIGKILL", signal.SIGTERM))
            cancel.killed = True
            cancel.deadline = now + cancel.timeout
        exited = self._proc.poll() is not None
        if (alive or not exited) and not (cancel.killed and now >= cancel.deadline):
            return
        cancel.gone_at = cancel.gone_at or now
        if self._open_streams and now - cancel.gone_at < self.exit_grace_s:
            return  # the readers reach end-of-file once the pipes' last writers are gone
        self.returncode = self._proc.poll()
        self._finish_cancel()

    def _finish_cancel(self) -> None:
        self._drain()
        super()._finish_cancel()
