"""Opening a review from a front end's fields: the case list choice and its path, the project folder, the reader
id, and Slicer's DICOM database (read through the database object a front end passes in)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from radtriage.annotations import CaseList
from radtriage.review.session import ReviewSession

FROM_CASE_MANIFEST = "from case.json"
"""Task choice: each case's ``case.json`` names its task."""

TASK_CHOICES = (FROM_CASE_MANIFEST, "mri_triage", "cmb_detect", "lge_certainty", "body_region")

CASE_LIST_KINDS = {
    "folder": "folder",
    "CSV file": "csv",
    "DICOM folder": "dicom",
    "DICOM database": "",
    "demo cases": "folder",
}
"""Case list choice -> ``open_case_list`` kind ('' = Slicer's DICOM database, not a path)."""

DEMO_CASES_FOLDER = "RadTriageDemoCases"
DEMO_PROJECT_FOLDER = "RadTriageDemoProject"


def field_path(text: str | Path | None) -> str:
    """A path field's value as the path it names, '' when unset: an empty field, and the ``"."`` that an empty
    ``pathlib.Path`` turns into, are unset (never the current working folder)."""
    value = "" if text is None else str(text).strip()
    return "" if value in ("", ".") else value


def reader_id_problem(reader_id: str) -> str:
    """Why ``reader_id`` cannot be used ('' when it can): the store's rule for a pseudonymous identifier."""
    from radtriage.annotations import AnnotationError
    from radtriage.annotations.records import check_identifier

    if not reader_id.strip():
        return "Enter your reader id (a pseudonym, not your name) first."
    try:
        check_identifier(reader_id.strip(), "Reader id")
    except AnnotationError as exc:
        return str(exc)
    return ""


def session_task(choice: str) -> str | None:
    """The session's task for the task choice (None: each case's case.json names it)."""
    return None if choice in ("", FROM_CASE_MANIFEST) else choice


def case_list_open_kind(choice: str) -> str:
    """``open_case_list`` kind of a case list choice."""
    if choice not in CASE_LIST_KINDS or not CASE_LIST_KINDS[choice]:
        raise ValueError(f"case list {choice!r} is not opened from a path")
    return CASE_LIST_KINDS[choice]


def case_list_needs_path(choice: str) -> bool:
    """Whether the case list choice reads the path field."""
    return choice not in ("DICOM database", "demo cases")


def case_list_wants_file(choice: str) -> bool:
    """Whether the path field takes a file (a CSV case list) rather than a folder."""
    return choice == "CSV file"


def store_folder_for(folder: str | Path | None, temporary_path: str | Path, demo: bool = False) -> Path:
    """The project folder: the chosen one, else (demo cases) a demo project in the temporary folder."""
    chosen = field_path(folder)
    if chosen:
        return Path(chosen)
    if demo:
        return Path(temporary_path) / DEMO_PROJECT_FOLDER
    raise ValueError("Choose a project folder: the annotation store and the task results are kept there.")


def open_path_case_list(source: str | Path | None, kind: str = "auto") -> CaseList:
    """The case list of a folder, CSV file or DICOM folder (InputError names a bad file)."""
    from radtriage.annotations import open_case_list

    chosen = field_path(source)
    if not chosen:
        raise ValueError("Choose the folder or CSV file of the case list.")
    return open_case_list(chosen, kind)


def demo_case_list(temporary_path: str | Path) -> CaseList:
    """The phantom demo cases, written once under ``temporary_path``."""
    from radtriage.review.demo_cases import build_demo_cases

    return open_path_case_list(build_demo_cases(Path(temporary_path) / DEMO_CASES_FOLDER), "folder")


def dicom_database_rows(database: Any) -> list[dict[str, Any]]:
    """One row per series of an open ``ctkDICOMDatabase`` (``slicer.dicomDatabase``): PatientID, study and
    series UIDs and files."""
    if database is None or not database.isOpen:
        raise ValueError("No DICOM database is open: open the DICOM module and import the studies first.")
    rows = []
    for patient in database.patients():
        for study in database.studiesForPatient(patient):
            for series in database.seriesForStudy(study):
                files = list(database.filesForSeries(series))
                if files:
                    patient_id = database.fileValue(files[0], "0010,0020")
                    rows.append({"patientId": patient_id, "studyUid": study, "seriesUid": series, "files": files})
    return rows


def dicom_database_cases(rows: Iterable[Mapping[str, Any]]) -> CaseList:
    """A case list with one case per (patient, study) of DICOM database rows (see :func:`dicom_database_rows`).

    Cases carry a hashed patient key and the UIDs, never the PatientID; each series is read from the folder
    holding its files (the same grouping as a DICOM folder: ``radtriage.annotations.caselist.study_cases``).
    """
    from radtriage.annotations.caselist import study_cases
    from radtriage.io.dicom import patient_key

    series = [(patient_key(row.get("patientId")), str(row["studyUid"]), str(row["seriesUid"]), row["files"])
              for row in rows]  # fmt: skip
    if not series:
        raise ValueError("The DICOM database holds no series: import studies in the DICOM module first.")
    return study_cases(series, "Slicer DICOM database")


def case_list_for(choice: str, source: str | Path | None, temporary_path: str | Path, database: Any = None):
    """The case list of a case list choice: a path's, the DICOM database's or the demo cases."""
    if choice == "DICOM database":
        return dicom_database_cases(dicom_database_rows(database))
    if choice == "demo cases":
        return demo_case_list(temporary_path)
    return open_path_case_list(source, case_list_open_kind(choice))


def open_reader_session(
    cases: CaseList, store_folder: str | Path, reader_id: str, blind: bool, task: str | None = None
) -> ReviewSession:
    """Check the reader id and every case, then open the project's store and a review session resumed at the
    reader's first undone case. Nothing is written when a case is bad (``radtriage.review.open_session``)."""
    from radtriage.review.session import open_session

    problem = reader_id_problem(reader_id)
    if problem:
        raise ValueError(problem)
    session = open_session(cases, store_folder, reader_id.strip(), task=task, blind=bool(blind))
    session.resume()
    return session


def open_review(
    choice: str, source: str | Path | None, store_folder: str | Path | None, reader_id: str, blind: bool,
    task_choice: str, temporary_path: str | Path, database: Any = None,
) -> ReviewSession:  # fmt: skip
    """The review session of a front end's fields: case list choice and path, project folder (the demo cases
    default to one in ``temporary_path``), reader id, blind mode and task choice; resumed at the first undone
    case. ``database``: Slicer's open DICOM database for the "DICOM database" choice."""
    problem = reader_id_problem(reader_id)
    if problem:
        raise ValueError(problem)
    cases = case_list_for(choice, source, temporary_path, database)
    store = store_folder_for(store_folder, temporary_path, demo=choice == "demo cases")
    return open_reader_session(cases, store, reader_id, blind, session_task(task_choice))
