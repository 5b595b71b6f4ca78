"""MARS-style microbleed location classes (lobar / deep / infratentorial) from the shipped MNI region map.

``data/mni_cmb_regions_2mm.nii.gz`` is built by ``scripts/make_region_atlas.py`` from the BSD-2 arterial
territory atlas (see that script for the class rules and ``data/REGIONS_LICENSE.md`` for the notice).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from radtriage.anatomy.registration import MniRegistration
from radtriage.image import Image

REGION_MAP = Path(__file__).parent / "data" / "mni_cmb_regions_2mm.nii.gz"
REGION_NAMES = ("unknown", "lobar", "deep", "infratentorial")
"""Class of each code in the map (0: outside the brain)."""


@functools.lru_cache(maxsize=1)
def region_map() -> Image:
    """The 2 mm class map in MNI LPS space (uint8 codes of :data:`REGION_NAMES`)."""
    import SimpleITK as sitk

    return Image.from_sitk(sitk.ReadImage(str(REGION_MAP)), metadata={"source_path": str(REGION_MAP)})


def region_of_mni(points_mni_lps: np.ndarray) -> list[str]:
    """Class of each ``(N, 3)`` MNI LPS point (nearest voxel; ``unknown`` outside the brain or the map)."""
    regions = region_map()
    pts = np.asarray(points_mni_lps, dtype=float).reshape(-1, 3)
    ijk = np.round(regions.lps_to_index(pts)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(regions.size)), axis=1)
    codes = np.zeros(len(pts), dtype=int)
    codes[inside] = np.asarray(regions.array)[ijk[inside, 2], ijk[inside, 1], ijk[inside, 0]]
    return [REGION_NAMES[c] for c in codes]


def region_of(points_lps: np.ndarray, registration: MniRegistration | None) -> list[str]:
    """Class of each ``(N, 3)`` point of the registered image (LPS); all ``unknown`` without a passing QC."""
    pts = np.asarray(points_lps, dtype=float).reshape(-1, 3)
    if registration is None or not registration.qc.passed:
        return ["unknown"] * len(pts)
    return region_of_mni(registration.native_to_mni(pts))
