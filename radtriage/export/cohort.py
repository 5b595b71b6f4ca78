"""``export_cohort``: chosen cases and their labels from the annotation store -> a self-contained folder with
NIfTI images, labels as CSV and JSON, a MONAI datalist with patient-level splits, a datasheet and (optionally)
de-identified DICOM."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.annotations import AnnotationStore, CaseList, LabelSchema, open_store, store_agreement
from radtriage.errors import InputError
from radtriage.export.consensus import (
    ResolvedLabel,
    check_rule,
    collect_items,
    resolve,
    stratum,
    training_kind,
    training_label,
)
from radtriage.export.datasheet import agreement_summary, counts, render_readme, write_json
from radtriage.export.deid import DATE_MODES, PROFILE_TABLE, deidentify_file, pseudonym, shift_days
from radtriage.export.images import Channel, read_case_channels, slice_image, write_nifti
from radtriage.export.paths import prepare_export_folder, safe_child, unique_names
from radtriage.export.splits import case_splits

log = logging.getLogger(__name__)

DATALIST_FILE = "datalist.json"
DATASHEET_FILE = "datasheet.json"
_SPLIT_KEYS = {"train": "training", "val": "validation", "test": "test"}


@dataclass
class ExportResult:
    """What an export wrote. ``salt`` is kept in memory only (never written): pass it to a later export to get
    the same pseudonyms and UIDs."""

    folder: Path
    datalist: Path | None
    labels_csv: Path
    labels_json: Path
    readme: Path
    datasheet: dict[str, Any]
    rows: list[dict[str, Any]]
    left_out: list[dict[str, str]]
    salt: str = field(repr=False, default="")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no salt)."""
        return {
            "folder": str(self.folder),
            "datalist": str(self.datalist) if self.datalist else None,
            "labels_csv": str(self.labels_csv),
            "labels_json": str(self.labels_json),
            "readme": str(self.readme),
            "counts": self.datasheet["counts"],
            "left_out": len(self.left_out),
        }


def _selected_case_ids(store: AnnotationStore, schema: str, cases: Sequence[str] | CaseList | None) -> list[str]:
    if cases is None:
        labelled = {e.case_id for e in store.current_labels(schema=schema)}
        return [c.case_id for c in store.cases() if c.case_id in labelled]
    ids = cases.ids if isinstance(cases, CaseList) else [str(c) for c in cases]
    if len(set(ids)) != len(ids):
        raise InputError(None, "a case is chosen twice")
    for case_id in ids:
        store.get_case(case_id)  # UnknownCaseError names a case that is not in the store
    return ids


def _slice_index(target: str) -> int | None:
    return int(target[6:]) if target.startswith("slice:") and target[6:].isdigit() else None


class _Writer:
    """Writes one case's images and remembers their paths relative to the export folder."""

    def __init__(self, root: Path, salt: str, dicom: bool, dates: str) -> None:
        self.root, self.salt, self.dicom, self.dates = root, salt, dicom, dates

    def case(self, name: str, channels: list[Channel], targets: list[str], patient: str) -> dict[str, list[str]]:
        folder = safe_child(self.root, "images", name)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, list[str]] = {}
        for target in targets:
            k = _slice_index(target)
            paths = []
            for c, channel in enumerate(channels):
                stem = "image" if c == 0 else f"image{c + 1}"
                if k is None:
                    image, file = channel.image, f"{stem}.nii.gz"
                else:
                    image, file = slice_image(channel.image, k), f"{stem}_k{k:03d}.nii.gz"
                path = safe_child(self.root, "images", name, file)
                if not path.exists():
                    write_nifti(image, path)
                paths.append(path.relative_to(self.root).as_posix())
            out[target] = paths
        if self.dicom:
            self._dicom(name, channels, patient)
        return out

    def _dicom(self, name: str, channels: list[Channel], patient: str) -> None:
        days = shift_days(self.salt, patient)
        for c, channel in enumerate(channels, start=1):
            if not channel.dicom_files:
                continue
            folder = safe_child(self.root, "dicom", name, f"series{c:02d}")
            folder.mkdir(parents=True, exist_ok=True)
            for n, source in enumerate(channel.dicom_files, start=1):
                target = safe_child(self.root, "dicom", name, f"series{c:02d}", f"IM{n:05d}.dcm")
                deidentify_file(source, target, salt=self.salt, patient_pseudonym=patient, dates=self.dates, days=days)


def _row(label: ResolvedLabel, schema: LabelSchema, case_out: str, patient: str, split: str) -> dict[str, Any]:
    return {
        "case_id": case_out,
        "patient_id": patient,
        "split": split,
        "target": label.target,
        "value": label.value,
        "label": training_label(schema, label.value),
        "reader_id": label.reader_id,
        "status": label.status,
        "n_readers": len(label.reader_values),
        "reader_values": dict(label.reader_values),
    }


