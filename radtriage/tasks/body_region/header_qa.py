"""Header QA: compare the predicted body regions with DICOM BodyPartExamined and StudyDescription.

``BODY_PART_REGIONS`` maps DICOM Body Part Examined defined terms (PS3.16 Annex L, plus common
vendor variants) to the regions such a scan is expected to show. Study descriptions are free text:
they are searched for the same terms and common synonyms (``ABD``, ``THORAX``, ``C-SPINE``...).

Verdicts: ``match`` (every region covering a real part of the volume is expected, or next to an
expected region in head-to-feet order), ``partial`` (some overlap, but regions far from what the
header says), ``mismatch`` (no overlap at all), ``unrecognised`` (header text present but no known
body part in it) and ``no header information`` (neither tag present). ``flag`` is true for
``partial`` and ``mismatch``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from radtriage.labelsets import LabelSet
from radtriage.tasks.body_region.smoothing import CHAINS

_ALL = (
    "head", "face", "neck", "shoulder", "chest", "breast", "upper_arm", "abdomen", "elbow", "forearm", "pelvis",
    "hip", "hand", "thigh", "knee", "lower_leg", "ankle", "foot",
)
_UPPER_LIMB = ("shoulder", "upper_arm", "elbow", "forearm", "hand")
_LOWER_LIMB = ("hip", "thigh", "knee", "lower_leg", "ankle", "foot")

BODY_PART_REGIONS: dict[str, tuple[str, ...]] = {
    "WHOLEBODY": _ALL,
    "HEAD": ("head", "face"), "BRAIN": ("head",), "SKULL": ("head", "face"), "HEADNECK": ("head", "face", "neck"),
    "FACE": ("face",), "ORBIT": ("face",), "EYE": ("face",), "SINUS": ("face",), "NOSE": ("face",),
    "JAW": ("face",), "MANDIBLE": ("face",), "MAXILLA": ("face",), "TMJ": ("face",), "EAR": ("face", "head"),
    "IAC": ("face", "head"), "PITUITARY": ("head", "face"),
    "NECK": ("neck",), "LARYNX": ("neck",), "THYROID": ("neck",), "CAROTID": ("neck",),
    "CSPINE": ("neck",), "TSPINE": ("shoulder", "chest", "abdomen"), "LSPINE": ("abdomen", "pelvis"),
    "SSPINE": ("pelvis",), "SACRUM": ("pelvis",), "COCCYX": ("pelvis",),
    "SPINE": ("neck", "shoulder", "chest", "abdomen", "pelvis"), "WHOLESPINE": ("neck", "shoulder", "chest", "abdomen",
                                                                              "pelvis"),
    "CTSPINE": ("neck", "shoulder", "chest"), "TLSPINE": ("chest", "abdomen", "pelvis"),
    "CHEST": ("shoulder", "chest"), "THORAX": ("shoulder", "chest"), "LUNG": ("chest",), "HEART": ("chest",),
    "MEDIASTINUM": ("chest",), "RIB": ("chest", "abdomen"), "STERNUM": ("chest",), "CLAVICLE": ("shoulder",),
    "BREAST": ("breast", "chest"), "AXILLA": ("shoulder", "chest"),
    "NECKCHEST": ("neck", "shoulder", "chest"), "HEADNECKCHEST": ("head", "face", "neck", "shoulder", "chest"),
    "CHESTABDOMEN": ("shoulder", "chest", "abdomen"),
    "CHESTABDPELVIS": ("shoulder", "chest", "abdomen", "pelvis", "hip"),
    "ABDOMEN": ("abdomen",), "LIVER": ("abdomen",), "KIDNEY": ("abdomen",), "PANCREAS": ("abdomen",),
    "SPLEEN": ("abdomen",), "STOMACH": ("abdomen",), "GALLBLADDER": ("abdomen",), "ADRENAL": ("abdomen",),
    "ABDOMENPELVIS": ("abdomen", "pelvis", "hip"), "ABDPELVIS": ("abdomen", "pelvis", "hip"),
    "AORTA": ("chest", "abdomen"),
    "PELVIS": ("pelvis", "hip"), "BLADDER": ("pelvis",), "PROSTATE": ("pelvis",), "UTERUS": ("pelvis",),
    "RECTUM": ("pelvis",),
    "EXTREMITY": _UPPER_LIMB + _LOWER_LIMB, "UPREXM": _UPPER_LIMB, "UPPEREXTREMITY": _UPPER_LIMB,
    "ARM": ("upper_arm", "elbow", "forearm", "hand"),
    "SHOULDER": ("shoulder",), "HUMERUS": ("upper_arm",), "UPPERARM": ("upper_arm",), "ELBOW": ("elbow",),
    "FOREARM": ("forearm",), "WRIST": ("hand", "forearm"), "HAND": ("hand",), "FINGER": ("hand",),
    "LOWREXM": _LOWER_LIMB, "LOWEREXTREMITY": _LOWER_LIMB, "LEG": ("thigh", "knee", "lower_leg", "ankle", "foot"),
    "HIP": ("hip",), "THIGH": ("thigh",), "FEMUR": ("thigh",), "KNEE": ("knee",), "LOWERLEG": ("lower_leg",),
    "TIBIA": ("lower_leg",), "FIBULA": ("lower_leg",), "ANKLE": ("ankle",), "FOOT": ("foot",), "TOE": ("foot",),
    "HEEL": ("foot",), "CALCANEUS": ("foot",),
}
"""DICOM Body Part Examined defined terms -> regions such a scan shows (label-set names)."""

# Free-text synonyms (whole words after upper-casing) -> defined terms.
_SYNONYMS: dict[str, str] = {
    "CRANIAL": "HEAD", "CRANIUM": "HEAD", "CEREBRAL": "BRAIN", "NEURO": "BRAIN", "THORACIC": "THORAX",
    "PULMONARY": "LUNG", "LUNGS": "LUNG", "CARDIAC": "HEART", "CORONARY": "HEART", "CARDIO": "HEART",
    "ABD": "ABDOMEN", "ABDO": "ABDOMEN", "ABDOMINAL": "ABDOMEN", "RENAL": "KIDNEY", "KIDNEYS": "KIDNEY",
    "HEPATIC": "LIVER", "PELVIC": "PELVIS", "HIPS": "HIP", "KNEES": "KNEE", "FEET": "FOOT", "HANDS": "HAND",
    "ANKLES": "ANKLE", "WRISTS": "WRIST", "ELBOWS": "ELBOW", "SHOULDERS": "SHOULDER", "BREASTS": "BREAST",
    "MAMMA": "BREAST", "MAMMO": "BREAST", "MAMMOGRAPHY": "BREAST", "SINUSES": "SINUS", "ORBITS": "ORBIT",
    "FACIAL": "FACE", "CERVICAL": "CSPINE", "LUMBAR": "LSPINE", "SACRAL": "SSPINE", "THYROIDAL": "THYROID",
    "LEGS": "LEG", "ARMS": "ARM", "THIGHS": "THIGH", "FEMORAL": "FEMUR", "CAROTIDS": "CAROTID",
    "TOTALBODY": "WHOLEBODY", "WB": "WHOLEBODY", "TAP": "CHESTABDPELVIS", "CAP": "CHESTABDPELVIS",
}
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"\bWHOLE[\s_-]*BODY\b", "WHOLEBODY"), (r"\bC[\s_-]*SPINE\b", "CSPINE"), (r"\bT[\s_-]*SPINE\b", "TSPINE"),
    (r"\bL[\s_-]*SPINE\b", "LSPINE"), (r"\bTHORACIC[\s_-]+SPINE\b", "TSPINE"), (r"\bHEAD[\s_/&-]*NECK\b", "HEADNECK"),
    (r"\bLOWER[\s_-]*LEG\b", "LOWERLEG"), (r"\bUPPER[\s_-]*ARM\b", "UPPERARM"),
    (r"\bLOWER[\s_-]*(EXTREMITY|LIMB)\b", "LOWEREXTREMITY"), (r"\bUPPER[\s_-]*(EXTREMITY|LIMB)\b", "UPPEREXTREMITY"),
)
_ABSENT = {"", "NONE", "NULL", "N/A", "NA", "UNKNOWN"}
MIN_FRACTION = 0.1
"""A predicted region counts for QA when it covers at least this share of the slices (or is the only one)."""


def terms_in_text(text: str) -> list[str]:
    """Defined terms found in free text (study description), in order of appearance, without repeats."""
    upper = text.upper()
    found: list[tuple[int, str]] = []
    for pattern, term in _PHRASES:
        for m in re.finditer(pattern, upper):
            found.append((m.start(), term))
        upper = re.sub(pattern, lambda m: " " * len(m.group(0)), upper)
    for m in re.finditer(r"[A-Z]+", upper):
        word = m.group(0)
        term = word if word in BODY_PART_REGIONS else _SYNONYMS.get(word)
        if term:
            found.append((m.start(), term))
    out: list[str] = []
    for _, term in sorted(found):
        if term not in out:
            out.append(term)
    return out


def terms_in_body_part(value: str) -> list[str]:
    """Defined terms of a BodyPartExamined value (exact term first, then free-text search)."""
    key = re.sub(r"[\s_-]", "", value.upper())
    if key in BODY_PART_REGIONS:
        return [key]
    if key in _SYNONYMS:
        return [_SYNONYMS[key]]
    return terms_in_text(value)


def _neighbours(names: Sequence[str]) -> dict[str, set[str]]:
    """Each region and the regions next to it on its chain (head-to-feet neighbours)."""
    present = set(names)
    out: dict[str, set[str]] = {n: {n} for n in names}
    for chain in CHAINS:
        seq = [n for n in chain if n in present]
        for a, b in itertools.pairwise(seq):
            out[a].add(b)
            out[b].add(a)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value).strip()


def significant_regions(ranges: Iterable[Mapping[str, Any]], min_fraction: float = MIN_FRACTION) -> list[str]:
    """Regions (head to feet) covering at least ``min_fraction`` of the slices; the largest one always counts."""
    counts: dict[str, int] = {}
    for r in ranges:
        counts[r["region"]] = counts.get(r["region"], 0) + int(r["n_slices"])
    if not counts:
        return []
    total = sum(counts.values())
    largest = max(counts, key=lambda n: counts[n])
    return [n for n in counts if n == largest or counts[n] >= min_fraction * total]


def header_qa(
    ranges: Sequence[Mapping[str, Any]],
    tags: Mapping[str, Any] | None,
    labelset: LabelSet,
    min_fraction: float = MIN_FRACTION,
) -> dict[str, Any]:
    """Compare predicted ranges with BodyPartExamined / StudyDescription; a JSON-ready verdict.

    Returns ``status`` (see module docstring), ``flag``, ``message``, ``predicted_regions``,
    ``expected_regions`` and ``sources`` (each tag's value, the terms found and their regions).
    """
    names = labelset.names
    predicted = significant_regions(ranges, min_fraction)
    sources: list[dict[str, Any]] = []
    for keyword, finder in (("BodyPartExamined", terms_in_body_part), ("StudyDescription", terms_in_text)):
        value = _text((tags or {}).get(keyword))
        if value.upper() in _ABSENT:
            continue
        terms = finder(value)
        regions = sorted({r for t in terms for r in BODY_PART_REGIONS[t] if r in names}, key=names.index)
        sources.append({"tag": keyword, "value": value, "terms": terms, "regions": regions})
    expected = sorted({r for s in sources for r in s["regions"]}, key=names.index)
    result: dict[str, Any] = {"predicted_regions": predicted, "expected_regions": expected, "sources": sources}
    if not sources:
        return {**result, "status": "no header information", "flag": False,
                "message": "no header information (BodyPartExamined and StudyDescription are absent)"}
    if not expected:
        said = "; ".join(f"{s['tag']} '{s['value']}'" for s in sources)
        return {**result, "status": "unrecognised", "flag": False,
                "message": f"no known body part in the header ({said})"}
    near = _neighbours(names)
    allowed = set().union(*(near[r] for r in expected))
    outside = [r for r in predicted if r not in allowed]
    overlap = [r for r in predicted if r in allowed]
    said = ", ".join(f"{s['tag']} '{s['value']}'" for s in sources if s["regions"])
    if not overlap:
        status, message = "mismatch", (
            f"predicted {', '.join(predicted)} but the header ({said}) says {', '.join(expected)}")
    elif outside:
        status, message = "partial", (
            f"predicted {', '.join(outside)} beyond what the header ({said}) says ({', '.join(expected)})")
    else:
        status, message = "match", f"predicted regions agree with the header ({said})"
    return {**result, "status": status, "flag": status in ("mismatch", "partial"), "message": message}
