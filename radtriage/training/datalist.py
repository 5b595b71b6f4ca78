"""Read a training datalist: MONAI decathlon-style JSON, CSV, or an in-memory list of dicts.

JSON (as ``monai.data.load_decathlon_datalist`` reads it)::

    {"training":   [{"image": "a.nii.gz", "label": [0, 1, 0, 0], "patient_id": "p1"}, ...],
     "validation": [...],   # optional: these cases are the validation split
     "test":       [...]}   # optional: these cases are the held-out test split

An item may also carry ``"split": "train" | "val" | "test"`` and a ``"label_map"``: a label volume on the
image's grid (e.g. lesion labels) for networks trained with dense evidence supervision
(``forward_with_evidence`` / ``evidence_loss``, weighted by ``evidence_weight``). ``image`` is a path or a list
of paths (one channel each); further channels may be ``image2``, ``image3``...; relative paths are resolved against the
datalist's folder (or ``base_dir``). CSV: columns ``image[, image2...]``, ``patient_id``, optional ``split``,
and either a ``label`` column or one 0/1 column per class (multilabel). In-memory items may give numpy arrays or
:class:`~radtriage.image.Image` objects instead of paths. A case without ``patient_id`` is its own patient.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
    "holdout": "test",
}
_JSON_SPLIT_KEYS = {
    "training": None,
    "train": None,
    "validation": "val",
    "val": "val",
    "test": "test",
    "testing": "test",
}
_IMAGE_KEY = re.compile(r"image(\d*)$")
_PATIENT_KEYS = ("patient_id", "patient", "subject_id", "subject")
_LABEL_KEYS = ("label", "labels")
_META_COLUMNS = {"split", "fold", "label_map", *_PATIENT_KEYS}


@dataclass(frozen=True)
class Case:
    """One training case: its input channels, raw label, patient, given split and where it was read."""

    images: tuple[Any, ...]
    label: Any
    patient_id: str
    split: str | None
    row: str
    patient_given: bool = True
    label_map: Any = None
    """Optional label volume on the image grid (path, array or Image) for dense evidence supervision."""


@dataclass
class Datalist:
    """All cases of a datalist, the file they came from (None for in-memory lists) and CSV label columns."""

    cases: list[Case]
    source: Path | None
    label_columns: tuple[str, ...] = ()
    channel_keys: tuple[str, ...] = ("image",)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """How to name the datalist in messages."""
        return str(self.source) if self.source is not None else "<in-memory datalist>"


def _split_name(value: Any, where: str, row: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    name = _SPLIT_ALIASES.get(str(value).strip().lower())
    if name is None:
        raise InputError(where, f"{row}: split {value!r} is not one of train, val, test")
    return name


def _image_keys(item: Mapping[str, Any]) -> list[str]:
    keys = [k for k in item if _IMAGE_KEY.fullmatch(str(k))]
    return sorted(keys, key=lambda k: int(_IMAGE_KEY.fullmatch(k).group(1) or 1))  # type: ignore[union-attr]


def _resolve(value: Any, base: Path | None, where: str, row: str) -> Any:
    if isinstance(value, (np.ndarray, Image)):
        return value
    if isinstance(value, (str, Path)) and str(value).strip():
        path = Path(str(value).strip()).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.exists():
            raise InputError(where, f"{row}: image file {str(value)!r} does not exist (looked for {path})")
        return path
    raise InputError(where, f"{row}: image must be a file path (or an array in memory), got {value!r}")


def _channels(
    item: Mapping[str, Any], base: Path | None, where: str, row: str
) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    keys = _image_keys(item)
    if not keys:
        raise InputError(where, f"{row}: no 'image' entry")
    images: list[Any] = []
    names: list[str] = []
    for key in keys:
        value = item[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise InputError(where, f"{row}: '{key}' is an empty list")
        for i, v in enumerate(values):
            images.append(_resolve(v, base, where, row))
            names.append(key if len(values) == 1 else f"{key}[{i}]")
    return tuple(images), tuple(names)


def _patient(item: Mapping[str, Any], row: str) -> tuple[str, bool]:
    for key in _PATIENT_KEYS:
        value = item.get(key)
        if value is not None and str(value).strip():
            return str(value).strip(), True
    return f"__case__{row}", False


def _case(
    item: Any, base: Path | None, where: str, row: str, split: str | None, label: Any
) -> tuple[Case, tuple[str, ...]]:
    if not isinstance(item, Mapping):
        raise InputError(
            where, f"{row}: each case must be an object with 'image' and 'label', got {type(item).__name__}"
        )
    images, names = _channels(item, base, where, row)
    own = _split_name(item.get("split"), where, row)
    if split is not None and own is not None and own != split:
        raise InputError(where, f"{row}: listed under the {split} cases but says split {own!r}")
    patient, given = _patient(item, row)
    label_map = item.get("label_map")
    if label_map is not None and not (isinstance(label_map, str) and not label_map.strip()):
        label_map = _resolve(label_map, base, where, row)
    else:
        label_map = None
    return Case(images, label, patient, split or own, row, given, label_map), names


def _item_label(item: Mapping[str, Any]) -> Any:
    for key in _LABEL_KEYS:
        if key in item:
            return item[key]
    return None


def _from_items(
    items: Sequence[Any], base: Path | None, where: str, prefix: str, split: str | None
) -> list[tuple[Case, tuple[str, ...]]]:
    out = []
    for i, item in enumerate(items):
        row = f"{prefix}[{i}]"
        label = _item_label(item) if isinstance(item, Mapping) else None
        out.append(_case(item, base, where, row, split, label))
    return out


def _read_json(path: Path, base: Path | None) -> list[tuple[Case, tuple[str, ...]]]:
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable JSON datalist: {exc}") from exc
    if isinstance(data, list):
        return _from_items(data, base, where, "item", None)
    if not isinstance(data, Mapping):
        raise InputError(path, "a JSON datalist must be an object with 'training' (and optional 'validation'/'test')")
    keys = [k for k in data if k in _JSON_SPLIT_KEYS]
    if not keys:
        raise InputError(path, f"no 'training' list in the datalist (keys found: {sorted(data)})")
    from monai.data import load_decathlon_datalist  # imports torch: not at module import

    out = []
    for key in keys:
        if not isinstance(data[key], list) or not all(isinstance(item, Mapping) for item in data[key]):
            raise InputError(path, f"'{key}' must be a list of cases (JSON objects)")
        raw = data[key]
        # MONAI's reader joins the file paths to the base folder; it would join any other string naming an
        # existing file too (a split, a label, a patient), so only the image channels and the label map are
        # taken from it, and values it cannot join ("~/...", "") stay as written for the checks below
        joined = load_decathlon_datalist(path, is_segmentation=False, data_list_key=key, base_dir=base) if raw else []
        items = [{**item, **{k: v for k, v in monai_item.items() if _is_path_key(k) and _joinable(item.get(k))}}
                 for item, monai_item in zip(raw, joined, strict=True)]
        out += _from_items(items, base, where, key, _JSON_SPLIT_KEYS[key])
    return out


def _is_path_key(key: str) -> bool:
    return bool(_IMAGE_KEY.fullmatch(str(key))) or key == "label_map"


def _joinable(value: Any) -> bool:
    """A path (or list of paths) MONAI may join to the base folder: relative, non-empty, no ``~``."""
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and v.strip() and not v.strip().startswith("~") for v in values)


def _csv_label_columns(header: Sequence[str]) -> list[str]:
    for key in _LABEL_KEYS:
        if key in header:
            return [key]
    return [c for c in header if not _IMAGE_KEY.fullmatch(c) and c not in _META_COLUMNS and c]


def _read_csv(path: Path, base: Path | None) -> tuple[list[tuple[Case, tuple[str, ...]]], list[str]]:
    where = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"not a readable CSV datalist: {exc}") from exc
    if "image" not in header:
        raise InputError(path, f"CSV datalist needs an 'image' column (columns found: {header})")
    label_columns = _csv_label_columns(header)
    if not label_columns:
        raise InputError(path, "CSV datalist has no label column ('label', or one column per class)")
    out = []
    for i, raw in enumerate(raw_rows):
        row = f"row {i + 1} (line {i + 2})"
        if None in raw or None in raw.values():
            raise InputError(path, f"{row}: has a different number of fields than the header")
        item = {k.strip(): v for k, v in raw.items() if not _IMAGE_KEY.fullmatch(k.strip()) or (v or "").strip()}
        label = item[label_columns[0]] if len(label_columns) == 1 else {c: item[c] for c in label_columns}
        out.append(_case(item, base, where, row, None, label))
    return out, label_columns


def read_datalist(
    source: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any], base_dir: str | Path | None = None
) -> Datalist:
    """Read and check a datalist (JSON or CSV file, a decathlon-style dict, or a list of dicts).

    Image files must exist; a missing one raises :class:`InputError` naming the datalist and the row. Labels
    are checked later against the task (see :func:`radtriage.training.prepare_cases`).
    """
    base = Path(base_dir) if base_dir is not None else None
    label_columns: list[str] = []
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(path, "datalist file does not exist")
        base = base if base is not None else path.parent
        suffix = path.suffix.lower()
        if suffix == ".json":
            parsed = _read_json(path, base)
        elif suffix in (".csv", ".tsv"):
            parsed, label_columns = _read_csv(path, base)
        else:
            raise InputError(path, "datalist must be a .json (MONAI decathlon format) or .csv file")
        origin: Path | None = path
    elif isinstance(source, Mapping):
        tmp = Path("<in-memory datalist>")
        parsed = []
        for key in [k for k in source if k in _JSON_SPLIT_KEYS]:
            parsed += _from_items(source[key], base, str(tmp), key, _JSON_SPLIT_KEYS[key])
        origin = None
    else:
        parsed = _from_items(list(source), base, "<in-memory datalist>", "item", None)
        origin = None
    where = str(origin) if origin is not None else "<in-memory datalist>"
    if not parsed:
        raise InputError(where, "the datalist holds no cases")
    widths = {len(names) for _, names in parsed}
    if len(widths) > 1:
        first = parsed[0]
        odd = next(c for c, names in parsed if len(names) != len(first[1]))
        raise InputError(
            where, f"{odd.row}: has {len(odd.images)} image channel(s) but {first[0].row} has {len(first[1])}"
        )
    with_map = [c.label_map is not None for c, _ in parsed]
    if any(with_map) and not all(with_map):
        odd = next(c for c, has in zip(parsed, with_map, strict=True) if not has)[0]
        raise InputError(where, f"{odd.row}: has no label_map while other cases have one (give all or none)")
    missing = [c.row for c, _ in parsed if not c.patient_given]
    if missing:
        log.warning("%d case(s) have no patient_id; each is treated as its own patient", len(missing))
    return Datalist([c for c, _ in parsed], origin, tuple(label_columns), parsed[0][1])
