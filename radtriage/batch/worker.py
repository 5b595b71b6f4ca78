"""One case, start to finish: read its inputs, run its task, write the result atomically, return its row.

The result goes to ``<out>/<case>/<task>/``: it is written into a hidden temporary folder beside it and renamed
into place, so a run killed half-way never leaves a partial result, and ``result.json`` there means *done*.
Nothing here raises for a bad case: every failure becomes an error row that names the file involved.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.batch.inputs import CaseJob
from radtriage.batch.summary import summarize, task_stage_seconds
from radtriage.io.acquisition import case_subgroups
from radtriage.tasks.result import RESULT_FILE, RUN_FOLDER_MARK, read_result, result_folder, write_result_staged
from radtriage.tasks.study import skipped_notices

log = logging.getLogger(__name__)



@dataclass
class DecodedCase:
    """A case's images after reading (or the error that stopped it), with wall-clock stamps."""

    job: CaseJob
    images: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Series found in a study folder that could not be read: key -> reason (the case runs on the others)."""
    error: str = ""
    decode_start: float = 0.0
    decode_end: float = 0.0


DICOM_FOLDER = "dicom"
"""The sub-folder of a case's result folder that holds its DICOM SR and SEG objects (``batch --dicom``)."""


def is_done(out: str | Path, job: CaseJob, dicom: bool = False) -> bool:
    """Whether an earlier run finished this case (its ``result.json`` is in place, and with ``dicom`` its DICOM
    objects too)."""
    folder = result_folder(out, job.case_id, job.task)
    return (folder / RESULT_FILE).is_file() and (not dicom or any((folder / DICOM_FOLDER).glob("*.dcm")))


def _describe_error(exc: BaseException, job: CaseJob) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if job.paths and not any(p in text for p in job.paths):
        text += f" [inputs: {', '.join(job.paths)}]"
    return text


def decode_case(job: CaseJob) -> DecodedCase:
    """Read every input of ``job`` (errors are kept in the result, not raised)."""
    from radtriage.io import read_image
    from radtriage.tasks.study import READ_ERRORS

    decoded = DecodedCase(job, decode_start=time.time())
    if job.problem:
        decoded.error = job.problem
    else:
        try:
            for key, spec in job.inputs.items():
                try:
                    decoded.images[key] = read_image(spec.path, series_uid=spec.series_uid)
                except READ_ERRORS as exc:
                    if not spec.optional:
                        raise
                    decoded.skipped[key] = str(exc) or type(exc).__name__
            if not decoded.images:
                reasons = "; ".join(f"{k}: {why}" for k, why in decoded.skipped.items())
                raise RuntimeError(f"no input of the case could be read ({reasons})")
        except Exception as exc:
            decoded.images = {}
            decoded.error = _describe_error(exc, job)
    decoded.decode_end = time.time()
    return decoded


def _clear_partials(case_dir: Path) -> None:
    """Remove temporary folders left by a run that was killed while writing."""
    if case_dir.is_dir():
        for stale in case_dir.glob(f".*{RUN_FOLDER_MARK}*"):
            shutil.rmtree(stale, ignore_errors=True)


def base_row(job: CaseJob, status: str, **values: Any) -> dict[str, Any]:
    """A row with the case id, task and status filled in."""
    return {"case_id": job.case_id, "task": job.task, "status": status, "error": "", **values}


def row_from_result_file(job: CaseJob, folder: Path, status: str, dicom: bool = False) -> dict[str, Any]:
    """The row of a finished case, rebuilt from its ``result.json``."""
    doc = read_result(folder) or {}
    row = _result_row(job, status, folder, doc.get("bundle") or {}, doc.get("outputs") or {})
    if dicom:
        row["dicom_dir"] = str(folder / DICOM_FOLDER)
    return row


def _result_row(job: CaseJob, status: str, folder: Path, bundle: Mapping[str, Any], outputs: Mapping[str, Any],
                **values: Any) -> dict[str, Any]:
    """A finished case's row: where its result is, which bundle made it, and the task's summary columns."""
    row = base_row(job, status, result_dir=str(folder), bundle=bundle.get("name"),
                   bundle_version=bundle.get("version"), demo=bundle.get("demo"), **values)
    row.update(summarize(job.task, outputs))
    return row


def run_decoded(
    decoded: DecodedCase,
    out: str | Path,
    *,
    bundle: str | None = None,
    device: str = "auto",
    dicom: bool = False,
) -> dict[str, Any]:
    """Run the task on a decoded case and write its result (with ``dicom`` also its SR and SEG objects, in the
    result folder's ``dicom/``); returns the case's row (``timeline`` included). A worker loads each bundle once
    and keeps it for the next cases."""
    from radtriage.models.safe_load import keep_loaded_bundles
    from radtriage.tasks import run_task

    keep_loaded_bundles()

    job = decoded.job
    timeline = {"decode_start": decoded.decode_start, "decode_end": decoded.decode_end}
    timing = {"decode_s": round(decoded.decode_end - decoded.decode_start, 4)}
    row_extra = {"worker": f"{socket.gethostname()}:{os.getpid()}", "timeline": timeline,
                 **case_subgroups(decoded.images)}
    if decoded.error:
        return base_row(job, "error", error=decoded.error, **timing, **row_extra)
    final = result_folder(out, job.case_id, job.task)
    _clear_partials(final.parent)
    t0 = time.time()
    timeline["run_start"] = t0
    try:
        if dicom:
            from radtriage.dicom_out import dicom_sources_of, write_dicom_results

            sources = dicom_sources_of(decoded.images)  # refused before the task runs
        result = run_task(job.task, inputs=decoded.images, bundle=bundle, device=device, progress=None,
                          **job.options)
        if decoded.skipped:
            result.outputs["skipped_series"] = dict(decoded.skipped)
            result.notices.extend(skipped_notices(decoded.skipped))
        t1 = timeline["run_end"] = time.time()
        write_result_staged(result, final, (lambda run: write_dicom_results(result, sources, run / DICOM_FOLDER))
                            if dicom else None)
        t2 = timeline["write_end"] = time.time()
    except Exception as exc:
        log.debug("case failed:\n%s", traceback.format_exc())
        timeline["failed"] = time.time()
        return base_row(job, "error", error=_describe_error(exc, job), **timing, **row_extra)
    finally:
        decoded.images = {}
    timing.update(run_s=round(t1 - t0, 4), write_s=round(t2 - t1, 4),
                  total_s=round(t2 - decoded.decode_start, 4))
    skipped = "; ".join(f"{k}: {why}" for k, why in decoded.skipped.items())
    row = _result_row(job, "ok", final, result.bundle or {}, result.outputs, skipped_series=skipped, **timing,
                      **row_extra)
    row["stages_s"] = task_stage_seconds(result.outputs)
    if dicom:
        row["dicom_dir"] = str(final / DICOM_FOLDER)
    return row


def process_case(
    job: CaseJob,
    out: str | Path,
    *,
    bundle: str | None = None,
    device: str = "auto",
    torch_threads: int | None = None,
    dicom: bool = False,
) -> dict[str, Any]:
    """Decode, run and write one case (what a Dask worker runs); never raises for a bad case."""
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(int(torch_threads))
    return run_decoded(decode_case(job), out, bundle=bundle, device=device, dicom=dicom)
