"""CMBDetect: two-stage cerebral microbleed detection on SWI / T2*-GRE (core, Slicer-free).

* :mod:`.prep` — input choice, echo combination, 1 mm isotropic working grid, intensity normalisation;
* :mod:`.candidates` — stage 1: dense heatmap (exact non-overlapping tiles, empty tiles skipped) and peaks;
* :mod:`.detector` — stage 2 patch discriminator, radius, location, merging: :class:`CmbPipeline`;
* :mod:`.nms` — merging of detections closer than a radius; :mod:`.blobs` — radius from the blob;
* :mod:`.location` — lobar / deep / infratentorial class from an MNI atlas after affine registration;
* :mod:`.runner` — ``run`` registered as the ``cmb_detect`` task; :mod:`.mrml` — markups and count table;
* :mod:`.evaluate` — FROC on phantoms or a folder (``radtriage evaluate detection``);
* :mod:`.training_data` — phantom patches for the demo training script.
"""

from __future__ import annotations

from radtriage.tasks import register_runner
from radtriage.tasks.cmb_detect.candidates import Peaks, candidate_heatmap, extract_peaks
from radtriage.tasks.cmb_detect.detector import CmbDetection, CmbPipeline, DetectionRun, DetectSettings
from radtriage.tasks.cmb_detect.evaluate import (
    compare_stages,
    evaluate_runs,
    evaluate_scans,
    phantom_scans,
)
from radtriage.tasks.cmb_detect.location import LOCATION_CLASSES, count_by_location, locate_in_mni, location_class
from radtriage.tasks.cmb_detect.mrml import add_cmb_outputs, read_cmb_markups
from radtriage.tasks.cmb_detect.nms import merge_close
from radtriage.tasks.cmb_detect.prep import WorkingVolume, prepare_working_volume, working_grid
from radtriage.tasks.cmb_detect.runner import run

register_runner("cmb_detect", run)

__all__ = [
    "LOCATION_CLASSES",
    "CmbDetection",
    "CmbPipeline",
    "DetectSettings",
    "DetectionRun",
    "Peaks",
    "WorkingVolume",
    "add_cmb_outputs",
    "candidate_heatmap",
    "compare_stages",
    "count_by_location",
    "evaluate_runs",
    "evaluate_scans",
    "extract_peaks",
    "locate_in_mni",
    "location_class",
    "merge_close",
    "phantom_scans",
    "prepare_working_volume",
    "read_cmb_markups",
    "run",
    "working_grid",
]
