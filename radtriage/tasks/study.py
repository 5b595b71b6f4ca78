"""The series of one study folder, found and read the same way by ``radtriage triage`` and ``radtriage batch``.

A study is a volume file, or a folder holding volume files and/or DICOM series in any layout (flat, or the usual
``study/series/*.dcm``). :func:`find_study_series` lists them; :func:`read_study_series` reads them and keeps a
series that cannot be used (an RGB map, a broken series) out *with its reason* instead of failing the study.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtriage.errors import InputError, RadTriageError
from radtriage.image import Image

logger = logging.getLogger(__name__)

READ_ERRORS = (RadTriageError, ValueError, RuntimeError, OSError, IndexError, KeyError)
"""What reading one series may raise for a series that is unusable (the study goes on without it)."""

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class StudySeries:
    """One series of a study: a volume file, or a DICOM series (the folder holding its files and its UID)."""

    key: str
    path: Path
    series_uid: str | None = None

    def read(self) -> Image:
        """The series as an image (InputError names the file and the problem)."""
        from radtriage.io import read_image

        return read_image(self.path, series_uid=self.series_uid)


def unique_key(name: str, taken: Mapping[str, Any]) -> str:
    """``name`` as a plain key (letters, digits, ``_.+-``) not yet in ``taken`` (``_2``, ``_3``... appended)."""
    base = _SAFE.sub("_", name).strip("_") or "series"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    return out


def _excluded(name: str, exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern.lower()) for pattern in exclude)


def _series_folder(files: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([str(Path(f).parent) for f in files]))


def find_study_series(path: str | Path, exclude: Sequence[str] = ()) -> list[StudySeries]:
    """Every volume file (any depth; not hidden, not matching ``exclude``) and every DICOM image series under
    ``path``, volume files first, each with a unique key (file stem, or series description / number)."""
    from radtriage.io import scan_dicom
    from radtriage.io.volume import volume_suffix

    path = Path(path)
    if not path.exists():
        raise InputError(path, "study file or folder does not exist")
    if path.is_file():
        suffix = volume_suffix(path)
        return [StudySeries(unique_key(path.name[: -len(suffix)] if suffix else path.stem, {}), path)]
    found: dict[str, StudySeries] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in file.relative_to(path).parts) or _excluded(file.name, exclude):
            continue
        if suffix := volume_suffix(file):
            key = unique_key(file.name[: -len(suffix)], found)
            found[key] = StudySeries(key, file)
    for series in scan_dicom(path):
        name = series.series_description or f"series{series.series_number or ''}"
        key = unique_key(name, found)
        found[key] = StudySeries(key, _series_folder(series.files), series.series_uid)
    return list(found.values())


def read_study_series(series: Sequence[StudySeries]) -> tuple[dict[str, Image], dict[str, str]]:
    """(images by key, reason by key for each series that could not be read). Never raises for one series."""
    images: dict[str, Image] = {}
    skipped: dict[str, str] = {}
    for s in series:
        try:
            images[s.key] = s.read()
        except READ_ERRORS as exc:
            skipped[s.key] = str(exc) or type(exc).__name__
            logger.warning("series %s skipped: %s", s.key, skipped[s.key])
    return images, skipped


def skipped_notices(skipped: Mapping[str, str]) -> list[str]:
    """One result notice per skipped series."""
    return [f"series {key!r} skipped (the study ran on the others): {why}" for key, why in skipped.items()]