def _csv_label(schema: LabelSchema, row: dict[str, Any]) -> str:
    if schema.kind == "multilabel":
        return ";".join(str(row["label"][c]) for c in schema.classes)
    if isinstance(row["label"], (dict, list)):
        return json.dumps(row["label"], sort_keys=True)
    return str(row["label"])


def _write_labels(
    root: Path, schema: LabelSchema, rows: list[dict[str, Any]], sheet: dict[str, Any]
) -> tuple[Path, Path]:
    width = max((len(r["images"]) for r in rows), default=1)
    image_cols = ["image"] + [f"image{i}" for i in range(2, width + 1)]
    header = [*image_cols, "label", "patient_id", "split", "case_id", "target", "reader_id", "status", "n_readers",
              "reader_values"]  # fmt: skip
    csv_path = safe_child(root, "labels.csv")
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for r in rows:
            images = list(r["images"]) + [""] * (width - len(r["images"]))
            writer.writerow(
                [*images, _csv_label(schema, r), r["patient_id"], r["split"], r["case_id"], r["target"],
                 r["reader_id"] or "", r["status"], r["n_readers"], json.dumps(r["reader_values"], sort_keys=True)]
            )  # fmt: skip
    json_path = safe_child(root, "labels.json")
    items = [{k: v for k, v in r.items() if k != "value"} | {"value": r["value"]} for r in rows]
    write_json(json_path, {"schema": sheet["schema"], "consensus": sheet["consensus"], "items": items,
                           "left_out": sheet["left_out"]})  # fmt: skip
    return csv_path, json_path


def _write_datalist(root: Path, rows: list[dict[str, Any]], sheet: dict[str, Any]) -> Path | None:
    widths = {len(r["images"]) for r in rows}
    if len(widths) != 1:
        sheet["datalist_note"] = f"cases have different numbers of images ({sorted(widths)}); pick the series"
        log.warning("no datalist written: %s", sheet["datalist_note"])
        return None
    data: dict[str, Any] = {key: [] for key in _SPLIT_KEYS.values()}
    for r in rows:
        item: dict[str, Any] = {"image": r["images"][0]}
        item.update({f"image{i}": p for i, p in enumerate(r["images"][1:], start=2)})
        item.update(label=r["label"], patient_id=r["patient_id"], case_id=r["case_id"], target=r["target"])
        if r["reader_id"]:
            item["reader_id"] = r["reader_id"]
        data[_SPLIT_KEYS[r["split"]]].append(item)
    data["radtriage"] = {k: sheet[k] for k in ("task", "training_kind", "class_names")} | {
        "schema": sheet["schema"]["name"],
        "datasheet": DATASHEET_FILE,
    }
    path = safe_child(root, DATALIST_FILE)
    write_json(path, data)
    return path


def export_cohort(
    store: AnnotationStore | str | Path,
    schema: str,
    out: str | Path,
    *,
    cases: Sequence[str] | CaseList | None = None,
    readers: Sequence[str] | None = None,
    consensus: str = "majority",
    adjudicator: str | None = None,
    min_readers: int = 1,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    dicom: bool = False,
    dates: str = "remove",
    salt: str | None = None,
    pseudonymize_case_ids: bool = False,
) -> ExportResult:
    """Export the chosen cases (default: every case with labels of ``schema``) with their labels to the new or
    empty folder ``out``.

    ``consensus``: ``majority``, ``mean`` or ``per-reader`` (see :mod:`radtriage.export.consensus`);
    ``adjudicator`` decides majority ties; items with fewer than ``min_readers`` readers are left out.
    Splits are patient-level and seeded (``val_fraction``, ``test_fraction``, ``seed``). ``dicom``: also write
    de-identified DICOM for DICOM sources (``dates``: ``remove`` or ``shift``). ``salt`` keys the pseudonyms and
    UIDs (default: a fresh random one, never written to the export).
    """
    if dates not in DATE_MODES:
        raise ValueError(f"dates must be one of {DATE_MODES}, got {dates!r}")
    own = not isinstance(store, AnnotationStore)
    st = open_store(store) if own else store
    try:
        return _export(st, schema, Path(out), cases, readers, consensus, adjudicator, min_readers,
                       (val_fraction, test_fraction, seed), dicom, dates, salt or secrets.token_hex(16),
                       pseudonymize_case_ids)  # fmt: skip
    finally:
        if own:
            st.close()


