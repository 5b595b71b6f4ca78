"""2D LGE slice datasets for training and evaluation: a folder of PNG slices with masks, or a CSV.

* **Folder** (the EMIDEC layout): ``images/<patient>_slice<k>.png`` and ``masks/<same name>.png``; a slice is LGE
  when any mask pixel is in ``lge_values`` (EMIDEC: 3 infarct, 4 no-reflow), and those pixels are its
  enhancement mask. The patient is the file stem up to ``_slice`` (``patient_pattern``).
* **CSV**: columns ``image`` (path, relative to the CSV), ``patient``, and ``label`` (0/1) and/or per-reader ratings
  ``rating_<reader>`` (0-100); optional ``pixel_mm``. With ratings, the likelihood target is their mean and the
  certainty class follows a :class:`ReaderCertaintyRule`; without, the target is ``100 * label``.

:func:`read_slice_png` reads one 2D slice (8/16-bit grey PNG) as a one-slice :class:`Image`; PNG carries no pixel
size, so the image is marked ``spacing_unknown`` and spacing is ``pixel_mm`` (default 1 mm).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io.png import read_png, read_png_array
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule

EMIDEC_LGE_VALUES = (3, 4)
PATIENT_PATTERN = r"^(?P<patient>.+?)_slice\d+$"
IMAGE_SUFFIXES = (".png",)


@dataclass
class SliceRecord:
    """One 2D slice of a dataset: pixels, patient, truth and optional readers' ratings."""

    key: str
    patient: str
    array: np.ndarray
    pixel_mm: float | None = None
    label: int | None = None
    ratings: dict[str, float] = field(default_factory=dict)
    enhancement: np.ndarray | None = None
    """Optional enhancement mask on the slice's pixels (1 = LGE): supervises an evidence map densely."""

    def likelihood_target(self, rule: ReaderCertaintyRule) -> float:
        """0-100 training target: the readers' mean rating, else ``100 * label``."""
        if self.ratings:
            return rule.likelihood(list(self.ratings.values()))
        if self.label is None:
            raise ValueError(f"slice {self.key!r} has neither a label nor ratings")
        return 100.0 * self.label

    def certainty_target(self, rule: ReaderCertaintyRule) -> int | None:
        """1 = low certainty, 0 = high certainty (from the readers), None when no ratings are given."""
        return int(rule.is_low(list(self.ratings.values()))) if self.ratings else None

    def truth(self) -> int:
        """Binary truth: the label, else readers' mean >= 50."""
        if self.label is not None:
            return int(self.label)
        return int(np.mean(list(self.ratings.values())) >= 50.0)


def read_slice_png(path: str | Path, pixel_mm: float | None = None) -> Image:
    """One PNG slice (:func:`radtriage.io.png.read_png`) marked as an LGE magnitude slice."""
    image = read_png(path, pixel_mm)
    image.metadata.update({"modality": "MR", "contrast": "LGE"})
    return image


def patient_of(stem: str, pattern: str = PATIENT_PATTERN) -> str:
    """The patient id from a slice file stem (the stem itself when ``pattern`` does not match)."""
    match = re.match(pattern, stem)
    return match.group("patient") if match else stem


def load_slice_folder(
    folder: str | Path,
    lge_values: Sequence[int] = EMIDEC_LGE_VALUES,
    patient_pattern: str = PATIENT_PATTERN,
    pixel_mm: float | None = None,
) -> list[SliceRecord]:
    """Slices of an ``images/`` + ``masks/`` folder; label 1 when any mask pixel is in ``lge_values``."""
    folder = Path(folder)
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise InputError(folder, "a slice folder needs images/ and masks/ subfolders")
    records = []
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask_path = masks / path.name
        if not mask_path.exists():
            raise InputError(mask_path, f"no mask for {path.name}")
        enhanced = np.isin(np.rint(read_png_array(mask_path)).astype(int), list(lge_values))
        records.append(SliceRecord(path.stem, patient_of(path.stem, patient_pattern), read_png_array(path),
                                   pixel_mm, int(enhanced.any()), enhancement=enhanced.astype(np.uint8)))
    if not records:
        raise InputError(images, "no PNG slices found")
    return records


def _number(text: str | None) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def load_slice_csv(path: str | Path) -> list[SliceRecord]:
    """Slices listed in a CSV (``image``, ``patient``, ``label`` and/or ``rating_<reader>``, ``pixel_mm``)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(path, f"cannot read the CSV: {exc}") from exc
    if not rows:
        raise InputError(path, "the CSV has no rows")
    columns = set(rows[0])
    missing = {"image", "patient"} - columns
    if missing:
        raise InputError(path, f"the CSV needs columns image and patient (missing {sorted(missing)})")
    rating_cols = sorted(c for c in columns if c.startswith("rating_"))
    if "label" not in columns and not rating_cols:
        raise InputError(path, "the CSV needs a label column or rating_<reader> columns")
    records = []
    for n, row in enumerate(rows, start=2):
        try:
            label = _number(row.get("label"))
            ratings = {c[len("rating_"):]: v for c in rating_cols if (v := _number(row.get(c))) is not None}
            if label is not None and label not in (0.0, 1.0):
                raise ValueError(f"label must be 0 or 1, got {row.get('label')!r}")
            if any(not 0.0 <= v <= 100.0 for v in ratings.values()):
                raise ValueError("ratings must lie in [0, 100]")
            if label is None and not ratings:
                raise ValueError("neither a label nor a rating")
            image_path = (path.parent / row["image"]).resolve()
            records.append(SliceRecord(Path(row["image"]).stem, str(row["patient"]), read_png_array(image_path),
                                       _number(row.get("pixel_mm")), None if label is None else int(label), ratings))
        except ValueError as exc:
            raise InputError(path, f"row {n}: {exc}") from exc
    return records


def load_slices(source: str | Path, **kwargs: object) -> list[SliceRecord]:
    """A CSV file (:func:`load_slice_csv`) or an images/ + masks/ folder (:func:`load_slice_folder`)."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return load_slice_csv(source)
    return load_slice_folder(source, **kwargs)  # type: ignore[arg-type]
