"""One reader's web station from the parsed ``radtriage serve`` arguments: the demo default (phantom cases in a
cache folder), the case list, store and session, the ready URL, start.

Without ``--readers`` one station serves one reader (``--reader``) with one token; with ``--readers FILE`` a
launcher on the public port gives each reader a station process of their own (:mod:`radtriage.web.launcher`).
The command line itself is :mod:`radtriage.commands.serve`.
"""

from __future__ import annotations

import logging
import os
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

from radtriage.errors import InputError, RadTriageError

if TYPE_CHECKING:
    import argparse

    from radtriage.web.access import Origins

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DEMO_DIR = Path("~/.cache/radtriage/demo-review")
QUIET_LOGGERS = ("trame", "trame_server", "trame_client", "trame_slicer", "trame_rca", "wslink", "aiohttp")
TOKEN_ENV = "RADTRIAGE_SERVE_TOKEN"


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
