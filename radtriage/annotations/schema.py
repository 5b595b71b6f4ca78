"""Label schemas: what a reader may record for one task, and the validation of every label value against it.

A schema has a *kind* (how a value looks) and a *target* kind (what inside a case the label is about):

=============  ==============================================  ===========================================
kind           value                                           example
=============  ==============================================  ===========================================
``choice``     one class name                                  ``"abnormal"``
``multilabel`` list of class names (may be empty = none)       ``["acute_infarct", "mass_effect"]``
``rating``     number in ``[minimum, maximum]``                ``72`` (LGE likelihood of one slice)
``cmb``        ``{"decision": accept|reject|add,               ``{"decision": "add", "ras_mm": [1, -2, 3]}``
               "ras_mm": [R, A, S]}`` (millimetres, RAS)
``region``     one body-region class name                      ``"pelvis"``
=============  ==============================================  ===========================================

Targets are plain strings: ``""`` for the whole case, ``"slice:K"``, ``"candidate:ID"`` (a CMB candidate, or a
reader-added one) and ``"slices:A-B"`` (inclusive slice range), made by :func:`slice_target`,
:func:`candidate_target` and :func:`slice_range_target`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from radtriage.annotations.errors import LabelValueError
from radtriage.labelsets import MR_REGION_NAMES

KINDS = ("choice", "multilabel", "rating", "cmb", "region")
TARGET_KINDS = ("case", "slice", "candidate", "slice_range")
CMB_DECISIONS = ("accept", "reject", "add")
CRITICAL_FINDINGS = ("acute_infarct", "acute_haemorrhage", "mass_effect")

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SLICE = re.compile(r"^slice:(\d+)$")
_CANDIDATE = re.compile(r"^candidate:([A-Za-z0-9_.:-]{1,64})$")
_RANGE = re.compile(r"^slices:(\d+)-(\d+)$")


def slice_target(k: int) -> str:
    """Target string of slice ``k`` (0-based index along the volume's k axis)."""
    return f"slice:{int(k)}"


def candidate_target(candidate_id: str | int) -> str:
    """Target string of one CMB candidate (a model detection or a reader-added lesion)."""
    return f"candidate:{candidate_id}"


def slice_range_target(first: int, last: int) -> str:
    """Target string of the inclusive slice range ``first..last``."""
    return f"slices:{int(first)}-{int(last)}"


def parse_slice_range(target: str) -> tuple[int, int]:
    """``(first, last)`` of a ``slices:A-B`` target; ``ValueError`` otherwise."""
    m = _RANGE.match(target)
    if not m:
        raise ValueError(f"not a slice-range target: {target!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class LabelSchema:
    """What a reader records for one task; immutable once stored (register a new name to change it)."""

    name: str
    task: str
    kind: str
    target: str = "case"
    classes: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _schema_problems(self)
        if problems:
            raise LabelValueError(f"label schema {self.name!r}: {'; '.join(problems)}")

    # ------------------------------------------------------------ persistence
    def to_definition(self) -> dict[str, Any]:
        """Plain-JSON definition, the form stored in the database."""
        return {
            "name": self.name,
            "task": self.task,
            "kind": self.kind,
            "target": self.target,
            "classes": list(self.classes),
            "minimum": self.minimum,
            "maximum": self.maximum,
            "integer": self.integer,
            "description": self.description,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> LabelSchema:
        """Rebuild a schema from :meth:`to_definition` output."""
        d = dict(definition)
        d["classes"] = tuple(d.get("classes") or ())
        d["extra"] = dict(d.get("extra") or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise LabelValueError(f"label schema {d.get('name')!r}: unknown field(s) {unknown}")
        return cls(**d)

    # ------------------------------------------------------------- validation
    def validate_target(self, target: str | int | None, *, case_id: str = "?", reader_id: str = "?") -> str:
        """The normalised target string; ``LabelValueError`` naming case/reader/target when it does not fit."""
        where = f"case {case_id!r}, reader {reader_id!r}, schema {self.name!r}"
        if self.target == "case":
            if target in (None, ""):
                return ""
            raise LabelValueError(f"{where}: this schema labels whole cases; target must be empty, got {target!r}")
        if self.target == "slice" and isinstance(target, int) and not isinstance(target, bool) and target >= 0:
            return slice_target(target)
        text = "" if target is None else str(target)
        pattern, example = {
            "slice": (_SLICE, "slice:12"),
            "candidate": (_CANDIDATE, "candidate:3"),
            "slice_range": (_RANGE, "slices:10-25"),
        }[self.target]
        m = pattern.match(text)
        if not m:
            raise LabelValueError(f"{where}: target {text!r} is not a {self.target} target (e.g. {example!r})")
        if self.target == "slice_range" and int(m.group(1)) > int(m.group(2)):
            raise LabelValueError(f"{where}: slice range {text!r} ends before it starts")
        return text

    def validate_value(self, value: Any, *, case_id: str = "?", reader_id: str = "?", target: str = "") -> Any:
        """The normalised, JSON-ready value; ``LabelValueError`` naming case, reader, target and value."""
        where = f"case {case_id!r}, reader {reader_id!r}, schema {self.name!r}"
        where += f", target {target!r}" if target else ""
        check = {
            "choice": self._choice,
            "region": self._choice,
            "multilabel": self._multilabel,
            "rating": self._rating,
            "cmb": self._cmb,
        }[self.kind]
        problem, normalised = check(value)
        if problem:
            raise LabelValueError(f"{where}: value {value!r} {problem}")
        return normalised

    def _choice(self, value: Any) -> tuple[str | None, Any]:
        if not isinstance(value, str) or value not in self.classes:
            return f"is not one of {list(self.classes)}", None
        return None, value

    def _multilabel(self, value: Any) -> tuple[str | None, Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            return f"must be a list of findings from {list(self.classes)} (empty list = none)", None
        items = list(value)
        bad = [v for v in items if not isinstance(v, str) or v not in self.classes]
        if bad:
            return f"has unknown finding(s) {bad}; known: {list(self.classes)}", None
        if len(set(items)) != len(items):
            return "lists a finding twice", None
        return None, [c for c in self.classes if c in items]

    def _rating(self, value: Any) -> tuple[str | None, Any]:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            return "must be a finite number", None
        v = float(value)
        if self.integer and v != round(v):
            return "must be a whole number", None
        lo = -math.inf if self.minimum is None else self.minimum
        hi = math.inf if self.maximum is None else self.maximum
        if not lo <= v <= hi:
            return f"is outside [{self.minimum:g}, {self.maximum:g}]", None
        return None, round(v) if self.integer else v

    def _cmb(self, value: Any) -> tuple[str | None, Any]:
        if not isinstance(value, Mapping):
            return 'must be {"decision": ..., "ras_mm": [R, A, S]}', None
        unknown = sorted(set(value) - {"decision", "ras_mm"})
        if unknown:
            return f"has unknown key(s) {unknown}", None
        decision = value.get("decision")
        if decision not in self.classes:
            return f"has decision {decision!r}, not one of {list(self.classes)}", None
        ras = value.get("ras_mm")
        try:
            coords = [float(c) for c in ras] if not isinstance(ras, (str, bytes)) else []
        except (TypeError, ValueError):
            coords = []
        if len(coords) != 3 or not all(math.isfinite(c) for c in coords) or any(isinstance(c, bool) for c in ras):
            return "needs ras_mm = three finite RAS coordinates in millimetres", None
        return None, {"decision": decision, "ras_mm": coords}


def _schema_problems(s: LabelSchema) -> list[str]:
    problems = []
    if not isinstance(s.name, str) or not _NAME.match(s.name):
        problems.append("name must be 1-64 characters of letters, digits, '_', '.', '-'")
    if not isinstance(s.task, str) or not s.task:
        problems.append("task must be a non-empty string")
    if s.kind not in KINDS:
        problems.append(f"kind {s.kind!r} is not one of {list(KINDS)}")
    if s.target not in TARGET_KINDS:
        problems.append(f"target {s.target!r} is not one of {list(TARGET_KINDS)}")
    if s.kind in ("choice", "multilabel", "cmb", "region"):
        if not s.classes or not all(isinstance(c, str) and c for c in s.classes):
            problems.append(f"kind {s.kind!r} needs a non-empty list of class names")
        elif len(set(s.classes)) != len(s.classes):
            problems.append("class names must be unique")
        if s.kind == "choice" and len(s.classes) < 2:
            problems.append("a choice needs at least 2 classes")
        if s.kind == "cmb" and set(s.classes) != set(CMB_DECISIONS):
            problems.append(f"a cmb schema's classes must be {list(CMB_DECISIONS)}")
    if s.kind == "rating":
        if s.minimum is None or s.maximum is None or not (math.isfinite(s.minimum) and math.isfinite(s.maximum)):
            problems.append("a rating needs finite minimum and maximum")
        elif s.minimum >= s.maximum:
            problems.append("a rating's minimum must be below its maximum")
    return problems


NORMAL_ABNORMAL = LabelSchema(
    "mri_normal_abnormal",
    "mri_triage",
    "choice",
    "case",
    ("normal", "abnormal"),
    description="brain MRI read as normal or abnormal",
)
CRITICAL_FINDINGS_SCHEMA = LabelSchema(
    "mri_critical_findings",
    "mri_triage",
    "multilabel",
    "case",
    CRITICAL_FINDINGS,
    description="critical findings present on the brain MRI (empty list = none)",
)
LGE_RATING = LabelSchema(
    "lge_rating",
    "lge_certainty",
    "rating",
    "slice",
    minimum=0.0,
    maximum=100.0,
    description="likelihood 0-100 of late gadolinium enhancement in one short-axis slice",
)
CMB_REVIEW = LabelSchema(
    "cmb_review",
    "cmb_detect",
    "cmb",
    "candidate",
    CMB_DECISIONS,
    description="accept or reject a cerebral microbleed candidate, or add a missed one, at RAS millimetres",
)
BODY_REGION_CORRECTION = LabelSchema(
    "body_region_correction",
    "body_region",
    "region",
    "slice_range",
    MR_REGION_NAMES,
    description="the body region of an inclusive slice range (CT uses all but 'breast')",
)

BUILTIN_SCHEMAS: dict[str, LabelSchema] = {
    s.name: s for s in (NORMAL_ABNORMAL, CRITICAL_FINDINGS_SCHEMA, LGE_RATING, CMB_REVIEW, BODY_REGION_CORRECTION)
}
"""The schemas every new store starts with, by name."""

TASK_SCHEMAS: dict[str, tuple[str, ...]] = {
    task: tuple(name for name, s in BUILTIN_SCHEMAS.items() if s.task == task)
    for task in dict.fromkeys(s.task for s in BUILTIN_SCHEMAS.values())
}
"""Task -> the built-in schemas its readers (and its model, in ``radtriage batch --store``) record, the case's
read first (normal/abnormal for MRI)."""
