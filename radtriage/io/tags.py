"""The DICOM attributes the project keeps with an image: acquisition facts and the site, never a patient's identity.

``CONTRAST_TAG_KEYWORDS`` are copied from a series' first dataset into
``Image.metadata["dicom_tags"]`` by the DICOM reader and are what contrast
classification and header QA read. None of them identifies a patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTRAST_TAG_KEYWORDS: tuple[str, ...] = (
    "Modality",
    "Manufacturer",
    "InstitutionName",
    "MagneticFieldStrength",
    "SeriesDescription",
    "ProtocolName",
    "StudyDescription",
    "BodyPartExamined",
    "SequenceName",
    "PulseSequenceName",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "ImageType",
    "EchoTime",
    "RepetitionTime",
    "InversionTime",
    "FlipAngle",
    "EchoTrainLength",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "DiffusionBValue",
    "ImageOrientationPatient",
    "SliceThickness",
    "PixelSpacing",
)
"""Keywords kept for contrast classification, header QA and acquisition subgroups (no patient identifier among
them; InstitutionName names the site, for :mod:`radtriage.io.acquisition`)."""

# Siemens private b-value (0019,100C) and GE (0043,1039): read when the public tag is absent.
PRIVATE_BVALUE_TAGS: tuple[tuple[int, int], ...] = ((0x0019, 0x100C), (0x0043, 0x1039))


def _plain(value: Any) -> Any:
    """Turn a pydicom value into JSON-friendly Python (str, float, int, list)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip("\x00 ")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str)):
        # pydicom's DSfloat/IS subclass float/int; str() keeps PersonName-like types out of JSON surprises.
        if isinstance(value, str):
            return str(value)
        return float(value) if isinstance(value, float) else int(value)
    return str(value)


def extract_tags(dataset: Any) -> dict[str, Any]:
    """Copy the ``CONTRAST_TAG_KEYWORDS`` present in a pydicom dataset into a plain dict.

    Enhanced multi-frame objects keep some of these in functional groups; the
    shared and first per-frame groups are searched too. A private b-value is
    used when the public one is absent.
    """
    out: dict[str, Any] = {}
    sources = [dataset]
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = getattr(dataset, group, None)
        if seq:
            item = seq[0]
            sources.append(item)
            for elem in item:
                if elem.VR == "SQ" and elem.value:
                    sources.append(elem.value[0])
    for keyword in CONTRAST_TAG_KEYWORDS:
        for src in sources:
            value = getattr(src, keyword, None)
            if value not in (None, ""):
                out[keyword] = _plain(value)
                break
    if "DiffusionBValue" not in out:
        for tag in PRIVATE_BVALUE_TAGS:
            if tag in dataset:
                raw = _plain(dataset[tag].value)
                try:
                    first = raw[0] if isinstance(raw, list) else raw
                    out["DiffusionBValue"] = float(str(first).split("\\")[0])
                except (TypeError, ValueError, IndexError):
                    pass
                break
    return out


def tag_text(tags: Mapping[str, Any], keyword: str) -> str:
    """A tag's value as one upper-case string (lists joined by backslash), '' when absent."""
    value = tags.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(str(v) for v in value).upper()
    return str(value).upper()
