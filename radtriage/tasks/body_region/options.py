"""The options of the ``body_region`` task (declared once; see :mod:`radtriage.tasks.options`)."""

from __future__ import annotations

from radtriage.tasks.options import Option

OPTIONS: tuple[Option, ...] = (
    Option("modality", "choice", None, "CT or MR instead of the DICOM tag / intensity guess", choices=("CT", "MR"),
           nullable=True),
    Option("min_confidence", "float", 0.5, "slices labelled with a lower smoothed confidence are marked uncertain",
           0.0, 1.0),
    Option("mean_region_mm", "float", 120.0, "smoothing strength: expected length of one region along the body",
           1.0, 2000.0),
    Option("label_volume", "bool", True, "write the per-slice label volume (region_labels)"),
)
