"""The options of the ``lge_certainty`` task (declared once; see :mod:`radtriage.tasks.options`)."""

from __future__ import annotations

from radtriage.tasks.options import Option

REFORMAT_MODES = ("auto", "always", "never")

OPTIONS: tuple[Option, ...] = (
    Option("certainty_band", "band", None, "low-certainty band of the 0-100 likelihood instead of the bundle's",
           0.0, 100.0, nullable=True),
    Option("reformat", "choice", "auto",
           "reformat to short axis: auto (when apex/base are given or the slices are not short-axis)",
           choices=REFORMAT_MODES),
    Option("apex", "point", None, "left-ventricular apex for the long axis (with base)", nullable=True),
    Option("base", "point", None, "mitral-valve centre for the long axis (with apex)", nullable=True),
    Option("pixel_mm", "float", None, "in-plane pixel size (mm) of a slice stored without one (e.g. a PNG)",
           0.05, 20.0, nullable=True),
    Option("coordinates", "choice", "LPS", "coordinate system of apex and base", choices=("LPS", "RAS")),
)
