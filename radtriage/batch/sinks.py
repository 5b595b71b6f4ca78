"""Where batch rows go as cases finish: ``batch_results.csv``, ``batch_results.jsonl`` (both flushed per row)
and, optionally, the annotation store (model outputs as labels of a model reader)."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from radtriage.annotations.records import CaseRef
from radtriage.annotations.schema import TASK_SCHEMAS
from radtriage.batch.labels import labels_from_result, model_reader_id, model_version
from radtriage.tasks.result import read_result, to_plain

log = logging.getLogger(__name__)

CSV_NAME = "batch_results.csv"
JSONL_NAME = "batch_results.jsonl"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


class CsvSink:
    """One CSV row per case, header fixed at the start (extra keys stay in the JSONL file only)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self._fh: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=self.columns, extrasaction="ignore")
        self._writer.writeheader()
        self._fh.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({c: _cell(row.get(c)) for c in self.columns})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class JsonlSink:
    """One JSON object per line per case, with the stage timings and decode/run timeline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")

    def write(self, row: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(to_plain(dict(row)), allow_nan=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class StoreSink:
    """Records each finished case's model output as labels of reader ``model:<bundle>:<version>``.

    A case kept from an earlier run (status ``skipped``) is recorded only when that model reader has no
    current label for it yet, so re-runs do not repeat history entries. Store problems are noted in the row's
    ``store_labels`` and never stop the batch.
    """

    def __init__(self, location: str | Path, cases: Iterable[CaseRef]) -> None:
        from radtriage.annotations import ConflictError, open_store

        self.store = open_store(location)
        self._readers: set[str] = set()
        items = list(cases)
        try:
            self.store.add_cases(items)
        except ConflictError:
            for case in items:  # some ids exist with other details: keep the stored ones
                try:
                    self.store.add_case(case)
                except ConflictError as exc:
                    log.warning("annotation store keeps its own record of a case: %s", exc)

    def record(self, row: dict[str, Any]) -> None:
        if row.get("status") not in ("ok", "skipped") or not row.get("result_dir"):
            return
        try:
            row["store_labels"] = self._commit(row)
        except Exception as exc:
            row["store_labels"] = f"error: {type(exc).__name__}: {exc}"
            log.warning("annotation store: %s", row["store_labels"])

    def _commit(self, row: Mapping[str, Any]) -> int | str:
        doc = read_result(row["result_dir"]) or {}
        task, bundle = row["task"], doc.get("bundle") or {}
        labels = labels_from_result(task, doc.get("outputs") or {})
        if not labels:
            return 0
        reader = model_reader_id(bundle)
        if reader not in self._readers:
            self.store.add_reader(reader)
            self._readers.add(reader)
        if row["status"] == "skipped" and any(
            self.store.current_labels(row["case_id"], reader, schema) for schema in TASK_SCHEMAS.get(task, ())
        ):
            return "already recorded"
        self.store.commit_labels(row["case_id"], reader, labels, model_version=model_version(bundle))
        return len(labels)

    def close(self) -> None:
        self.store.close()
