"""Cohort-scale runs (``radtriage batch``): one task over a folder, CSV or DICOM case list, resumable, with rows
streamed to CSV/JSONL and optionally to the annotation store, in process (decode overlapped with inference) or on
a Dask cluster.

>>> summary = run_cohort("cases/", "out/", "lge_certainty")        # doctest: +SKIP
>>> summary.counts                                                  # doctest: +SKIP
{'ok': 40, 'skipped': 2}
"""

from radtriage.batch.cohort import BatchSummary, effective_scheduler, run_cohort
from radtriage.batch.inputs import CaseJob, InputSpec, resolve_case, resolve_jobs
from radtriage.batch.labels import labels_from_result, model_reader_id
from radtriage.batch.worker import process_case

__all__ = [
    "BatchSummary",
    "CaseJob",
    "InputSpec",
    "effective_scheduler",
    "labels_from_result",
    "model_reader_id",
    "process_case",
    "resolve_case",
    "resolve_jobs",
    "run_cohort",
]
