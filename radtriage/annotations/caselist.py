"""Case lists: the ordered cases a reader goes through, opened from a folder, a CSV file or a DICOM folder.

* folder: one case per sub-folder and per image file (NIfTI, NRRD, MetaImage) directly inside it, by name;
* CSV: columns ``case_id`` (required), ``patient_key``, ``study_uid``, ``series_uid``/``series_uids``
  (``;``-separated) and any number of image-path columns (names starting with ``image`` or ``path``; relative
  paths are taken from the CSV's folder). A patient-name column is refused: cases carry a key, never a name;
* DICOM folder: :func:`radtriage.io.scan_dicom` groups series into studies; one case per (patient, study).

A ``CaseList`` also keeps a cursor for next / previous navigation.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from radtriage.annotations.errors import AnnotationError
from radtriage.annotations.records import CaseRef
from radtriage.errors import InputError

log = logging.getLogger(__name__)

CASE_LIST_KINDS = ("auto", "folder", "csv", "dicom")
_KNOWN_COLUMNS = {"case_id", "patient_key", "study_uid", "series_uid", "series_uids"}


class CaseList:
    """An ordered list of cases with a cursor (``index``) for next / previous."""

    def __init__(self, cases: Sequence[CaseRef], source: str = "") -> None:
        self.cases: tuple[CaseRef, ...] = tuple(cases)
        self.source = source
        self._positions: dict[str, int] = {}
        for i, c in enumerate(self.cases):
            if c.case_id in self._positions:
                raise InputError(source or None, f"case id {c.case_id!r} appears twice in the case list")
            self._positions[c.case_id] = i
        self.index = 0

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[CaseRef]:
        return iter(self.cases)

    def __getitem__(self, key: int | str) -> CaseRef:
        return self.cases[self.position(key) if isinstance(key, str) else key]

    @property
    def ids(self) -> list[str]:
        """Case ids in list order."""
        return [c.case_id for c in self.cases]

    def position(self, case_id: str) -> int:
        """Index of a case in the list; ``KeyError`` when absent."""
        try:
            return self._positions[case_id]
        except KeyError:
            raise KeyError(f"case {case_id!r} is not in the case list {self.source}") from None

    @property
    def current(self) -> CaseRef | None:
        """The case under the cursor (None for an empty list or past the end)."""
        return self.cases[self.index] if 0 <= self.index < len(self.cases) else None

    def next(self) -> CaseRef | None:
        """Move to the next case and return it; at the last case stay there and return None."""
        if self.index + 1 >= len(self.cases):
            return None
        self.index += 1
        return self.cases[self.index]

    def previous(self) -> CaseRef | None:
        """Move to the previous case and return it; at the first case stay there and return None."""
        if self.index <= 0:
            return None
        self.index -= 1
        return self.cases[self.index]

    def go_to(self, case_id: str) -> CaseRef:
        """Put the cursor on ``case_id`` and return that case."""
        self.index = self.position(case_id)
        return self.cases[self.index]


def _as_case(source: Path, where: str, **fields: object) -> CaseRef:
    try:
        return CaseRef(**fields)  # type: ignore[arg-type]
    except AnnotationError as exc:
        raise InputError(source, f"{where}: {exc}") from None


def case_list_from_folder(folder: str | Path) -> CaseList:
    """One case per sub-folder and per volume file directly inside ``folder`` (sorted by name; hidden skipped)."""
    from radtriage.io.volume import volume_suffix

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder")
    cases = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            cases.append(_as_case(folder, entry.name, case_id=entry.name, image_paths=(str(entry),)))
        elif (suffix := volume_suffix(entry)) is not None:
            name = entry.name[: -len(suffix)]
            cases.append(_as_case(folder, entry.name, case_id=name, image_paths=(str(entry),)))
    if not cases:
        raise InputError(folder, "no cases: no sub-folders and no image files (NIfTI, NRRD, MetaImage) inside")
    return CaseList(cases, str(folder))


def _image_columns(fieldnames: Sequence[str], path: Path) -> list[str]:
    for name in fieldnames:
        low = name.lower().replace(" ", "").replace("_", "")
        if "patient" in low and "name" in low:
            raise InputError(path, f"column {name!r} looks like patient names; case lists carry a patient_key only")
    if "case_id" not in fieldnames:
        raise InputError(path, f"no 'case_id' column (columns: {list(fieldnames)})")
    images = [n for n in fieldnames if n not in _KNOWN_COLUMNS and n.lower().startswith(("image", "path"))]
    other = [n for n in fieldnames if n not in _KNOWN_COLUMNS and n not in images]
    if other:
        log.info("%s: ignoring column(s) %s", path, other)
    return images


def case_list_from_csv(path: str | Path) -> CaseList:
    """Cases from a CSV file (see the module docstring for the columns)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "CSV case list does not exist")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        images = _image_columns(reader.fieldnames or [], path)
        cases, lines = [], {}
        for row in reader:
            line = reader.line_num
            case_id = (row.get("case_id") or "").strip()
            if case_id in lines:
                raise InputError(path, f"line {line}: case_id {case_id!r} already on line {lines[case_id]}")
            lines[case_id] = line
            paths = []
            for col in images:
                value = (row.get(col) or "").strip()
                if value:
                    p = Path(value)
                    paths.append(str(p if p.is_absolute() else path.parent / p))
            series = row.get("series_uids") or row.get("series_uid") or ""
            cases.append(
                _as_case(
                    path,
                    f"line {line}",
                    case_id=case_id,
                    patient_key=(row.get("patient_key") or "").strip() or "unknown",
                    study_uid=(row.get("study_uid") or "").strip(),
                    series_uids=tuple(s.strip() for s in series.split(";") if s.strip()),
                    image_paths=tuple(paths),
                )
            )
    if not cases:
        raise InputError(path, "the CSV case list has no rows")
    return CaseList(cases, str(path))


