"""A continuous body-part score per slice (head 0 ... feet 1) for QA of label jumps, BodyPartRegression-style.

The score of a slice is the expected standard height of its class probabilities: each class stands for the middle
of its span in a standard 1750 mm adult (arm and breast classes for the trunk level they lie at), divided by the
body height. Between neighbouring slices it should change about as much as their distance in mm over the body
height; :func:`score_jumps` lists the slices where it changes much more (a label jump worth a look) or runs the
wrong way.
"""

from __future__ import annotations

import itertools

import numpy as np

from radtriage.labelsets import LabelSet
from radtriage.phantoms.body import ARM_CHAIN, AXIAL_CHAIN, BREAST_CHAIN

BODY_HEIGHT_MM = 1750.0
JUMP_MM = 250.0
"""A change of more than this (in standard mm) beyond the slices' own distance counts as a jump: more than the
step between the middles of any two neighbouring regions (at most about 205 mm), so a label moving to the next
region is not a jump but skipping one is."""


def class_positions(labelset: LabelSet) -> np.ndarray:
    """Standard position (0 vertex ... 1 soles) of the middle of every class's span."""
    mid: dict[str, float] = {}
    for chain in (AXIAL_CHAIN, ARM_CHAIN, BREAST_CHAIN):
        for (name, start), (_, end) in itertools.pairwise(chain):
            mid[name] = 0.5 * (start + end) / BODY_HEIGHT_MM
    return np.array([mid[n] for n in labelset.names], dtype=float)


def body_part_score(probabilities: np.ndarray, labelset: LabelSet) -> np.ndarray:
    """Score per slice from softmax probabilities ``[n, K]``: sum over classes of probability x position."""
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(labelset):
        raise ValueError(f"probabilities must be [n, {len(labelset)}], got {p.shape}")
    return p @ class_positions(labelset)


def score_jumps(score: np.ndarray, head_to_feet: np.ndarray, spacing_mm: float,
                jump_mm: float = JUMP_MM) -> list[int]:
    """Slice indices (head-to-feet order) where the score changes by more than ``jump_mm`` beyond the slice
    distance from the slice above, or falls back toward the head by more than ``jump_mm``."""
    s = np.asarray(score, dtype=float)[np.asarray(head_to_feet)]
    step = np.diff(s) * BODY_HEIGHT_MM
    expected = float(spacing_mm)
    bad = np.nonzero((step - expected > jump_mm) | (step < -jump_mm))[0] + 1
    return [int(np.asarray(head_to_feet)[i]) for i in bad]
