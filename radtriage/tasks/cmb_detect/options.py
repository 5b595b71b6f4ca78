"""The options of the ``cmb_detect`` task (declared once; see :mod:`radtriage.tasks.options`)."""

from __future__ import annotations

from radtriage.tasks.options import Option

OPTIONS: tuple[Option, ...] = (
    Option("threshold", "float", None, "detection confidence threshold instead of the bundle's operating point",
           0.0, 1.0, nullable=True),
    Option("phase_sign", "choice", 1.0,
           "phase handedness: 1 (right-handed) or -1 (flips a left-handed phase)", choices=(1.0, -1.0)),
    Option("heatmap", "bool", True, "write the stage-1 candidate heatmap (cmb_heatmap)"),
)
