"""Plain records the annotation store takes and returns: cases, labels to commit, stored entries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from radtriage.annotations.errors import AnnotationError

BLINDED = "blinded"
"""``model_version`` of a label made while the reader could not see any model output."""

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def check_identifier(value: Any, what: str) -> str:
    """``value`` as a key of letters, digits, ``_ . : -`` (no spaces, no DICOM ``^`` name separators)."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise AnnotationError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-' "
            "(a pseudonymous key, never a person's name)"
        )
    return value


@dataclass(frozen=True)
class CaseRef:
    """One case to read: a pseudonymous patient key (never a name), DICOM UIDs and/or image paths."""

    case_id: str
    patient_key: str = "unknown"
    study_uid: str = ""
    series_uids: tuple[str, ...] = ()
    image_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.case_id, str) or not self.case_id.strip() or self.case_id != self.case_id.strip():
            raise AnnotationError(f"case_id {self.case_id!r} must be a non-empty string without edge spaces")
        check_identifier(self.patient_key, f"case {self.case_id!r}: patient_key")
        object.__setattr__(self, "series_uids", tuple(str(u) for u in self.series_uids))
        object.__setattr__(self, "image_paths", tuple(str(p) for p in self.image_paths))


@dataclass(frozen=True)
class Label:
    """One label to commit: the schema's name, the value, and the target inside the case ('' = whole case)."""

    schema: str
    value: Any
    target: str | int = ""


@dataclass(frozen=True)
class LabelEntry:
    """One row of the append-only label history."""

    entry_id: int
    submission_uid: str
    case_id: str
    reader_id: str
    schema: str
    target: str
    action: str
    """'set' or 'retract'."""
    value: Any
    """The validated value (None for a retraction)."""
    retracts: int | None
    """For a retraction: the entry it withdraws."""
    model_version: str
    created_at: str
    """UTC, ISO 8601 with microseconds."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(case, reader, schema, target): the entries sharing a key are versions of one label."""
        return (self.case_id, self.reader_id, self.schema, self.target)


@dataclass(frozen=True)
class Submission:
    """What one commit wrote: all of ``entries`` or (after a failure) none of them."""

    uid: str
    case_id: str
    reader_id: str
    created_at: str
    entries: tuple[LabelEntry, ...] = field(default_factory=tuple)
