"""``radtriage serve``: web review station in a browser (trame-slicer): slice/3D views, tasks, overlays, labels."""

from __future__ import annotations

import argparse
import os

from radtriage.errors import InputError
from radtriage.web.station import (
    DEFAULT_DEMO_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    node_worklist_folder,
    quiet_libraries,
    run_station,
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
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
    return parser


def run(args: argparse.Namespace) -> int:
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