def dicom_case_id(patient_key: str, study_uid: str) -> str:
    """Case id of one DICOM study: the patient key plus a short hash of the StudyInstanceUID."""
    return f"{patient_key}-{hashlib.sha256(study_uid.encode()).hexdigest()[:8]}"


def study_cases(series: Iterable[tuple[str, str, str, Sequence[str | Path]]], source: str) -> CaseList:
    """One case per (patient key, study) of ``(patient key, StudyInstanceUID, SeriesInstanceUID, files)`` series
    records; each series is read from the folder that holds its files. Shared by DICOM folders and Slicer's DICOM
    database, so both give the same case ids."""
    studies: dict[tuple[str, str], list[tuple[str, Sequence[str | Path]]]] = {}
    for key, study, series_uid, files in series:
        studies.setdefault((key, study), []).append((series_uid, files))
    cases = []
    for (key, study), members in studies.items():
        folders = dict.fromkeys(os.path.commonpath([str(Path(f).parent) for f in files]) for _, files in members)
        cases.append(
            _as_case(
                Path(source),
                f"study {study}",
                case_id=dicom_case_id(key, study),
                patient_key=key,
                study_uid=study,
                series_uids=tuple(uid for uid, _ in members),
                image_paths=tuple(folders),
            )
        )
    return CaseList(cases, source)


def case_list_from_dicom(folder: str | Path) -> CaseList:
    """One case per (patient key, study) among the DICOM image series under ``folder``."""
    from radtriage.io import scan_dicom

    folder = Path(folder)
    found = [(s.patient_key, s.study_uid, s.series_uid, s.files) for s in scan_dicom(folder)]
    if not found:
        raise InputError(folder, "no DICOM image series found in this folder (nor in its sub-folders)")
    return study_cases(found, str(folder))


def _looks_like_dicom_folder(folder: Path) -> bool:
    from radtriage.io.dicom import is_probably_dicom

    return any(p.is_file() and is_probably_dicom(p) for p in folder.iterdir() if not p.name.startswith("."))


def open_case_list(source: str | Path, kind: str = "auto") -> CaseList:
    """Open a case list. ``kind``: 'csv', 'folder', 'dicom' or 'auto' (a ``.csv`` file is a CSV list; a folder
    with DICOM files directly inside is a DICOM folder; any other folder is one case per sub-folder/file)."""
    if kind not in CASE_LIST_KINDS:
        raise ValueError(f"kind must be one of {CASE_LIST_KINDS}, got {kind!r}")
    path = Path(source)
    if kind == "auto":
        if path.is_file() and path.suffix.lower() == ".csv":
            kind = "csv"
        elif path.is_dir():
            kind = "dicom" if _looks_like_dicom_folder(path) else "folder"
        else:
            raise InputError(path, "not a CSV file nor a folder")
    loader = {"csv": case_list_from_csv, "folder": case_list_from_folder, "dicom": case_list_from_dicom}[kind]
    return loader(path)
