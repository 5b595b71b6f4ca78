"""``radtriage serve``: arguments, the demo default (phantom cases in a cache folder), the access token, start.

Without ``--readers`` one station serves one reader (``--reader``) with one token; with ``--readers FILE`` a
launcher on the public port gives each reader a station process of their own (:mod:`radtriage.web.launcher`).
"""

from __future__ import annotations

import argparse
import logging
import os
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

from radtriage.errors import InputError, RadTriageError

if TYPE_CHECKING:
    from radtriage.web.access import Origins

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DEMO_DIR = Path("~/.cache/radtriage/demo-review")
QUIET_LOGGERS = ("trame", "trame_server", "trame_client", "trame_slicer", "trame_rca", "wslink", "aiohttp")
TOKEN_ENV = "RADTRIAGE_SERVE_TOKEN"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``radtriage serve``."""
    parser.add_argument("--cases", help="case list: a folder of case folders, a CSV or a DICOM folder "
                                        "(default: the built-in demo of phantom cases)")
    parser.add_argument("--store", help="annotation store: project folder, .sqlite file or postgresql:// DSN "
                                        "(default: <workdir>/project)")
    parser.add_argument("--results", help="task results folder (default: <store folder>/results)")
    parser.add_argument("--workdir", help="where the demo cases and the default store live "
                                          f"(default: {DEFAULT_DEMO_DIR} for the demo, ./radtriage-review otherwise)")
    parser.add_argument("--reader", default=os.environ.get("USER") or "reader",
                        help="reader id (default: $USER; see --readers for several)")
    parser.add_argument("--readers", metavar="FILE",
                        help="several readers, one 'reader_id [token]' a line (a missing token is generated and "
                             "printed): each reader gets a station process of their own")
    parser.add_argument("--blind", action="store_true", help="hide model outputs until the reader labels the case")
    parser.add_argument("--task", help="review this task on every case (default: each case's case.json)")
    parser.add_argument("--device", default="cpu", help="device for task runs: cpu, cuda, mps or auto")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this "
                                                             "machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"access token, at least 16 characters (default: ${TOKEN_ENV}, else a random one "
                             "printed in the ready URL)")
    parser.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                        help="another origin whose pages may use the station, e.g. https://review.example.org "
                             "for a reverse proxy (repeatable)")
    parser.add_argument("--volume-rendering", action="store_true",
                        help="volume-render the case in the 3D view (default: the three slice planes and markups "
                             "in 3D; volume rendering is slow on servers without a GPU, where Mesa renders on CPU)")
    parser.add_argument("--node-worklist", metavar="DIR",
                        help="also show the live worklist of a DICOM node: the --out folder of `radtriage listen`")
    parser.add_argument("--open-browser", action="store_true", help="open the page in the default browser")


def _workdir(args: argparse.Namespace) -> Path:
    if args.workdir:
        return Path(args.workdir).expanduser()
    return DEFAULT_DEMO_DIR.expanduser() if not args.cases else Path("radtriage-review")


def case_source(args: argparse.Namespace) -> Path:
    """The case list ``args`` name, or the demo phantom cases (built in the workdir when missing)."""
    from radtriage.review import build_demo_cases

    if args.cases:
        return Path(args.cases)
    workdir = _workdir(args)
    print(f"[serve] demo case list (phantoms, not for clinical use) in {workdir / 'cases'}", flush=True)
    return build_demo_cases(workdir / "cases")


def store_location(args: argparse.Namespace) -> str | Path:
    """Where the labels go: ``--store``, else ``<workdir>/project``."""
    return args.store or _workdir(args) / "project"


def open_session(args: argparse.Namespace, reader_id: str | None = None):  # -> ReviewSession
    """The review session ``args`` describe: the case list (demo phantoms when none), store, reader, blind mode."""
    from radtriage.annotations import open_case_list
    from radtriage.review import open_session

    source = case_source(args)
    try:
        return open_session(open_case_list(source), store_location(args), reader_id or args.reader,
                            task=args.task, blind=args.blind, results_dir=args.results)
    except RadTriageError:
        raise
    except ValueError as exc:  # a reader id or store location the session refuses
        raise InputError(source, str(exc)) from None


def node_worklist_folder(args: argparse.Namespace) -> Path | None:
    """``--node-worklist`` as a folder (None when not given); refused with one line when it is not a folder."""
    if not args.node_worklist:
        return None
    folder = Path(args.node_worklist).expanduser()
    if not folder.is_dir():
        raise InputError(folder, "--node-worklist: not a folder; give the --out folder of `radtriage listen`")
    return folder


def page_url(host: str, port: int, token: str) -> str:
    """The URL to open once: the page with the token in the query."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/?token={token}"


def quiet_libraries() -> None:
    """Only warnings from trame, wslink and aiohttp (their info lines are noise for a reader)."""
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_serve(args: argparse.Namespace) -> int:
    """Start the web station (or, with ``--readers``, the multi-reader launcher) and serve until interrupted.
    A bad argument is one :class:`~radtriage.errors.RadTriageError` line, before anything starts."""
    from radtriage.web.access import Origins, resolve_token

    try:
        origins = Origins.for_bind(args.host, args.allowed_origin)
        token = None if args.readers else resolve_token(args.token)
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    if not 0 <= args.port <= 65535:
        raise InputError(None, f"--port {args.port}: not a port number (0-65535)")
    args.node_worklist = node_worklist_folder(args)  # refused before anything starts
    quiet_libraries()
    if args.readers:
        from radtriage.web.launcher import run_launcher
        from radtriage.web.readers import read_readers

        return run_launcher(args, read_readers(args.readers), origins)
    return run_station(args, token, origins)


def run_station(args: argparse.Namespace, token: str, origins: Origins) -> int:
    """One station for one reader: the session, the trame server with its guards, the ready URL, serve."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # headless: no X server needed
    session = open_session(args)
    for case_id, why in session.skipped_cases.items():
        print(f"[serve] case {case_id} left out: {why}", flush=True)
    from trame.app import get_server

    from radtriage.web.access import install_access, new_token
    from radtriage.web.app import ReviewStation
    from radtriage.web.wslink_guard import MAX_MESSAGE_BYTES, cap_message_size, hide_tracebacks

    cap_message_size(MAX_MESSAGE_BYTES)
    hide_tracebacks()
    server = get_server("radtriage-review", client_type="vue3", ws_max_msg_size=MAX_MESSAGE_BYTES)
    install_access(server, token, new_token(), origins)
    station = ReviewStation(server, session, device=args.device, volume_rendering=args.volume_rendering,
                            node_worklist=args.node_worklist)

    @server.controller.add("on_server_ready")
    def _announce(**_: object) -> None:
        url = page_url(args.host, server.port, token)
        print(f"[serve] ready: {url}", flush=True)
        if args.open_browser:
            webbrowser.open(url)

    try:
        server.start(host=args.host, port=args.port, open_browser=False, show_connection_info=False,
                     disable_logging=True, timeout=0)
    except OSError as exc:
        raise RadTriageError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    finally:
        station.shutdown()
    return 0
