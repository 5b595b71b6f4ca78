"""Case review without a UI: a reader's session over a case list (navigation, resume, progress, blind mode), the
case's inputs and task result, the label panel and commits to the annotation store. The CaseReview Slicer module
and the web station (``radtriage serve``) are thin front ends over :class:`ReviewSession`; the scene side is
:mod:`radtriage.review.case_mrml` and :mod:`radtriage.review.mrml_views` (MRML layer). What a front end's panel
needs: :mod:`~radtriage.review.opening` (fields -> session), :mod:`~radtriage.review.panel` (rows, commits),
:mod:`~radtriage.review.runs` (a task run fixed to its case) and :mod:`~radtriage.review.keys` (review keys).

>>> cases = open_case_list(build_demo_cases("demo-cases"))            # doctest: +SKIP
>>> session = ReviewSession(cases, open_store("project"), "reader1", blind=True)  # doctest: +SKIP
>>> session.resume(); session.run_task()                              # doctest: +SKIP
>>> session.commit([session.controls()[0].label("abnormal")])         # doctest: +SKIP
"""

from radtriage.review.case_inputs import (
    CASE_MANIFEST,
    CheckedCases,
    case_folder,
    case_inputs,
    case_manifest,
    case_task,
    check_cases,
    sort_out_cases,
)
from radtriage.review.demo_cases import build_demo_cases
from radtriage.review.label_controls import TASK_SCHEMAS, LabelControl, added_cmb_label, label_controls
from radtriage.review.results import NO_MODEL, model_version_of, result_volume_paths
from radtriage.review.session import ReviewSession, default_results_dir, open_session

__all__ = [
    "CASE_MANIFEST",
    "NO_MODEL",
    "TASK_SCHEMAS",
    "CheckedCases",
    "LabelControl",
    "ReviewSession",
    "added_cmb_label",
    "build_demo_cases",
    "case_folder",
    "case_inputs",
    "case_manifest",
    "case_task",
    "check_cases",
    "default_results_dir",
    "label_controls",
    "model_version_of",
    "open_session",
    "result_volume_paths",
    "sort_out_cases",
]
