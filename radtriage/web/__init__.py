"""Web review station (``radtriage serve``): the case-review loop in a browser on Slicer's MRML core via
trame-slicer — slice and 3D views, task runs with progress, overlays, label controls writing to the annotation
store. Only the CLI entry points are imported here; trame and slicer-core load when the server starts."""

from __future__ import annotations

from radtriage.web.cli import add_serve_arguments, run_serve

__all__ = ["add_serve_arguments", "run_serve"]
