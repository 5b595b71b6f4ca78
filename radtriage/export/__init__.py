"""Cohort export: chosen cases and their labels from the annotation store -> NIfTI images, labels as CSV / JSON,
a MONAI datalist with patient-level splits, a datasheet, and optionally de-identified DICOM.

>>> result = export_cohort("project_folder", "mri_normal_abnormal", "export1", consensus="majority")  # doctest: +SKIP
>>> result.datalist   # what ``radtriage train`` reads                                                # doctest: +SKIP
"""

from radtriage.export.cohort import DATALIST_FILE, DATASHEET_FILE, ExportResult, export_cohort
from radtriage.export.consensus import RULES, LabelItem, ResolvedLabel, collect_items, resolve
from radtriage.export.deid import (
    DATE_MODES,
    PROFILE_TABLE,
    DeidentificationError,
    action_for,
    deidentify_dataset,
    deidentify_file,
    remap_uid,
)
from radtriage.export.paths import safe_child, safe_name

__all__ = [
    "DATALIST_FILE",
    "DATASHEET_FILE",
    "DATE_MODES",
    "PROFILE_TABLE",
    "RULES",
    "DeidentificationError",
    "ExportResult",
    "LabelItem",
    "ResolvedLabel",
    "action_for",
    "collect_items",
    "deidentify_dataset",
    "deidentify_file",
    "export_cohort",
    "remap_uid",
    "resolve",
    "safe_child",
    "safe_name",
]
