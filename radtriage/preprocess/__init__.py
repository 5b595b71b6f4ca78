"""Preprocessing: reorient, resample onto a model grid, rigid co-registration, intensity normalisation.

Everything keeps exact patient (LPS) geometry, so model outputs on the model grid map
back onto the native volume: see :class:`PreparedInputs`.
"""

from __future__ import annotations

from radtriage.preprocess.grid import GridSpec, direction_from_orientation
from radtriage.preprocess.normalize import normalize_intensity
from radtriage.preprocess.orient import is_axis_aligned, orientation_of, reorient
from radtriage.preprocess.prepare import PreparedInputs, prepare_to_grid
from radtriage.preprocess.register import (
    RigidRegistration,
    apply_matrix,
    overlap_fraction,
    register_rigid,
    transform_matrix,
)
from radtriage.preprocess.resample import resample

__all__ = [
    "GridSpec",
    "PreparedInputs",
    "RigidRegistration",
    "apply_matrix",
    "direction_from_orientation",
    "is_axis_aligned",
    "normalize_intensity",
    "orientation_of",
    "overlap_fraction",
    "prepare_to_grid",
    "register_rigid",
    "reorient",
    "resample",
    "transform_matrix",
]
