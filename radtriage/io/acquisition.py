"""Acquisition subgroups of a series: site, vendor, field strength and slice thickness, from its DICOM tags.

:func:`acquisition_subgroups` turns a series' kept DICOM attributes (``Image.metadata["dicom_tags"]``, see
:mod:`radtriage.io.tags`) into the four :data:`SUBGROUP_COLUMNS` that ``radtriage batch`` writes into
``batch_results.csv``; ``radtriage evaluate classification --by COLUMN`` reports metrics per value
(:mod:`radtriage.evaluation.subgroups`). Values a series does not record stay empty.
"""


from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SUBGROUP_COLUMNS: tuple[str, ...] = ("site", "vendor", "field_strength", "slice_thickness")
"""The acquisition subgroups: InstitutionName, Manufacturer (short name), MagneticFieldStrength (T) and
SliceThickness (binned)."""
THICKNESS_EDGES_MM: tuple[float, ...] = (1.5, 3.0, 5.0)
"""Slice-thickness bins: <= 1.5, 1.5-3, 3-5 and > 5 mm."""
_VENDORS = (("SIEMENS", "Siemens"), ("GE ", "GE"), ("GE_", "GE"), ("GEMS", "GE"), ("PHILIPS", "Philips"),
            ("TOSHIBA", "Canon"), ("CANON", "Canon"), ("HITACHI", "Fujifilm"), ("FUJIFILM", "Fujifilm"),
            ("UNITED IMAGING", "United Imaging"), ("UIH", "United Imaging"), ("GENERAL ELECTRIC", "GE"))
NOMINAL_TESLA: tuple[float, ...] = (0.55, 1.0, 1.5, 3.0, 7.0)
"""Field strengths a header value within 5 % of is reported as (Siemens writes 2.89362 for its 3 T systems)."""


def _number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def vendor_group(manufacturer: Any) -> str:
    """A short vendor name ("Siemens", "GE", "Philips", ...); the tag's own text when unknown; '' when absent."""
    text = str(manufacturer or "").strip()
    upper = f"{text.upper()} "  # "GE" alone matches the prefix "GE "
    return next((name for prefix, name in _VENDORS if upper.startswith(prefix)), text)


def field_strength_group(tesla: Any) -> str:
    """``"1.5 T"``, ``"3 T"`` ...: the nominal strength of :data:`NOMINAL_TESLA` within 5 %, else rounded to 0.1 T
    (values above 20 are read as gauss, as old headers have them)."""
    value = _number(tesla)
    if value is None:
        return ""
    if value > 20.0:
        value /= 10_000.0
    nominal = min(NOMINAL_TESLA, key=lambda t: abs(t - value))
    return f"{nominal if abs(nominal - value) <= 0.05 * nominal else round(value, 1):g} T"


def thickness_group(mm: Any) -> str:
    """The slice-thickness bin of :data:`THICKNESS_EDGES_MM`; '' when absent."""
    value = _number(mm)
    if value is None:
        return ""
    lo = 0.0
    for edge in THICKNESS_EDGES_MM:
        if value <= edge:
            return f"<= {edge:g} mm" if lo == 0.0 else f"{lo:g}-{edge:g} mm"
        lo = edge
    return f"> {THICKNESS_EDGES_MM[-1]:g} mm"


def acquisition_subgroups(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """The :data:`SUBGROUP_COLUMNS` of one series from its kept DICOM attributes ('' where not recorded)."""
    tags = tags or {}
    return {
        "site": str(tags.get("InstitutionName") or "").strip(),
        "vendor": vendor_group(tags.get("Manufacturer")),
        "field_strength": field_strength_group(tags.get("MagneticFieldStrength")),
        "slice_thickness": thickness_group(tags.get("SliceThickness")),
    }


def case_subgroups(images: Mapping[str, Any]) -> dict[str, str]:
    """A case's subgroups: each column from the first input series (in key order) that records it."""
    out = dict.fromkeys(SUBGROUP_COLUMNS, "")
    for key in sorted(images):
        metadata = getattr(images[key], "metadata", None) or {}
        for column, value in acquisition_subgroups(metadata.get("dicom_tags")).items():
            out[column] = out[column] or value
    return out
