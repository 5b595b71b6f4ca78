"""``radtriage serve --readers FILE``: one station process per reader behind one public port.

The front process checks Host, Origin and the reader's token (each reader has their own, see
:mod:`radtriage.web.readers`), starts that reader's station at their first request — ``radtriage serve`` on
127.0.0.1, a free port, a token of its own, ``--reader`` fixed — and forwards HTTP and the WebSocket to it
(:mod:`radtriage.web.proxy`). Each reader thus has their own case cursor, messages and MRML scene, and their
labels are stored under the reader id of their login, which no page message can change. Stations die with the
front (``PR_SET_PDEATHSIG`` on Linux, and terminated when it stops); there are at most as many as readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ctypes
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from radtriage.errors import RadTriageError
from radtriage.web.access import MAX_CONNECTIONS, TOKEN_KEY, Origins, access_middleware, new_token
from radtriage.web.readers import Reader
from radtriage.web.station import TOKEN_ENV, case_source, open_session, page_url, store_location

if TYPE_CHECKING:
    import argparse

STATION_START_TIMEOUT_S = 180.0
READY_LINE = re.compile(r"^\[serve\] ready: http://127\.0\.0\.1:(\d+)/")
PR_SET_PDEATHSIG = 1


class StationError(RadTriageError):
    """A reader's station process did not start."""


@dataclass
class Station:
    """A running station process of one reader."""

    reader: Reader
    process: asyncio.subprocess.Process
    port: int
    token: str
    started_s: float

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the launcher dies, however it dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def station_argv(args: argparse.Namespace, reader_id: str) -> list[str]:
    """``radtriage serve`` for one reader's station: loopback, any free port, the launcher's cases and store."""
    argv = [sys.executable, "-m", "radtriage", "serve", "--host", "127.0.0.1", "--port", "0", "--reader", reader_id,
            "--cases", str(args.cases), "--store", str(args.store), "--device", args.device]
    for flag, value in (("--results", args.results), ("--task", args.task), ("--workdir", args.workdir),
                        ("--node-worklist", args.node_worklist)):
        if value:
            argv += [flag, str(value)]
    return argv + [flag for flag, on in (("--blind", args.blind), ("--volume-rendering", args.volume_rendering)) if on]


class StationPool:
    """The readers' stations: started at a reader's first request (one at a time per reader), stopped together."""

    def __init__(self, argv_for: Callable[[str], list[str]], env: Mapping[str, str] | None = None,
                 start_timeout_s: float = STATION_START_TIMEOUT_S):
        self.argv_for, self.env, self.start_timeout_s = argv_for, dict(env or {}), start_timeout_s
        self.stations: dict[str, Station] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.relays: set[asyncio.Task] = set()

    async def station(self, reader: Reader) -> Station:
        """The running station of ``reader``, started now if it is not (or no longer) running."""
        async with self.locks.setdefault(reader.reader_id, asyncio.Lock()):
            running = self.stations.get(reader.reader_id)
            if running is not None and running.process.returncode is None:
                return running
            self.stations[reader.reader_id] = station = await self._start(reader)
            return station

    async def _start(self, reader: Reader) -> Station:
        token, started = new_token(), time.monotonic()
        process = await asyncio.create_subprocess_exec(  # the token travels in the environment, not in `ps`
            *self.argv_for(reader.reader_id), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**self.env, TOKEN_ENV: token}, preexec_fn=_die_with_parent)
        try:
            port = await asyncio.wait_for(self._ready_port(process, reader), self.start_timeout_s)
        except (TimeoutError, StationError):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise StationError(f"the station of reader {reader.reader_id} did not start (see the log)") from None
        relay = asyncio.ensure_future(self._relay(process, reader))
        self.relays.add(relay)
        relay.add_done_callback(self.relays.discard)
        elapsed = time.monotonic() - started
        print(f"[serve] station of reader {reader.reader_id} started in {elapsed:.1f} s", flush=True)
        return Station(reader, process, port, token, elapsed)

    @staticmethod
    async def _ready_port(process: asyncio.subprocess.Process, reader: Reader) -> int:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if found := READY_LINE.match(line):
                return int(found.group(1))  # the line carries the station's token: not shown
            if line:
                print(f"[{reader.reader_id}] {line}", flush=True)
        raise StationError(f"the station of reader {reader.reader_id} exited (code {await process.wait()})")

    @staticmethod
    async def _relay(process: asyncio.subprocess.Process, reader: Reader) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            if line := raw.decode(errors="replace").rstrip():
                print(f"[{reader.reader_id}] {line}", flush=True)

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop every station: SIGTERM, then SIGKILL after ``grace_s``."""
        processes = [s.process for s in self.stations.values() if s.process.returncode is None]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


def launcher_app(readers: Sequence[Reader], origins: Origins, pool: StationPool) -> Any:
    """The front's aiohttp application: access checks with the readers' tokens, then the reader's station."""
    from aiohttp import ClientSession, ClientTimeout, web

    from radtriage.web.headers import add_security_headers
    from radtriage.web.proxy import forward_http, forward_websocket

    by_token = {r.token: r for r in readers}
    client = web.AppKey("client", ClientSession)

    async def forward(request: web.Request) -> Any:
        try:
            station = await pool.station(by_token[request[TOKEN_KEY]])
        except StationError as exc:
            raise web.HTTPBadGateway(text=f"radtriage serve: {exc}") from None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await forward_websocket(request.app[client], request, station.base, station.token)
        return await forward_http(request.app[client], request, station.base, station.token)

    async def client_session(app: web.Application):
        async with ClientSession(auto_decompress=False, timeout=ClientTimeout(total=None, sock_connect=10)) as s:
            app[client] = s
            yield
        await pool.close()

    app = web.Application(middlewares=[access_middleware(list(by_token), origins,
                                                         max_connections=MAX_CONNECTIONS * len(readers))])
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(client_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def _listen(host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise RadTriageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(app: Any, sock: socket.socket, announce: Callable[[int], None]) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        announce(sock.getsockname()[1])
        await stop.wait()
    finally:
        await runner.cleanup()


def run_launcher(args: argparse.Namespace, readers: Sequence[Reader], origins: Origins) -> int:
    """Check the cases and the store once, then serve the readers until interrupted; prints one ready URL per
    reader (their token in it)."""
    station_args = copy.copy(args)  # the stations' arguments; the launcher's own stay as given
    station_args.cases = str(case_source(args))  # the demo is built once, not by each station
    station_args.store = str(store_location(args))
    open_session(station_args, readers[0].reader_id).store.close()  # a bad case list fails here, in one line
    sock = _listen(args.host, args.port)
    pool = StationPool(lambda reader_id: station_argv(station_args, reader_id), os.environ)

    def announce(port: int) -> None:
        for reader in readers:
            print(f"[serve] ready: {page_url(args.host, port, reader.token)} (reader {reader.reader_id})",
                  flush=True)

    asyncio.run(_serve(launcher_app(readers, origins, pool), sock, announce))
    return 0
