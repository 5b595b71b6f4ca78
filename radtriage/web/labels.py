"""The label panel's data: :class:`~radtriage.review.LabelControl` objects as JSON-safe dicts for the browser,
and a reader's value back into a :class:`~radtriage.annotations.Label` committed through the review session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from radtriage.annotations import Label
from radtriage.review import LabelControl
from radtriage.tasks.result import to_plain


def describe_value(value: Any) -> str:
    """A short text for a control's value (the reader's or the model's)."""
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        return str(value.get("decision", value))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.2f}" if value <= 1.0 else f"{value:.0f}"
    return str(value)


def control_state(control: LabelControl, index: int) -> dict[str, Any]:
    """One control as a dict for the browser: its identity, options, current value and (visible) suggestion."""
    current = control.current
    if control.kind == "cmb" and isinstance(current, Mapping):
        current = current.get("decision")
    return {
        "index": index,
        "key": f"{control.schema}|{control.target}",
        "schema": control.schema,
        "kind": control.kind,
        "target": str(control.target),
        "title": control.title,
        "choices": list(control.choices),
        "minimum": to_plain(control.minimum),
        "maximum": to_plain(control.maximum),
        "current": to_plain(current),
        "current_text": describe_value(current),
        "suggestion": to_plain(control.suggestion),
        "suggestion_text": "" if control.suggestion is None else describe_value(control.suggestion),
        "context": to_plain(dict(control.context)),
    }


def controls_state(controls: Sequence[LabelControl]) -> list[dict[str, Any]]:
    """Every control of the panel as a browser dict (see :func:`control_state`)."""
    return [control_state(c, i) for i, c in enumerate(controls)]


def label_for(controls: Sequence[LabelControl], index: int, value: Any) -> Label:
    """The label the reader's ``value`` on control ``index`` records (validated by the store on commit)."""
    if not 0 <= index < len(controls):
        raise IndexError(f"no label control number {index} (the panel has {len(controls)})")
    control = controls[index]
    if control.kind == "rating" and value is not None:
        value = float(value)
    if control.kind == "multilabel" and value is not None:
        value = list(value)
    return control.label(value)
