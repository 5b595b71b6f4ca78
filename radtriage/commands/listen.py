"""``radtriage listen``: run the DICOM node (receive studies, run the routed tasks, send SR/SEG back) until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from radtriage.dicom_node.requirements import require_node_packages
from radtriage.errors import RadTriageError

log = logging.getLogger(__name__)


def parse_tasks(text: str) -> list[str]:
    """``auto`` (every task) or a comma-separated list of task names."""
    from radtriage.dicom_node.routing import ALL_TASKS

    if text.strip() == "auto":
        return list(ALL_TASKS)
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in ALL_TASKS]
    if unknown or not tasks:
        raise RadTriageError(f"--tasks {text!r}: give auto or a comma-separated list of {', '.join(ALL_TASKS)}")
    return tasks


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``radtriage listen``."""
    parser.add_argument("--ae-title", default="RADTRIAGE", help="this node's AE title (default RADTRIAGE)")
    parser.add_argument("--port", type=int, default=11112, help="DICOM port (default 11112; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--out", required=True, help="node folder: incoming/, queue, results/, worklist.json")
    parser.add_argument("--forward", metavar="AET@HOST:PORT", help="C-STORE every SR/SEG to this PACS")
    parser.add_argument("--stow", metavar="URL", help="STOW-RS every SR/SEG to this DICOMweb base URL")
    parser.add_argument("--tasks", default="auto", help="auto (route by modality/contrast) or a list, e.g. "
                                                        "mri_triage,body_region")
    parser.add_argument("--quiet-s", type=float, default=10.0,
                        help="a study is complete after this many seconds without a new instance (default 10)")
    parser.add_argument("--max-disk-gb", type=float, default=20.0, help="cap on received files on disk (default 20)")
    parser.add_argument("--max-queue", type=int, default=200, help="cap on unfinished studies (default 200)")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--keep-incoming", action="store_true", help="keep received files of finished studies")
    parser.add_argument("--lge-per-slice", action=argparse.BooleanOptionalAction, default=True,
                        help="run lge_certainty on each cardiac LGE image as it arrives (single-slice LGE; one SR "
                             "per slice); --no-lge-per-slice waits for the whole series (quiet time) instead")
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                        help="before the first study, run each task once on small phantom studies so every model is "
                             "loaded in advance (default; the node accepts instances meanwhile)")
    return parser


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port < 65536:
        raise RadTriageError(f"--port {args.port}: give 0..65535")
    if not 1 <= len(args.ae_title) <= 16:
        raise RadTriageError(f"--ae-title {args.ae_title!r}: an AE title has 1 to 16 characters")
    if args.quiet_s < 0 or args.max_disk_gb <= 0 or args.max_queue < 1:
        raise RadTriageError("--quiet-s must be >= 0, --max-disk-gb > 0 and --max-queue >= 1")
    if args.stow and not args.stow.startswith(("http://", "https://")):
        raise RadTriageError(f"--stow {args.stow!r}: give an http(s):// DICOMweb base URL")


def run(args: argparse.Namespace) -> int:
    """Run the node in the foreground; returns 0 after a clean shutdown."""
    require_node_packages()
    _check(args)
    from radtriage.dicom_node.node import DicomNode, NodeConfig
    from radtriage.dicom_node.sender import Peer
    from radtriage.tasks.result import check_writable_folder

    config = NodeConfig(folder=check_writable_folder(Path(args.out)), ae_title=args.ae_title, host=args.host,
                        port=args.port, forward=Peer.parse(args.forward) if args.forward else None,
                        stow_url=args.stow, tasks=parse_tasks(args.tasks), quiet_s=args.quiet_s,
                        max_disk_gb=args.max_disk_gb, max_queue=args.max_queue, device=args.device,
                        keep_incoming=args.keep_incoming, lge_per_slice=args.lge_per_slice,
                        warm_up=args.warm_up)
    if not args.verbose:
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # one line per association otherwise
    node = DicomNode(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node.start()
    except OSError as exc:
        raise RadTriageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"radtriage listen: {config.ae_title} on {config.host}:{node.port}, folder {config.folder}", flush=True)
    stop.wait()
    log.info("shutting down")
    node.stop()
    print("radtriage listen: stopped", flush=True)
    return 0
