"""The worklist: one row per case with its status (not run / result / labelled by me / labelled by others),
urgency (a positive critical finding first, then the model's probability) and the sort and filters the page
offers. Pure over the review session (reads results and the store, no MRML, no trame); in blind mode the model's
urgency of a case stays hidden until the reader has labelled it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from radtriage.review import ReviewSession
from radtriage.tasks.mri_triage.mrml import critical_findings

SORTS = {"urgency": "urgency", "file": "list order"}
"""Sort -> its name on the page; urgency: a positive critical finding first, then the model's probability."""
FILTERS = {"all": "all", "todo": "to do (mine)", "critical": "critical", "not run": "not run",
           "others": "by others"}
"""Filter -> its name on the page."""
NOT_RUN, RESULT, MINE, OTHERS = "not run", "result", "labelled by me", "labelled by others"


def urgency(task: str, result: Mapping[str, Any] | None) -> tuple[bool, float | None]:
    """(critical, probability) of a result: MRI's positive critical findings and abnormal probability, the
    most confident CMB candidate, the highest LGE slice likelihood (0..1); (False, None) without one."""
    outputs = (result or {}).get("outputs") or {}
    if not outputs:
        return False, None
    if task == "mri_triage":
        probability = (outputs.get("probabilities") or {}).get("abnormal")
        return bool(critical_findings(outputs)), None if probability is None else float(probability)
    if task == "cmb_detect":
        confidences = [float(d["confidence"]) for d in outputs.get("detections") or []]
        return False, max(confidences, default=0.0)
    if task == "lge_certainty":
        likelihoods = [float(s["likelihood"]) / 100.0 for s in outputs.get("slices") or []]
        return False, max(likelihoods, default=None)
    return False, None


def case_status(has_result: bool, mine: bool, others: bool) -> str:
    """The status a row shows: my label first, then other readers', then whether the task has run."""
    if mine:
        return MINE
    if others:
        return OTHERS
    return RESULT if has_result else NOT_RUN


def worklist_rows(session: ReviewSession) -> list[dict[str, Any]]:
    """Every case of the session as a worklist row, in list order."""
    done = session.done_case_ids()
    others = {e.case_id for e in session.store.current_labels() if e.reader_id != session.reader_id}
    rows = []
    for i, case in enumerate(session.cases):
        try:
            task = session.task_of(case)
            result = session.result(case)
        except Exception:  # a case without a task or with an unreadable result: listed, not ranked
            task, result = "?", None
        mine = case.case_id in done
        hidden = session.blind and not mine and result is not None
        critical, probability = (False, None) if hidden else urgency(task, result)
        rows.append({"id": case.case_id, "index": i, "task": task, "done": mine,
                     "status": case_status(result is not None, mine, case.case_id in others),
                     "critical": critical, "probability": probability, "hidden": hidden})
    return rows


def sort_rows(rows: Sequence[Mapping[str, Any]], sort: str) -> list[Mapping[str, Any]]:
    """``urgency``: critical first, then probability high to low (no probability last), then list order;
    ``file``: list order."""
    if sort == "file":
        return sorted(rows, key=lambda r: r["index"])
    return sorted(rows, key=lambda r: (not r["critical"], r["probability"] is None, -(r["probability"] or 0.0),
                                       r["index"]))


def filter_rows(rows: Sequence[Mapping[str, Any]], which: str) -> list[Mapping[str, Any]]:
    """The rows a filter of :data:`FILTERS` keeps."""
    keep = {
        "all": lambda r: True,
        "todo": lambda r: not r["done"],
        "critical": lambda r: r["critical"],
        "not run": lambda r: r["status"] == NOT_RUN,
        "others": lambda r: r["status"] == OTHERS,
    }
    if which not in keep:
        raise KeyError(f"no worklist filter {which!r}; known: {', '.join(FILTERS)}")
    return [r for r in rows if keep[which](r)]
