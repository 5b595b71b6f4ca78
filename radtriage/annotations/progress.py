"""Reading progress and blind mode: which cases a reader has done, where to resume, and when model output may
be shown.

A case is *done* for a reader when the reader has a current (committed, not retracted) label for it — in every
schema of ``schemas`` when given, in any schema otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from radtriage.annotations.caselist import CaseList
from radtriage.annotations.records import BLINDED
from radtriage.annotations.store import AnnotationStore


def done_cases(store: AnnotationStore, reader_id: str, schemas: Sequence[str] | None = None) -> set[str]:
    """Ids of the cases ``reader_id`` has done (see the module docstring)."""
    if schemas is None:
        return {e.case_id for e in store.current_labels(reader_id=reader_id)}
    wanted = set(schemas)
    for name in wanted:
        store.schema(name)  # UnknownSchemaError for a typo rather than "nothing done"
    per_case: dict[str, set[str]] = defaultdict(set)
    for entry in store.current_labels(reader_id=reader_id):
        if entry.schema in wanted:
            per_case[entry.case_id].add(entry.schema)
    return {case for case, names in per_case.items() if names == wanted}


def resume(cases: CaseList, store: AnnotationStore, reader_id: str, schemas: Sequence[str] | None = None) -> int | None:
    """Put the cursor on the first case in list order the reader has not done and return its index; None (cursor
    unchanged) when every case is done."""
    done = done_cases(store, reader_id, schemas)
    for i, case in enumerate(cases):
        if case.case_id not in done:
            cases.index = i
            return i
    return None


def progress(
    cases: CaseList,
    store: AnnotationStore,
    readers: Sequence[str] | None = None,
    schemas: Sequence[str] | None = None,
) -> dict[str, dict[str, int]]:
    """Per reader (all stored readers by default): ``done``, ``remaining`` and ``total`` over this case list."""
    ids = set(cases.ids)
    out = {}
    for reader in readers if readers is not None else store.readers():
        done = len(done_cases(store, reader, schemas) & ids)
        out[reader] = {"done": done, "remaining": len(ids) - done, "total": len(ids)}
    return out


def may_show_model_output(
    store: AnnotationStore, case_id: str, reader_id: str, schemas: Sequence[str] | None = None
) -> bool:
    """Blind mode: model output for (case, reader) may be shown only once the reader has committed their own
    read of the case (a current label; in every schema of ``schemas`` when given)."""
    return case_id in done_cases(store, reader_id, schemas)


def model_version_for_label(
    store: AnnotationStore,
    case_id: str,
    reader_id: str,
    model_version: str,
    *,
    blind: bool,
    schemas: Sequence[str] | None = None,
) -> str:
    """The ``model_version`` to record with a label: ``"blinded"`` in blind mode while the reader has not yet
    committed (so no output was shown), else the model version whose output is on screen."""
    if blind and not may_show_model_output(store, case_id, reader_id, schemas):
        return BLINDED
    return model_version
