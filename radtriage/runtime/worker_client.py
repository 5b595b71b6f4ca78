"""The parent side of the warm worker (:mod:`radtriage.runtime.warm_worker`): jobs that behave as
:class:`~radtriage.runtime.runner.BackgroundJob` does, run by one long-lived process per front end.

:func:`start_job` is what every front end calls: a ``radtriage infer`` command goes to the process's shared
:class:`WarmWorker` (bundles stay loaded between runs), anything else, or everything when
``$RADTRIAGE_WARM_WORKER`` is ``0`` or the worker cannot start, to a one-shot :class:`BackgroundJob`. A
:class:`WorkerJob` has the same life cycle, events, staged outputs and ``finished`` event as a BackgroundJob.
Cancel kills the worker (the job stops at once, whatever it is doing) and starts a fresh one; a worker that dies
mid-job fails that job with the reason and is restarted for the next. Jobs queue and run one at a time.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from radtriage.runtime.events import OUTPUT_DIR_ENV
from radtriage.runtime.runner import (
    OUTPUT_DIR_PLACEHOLDER,
    BackgroundJob,
    JobState,
    StagedJob,
    job_environment,
    kill_process_tree,
)
from radtriage.runtime.warm_worker import DEFAULT_IDLE_RELEASE_S, PROTOCOL, WORKER_COMMANDS
from radtriage.slicer_host import JobStartError, job_python, popen_options

log = logging.getLogger(__name__)

WARM_WORKER_ENV = "RADTRIAGE_WARM_WORKER"
"""Set to ``0`` to run every job as a one-shot process (the fallback)."""
INHERITED_PREFIXES = ("RADTRIAGE_", "CUDA_", "OMP_", "MKL_", "XDG_")
INHERITED = ("HOME", "PATH", "PYTHONPATH", "TMPDIR")
"""Environment variables whose change gives jobs a fresh worker (they decide models, devices, threads, paths)."""
MAX_SHARED_WORKERS = 2
START_FAILURES_BEFORE_FALLBACK = 2
"""A worker that dies before it is ready this many times in a row is given up for one-shot processes."""


def warm_worker_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether front ends use the warm worker (default yes; ``$RADTRIAGE_WARM_WORKER=0`` turns it off)."""
    return (env if env is not None else os.environ).get(WARM_WORKER_ENV, "1").strip() not in ("0", "false", "no")


def worker_command(argv: Sequence[str]) -> list[str] | None:
    """The ``radtriage`` arguments of ``argv`` when it is ``[python, -m, radtriage, <worker command>, ...]``."""
    words = [str(a) for a in argv]
    if len(words) >= 4 and words[1:3] == ["-m", "radtriage"] and words[3] in WORKER_COMMANDS:
        return words[3:]
    return None


class WorkerJob(StagedJob):
    """One job run by a :class:`WarmWorker`; the same interface as :class:`BackgroundJob`."""

    _ids = itertools.count(1)

    def __init__(self, worker: WarmWorker, argv: Sequence[str], output_dir: str | Path) -> None:
        super().__init__(argv, output_dir)
        command = worker_command(self.argv)
        if command is None:
            raise ValueError(f"the warm worker runs only radtriage {', '.join(WORKER_COMMANDS)}, not {self.argv[:4]}")
        self.command = command
        self.id = f"j{next(self._ids)}-{os.getpid()}"
        self._worker = worker
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()

    @property
    def pid(self) -> int | None:
        """The worker's PID (None while none runs)."""
        return self._worker.pid

    def start(self) -> WorkerJob:
        """Queue the job on the worker; returns self (running from now, as a BackgroundJob is)."""
        with self._lock:
            if self._state is not JobState.PENDING:
                raise RuntimeError(f"job already started (state {self._state.value})")
            self._begin()
            assert self._staging is not None
            self.request = {"op": "run", "id": self.id,
                            "argv": [a.replace(OUTPUT_DIR_PLACEHOLDER, str(self._staging)) for a in self.command],
                            "env": {OUTPUT_DIR_ENV: str(self._staging)}}
            self._state = JobState.RUNNING
        try:
            self._worker.submit(self)
        except (OSError, JobStartError) as exc:
            with self._lock:
                self._fail_to_start(f"cannot start the inference worker: {exc}")
        return self

    def deliver(self, kind: str, payload: Any) -> None:
        """From the worker's reader threads: a stdout/stderr line, ``done`` (exit code) or ``lost`` (why)."""
        self._inbox.put((kind, payload))

    def cancel(self, timeout: float = 5.0, *, block: bool = True) -> None:
        """Stop the job now: dropped from the queue, or the worker killed (and restarted for the next job)."""
        del timeout, block  # killing the worker is immediate; nothing to wait for
        with self._lock:
            self._pump()
            if self._state is JobState.PENDING:
                self._state = JobState.CANCELLED
                return
            if self._state is not JobState.RUNNING:
                return
            self._worker.cancel(self)
            self._finish_cancel()

    def _pump(self) -> None:
        while True:
            try:
                kind, payload = self._inbox.get_nowait()
            except queue.Empty:
                return
            if self._state is not JobState.RUNNING:
                continue
            if kind in ("stdout", "stderr"):
                self._take_line(kind, payload)
            elif kind == "done":
                self._complete(int(payload))
            elif kind == "lost":
                self._stderr.append(str(payload))
                self._error_event = self._error_event or str(payload)
                self._complete(-1)


