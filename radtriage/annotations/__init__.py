"""Reader annotations: an append-only label store (SQLite per project, or PostgreSQL), case lists with
resume / progress / blind mode, and inter-reader agreement.

>>> store = open_store("project_folder")                      # doctest: +SKIP
>>> store.add_case(CaseRef("case001", patient_key="a1b2c3"))  # doctest: +SKIP
>>> store.add_reader("reader1")                               # doctest: +SKIP
>>> store.set_label("case001", "reader1", "mri_normal_abnormal", "abnormal", model_version=BLINDED)  # doctest: +SKIP
"""

from radtriage.annotations.agreement import slice_regions, store_agreement
from radtriage.annotations.caselist import (
    CaseList,
    case_list_from_csv,
    case_list_from_dicom,
    case_list_from_folder,
    open_case_list,
)
from radtriage.annotations.errors import (
    AnnotationError,
    ConflictError,
    LabelValueError,
    StoreBusyError,
    UnknownCaseError,
    UnknownReaderError,
    UnknownSchemaError,
)
from radtriage.annotations.progress import done_cases, may_show_model_output, model_version_for_label, progress, resume
from radtriage.annotations.records import BLINDED, CaseRef, Label, LabelEntry, Submission
from radtriage.annotations.schema import (
    BUILTIN_SCHEMAS,
    TASK_SCHEMAS,
    LabelSchema,
    candidate_target,
    slice_range_target,
    slice_target,
)
from radtriage.annotations.store import STORE_FILENAME, AnnotationStore, open_store, store_location

__all__ = [
    "BLINDED",
    "BUILTIN_SCHEMAS",
    "STORE_FILENAME",
    "TASK_SCHEMAS",
    "AnnotationError",
    "AnnotationStore",
    "CaseList",
    "CaseRef",
    "ConflictError",
    "Label",
    "LabelEntry",
    "LabelSchema",
    "LabelValueError",
    "StoreBusyError",
    "Submission",
    "UnknownCaseError",
    "UnknownReaderError",
    "UnknownSchemaError",
    "candidate_target",
    "case_list_from_csv",
    "case_list_from_dicom",
    "case_list_from_folder",
    "done_cases",
    "may_show_model_output",
    "model_version_for_label",
    "open_case_list",
    "open_store",
    "progress",
    "resume",
    "slice_range_target",
    "slice_regions",
    "slice_target",
    "store_agreement",
    "store_location",
]
