"""DICOM de-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

pydicom ships no profile data. The action table (table E.1-1: which attribute gets D, Z, X or U, and the combined
X/Z, X/D, Z/D, X/Z/D, X/Z/U* actions, repeating groups included) is taken from the ``dicom-anonymizer`` package
(Kitware; table ``dicomfields_2026c``, generated from the standard). The actions are applied here rather than
with that package's engine, which maps UIDs to random values and dates to fixed dummies:

* combined actions take the strictest choice the profile permits: X when allowed, else Z, else D;
* D replaces a value with a dummy of the same VR (a sequence: every element inside it gets a dummy);
* U, and every other UID that the DICOM standard does not define (listed or not), becomes a ``2.25.`` UID
  made from HMAC-SHA-512 of (export salt, original UID): the same original UID maps to the same new UID across one
  export (studies, series, frames of reference and references inside sequences stay linked), and to an
  unrelated UID in another export;
* private attributes are removed (no Retain Safe Private option), and the file preamble is zeroed;
* dates: ``"remove"`` (default) applies the table's action and also empties every other DA/DT value;
  ``"shift"`` is the Retain Longitudinal Temporal Information with Modified Dates Option: every DA/DT value is
  moved back by one whole number of days per patient (derived from the salt), so intervals within a patient
  are kept; the patient's birth date and time are removed in both modes;
* Patient's Name and Patient ID become the export's pseudonym (the profile's Z permits a dummy value);
* PatientIdentityRemoved = YES, DeidentificationMethod and DeidentificationMethodCodeSequence (DCM 113100, plus
  113107 when dates are shifted) are written; the file meta is rebuilt (MediaStorageSOPInstanceUID follows the
  new SOPInstanceUID).

Not done: removing text burned into the pixels (a dataset with BurnedInAnnotation YES is refused), and the
profile's other options (Clean Descriptors, Retain Device Identity, ...).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from radtriage.errors import RadTriageError

log = logging.getLogger(__name__)

PROFILE_TABLE = "dicomfields_2026c"
"""The ``dicom-anonymizer`` table of DICOM PS3.15 table E.1-1 that is applied."""
DATE_MODES = ("remove", "shift")
_CATEGORY_ACTION = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z",
    "X_Z_TAGS": "X",
    "X_D_TAGS": "X",
    "X_Z_D_TAGS": "X",
    "X_Z_U_STAR_TAGS": "X",
}
"""Action applied for each category of the table (the strictest the profile allows)."""
_STRICTNESS = {"X": 3, "U": 2, "Z": 1, "D": 0}
_BIRTH = {0x00100030, 0x00100032}  # Patient's Birth Date / Time
_STRING_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_NUMBER_VRS = {"FD", "FL", "SS", "US", "SL", "UL", "SV", "UV"}
_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_DUMMY_TEXT = "REMOVED"
_DATE = re.compile(r"\d{8}")


class DeidentificationError(RadTriageError):
    """A dataset cannot be de-identified safely (e.g. identity burned into the pixels)."""


@lru_cache(maxsize=1)
def profile_actions() -> tuple[dict[int, str], tuple[tuple[int, int, int, int, str], ...]]:
    """The Basic Profile as (exact tag -> action, repeating-group masks (group, element, gmask, emask, action))."""
    try:
        from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise DeidentificationError(
            "DICOM de-identification needs the 'dicom-anonymizer' package (PS3.15 profile table): "
            "pip install dicom-anonymizer"
        ) from exc
    table = dicom_anonymization_database_selector(PROFILE_TABLE)
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in _CATEGORY_ACTION.items():
        for entry in table[category]:
            if len(entry) == 2:
                tag = (int(entry[0]) << 16) | int(entry[1])
                old = exact.get(tag)
                exact[tag] = action if old is None or _STRICTNESS[action] > _STRICTNESS[old] else old
            else:
                group, element, gmask, emask = (int(v) for v in entry)
                masked.append((group, element, gmask, emask, action))
    return exact, tuple(masked)


def action_for(tag: int) -> str | None:
    """The Basic Profile action for ``tag`` ('D', 'Z', 'X', 'U'), or None when the profile retains it."""
    exact, masked = profile_actions()
    if tag in exact:
        return exact[tag]
    group, element = tag >> 16, tag & 0xFFFF
    for g, e, gmask, emask, action in masked:
        if group & gmask == g and element & emask == e:
            return action
    return None


def pseudonym(salt: str, text: str, prefix: str = "") -> str:
    """A short keyed hash of ``text``: stable within one export (one salt), unlinkable across exports."""
    digest = hmac.new(salt.encode("utf-8"), str(text).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}{digest[:12]}"


def shift_days(salt: str, patient: str) -> int:
    """Days every date of ``patient`` moves back in ``"shift"`` mode: 365..3650, fixed per (salt, patient)."""
    digest = hmac.new(salt.encode("utf-8"), f"date-shift:{patient}".encode(), hashlib.sha256).digest()
    return 365 + int.from_bytes(digest[:4], "big") % 3286


@lru_cache(maxsize=1)
def _standard_uids() -> frozenset[str]:
    from pydicom._uid_dict import UID_dictionary

    return frozenset(UID_dictionary)


def remap_uid(salt: str, uid: str) -> str:
    """The export's replacement for ``uid``: a ``2.25.`` UID made from a UUID keyed by (salt, UID); standard UIDs
    (SOP classes, transfer syntaxes, coding schemes) are kept."""
    uid = str(uid).strip().rstrip("\x00")
    if not uid or uid in _standard_uids():
        return uid
    digest = hmac.new(salt.encode("utf-8"), f"uid:{uid}".encode(), hashlib.sha512).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def _shift_date_text(text: str, days: int) -> str:
    def move(match: re.Match[str]) -> str:
        try:
            day = _dt.datetime.strptime(match.group(0), "%Y%m%d").date()
        except ValueError:
            return ""
        return (day - _dt.timedelta(days=days)).strftime("%Y%m%d")

    return _DATE.sub(move, text, count=0)


def _map_values(value: Any, fn: Callable[[str], str]) -> Any:
    if value is None:
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [fn(str(v)) for v in value]
    return fn(str(value))


def _shift_element(elem: Any, days: int) -> None:
    if elem.VR == "DT":
        elem.value = _map_values(elem.value, lambda t: _shift_date_text(t[:8], days) + t[8:] if len(t) >= 8 else "")
    else:
        elem.value = _map_values(elem.value, lambda t: _shift_date_text(t, days))


def _empty(elem: Any) -> None:
    if elem.VR == "SQ":
        elem.value = []
    elif elem.VR in _STRING_VRS or elem.VR in ("DA", "DT", "TM", "AS", "DS", "IS", "UI", "UR"):
        elem.value = ""
    else:
        elem.value = None


class _Deidentifier:
    def __init__(self, salt: str, pseudonym_text: str, dates: str, days: int) -> None:
        self.salt = salt
        self.pseudonym = pseudonym_text
        self.dates = dates
        self.days = days

    def dataset(self, ds: Any) -> None:
        for tag in list(ds.keys()):
            elem = ds[tag]
            tag = int(elem.tag)
            if elem.tag.is_private:
                del ds[tag]
                continue
            action = action_for(tag)
            if elem.VR in ("DA", "DT") and tag not in _BIRTH and self.dates == "shift":
                _shift_element(elem, self.days)
            elif action == "X" or (tag in _BIRTH and action is not None):
                del ds[tag]
            elif action == "Z":
                _empty(elem)
            elif action == "D":
                self.dummy(elem)
            elif elem.VR == "UI":
                elem.value = _map_values(elem.value, lambda u: remap_uid(self.salt, u))
            elif elem.VR == "SQ":
                for item in elem.value:
                    self.dataset(item)
            elif elem.VR in ("DA", "DT") and self.dates == "remove":
                _empty(elem)

    def dummy(self, elem: Any) -> None:
        vr = elem.VR
        if vr == "SQ":
            for item in elem.value:
                for tag in list(item.keys()):
                    if item[tag].tag.is_private:
                        del item[tag]
                    else:
                        self.dummy(item[tag])
        elif vr == "UI":
            elem.value = _map_values(elem.value, lambda u: remap_uid(self.salt, u))
        elif vr in ("DA", "DT") and self.dates == "shift":
            _shift_element(elem, self.days)
        elif vr == "DA":
            elem.value = "19000101"
        elif vr == "DT":
            elem.value = "19000101000000"
        elif vr == "TM":
            elem.value = "000000"
        elif vr == "AS":
            elem.value = "000Y"
        elif vr in ("DS", "IS"):
            elem.value = "0"
        elif vr == "UR":
            elem.value = "http://removed.invalid"
        elif vr in _NUMBER_VRS:
            elem.value = 0
        elif vr in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:  # text VRs (PN, LO, SH, ...) and anything else
            elem.value = _DUMMY_TEXT


def deidentify_dataset(ds: Any, *, salt: str, patient_pseudonym: str, dates: str = "remove", days: int = 0) -> Any:
    """De-identify a pydicom ``Dataset`` in place (see the module docstring) and return it.

    ``salt``: the export's secret (UIDs and pseudonyms depend on it); ``patient_pseudonym``: the new Patient's
    Name and ID; ``dates``: ``"remove"`` or ``"shift"`` (then ``days``, see :func:`shift_days`, moves every
    date back). Raises :class:`DeidentificationError` for burned-in annotation."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    if dates not in DATE_MODES:
        raise ValueError(f"dates must be one of {DATE_MODES}, got {dates!r}")
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        raise DeidentificationError(
            "BurnedInAnnotation is YES: the pixels may show identity, which the Basic Profile does not clean; refused"
        )
    _Deidentifier(salt, patient_pseudonym, dates, days).dataset(ds)
    ds.PatientName = patient_pseudonym
    ds.PatientID = patient_pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"PS3.15 E Basic Profile ({PROFILE_TABLE}), dates " + (
        "shifted" if dates == "shift" else "removed"
    )
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if dates == "shift":
        codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    old_meta = getattr(ds, "file_meta", None)
    meta = FileMetaDataset()
    sop_class = ds.get("SOPClassUID") or (old_meta.get("MediaStorageSOPClassUID") if old_meta else None)
    if sop_class:
        meta.MediaStorageSOPClassUID = sop_class
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    syntax = old_meta.get("TransferSyntaxUID") if old_meta else None
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


def deidentify_file(
    source: Any, target: Any, *, salt: str, patient_pseudonym: str, dates: str = "remove", days: int = 0
) -> None:
    """Read the DICOM file ``source`` (pixels included), de-identify it and write it to ``target``."""
    import pydicom

    ds = pydicom.dcmread(str(source))
    deidentify_dataset(ds, salt=salt, patient_pseudonym=patient_pseudonym, dates=dates, days=days)
    ds.save_as(str(target), enforce_file_format=True)