class WarmWorker:
    """One long-lived ``python -m radtriage worker`` process and the queue of jobs it runs."""

    def __init__(self, env: Mapping[str, str] | None = None, *,
                 idle_release_s: float = DEFAULT_IDLE_RELEASE_S) -> None:
        self.env = dict(env or {})
        self.idle_release_s = float(idle_release_s)
        self.start_failures = 0
        self.restarts = 0
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._queue: collections.deque[WorkerJob] = collections.deque()
        self._current: WorkerJob | None = None

    # -- public ---------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the running worker process (None when none runs)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def busy(self) -> bool:
        """Whether a job runs or waits."""
        with self._lock:
            return self._current is not None or bool(self._queue)

    @property
    def usable(self) -> bool:
        """False once the worker died before it was ready :data:`START_FAILURES_BEFORE_FALLBACK` times in a row."""
        return self.start_failures < START_FAILURES_BEFORE_FALLBACK

    def job(self, argv: Sequence[str], output_dir: str | Path) -> WorkerJob:
        """A new (not started) job of this worker."""
        return WorkerJob(self, argv, output_dir)

    def start(self) -> WarmWorker:
        """Start the worker process now (it warms up in the background); returns self."""
        with self._lock:
            self._ensure_process()
        return self

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until the worker has imported what jobs need; False on timeout or when no worker runs."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.pid is None or time.monotonic() >= deadline:
                return False
        return True

    def submit(self, job: WorkerJob) -> None:
        """Queue ``job``; it is sent to the worker when every job before it is done."""
        with self._lock:
            self._ensure_process()  # a worker that cannot start raises before the job is queued
            self._queue.append(job)
            self._dispatch()

    def cancel(self, job: WorkerJob) -> None:
        """Take ``job`` off the queue, or kill the worker running it and start a fresh one."""
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                return
            if job is not self._current:
                return
            self._current = None
            self._kill()
            self.restarts += 1
            self._ensure_process()
            self._dispatch()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit (kill it after ``timeout``); queued jobs stay queued for a next start."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                proc.stdin.flush()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
            self._proc = None

    # -- internals ------------------------------------------------------------------------------------------

    def _ensure_process(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        env = {**job_environment(self.env), "PYTHONUNBUFFERED": "1"}
        env.setdefault("PYTHONIOENCODING", "utf-8")
        argv = [job_python(), "-m", "radtriage", "worker", "--idle-release-s", str(self.idle_release_s)]
        self._ready.clear()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, encoding="utf-8", errors="replace", env=env, **popen_options())
        self._proc = proc
        log.info("started the inference worker, pid %s", proc.pid)
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            threading.Thread(target=self._read, args=(proc, name, stream), daemon=True,
                             name=f"warm-worker-{name}").start()

    def _dispatch(self) -> None:
        if self._current is not None or not self._queue or self._proc is None or self._proc.poll() is not None:
            return
        job = self._queue.popleft()
        self._current = job
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(job.request) + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):  # the worker died between the checks; its reader reports it
            pass

    def _kill(self) -> None:
        proc = self._proc
        self._proc = None
        if proc is not None and proc.poll() is None:
            kill_process_tree(proc.pid, timeout=1.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)

    def _read(self, proc: subprocess.Popen[str], name: str, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            if name == "stderr":
                with self._lock:
                    job = self._current if proc is self._proc else None
                if job is not None:
                    job.deliver("stderr", line)
                continue
            self._message(proc, line)
        if name == "stdout":
            self._lost(proc)

    def _message(self, proc: subprocess.Popen[str], line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.debug("worker wrote a non-protocol line: %s", line.rstrip())
            return
        if not isinstance(message, dict):
            return
        kind = message.get("worker")
        with self._lock:
            if proc is not self._proc:
                return  # a killed worker's last words
            job = self._current
            if kind == "ready":
                if message.get("protocol") != PROTOCOL:
                    log.warning("worker protocol %s, expected %s", message.get("protocol"), PROTOCOL)
                self.start_failures = 0
                self._ready.set()
            elif kind == "line" and job is not None and message.get("id") == job.id:
                stream = "stderr" if message.get("stream") == "stderr" else "stdout"
                job.deliver(stream, str(message.get("line", "")) + "\n")
            elif kind == "done" and job is not None and message.get("id") == job.id:
                self._current = None
                job.deliver("done", message.get("exit_code", 1))
                self._dispatch()
            elif kind == "refused" and job is not None:
                self._current = None
                job.deliver("lost", f"the inference worker refused the job: {message.get('message', '')}")
                self._dispatch()

    def _lost(self, proc: subprocess.Popen[str]) -> None:
        """The worker's stdout closed: it exited or died. Fail its job and start a fresh one for the rest."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5.0)
        with self._lock:
            if proc is not self._proc:
                return  # killed on purpose (cancel, close)
            self._proc = None
            if not self._ready.is_set():
                self.start_failures += 1
            job, self._current = self._current, None
            if job is not None:
                job.deliver("lost", f"the inference worker stopped (exit code {proc.returncode}) while running "
                                    "this job; a fresh worker takes the next one")
            if self._queue and self.usable:
                self.restarts += 1
                self._ensure_process()
                self._dispatch()
            else:
                for waiting in list(self._queue):
                    waiting.deliver("lost", "the inference worker could not start; see the log")
                self._queue.clear()


_WORKERS: dict[tuple[tuple[str, str], ...], WarmWorker] = {}
_WORKERS_LOCK = threading.Lock()


def _environment_key(env: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """What a worker's jobs see of the environment: ``env`` and this process's variables that change a run."""
    inherited = {k: v for k, v in os.environ.items() if k.startswith(INHERITED_PREFIXES) or k in INHERITED}
    return tuple(sorted({**inherited, **(env or {})}.items()))


def shared_worker(env: Mapping[str, str] | None = None) -> WarmWorker:
    """This process's worker for jobs with ``env``: one per environment a job would see (a one-shot process reads
    the environment at each start, so a changed model folder or device choice gets a fresh worker); at most
    :data:`MAX_SHARED_WORKERS` kept, the oldest idle one closed first; all closed at exit."""
    key = _environment_key(env)
    with _WORKERS_LOCK:
        worker = _WORKERS.pop(key, None) or WarmWorker(env)
        _WORKERS[key] = worker  # most recently used last
        stale = [k for k in list(_WORKERS)[:-MAX_SHARED_WORKERS] if not _WORKERS[k].busy]
        closing = [_WORKERS.pop(k) for k in stale]
    for old in closing:
        old.close()
    return worker


def close_shared_workers() -> None:
    """Stop every shared worker (at interpreter exit, and in tests)."""
    with _WORKERS_LOCK:
        workers = list(_WORKERS.values())
        _WORKERS.clear()
    for worker in workers:
        worker.close()


atexit.register(close_shared_workers)


def start_job(argv: Sequence[str], output_dir: str | Path, env: Mapping[str, str] | None = None,
              *, warm: bool | None = None) -> BackgroundJob | WorkerJob:
    """Start ``argv`` as a job writing into ``output_dir``: on the shared warm worker when it is a ``radtriage
    infer`` command and the worker is enabled and usable (``warm``: force either way), else one-shot."""
    use_warm = warm_worker_enabled() if warm is None else warm
    if use_warm and worker_command(argv) is not None:
        worker = shared_worker(env)
        if worker.usable:
            return worker.job(argv, output_dir).start()
        log.warning("the inference worker failed to start %d times; running this job as a one-shot process",
                    worker.start_failures)
    return BackgroundJob(argv, output_dir, env=env).start()

