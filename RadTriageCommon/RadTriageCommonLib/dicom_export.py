"""*Export to DICOM* from the modules: the job also writes the result as DICOM SR + SEG (``radtriage infer
--dicom-out``), referencing the series each input volume was loaded from, and the objects go into Slicer's DICOM
database when the job ends (so the DICOM browser and QuantitativeReporting show them with the study).

Slicer's DICOM scalar volume plugin records the instance of each slice as the node attribute ``DICOM.instanceUIDs``
(in the node's k order, after it reversed a left-handed series; ``DICOMScalarVolumePlugin.py:496-510`` at v5.12.3);
:func:`radtriage.mrml.volumes.volume_node_to_image` keeps it in the image's metadata. The files come
from the database (``ctkDICOMDatabase.fileForInstance``) and are copied into the job's input folder, so the job
sees one plain series folder. Pure Python except :func:`importDicomResults`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DICOM_OUT = "{output_dir}/dicom"
"""Where the job writes the DICOM objects (inside its output folder)."""


class DicomExportError(RuntimeError):
    """Export to DICOM cannot be done for this job's inputs (the message says why and what to do)."""


def stageDicomSources(
    images: Mapping[str, Any], inputDir: str | Path, fileForInstance: Callable[[str], str]
) -> dict[str, Path]:
    """Copy the DICOM files each image was loaded from into ``inputDir/<key>-dicom/``; returns {key: folder}.

    Images not loaded from DICOM are left out; DicomExportError when none was, or when a file is not in the
    database any more."""
    from radtriage.mrml.volumes import INSTANCE_UIDS_METADATA

    folders: dict[str, Path] = {}
    for key, image in images.items():
        uids = list(image.metadata.get(INSTANCE_UIDS_METADATA) or ())
        if not uids:
            continue
        folder = Path(inputDir) / f"{key}-dicom"
        folder.mkdir(parents=True, exist_ok=True)
        for n, uid in enumerate(uids):
            path = fileForInstance(uid) if uid != "Unknown" else ""
            if not path or not Path(path).is_file():
                raise DicomExportError(f"Export to DICOM: instance {uid} of input {key!r} is not in the DICOM "
                                       "database any more; re-import the study, or turn Export to DICOM off")
            shutil.copyfile(path, folder / f"{n:05d}.dcm")
        folders[key] = folder
    if not folders:
        raise DicomExportError("Export to DICOM needs an input loaded from the DICOM database (DICOM module); this "
                               "job's volumes came from files. Load the study from DICOM, or turn Export to DICOM off")
    return folders


def dicomExportArgv(folders: Mapping[str, Path]) -> list[str]:
    """The ``radtriage infer`` arguments that write the DICOM objects, referencing ``folders`` ({key: series})."""
    argv = ["--dicom-out", DICOM_OUT]
    for key, folder in folders.items():
        argv += ["--dicom-source", f"{key}={folder}"]
    return argv


def dicomResultFiles(outputs: Mapping[str, Any]) -> list[Path]:
    """The DICOM objects a finished job wrote (its ``dicom_<n>`` outputs)."""
    return [Path(v) for k, v in outputs.items() if k.startswith("dicom_") and Path(v).is_file()]


def importDicomResults(outputs: Mapping[str, Any]) -> int:
    """Copy the job's DICOM objects into Slicer's DICOM database (the job folder is deleted afterwards); returns
    how many were imported. ``DICOMUtils.importDicom(dir, db, copyFiles)``: ``DICOMUtils.py:485`` at v5.12.3."""
    files = dicomResultFiles(outputs)
    if not files:
        return 0
    import slicer
    from DICOMLib import DICOMUtils

    database = slicer.dicomDatabase
    if database is None or not database.isOpen:
        raise DicomExportError("Export to DICOM: Slicer's DICOM database is not open; open the DICOM module once")
    if not DICOMUtils.importDicom(str(files[0].parent), database, copyFiles=True):
        raise DicomExportError(f"Export to DICOM: the objects in {files[0].parent} could not be imported")
    return len(files)
