"""BodyRegion: per-slice body-region labels for CT (17 classes) and MR (18), smoothed head to feet.

Modules: :mod:`.slices` (slice axis, canonical in-plane resampling), :mod:`.intensity` (modality and
scaling), :mod:`.smoothing` (ordered HMM / Viterbi), :mod:`.ranges` (ranges in mm and indices),
:mod:`.header_qa` (DICOM BodyPartExamined / StudyDescription check), :mod:`.bundle_meta` (what a
bundle stores), :mod:`.runner` (the task), :mod:`.mrml` (Slicer scene outputs; imports slicer-core).
Importing this package registers the ``body_region`` runner.
"""

from __future__ import annotations

from radtriage.tasks import register_runner
from radtriage.tasks.body_region.header_qa import BODY_PART_REGIONS, header_qa
from radtriage.tasks.body_region.ranges import region_ranges, slice_rows
from radtriage.tasks.body_region.runner import (
    LABEL_VOLUME,
    find_body_region_bundle,
    predict_probabilities,
    prepare_slices,
    region_label_image,
    run,
)
from radtriage.tasks.body_region.slices import SliceGeometry, canonical_slices, slice_axis_of, slice_geometry
from radtriage.tasks.body_region.smoothing import smooth_slice_probabilities, transition_log_matrix

register_runner("body_region", run)

__all__ = [
    "BODY_PART_REGIONS",
    "LABEL_VOLUME",
    "SliceGeometry",
    "canonical_slices",
    "find_body_region_bundle",
    "header_qa",
    "predict_probabilities",
    "prepare_slices",
    "region_label_image",
    "region_ranges",
    "run",
    "slice_axis_of",
    "slice_geometry",
    "slice_rows",
    "smooth_slice_probabilities",
    "transition_log_matrix",
]
