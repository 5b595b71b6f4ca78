"""The label controls a review front end shows for a case: which schemas, which targets, the reader's current
value and (when visible) the model's suggestion — one description shared by the Slicer module and the web station.

The front end draws one widget per :class:`LabelControl` (a choice, finding checkboxes, a 0-100 slider per slice,
accept/reject per CMB candidate, a region per slice range) and turns the reader's input into a
:class:`~radtriage.annotations.Label` with :meth:`LabelControl.label`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from radtriage.annotations import (
    BUILTIN_SCHEMAS,
    TASK_SCHEMAS,
    Label,
    LabelEntry,
    LabelSchema,
    candidate_target,
    slice_range_target,
    slice_target,
)

MRI_ABNORMAL_THRESHOLD = 0.5
NO_MICROBLEEDS = "no microbleeds"
CMB_CASE_READ = LabelSchema(
    "cmb_case_read",
    "cmb_detect",
    "choice",
    "case",
    (NO_MICROBLEEDS, "microbleeds present"),
    description="the reader's read of a case the model found no candidate on: no microbleeds, or some (added "
                "as missed ones)",
)
REVIEW_SCHEMAS: dict[str, tuple[LabelSchema, ...]] = {"cmb_detect": (CMB_CASE_READ,)}
"""Schemas a review adds to a task's built-in ones (registered in the store by the review session)."""


def review_schemas(task: str) -> tuple[str, ...]:
    """Every schema a reader records on the task's cases: the built-in ones, then the review's own."""
    return (*TASK_SCHEMAS[task], *(s.name for s in REVIEW_SCHEMAS.get(task, ())))


def done_schemas(task: str) -> frozenset[str]:
    """A label in any of these marks the case done for its reader: the task's read (its first built-in schema;
    any CMB decision) or, for a case without candidates, the CMB case read ('no microbleeds')."""
    return frozenset({TASK_SCHEMAS[task][0], *(s.name for s in REVIEW_SCHEMAS.get(task, ()))})


@dataclass(frozen=True)
class LabelControl:
    """One control of the label panel.

    ``kind`` is the schema kind (choice / multilabel / rating / cmb / region); ``target`` the schema target
    string ('' for the whole case); ``current`` the reader's committed value or None; ``suggestion`` the model's
    value for this control, None while outputs are hidden (blind mode) or when there is no result;
    ``context`` extra facts to show (RAS of a candidate, the slice range, a confidence).
    """

    schema: str
    kind: str
    target: str
    title: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    current: Any = None
    suggestion: Any = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def label(self, value: Any) -> Label:
        """The label this control records for ``value`` (validated by the store on commit)."""
        if self.kind == "cmb" and isinstance(value, str):
            value = {"decision": value, "ras_mm": list(self.context["ras_mm"])}
        return Label(self.schema, value, self.target)


def _mri_controls(outputs: Mapping[str, Any] | None) -> list[LabelControl]:
    probs = (outputs or {}).get("probabilities") or {}
    abnormal = probs.get("abnormal")
    decisions = (outputs or {}).get("decisions") or {}
    normal_abnormal = BUILTIN_SCHEMAS["mri_normal_abnormal"]
    findings = BUILTIN_SCHEMAS["mri_critical_findings"]
    suggested_findings = [name for name in findings.classes if decisions.get(name)]
    unassessed = (outputs or {}).get("not_assessable") or {}  # about the input, not the model: shown when blind too
    return [
        LabelControl(normal_abnormal.name, "choice", "", "Normal / abnormal", normal_abnormal.classes,
                     suggestion=None if abnormal is None else
                     ("abnormal" if decisions.get("abnormal", abnormal >= MRI_ABNORMAL_THRESHOLD) else "normal"),
                     context={"probability": abnormal} if abnormal is not None else {}),
        LabelControl(findings.name, "multilabel", "", "Critical findings", findings.classes,
                     suggestion=suggested_findings if outputs else None,
                     context={**({"probabilities": {n: probs.get(n) for n in findings.classes}} if probs else {}),
                              **({"not_assessable": dict(unassessed)} if unassessed else {})}),
    ]


def _lge_controls(outputs: Mapping[str, Any] | None, n_slices: int | None) -> list[LabelControl]:
    slices = list((outputs or {}).get("slices") or [])
    count = len(slices) if slices else int(n_slices or 0)
    schema = BUILTIN_SCHEMAS["lge_rating"]
    controls = []
    for k in range(count):
        row = slices[k] if slices else {}
        controls.append(LabelControl(
            schema.name, "rating", slice_target(k), f"Slice {k + 1}: LGE likelihood 0-100",
            minimum=schema.minimum, maximum=schema.maximum, suggestion=row.get("likelihood"),
            context={k2: row[k2] for k2 in ("certainty", "flag", "reading") if k2 in row}))
    return controls