def _export(
    store: AnnotationStore,
    schema_name: str,
    out: Path,
    cases: Sequence[str] | CaseList | None,
    readers: Sequence[str] | None,
    rule: str,
    adjudicator: str | None,
    min_readers: int,
    split_options: tuple[float, float, int],
    dicom: bool,
    dates: str,
    salt: str,
    pseudonymize_case_ids: bool,
) -> ExportResult:
    import radtriage

    schema = store.schema(schema_name)
    check_rule(rule, schema)
    case_ids = _selected_case_ids(store, schema.name, cases)
    items = collect_items(store, schema, case_ids, readers)
    labels, left_out = resolve(items, schema, rule, adjudicator=adjudicator, min_readers=min_readers)
    labelled = {c for c in case_ids if any(lab.case_id == c for lab in labels)}
    left_out += [{"case_id": c, "target": "", "reason": "no labels"} for c in case_ids
                 if not any(i.case_id == c for i in items)]  # fmt: skip
    if not labels:
        raise InputError(None, f"nothing to export: no case has usable {schema.name} labels ({len(left_out)} left out)")
    root = prepare_export_folder(out)
    refs = {c: store.get_case(c) for c in labelled}
    patients = {
        c: pseudonym(salt, ref.patient_key if ref.patient_key != "unknown" else f"case:{c}", "P")
        for c, ref in refs.items()
    }
    out_ids = {c: pseudonym(salt, f"case-id:{c}", "C") if pseudonymize_case_ids else c for c in refs}
    names = unique_names([out_ids[c] for c in refs])
    strata: dict[str, list[Any]] = defaultdict(list)
    for lab in labels:
        strata[lab.case_id].append(stratum(schema, lab.value))
    val, test, seed = split_options
    splits = case_splits(patients, strata, val_fraction=val, test_fraction=test, seed=seed)

    writer = _Writer(root, salt, dicom, dates)
    rows: list[dict[str, Any]] = []
    per_case: dict[str, list[ResolvedLabel]] = defaultdict(list)
    for lab in labels:
        per_case[lab.case_id].append(lab)
    for case_id, case_labels in per_case.items():
        channels = read_case_channels(refs[case_id])
        depth = min(ch.image.array.shape[0] for ch in channels)
        kept = [lab for lab in case_labels if (k := _slice_index(lab.target)) is None or k < depth]
        for lab in case_labels:
            if lab not in kept:
                left_out.append({"case_id": case_id, "target": lab.target, "reason": "slice outside the volume"})
        targets = list(dict.fromkeys(lab.target for lab in kept))
        images = writer.case(names[out_ids[case_id]], channels, targets, patients[case_id])
        for lab in kept:
            row = _row(lab, schema, out_ids[case_id], patients[case_id], splits[case_id])
            rows.append(row | {"images": images[lab.target]})
    order = {"train": 0, "val": 1, "test": 2}
    rows.sort(key=lambda r: order[r["split"]])

    readers_count = Counter(r for item in items for r in item.values)
    kind = training_kind(schema)
    sheet: dict[str, Any] = {
        "format": "radtriage-export/1",
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "radtriage_version": radtriage.__version__,
        "task": schema.task,
        "schema": schema.to_definition(),
        "training_kind": kind,
        "class_names": list(schema.classes) if kind in ("multiclass", "multilabel") else ["score"],
        "score_max": schema.maximum if kind == "score" else None,
        "consensus": {
            "rule": rule,
            "adjudicator": adjudicator,
            "min_readers": min_readers,
            "status": dict(sorted(Counter(r["status"] for r in rows).items())),
        },
        "splits": {"train": 1.0 - val - test, "val": val, "test": test, "seed": seed},
        "counts": counts(schema, rows),
        "readers": dict(sorted(readers_count.items())),
        "left_out": left_out,
        "left_out_reasons": dict(Counter(x["reason"] for x in left_out)),
        "deidentification": {
            "dicom": dicom,
            "dates": dates,
            "method": f"DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile ({PROFILE_TABLE})",
            "case_ids_pseudonymised": pseudonymize_case_ids,
        },
    }
    agreement = store_agreement(store, schema.name, readers)
    sheet["agreement"] = agreement_summary(agreement)
    write_json(safe_child(root, "agreement.json"), agreement)
    labels_csv, labels_json = _write_labels(root, schema, rows, sheet)
    datalist = None
    if kind is None:
        sheet["datalist_note"] = f"{schema.kind} labels are not a classification or score target"
    else:
        datalist = _write_datalist(root, rows, sheet)
    sheet["datalist"] = datalist.name if datalist else None
    write_json(safe_child(root, DATASHEET_FILE), sheet)
    readme = safe_child(root, "README.md")
    readme.write_text(render_readme(sheet), encoding="utf-8")
    log.info("exported %d label row(s) of %d case(s) to %s", len(rows), len(refs), root)
    return ExportResult(root, datalist, labels_csv, labels_json, readme, sheet, rows, left_out, salt)
