"""Seeded procedural phantoms with ground truth, for tests and for training small demo models.

* :func:`make_brain_case`, :func:`make_brain_cohort`: 8-contrast brain MR with infarct,
  haemorrhage and mass-effect findings on an analytic head (:mod:`radtriage.phantoms.brain`): fast, for unit
  tests, timing and the DICOM examples.
* :func:`radtriage.phantoms.brain_mni.make_mni_brain_case`: the same findings (plus chronic-infarct and
  white-matter-hyperintensity mimics) on real anatomy — the MNI template, real SOOP infarct shapes — with
  domain-randomised appearance: what the demo MRITriage bundle is trained and evaluated on, and what the demo,
  exported cases and ``radtriage evaluate triage`` / ``localisation`` draw.
* :func:`make_swi_case`, :func:`insert_microbleeds`: SWI microbleeds and mimics
  (:mod:`radtriage.phantoms.swi`).
* :func:`make_lge_slice`, :func:`make_lge_stack`: short-axis cardiac LGE
  (:mod:`radtriage.phantoms.cardiac`).
* :func:`make_body_case`: head-to-feet body phantom with per-slice region labels
  (:mod:`radtriage.phantoms.body`).

The same seed always gives identical arrays; every phantom is drawn in patient
(LPS) space, so any spacing, origin and direction is honoured.
"""

from radtriage.phantoms.body import BodyCase, make_body_case
from radtriage.phantoms.brain import FINDING_TYPES, BrainCase, make_brain_case, make_brain_cohort
from radtriage.phantoms.cardiac import SAX_DIRECTION, LgeSlice, make_lge_slice, make_lge_stack
from radtriage.phantoms.swi import Focus, SwiCase, insert_microbleeds, make_swi_case

__all__ = [
    "FINDING_TYPES",
    "SAX_DIRECTION",
    "BodyCase",
    "BrainCase",
    "Focus",
    "LgeSlice",
    "SwiCase",
    "insert_microbleeds",
    "make_body_case",
    "make_brain_case",
    "make_brain_cohort",
    "make_lge_slice",
    "make_lge_stack",
    "make_swi_case",
]
