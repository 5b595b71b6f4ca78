"""Task results as DICOM: a Comprehensive 3D SR (TID 1500) per result and SEG objects of its volumes.

:func:`dicom_sources_of` then :func:`write_dicom_results` is the one way (``radtriage infer --dicom-out``, ``batch
--dicom``, the DICOM node, the Slicer modules' *Export to DICOM*); the objects
reference the source study / series / instances, get new UIDs and copy only patient and study attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from radtriage.dicom_out.source import SourceSeries, load_sources, primary_series
from radtriage.errors import RadTriageError
from radtriage.image import Image
from radtriage.tasks.result import TaskResult

__all__ = ["SourceSeries", "build_dicom_results", "dicom_sources_of", "load_sources", "write_dicom_results"]


def dicom_sources_of(images: Mapping[str, Image],
                     dicom_sources: Mapping[str, str | Path] | None = None) -> dict[str, SourceSeries]:
    """The DICOM series a run's results will reference (read before the task runs, so a run that cannot write
    them is refused first): the DICOM inputs, and for volume-file inputs the series ``dicom_sources`` names.
    RadTriageError (one line) when there is none or a key is not an input."""
    unknown = sorted(set(dicom_sources or {}) - set(images))
    if unknown:
        raise RadTriageError(f"--dicom-source names {', '.join(unknown)}, which is not an input of this run "
                             f"(inputs: {', '.join(images)})")
    sources = load_sources(images, dicom_sources)
    if not sources:
        raise RadTriageError("DICOM results need DICOM input: every input of this run is a volume file; give the "
                             "DICOM series (infer: or --dicom-source KEY=DICOM_FOLDER, the series a volume was "
                             "exported from), or turn DICOM results off")
    return sources


def build_dicom_results(result: TaskResult, sources: Mapping[str, SourceSeries]) -> list:
    """The SR and SEG datasets of ``result`` over its DICOM ``sources`` (SR first)."""
    from radtriage.dicom_out.seg import build_segs
    from radtriage.dicom_out.sr import build_sr

    study_uids = {str(s.datasets[0].StudyInstanceUID) for s in sources.values()}
    if len(study_uids) > 1:
        raise RadTriageError(f"the inputs belong to {len(study_uids)} DICOM studies; DICOM results need one study")
    return [build_sr(result, sources), *build_segs(result, primary_series(result.outputs, sources))]


def write_dicom_results(result: TaskResult, sources: Mapping[str, SourceSeries], out_dir: str | Path) -> list[Path]:
    """Write the SR and SEG objects of ``result`` over ``sources`` (:func:`dicom_sources_of`) into ``out_dir``;
    returns the files."""
    datasets = build_dicom_results(result, sources)  # refused before a file is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ds in datasets:
        path = out / f"{result.task}_{ds.Modality.lower()}_{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written
