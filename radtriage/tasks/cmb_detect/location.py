"""Location class of a microbleed (lobar / deep / infratentorial, as in MARS) from an MNI region atlas.

The working magnitude is registered (affine, mutual information, :mod:`radtriage.anatomy.registration`) to the
MNI ICBM152 template the nilearn package ships, and each detection's MNI point is looked up in the shipped
2 mm lobar / deep / infratentorial map (:mod:`radtriage.anatomy.regions`, derived from the BSD-2 arterial
territory atlas by ``scripts/make_region_atlas.py``).

``unknown`` is reported for every detection when the field of view cannot hold a whole head (no registration is
tried) or when the registration fails its quality check (the reason goes to ``result.json`` as
``outputs.location_note`` and a notice), and for a single detection outside the map's brain (e.g. in the scalp).

Limits: an affine fit is accurate to a few millimetres in the middle of the brain and less at the cortex and
near class borders (insula vs external capsule, temporal lobe vs cerebellum); atrophy, large lesions or a
resection move structures the affine cannot follow. Deep white matter that the cortical arteries supply counts as
lobar except a 4 mm rim around the lateral ventricles (deep). Treat the class as a reading aid.
"""

from __future__ import annotations

import logging

import numpy as np

from radtriage.anatomy.regions import region_of
from radtriage.anatomy.registration import MniRegistration, register_to_mni, whole_head_problem
from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec

log = logging.getLogger(__name__)

LOCATION_CLASSES = ("lobar", "deep", "infratentorial", "unknown")
LOCATION_METHOD = ("MNI lobar / deep / infratentorial map (from the arterial territory atlas) after affine "
                   "registration to the MNI ICBM152 template")


def locate_in_mni(magnitude: np.ndarray, grid: GridSpec,
                  native: GridSpec | None = None) -> tuple[MniRegistration | None, str]:
    """Register the magnitude on ``grid`` to MNI: ``(registration, "")`` when its QC passed, else with why not.

    ``native`` is the acquired grid (whole-head and voxel-size checks); the registration is None when none was
    tried (not a whole-head field of view, or an image registration refuses).
    """
    problem = whole_head_problem(native or grid)
    if problem:
        return None, problem
    image = Image(np.asarray(magnitude, dtype=np.float32), grid.spacing, grid.origin, grid.direction.copy())
    try:
        registration = register_to_mni(image, native_spacing=None if native is None else native.spacing)
    except InputError as exc:
        return None, f"registration to MNI not possible: {exc.problem}"
    return registration, registration.qc.reason


def location_class(point_lps: np.ndarray | tuple[float, float, float], registration: MniRegistration | None) -> str:
    """``lobar`` / ``deep`` / ``infratentorial`` / ``unknown`` for one LPS point of the registered image."""
    return region_of(np.asarray(point_lps, dtype=float)[None], registration)[0]


def count_by_location(locations: list[str]) -> list[dict[str, int | str]]:
    """MARS-style rows ``{"location": class, "count": n}`` for every class (zeros included) and a ``total`` row."""
    rows: list[dict[str, int | str]] = [{"location": c, "count": locations.count(c)} for c in LOCATION_CLASSES]
    rows.append({"location": "total", "count": len(locations)})
    return rows
