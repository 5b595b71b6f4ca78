"""``radtriage serve``: arguments, the demo default (phantom cases in a cache folder), the access token, start."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DEMO_DIR = Path("~/.cache/radtriage/demo-review")
QUIET_LOGGERS = ("trame", "trame_server", "trame_client", "trame_slicer", "trame_rca", "wslink", "aiohttp")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``radtriage serve``."""
    parser.add_argument("--cases", help="case list: a folder of case folders, a CSV or a DICOM folder "
                                        "(default: the built-in demo of phantom cases)")
    parser.add_argument("--store", help="annotation store: project folder, .sqlite file or postgresql:// DSN "
                                        "(default: <workdir>/project)")
    parser.add_argument("--results", help="task results folder (default: <store folder>/results)")
    parser.add_argument("--workdir", help="where the demo cases and the default store live "
                                          f"(default: {DEFAULT_DEMO_DIR} for the demo, ./radtriage-review otherwise)")
    parser.add_argument("--reader", default=os.environ.get("USER") or "reader", help="reader id (default: $USER)")
    parser.add_argument("--blind", action="store_true", help="hide model outputs until the reader labels the case")
    parser.add_argument("--task", help="review this task on every case (default: each case's case.json)")
    parser.add_argument("--device", default="cpu", help="device for task runs: cpu, cuda, mps or auto")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this "
                                                             "machine only; any other needs a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--token", default=os.environ.get("RADTRIAGE_SERVE_TOKEN"),
                        help="access token (default: $RADTRIAGE_SERVE_TOKEN; generated and printed when the "
                             "host is not loopback)")
    parser.add_argument("--volume-rendering", action="store_true",
                        help="volume-render the case in the 3D view (default: the three slice planes and markups "
                             "in 3D; volume rendering is slow on servers without a GPU, where Mesa renders on CPU)")
    parser.add_argument("--open-browser", action="store_true", help="open the page in the default browser")


def _workdir(args: argparse.Namespace) -> Path:
    if args.workdir:
        return Path(args.workdir).expanduser()
    return DEFAULT_DEMO_DIR.expanduser() if not args.cases else Path("radtriage-review")


def open_session(args: argparse.Namespace):  # -> ReviewSession
    """The review session ``args`` describe: the case list (demo phantoms when none), store, reader, blind mode."""
    from radtriage.annotations import open_case_list
    from radtriage.review import build_demo_cases, open_session

    workdir = _workdir(args)
    if args.cases:
        source = Path(args.cases)
    else:
        print(f"[serve] demo case list (phantoms, not for clinical use) in {workdir / 'cases'}", flush=True)
        source = build_demo_cases(workdir / "cases")
    return open_session(open_case_list(source), args.store or workdir / "project", args.reader, task=args.task,
                        blind=args.blind, results_dir=args.results)


def page_url(host: str, port: int, token: str | None) -> str:
    """The URL to open (with the token in the query when one is required)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def run_serve(args: argparse.Namespace) -> int:
    """Start the web station and serve until interrupted."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # headless: no X server needed
    from trame.app import get_server

    from radtriage.web.access import install_token_check, resolve_token
    from radtriage.web.app import ReviewStation

    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    token = resolve_token(args.host, args.token)
    session = open_session(args)
    server = get_server("radtriage-review", client_type="vue3")
    install_token_check(server, token)
    station = ReviewStation(server, session, device=args.device, volume_rendering=args.volume_rendering)

    @server.controller.add("on_server_ready")
    def _announce(**_: object) -> None:
        port = server.port
        print(f"[serve] ready: {page_url(args.host, port, token)}", flush=True)

    try:
        server.start(host=args.host, port=args.port, open_browser=args.open_browser, show_connection_info=False,
                     disable_logging=True, timeout=0)
    finally:
        station.shutdown()
    return 0
