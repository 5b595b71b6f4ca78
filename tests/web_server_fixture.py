"""Start ``radtriage serve`` for a test module: a free loopback port, a temporary workdir, the ready line(s)
parsed for the URL with its token; the process (and a launcher's children) stopped at the end.

    with serve_station(workdir, "--reader", "r1") as served:
        page.goto(served.url)          # http://127.0.0.1:PORT/?token=...
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

READY = re.compile(r"^\[serve\] ready: (\S+)(?: \(reader (\S+)\))?$", re.MULTILINE)
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running ``radtriage serve``: its ready URL(s) (by reader for a launcher), port, log and process."""

    proc: subprocess.Popen
    port: int
    workdir: Path
    log_path: Path
    urls: dict[str | None, str] = field(default_factory=dict)
    ready_s: float = 0.0

    @property
    def url(self) -> str:
        """The (first) ready URL, token included."""
        return next(iter(self.urls.values()))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve_station(workdir: Path, *args: str, ready_lines: int = 1, timeout_s: float = START_TIMEOUT_S,
                  port: int | None = None) -> Iterator[Served]:
    """Run ``radtriage serve --workdir WORKDIR --port PORT ARGS`` until ``ready_lines`` ready lines are logged."""
    port = port or free_port()
    log_path = workdir / "serve.log"
    env = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}
    env.pop("RADTRIAGE_SERVE_TOKEN", None)
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "radtriage", "serve", "--workdir", str(workdir),
                                 "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        served = Served(proc, port, workdir, log_path)
        try:
            while len(served.urls) < ready_lines:
                assert proc.poll() is None, served.log()[-3000:]
                assert time.monotonic() - started < timeout_s, f"server did not start: {served.log()[-3000:]}"
                time.sleep(0.3)
                served.urls = {m.group(2): m.group(1) for m in READY.finditer(served.log())}
            served.ready_s = time.monotonic() - started
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
