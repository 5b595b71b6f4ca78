"""Task results as DICOM: a Comprehensive 3D SR (TID 1500) per result and SEG objects of its volumes.

:func:`write_dicom_results` is the one entry point (``radtriage infer --dicom-out``, the DICOM node); the objects
reference the source study / series / instances, get new UIDs and copy only patient and study attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from radtriage.dicom_out.source import SourceSeries, load_sources, primary_series
from radtriage.errors import RadTriageError
from radtriage.image import Image
from radtriage.tasks.result import TaskResult

__all__ = ["SourceSeries", "build_dicom_results", "check_dicom_inputs", "load_sources", "write_dicom_results"]


def check_dicom_inputs(images: Mapping[str, Image]) -> None:
    """Refuse (one line) a run whose inputs are all volume files: DICOM results reference DICOM instances."""
    if not any(image.metadata.get("format") == "dicom" for image in images.values()):
        raise RadTriageError("DICOM results need DICOM input: every input of this run is a volume file; give the "
                             "DICOM folder, or leave out --dicom-out")


def build_dicom_results(result: TaskResult, sources: Mapping[str, SourceSeries]) -> list:
    """The SR and SEG datasets of ``result`` over its DICOM ``sources`` (SR first)."""
    from radtriage.dicom_out.seg import build_segs
    from radtriage.dicom_out.sr import build_sr

    if not sources:
        raise RadTriageError("DICOM results need DICOM input: every input of this run was a volume file")
    study_uids = {str(s.datasets[0].StudyInstanceUID) for s in sources.values()}
    if len(study_uids) > 1:
        raise RadTriageError(f"the inputs belong to {len(study_uids)} DICOM studies; DICOM results need one study")
    return [build_sr(result, sources), *build_segs(result, primary_series(result.outputs, sources))]


def write_dicom_results(result: TaskResult, images: Mapping[str, Image], out_dir: str | Path) -> list[Path]:
    """Write the SR and SEG objects of ``result`` (computed from ``images``) into ``out_dir``; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ds in build_dicom_results(result, load_sources(images)):
        path = out / f"{result.task}_{ds.Modality.lower()}_{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written