def _cmb_controls(outputs: Mapping[str, Any] | None) -> list[LabelControl]:
    schema = BUILTIN_SCHEMAS["cmb_review"]
    detections = (outputs or {}).get("detections") or []
    if outputs is not None and not detections:  # nothing to accept or reject: the reader's read of the case
        return [LabelControl(CMB_CASE_READ.name, "choice", "", "No candidate: microbleeds on this case?",
                             CMB_CASE_READ.classes)]
    controls = []
    for det in detections:
        controls.append(LabelControl(
            schema.name, "cmb", candidate_target(det["label"]), f"{det['label']} ({det.get('location', '?')})",
            ("accept", "reject"), suggestion=float(det["confidence"]),
            context={"ras_mm": list(det["center_ras"]), "confidence": float(det["confidence"]),
                     "radius_mm": det.get("radius_mm"), "location": det.get("location")}))
    return controls


def _region_choices(outputs: Mapping[str, Any] | None) -> tuple[str, ...]:
    names = ((outputs or {}).get("labelset") or {}).get("class_names") or ()
    return tuple(str(n) for n in names) or BUILTIN_SCHEMAS["body_region_correction"].classes


def _region_controls(outputs: Mapping[str, Any] | None) -> list[LabelControl]:
    schema = BUILTIN_SCHEMAS["body_region_correction"]
    choices = _region_choices(outputs)
    controls = []
    for r in (outputs or {}).get("ranges") or []:
        first, last = int(min(r["index_range"])), int(max(r["index_range"]))
        controls.append(LabelControl(
            schema.name, "region", slice_range_target(first, last), f"Slices {first}-{last}", choices,
            suggestion=r["region"], context={"first": first, "last": last, "n_slices": r.get("n_slices")}))
    return controls


def label_controls(
    task: str,
    outputs: Mapping[str, Any] | None,
    current: Sequence[LabelEntry] = (),
    *,
    show_suggestions: bool = True,
    n_slices: int | None = None,
) -> list[LabelControl]:
    """The panel for ``task``: controls built from the result ``outputs`` (None when not run), filled with the
    reader's ``current`` labels; suggestions dropped when ``show_suggestions`` is False (blind mode). Targets
    that only the model knows (CMB candidates, region ranges) need outputs even in blind mode: the reader then
    sees the candidates without their confidence. ``n_slices`` sizes the LGE panel when there is no result."""
    builders = {
        "mri_triage": lambda: _mri_controls(outputs),
        "lge_certainty": lambda: _lge_controls(outputs, n_slices),
        "cmb_detect": lambda: _cmb_controls(outputs),
        "body_region": lambda: _region_controls(outputs),
    }
    if task not in builders:
        raise KeyError(f"no review panel for task {task!r}; known: {', '.join(builders)}")
    controls = builders[task]()
    values = {(e.schema, e.target): e.value for e in current}
    known = {(c.schema, c.target) for c in controls}
    extra = [_control_for_entry(e) for e in current if (e.schema, e.target) not in known
             and e.schema in review_schemas(task)]
    filled = []
    for c in controls + [x for x in extra if x is not None]:
        suggestion = c.suggestion if show_suggestions else None
        context = dict(c.context) if show_suggestions else {
            k: v for k, v in c.context.items() if k not in ("confidence", "probability", "probabilities", "certainty")}
        filled.append(LabelControl(c.schema, c.kind, c.target, c.title, c.choices, c.minimum, c.maximum,
                                   values.get((c.schema, c.target), c.current), suggestion, context))
    return filled


def _control_for_entry(entry: LabelEntry) -> LabelControl | None:
    """A control for a label the reader made on a target the model did not propose (an added CMB, a range)."""
    schema = BUILTIN_SCHEMAS.get(entry.schema)
    if schema is None:
        return None
    if schema.kind == "cmb" and isinstance(entry.value, Mapping):
        return LabelControl(schema.name, "cmb", entry.target, f"{entry.target.split(':', 1)[1]} (added by reader)",
                            ("add", "reject"), context={"ras_mm": list(entry.value["ras_mm"])})
    if schema.kind == "region":
        return LabelControl(schema.name, "region", entry.target, entry.target, schema.classes)
    if schema.kind == "rating":
        return LabelControl(schema.name, "rating", entry.target, entry.target, minimum=schema.minimum,
                            maximum=schema.maximum)
    return None


def added_cmb_label(ras_mm: Sequence[float], existing: Sequence[str]) -> Label:
    """A reader-added (missed) microbleed at ``ras_mm``: target ``candidate:reader-N`` with a fresh N."""
    n = 1
    while candidate_target(f"reader-{n}") in existing:
        n += 1
    return Label("cmb_review", {"decision": "add", "ras_mm": [float(v) for v in ras_mm]},
                 candidate_target(f"reader-{n}"))
