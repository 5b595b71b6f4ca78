"""The warm worker (``radtriage worker``): one long-lived process that runs ``radtriage infer`` jobs in process,
bundles kept loaded.

A one-shot ``python -m radtriage infer`` pays for importing torch and MONAI and for loading its bundle on every
run; the worker pays once. Its parent (:class:`radtriage.runtime.worker_client.WarmWorker`) talks to it over its
own pipes, so nothing else on the machine can reach it: one JSON request per line on stdin, one JSON message per
line on the protocol channel (the process's original stdout; fd 1 is pointed at stderr, so a library that writes
to stdout cannot corrupt the channel). Messages::

    parent -> worker  {"op": "run", "id": "j1", "argv": ["infer", ...], "env": {"RADTRIAGE_JOB_OUTPUT_DIR": ...}}
                      {"op": "exit"}
    worker -> parent  {"worker": "ready", "pid": 123, "protocol": 1}
                      {"worker": "line", "id": "j1", "line": "<one stdout line of the job: a JSON event>"}
                      {"worker": "done", "id": "j1", "exit_code": 0}
                      {"worker": "released", "reason": "idle"}

A job runs exactly what the command line runs (:func:`radtriage.cli.main`), so its refusals, events and outputs
are the one-shot ones. Only the commands in :data:`WORKER_COMMANDS` are accepted. Jobs run one at a time; a job
that raises is reported (exit code 1, one line, no traceback to the parent) and the worker goes on. Cancel and
crash recovery are the parent's: it kills this process and starts another. After ``idle_release_s`` without a
job the worker drops its loaded bundles and returns cached GPU memory to the driver.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from queue import Empty, Queue
from typing import Any, TextIO

log = logging.getLogger(__name__)

PROTOCOL = 1
WORKER_COMMANDS = ("infer",)
"""The ``radtriage`` commands a worker runs (what the front ends start); anything else is refused."""
JOB_ENV = ("RADTRIAGE_JOB_OUTPUT_DIR",)
"""The environment variables a request may set for its job (its staging folder)."""
MAX_REQUEST_BYTES = 1 << 20
"""A request line longer than this is refused (a job's argv is a few hundred bytes)."""
DEFAULT_BUNDLES_KEPT = 4
DEFAULT_IDLE_RELEASE_S = 120.0


class _Channel:
    """The protocol channel: whole JSON lines, one writer at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        text = json.dumps(message, default=str)
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()


class _JobStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` of a job: each complete line goes to the parent as a ``line`` message of
    the job (stdout and stderr share the channel, so a refusal line always arrives before the job's ``done``)."""

    def __init__(self, channel: _Channel, job_id: str, stream: str) -> None:
        self._channel, self._id, self._stream, self._buffer = channel, job_id, stream, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._channel.send(worker="line", id=self._id, stream=self._stream, line=line)
        return len(text)

    def flush(self) -> None:
        pass

    def close_job(self) -> None:
        if self._buffer:
            self._channel.send(worker="line", id=self._id, stream=self._stream, line=self._buffer)
            self._buffer = ""

    def isatty(self) -> bool:
        return False


class _StderrRouter(io.TextIOBase):
    """The worker's ``sys.stderr`` (and its log handler's stream): the running job's stderr, else the process's."""

    def __init__(self, fallback: TextIO) -> None:
        self.fallback = fallback
        self.job: _JobStream | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return (self.job or self.fallback).write(text)

    def flush(self) -> None:
        (self.job or self.fallback).flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _job_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set the job's variables for its duration only."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def parse_request(line: str) -> dict[str, Any]:
    """One request line, checked: ``ValueError`` (one line) for anything but a well-formed run or exit."""
    if len(line) > MAX_REQUEST_BYTES:
        raise ValueError(f"request longer than {MAX_REQUEST_BYTES} bytes")
    request = json.loads(line)
    if not isinstance(request, dict) or request.get("op") not in ("run", "exit"):
        raise ValueError("a request must be {\"op\": \"run\" | \"exit\", ...}")
    if request["op"] == "exit":
        return request
    job_id, argv, env = request.get("id"), request.get("argv"), request.get("env", {})
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("a run request needs a non-empty string id")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("a run request needs argv, a non-empty list of strings")
    if argv[0] not in WORKER_COMMANDS:
        raise ValueError(f"the worker runs only {', '.join(WORKER_COMMANDS)}, not {argv[0]!r}")
    if not isinstance(env, dict) or not set(env) <= set(JOB_ENV) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError(f"a run request may set only {', '.join(JOB_ENV)} (strings)")
    return request


def run_job(argv: list[str], env: Mapping[str, str], channel: _Channel, job_id: str,
            stderr: _StderrRouter) -> int:
    """Run one ``radtriage`` command line in this process; its exit code (never raises)."""
    from radtriage.cli import main

    stdout, stderr.job = _JobStream(channel, job_id, "stdout"), _JobStream(channel, job_id, "stderr")
    with _job_environment(env), contextlib.redirect_stdout(stdout):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors exit; the worker must not
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:
            print(f"radtriage: internal error in the worker job: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    stdout.close_job()
    stderr.job.close_job()
    stderr.job = None
    return int(code)


def warm_up() -> None:
    """Import what every job needs (torch, MONAI, the tasks) before the first one arrives."""
    import monai.transforms  # noqa: F401
    import torch  # noqa: F401

    import radtriage.tasks  # noqa: F401
    from radtriage.models.safe_load import keep_loaded_bundles

    keep_loaded_bundles(DEFAULT_BUNDLES_KEPT)


def release_memory() -> bool:
    """Drop the loaded bundles and give cached GPU memory back; True when there was GPU memory to give."""
    from radtriage.models.safe_load import keep_loaded_bundles

    keep_loaded_bundles(0)
    keep_loaded_bundles(DEFAULT_BUNDLES_KEPT)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
        return True
    return False


def _read_requests(stdin: TextIO, inbox: Queue[str | None]) -> None:
    for line in iter(stdin.readline, ""):
        inbox.put(line)
    inbox.put(None)  # the parent is gone


def serve(stdin: TextIO, channel: _Channel, idle_release_s: float = DEFAULT_IDLE_RELEASE_S) -> int:
    """The worker loop: run requests until ``exit`` or the end of ``stdin`` (the parent closed it or died)."""
    stderr = _StderrRouter(sys.stderr)
    sys.stderr = stderr
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=stderr, force=True)
    warm_up()
    channel.send(worker="ready", pid=os.getpid(), protocol=PROTOCOL)
    inbox: Queue[str | None] = Queue()
    threading.Thread(target=_read_requests, args=(stdin, inbox), daemon=True, name="worker-requests").start()
    released = True
    while True:
        try:
            line = inbox.get(timeout=idle_release_s if not released else None)
        except Empty:
            released = True
            if release_memory():
                channel.send(worker="released", reason="idle")
            continue
        if line is None:
            return 0
        if not line.strip():
            continue
        try:
            request = parse_request(line)
        except ValueError as exc:
            channel.send(worker="refused", message=str(exc)[:300])
            continue
        if request["op"] == "exit":
            return 0
        released = False
        code = run_job(list(request["argv"]), dict(request.get("env") or {}), channel, request["id"], stderr)
        channel.send(worker="done", id=request["id"], exit_code=code)


def _protocol_stream() -> TextIO:
    """The original stdout as the protocol channel; fd 1 then points at stderr (stray writes land there)."""
    sys.stdout.flush()
    channel_fd = os.dup(1)
    os.dup2(2, 1)
    return open(channel_fd, "w", encoding="utf-8", buffering=1)


def run_worker(idle_release_s: float = DEFAULT_IDLE_RELEASE_S) -> int:
    """Serve jobs on this process's stdin and stdout until the parent says exit or goes away."""
    return serve(sys.stdin, _Channel(_protocol_stream()), idle_release_s)
