"""Coded concepts of the SR and SEG objects: DICOM/SNOMED codes where they exist, a private scheme otherwise."""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

SCHEME = "99RADTRIAGE"
"""Private coding scheme designator for RadTriage's own outputs (findings, scores, classes)."""

MANUFACTURER = "SlicerRadTriage"
DISCLAIMER = "DEMO MODEL - NOT FOR CLINICAL USE: research reading aid trained on synthetic phantoms"
NOT_FOR_CLINICAL_USE = "Research reading aid output; not a diagnosis. Read the images."

PRESENT, ABSENT, INDETERMINATE = codes.SCT.Present, codes.SCT.Absent, codes.SCT.Indeterminate
COMMENT = codes.DCM.Comment
UNITLESS = CodedConcept("1", "UCUM", "no units")
MM = CodedConcept("mm", "UCUM", "millimeter")


def private(value: str, meaning: str | None = None) -> CodedConcept:
    """A concept of the private scheme (value up to 16 characters as DICOM short strings allow)."""
    return CodedConcept(value[:16], SCHEME, meaning or value.replace("_", " "))


NOT_ASSESSABLE = private("not_assessable", "Not assessable")
DECISION = private("decision", "Decision at operating point")
PROBABILITY = private("probability", "Probability")
THRESHOLD = private("threshold", "Decision threshold")
CRITICAL = private("critical", "Critical finding")
CONFIDENCE = private("confidence", "Detection confidence")
LOCATION = private("location", "Location class")
RADIUS = private("radius_mm", "Apparent radius")
LIKELIHOOD = private("lge_likelihood", "LGE likelihood (0-100)")
CERTAINTY = private("certainty", "Certainty")
READING = private("reading", "Reading")
SUPERIOR = private("superior_z_mm", "Superior edge z")
INFERIOR = private("inferior_z_mm", "Inferior edge z")
LENGTH = private("length_mm", "Region length")
MEAN_CONFIDENCE = private("mean_confidence", "Mean confidence")
FIRST_INDEX = private("first_slice", "First slice index")
LAST_INDEX = private("last_slice", "Last slice index")
