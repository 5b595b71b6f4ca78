"""What a review front end shows and commits: the label panel's rows (initial values, the model's hints only when
the session allows them), the reader's panel values turned into labels, the case header and the overlay line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from radtriage.annotations import Label, Submission
from radtriage.review.label_controls import LabelControl, added_cmb_label
from radtriage.review.session import ReviewSession


def progress_text(progress: dict[str, int]) -> str:
    """ "3 done / 2 remaining - case 4 of 5"."""
    text = f"{progress['done']} done / {progress['remaining']} remaining"
    if progress["total"]:
        text += f" - case {progress['index'] + 1} of {progress['total']}"
    return text


def case_header(session: ReviewSession) -> dict[str, Any]:
    """What the case box shows: title (case id, task, done or not), progress text, percent done, case id."""
    progress = session.progress()
    case = session.current
    title = "-"
    if case is not None:
        title = f"{case.case_id} ({session.task_of()})" + (" - labelled" if session.is_done() else "")
    percent = round(100 * progress["done"] / progress["total"]) if progress["total"] else 0
    return {"title": title, "progress": progress_text(progress) + skipped_text(session.skipped_cases),
            "percent": percent, "caseId": case.case_id if case is not None else None}  # fmt: skip


def skipped_text(skipped: dict[str, str], shown: int = 2) -> str:
    """`` - 2 case(s) left out: c7 (reason); c9 (reason)`` for the cases the list could not review ('' if none)."""
    if not skipped:
        return ""
    items = [f"{case_id} ({why})" for case_id, why in list(skipped.items())[:shown]]
    more = f"; {len(skipped) - shown} more in the log" if len(skipped) > shown else ""
    return f" - {len(skipped)} case(s) left out: " + "; ".join(items) + more


def overlay_text(shown: bool, visible: bool, has_result: bool) -> str:
    """Why the model's overlays are or are not on screen."""
    if shown:
        return "Model outputs shown (demo model: demo, not for clinical use)."
    if not has_result:
        return "No model result for this case yet: Run task computes it."
    if not visible:
        return "Blind mode: the model's outputs appear once you commit your read."
    return "Model outputs hidden."


def empty_panel_text(session: ReviewSession | None) -> str:
    """What the label panel says when it has no control."""
    if session is None:
        return "Open a case list."
    if session.task_of() == "cmb_detect":
        return "No candidate yet (run the task), or add missed microbleeds at the crosshair."
    if session.task_of() == "lge_certainty":
        return "Run the task to list the slices to rate."
    return "Run the task to list the slice ranges to correct."


def accepts_added_microbleeds(task: str) -> bool:
    """Whether the reader may add missed lesions on the task's cases."""
    return task == "cmb_detect"


def ras_text(ras: Sequence[float]) -> str:
    """ "R 1.0, A -2.0, S 3.0 mm"."""
    return "R {:.1f}, A {:.1f}, S {:.1f} mm".format(*(float(v) for v in ras))


def committed_value(control: LabelControl) -> Any:
    """The reader's committed value of a control in the panel's terms (None when not labelled yet)."""
    current = control.current
    if current is None:
        return None
    if control.kind == "multilabel":
        return [c for c in control.choices if c in current]
    if control.kind == "cmb":
        return current.get("decision") if isinstance(current, dict) else current
    if control.kind == "rating":
        return float(current)
    return current


def hint_text(control: LabelControl) -> str:
    """The model's suggestion and the context of a control, as one line ('' when there is none)."""
    parts = []
    suggestion, context = control.suggestion, dict(control.context)
    if suggestion is not None:
        if control.kind == "multilabel":
            parts.append("model: " + (", ".join(suggestion) or "no finding"))
        elif control.kind == "cmb":
            parts.append(f"model confidence {float(suggestion):.2f}")
        elif control.kind == "rating":
            parts.append(f"model likelihood {float(suggestion):.0f}")
        else:
            parts.append(f"model: {suggestion}")
    if context.get("probability") is not None:
        parts.append(f"p = {float(context['probability']):.2f}")
    if context.get("not_assessable"):
        unassessed = context["not_assessable"].items()
        parts.append("not assessable: " + "; ".join(f"{name} ({why})" for name, why in unassessed))
    if context.get("ras_mm") is not None:
        parts.append("at " + ras_text(context["ras_mm"]))
    if context.get("location") not in (None, "unknown"):
        parts.append(str(context["location"]))
    if context.get("certainty") is not None:
        parts.append(f"certainty {context['certainty']}")
    if context.get("flag"):
        parts.append("low certainty: look again")
    return "; ".join(parts)


def panel_rows(controls: Sequence[LabelControl]) -> list[dict[str, Any]]:
    """One row per control: kind, title, choices, initial value (the committed one), bounds and a hint with
    the model's suggestion and context (only what the session lets the reader see)."""
    rows = []
    for control in controls:
        initial = committed_value(control)
        choices = tuple(control.choices)
        if control.kind == "cmb" and initial == "add":
            choices = ("add", "reject")  # a lesion the reader added: keep it or withdraw it
        if control.kind == "multilabel" and initial is None:
            initial = []
        ras = control.context.get("ras_mm") if control.kind == "cmb" else None
        rows.append({"kind": control.kind, "title": control.title, "target": control.target,
                     "choices": choices, "initial": initial, "minimum": control.minimum,
                     "maximum": control.maximum, "ras": ras, "hint": hint_text(control)})  # fmt: skip
    return rows


def labels_from_values(
    controls: Sequence[LabelControl], values: Sequence[Any], added_ras: Sequence[Sequence[float]] = ()
) -> list[Label]:
    """The labels to commit: one per control whose panel value (None = unanswered) differs from the committed
    one, plus one ``add`` per missed microbleed at ``added_ras`` (RAS mm, new ``candidate:reader-N`` targets)."""
    if len(values) != len(controls):
        raise ValueError(f"{len(values)} panel values for {len(controls)} label controls")
    labels = []
    for control, value in zip(controls, values, strict=True):
        if value is None:
            continue
        if control.kind == "multilabel":
            value = [c for c in control.choices if c in value]
        elif control.kind == "rating":
            value = float(value)
        if value == committed_value(control):
            continue
        labels.append(control.label(value))
    existing = [c.target for c in controls]
    for ras in added_ras:
        label = added_cmb_label(ras, existing)
        existing.append(label.target)
        labels.append(label)
    return labels


def unanswered_choices(controls: Sequence[LabelControl], values: Sequence[Any]) -> list[str]:
    """Titles of the whole-case choices (e.g. normal / abnormal) left without an answer, committed or new: a
    commit must not mark the case done without them."""
    return [control.title for control, value in zip(controls, values, strict=True)
            if control.kind == "choice" and value is None and control.current is None]  # fmt: skip


def commit_values(
    session: ReviewSession, controls: Sequence[LabelControl], values: Sequence[Any],
    added_ras: Sequence[Sequence[float]] = (),
) -> tuple[Submission | None, bool]:  # fmt: skip
    """Commit the panel on the current case in one submission; ValueError when a whole-case choice is left
    unanswered. Returns (submission or None when nothing changed, whether the case must be reloaded: blind
    mode and its outputs just became visible)."""
    missing = unanswered_choices(controls, values)
    if missing:
        raise ValueError(f"Answer {', '.join(repr(t) for t in missing)} before committing this case.")
    labels = labels_from_values(controls, values, added_ras)
    if not labels:
        return None, False
    visible_before = session.outputs_visible()
    submission = session.commit(labels)
    return submission, (not visible_before) and session.outputs_visible()
