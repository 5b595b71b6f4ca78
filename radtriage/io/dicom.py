"""DICOM: group files into patient / study / series and read a series into an ``Image`` in LPS.

* Scanning reads headers only (``stop_before_pixels=True``) with pydicom.
* Classic single-frame series: the slice geometry is checked from the headers
  (one orientation, one size, evenly spaced positions along the slice normal,
  no duplicates or gaps, no gantry tilt) and the pixels are read by SimpleITK
  (GDCM decodes compressed syntaxes and applies rescale slope/intercept, so CT
  comes out in HU).
* Enhanced multi-frame objects are read with highdicom (``Image.get_volume``).
* Siemens MOSAIC files are cut into slices by :mod:`radtriage.io.mosaic`.

Patient names and IDs never leave this module: a series carries a short hash
of the PatientID (``patient_key``) instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError, UnsupportedInputError
from radtriage.image import Image
from radtriage.io.mosaic import is_mosaic, mosaic_slice_count, read_mosaic
from radtriage.io.tags import extract_tags

log = logging.getLogger(__name__)

DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom", ".ima")
"""File endings taken as DICOM even when the file lacks the 'DICM' preamble."""

SKIP_SUFFIXES: tuple[str, ...] = (
    ".txt", ".md", ".json", ".csv", ".xml", ".html", ".pdf", ".png", ".jpg", ".jpeg", ".py",
    ".nii", ".gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".raw", ".zip", ".bval", ".bvec",
)  # fmt: skip
"""File endings never tried as DICOM while scanning (``.pdf``: DICOM-encapsulated PDFs end in .dcm)."""

NON_IMAGE_MODALITIES = frozenset({"SR", "RTSTRUCT", "RTPLAN", "RTRECORD", "RTDOSE", "PR", "KO", "DOC", "SEG", "REG",
                                  "ECG"})
"""Modalities whose objects are not acquired image volumes even when they carry Rows/Columns (SEG, a dose grid)."""

ORIENTATION_TOLERANCE = 1e-4
POSITION_TOLERANCE_MM = 0.01
SPACING_TOLERANCE = 0.01
"""Relative tolerance on slice steps before they count as a gap or irregular spacing."""


# --------------------------------------------------------------------- types
@dataclass
class DicomSeries:
    """One DICOM image series found on disk; no patient name or ID, only a hashed ``patient_key``."""

    series_uid: str
    study_uid: str
    patient_key: str
    modality: str
    series_description: str
    files: tuple[Path, ...]
    n_frames: int
    """Slices/frames in the series: files for classic series, frames or mosaic tiles otherwise."""
    kind: str = "classic"
    """'classic' (one slice per file), 'multiframe' (enhanced) or 'mosaic' (Siemens)."""
    series_number: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        """Number of files."""
        return len(self.files)

    def summary(self) -> str:
        """One line naming the series without patient identity."""
        return (
            f"series {self.series_uid} ({self.modality or '?'}, '{self.series_description}', "
            f"{self.n_images} file(s), {self.n_frames} slice(s)/frame(s), {self.kind})"
        )


def patient_key(patient_id: Any) -> str:
    """A short, stable, non-reversible key for a PatientID ('unknown' when empty)."""
    text = str(patient_id or "").strip()
    if not text:
        return "unknown"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# ------------------------------------------------------------------- headers
def _sop_class_name(ds: Any) -> str:
    uid = ds.get("SOPClassUID", None)
    if not uid:
        return "unknown SOP class"
    name = getattr(uid, "name", str(uid))
    return str(name)


def non_image_reason(ds: Any) -> str | None:
    """Why a dataset is not an image series member (e.g. an SR or RTSTRUCT), or None when it is an image."""
    modality = str(ds.get("Modality", "") or "").upper()
    sop = _sop_class_name(ds)
    if "Rows" not in ds or "Columns" not in ds:
        return f"non-image DICOM object ({sop}, modality {modality or '?'}): it holds no pixel matrix"
    if modality in NON_IMAGE_MODALITIES:
        return f"non-image DICOM object ({sop}, modality {modality}): not an image volume"
    return None


def is_probably_dicom(path: Path) -> bool:
    """True when the file has the 'DICM' preamble marker or a DICOM file ending."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def read_header(path: str | Path) -> Any:
    """Read one file's DICOM header (no pixels); ``InputError`` when missing or not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist" if not path.exists() else "is not a file")
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        if path.suffix.lower() not in DICOM_SUFFIXES:
            raise InputError(path, f"not a DICOM file: {exc}") from exc
        try:  # some writers leave out the preamble and file meta header
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc2:
            raise InputError(path, f"unreadable or corrupt DICOM file: {exc2}") from exc2
        if not any(k in ds for k in ("SOPClassUID", "Modality", "Rows")):
            raise InputError(path, "not a DICOM file (no DICOM preamble and no recognisable attributes)") from exc
        return ds
    except Exception as exc:  # pydicom raises many types for truncated or damaged files
        raise InputError(path, f"unreadable or corrupt DICOM file: {exc}") from exc


def _read_full(path: Path) -> Any:
    """Read one file with its pixel data (force=True only for the preamble-less files read_header accepted)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        try:
            return pydicom.dcmread(path)
        except InvalidDicomError:
            return pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise InputError(path, f"unreadable or corrupt DICOM file: {exc}") from exc


def series_key(ds: Any, path: Path) -> str:
    """The SeriesInstanceUID, or a derived key ('derived-…') for files whose UID is missing or empty.

    Anonymised exports sometimes blank the UID; their files are then grouped by
    folder, study, frame of reference, modality, series number and description.
    """
    uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
    if uid:
        return uid
    parts = [str(Path(path).resolve().parent)]
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "Modality", "SeriesNumber", "SeriesDescription"):
        parts.append(str(ds.get(keyword, "") or ""))
    return "derived-" + hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


def dataset_kind(ds: Any) -> str:
    """'mosaic', 'multiframe' or 'classic' for one dataset."""
    if is_mosaic(ds):
        return "mosaic"
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames > 1 or "PerFrameFunctionalGroupsSequence" in ds:
        return "multiframe"
    return "classic"


def _frames_in(ds: Any) -> int:
    kind = dataset_kind(ds)
    if kind == "mosaic":
        return mosaic_slice_count(ds) or 1
    if kind == "multiframe":
        return int(ds.get("NumberOfFrames", 1) or 1)
    return 1


def _floats(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        return np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None


def _instance_number(ds: Any) -> int:
    try:
        return int(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _sort_key_files(headers: Sequence[Any], files: Sequence[Path]) -> list[int]:
    """Order of files: along the slice normal for classic files, else by acquisition and instance number."""
    first_iop = _floats(headers[0].get("ImageOrientationPatient", None))
    normal = None
    if first_iop is not None and first_iop.size == 6:
        normal = np.cross(first_iop[:3], first_iop[3:])

    def key(idx: int) -> tuple[Any, ...]:
        ds = headers[idx]
        position = 0.0
        ipp = _floats(ds.get("ImagePositionPatient", None))
        if normal is not None and ipp is not None and ipp.size == 3 and dataset_kind(ds) == "classic":
            position = float(ipp @ normal)
        acq = ds.get("AcquisitionNumber", 0)
        try:
            acq = int(acq or 0)
        except (TypeError, ValueError):
            acq = 0
        return (round(position, 4), acq, _instance_number(ds), str(files[idx]))

    return sorted(range(len(files)), key=key)


# ------------------------------------------------------------------ scanning
def _candidate_files(folder: Path) -> Iterable[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name.lower().endswith(SKIP_SUFFIXES):
                continue
            yield Path(root) / name


def scan_dicom(folder: str | Path) -> list[DicomSeries]:
    """Group the DICOM image files under ``folder`` (recursively) into series, reading headers only.

    Non-DICOM files and non-image DICOM objects (SR, RTSTRUCT, PDF, ...) are
    skipped (logged at debug level). Series are ordered by patient key, study,
    series number and UID; each series' files are sorted by slice position.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "folder does not exist")
    if not folder.is_dir():
        raise InputError(folder, "is not a folder")
    groups: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    skipped_non_image = 0
    for path in _candidate_files(folder):
        try:
            ds = read_header(path)
        except InputError as exc:
            if is_probably_dicom(path):
                log.debug("skipping %s", exc)
            continue
        if non_image_reason(ds):
            skipped_non_image += 1
            log.debug("skipping %s: %s", path, non_image_reason(ds))
            continue
        groups[series_key(ds, path)].append((path, ds))
    if skipped_non_image:
        log.info("%s: skipped %d non-image DICOM object(s)", folder, skipped_non_image)
    series = [_series_from_group(uid, members) for uid, members in groups.items()]
    series.sort(key=lambda s: (s.patient_key, s.study_uid, s.series_number or 0, s.series_uid))
    return series


def _series_from_group(uid: str, members: Sequence[tuple[Path, Any]]) -> DicomSeries:
    files = [p for p, _ in members]
    headers = [ds for _, ds in members]
    order = _sort_key_files(headers, files)
    first = headers[order[0]]
    kinds = {dataset_kind(ds) for ds in headers}
    try:
        number = int(first.get("SeriesNumber", None)) if first.get("SeriesNumber", None) not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return DicomSeries(
        series_uid=uid,
        study_uid=str(first.get("StudyInstanceUID", "") or ""),
        patient_key=patient_key(first.get("PatientID", "")),
        modality=str(first.get("Modality", "") or ""),
        series_description=str(first.get("SeriesDescription", "") or ""),
        files=tuple(files[i] for i in order),
        n_frames=sum(_frames_in(ds) for ds in headers),
        kind=kinds.pop() if len(kinds) == 1 else "mixed",
        series_number=number,
        tags=extract_tags(first),
    )


# ------------------------------------------------------------------- reading
def read_dicom_series(series_or_files: DicomSeries | Sequence[str | Path] | str | Path) -> Image:
    """Read one DICOM image series (a ``DicomSeries``, a list of files or one file) into an ``Image``.

    Values come out rescaled (CT in HU). ``metadata`` holds ``source_path``,
    ``format`` ('dicom'), ``modality``, ``series_description``, ``series_uid``,
    ``study_uid``, ``patient_key``, ``dicom_tags``, ``rescale_applied``,
    ``dicom_kind`` and ``n_files`` — never the patient's name or ID.
    Raises ``InputError``/``UnsupportedInputError`` naming the file and problem.
    """
    if isinstance(series_or_files, DicomSeries):
        files = list(series_or_files.files)
    elif isinstance(series_or_files, (str, Path)):
        files = [Path(series_or_files)]
    else:
        files = [Path(f) for f in series_or_files]
    if not files:
        raise InputError(None, "no DICOM files given")
    headers = [read_header(f) for f in files]
    for path, ds in zip(files, headers, strict=True):
        reason = non_image_reason(ds)
        if reason:
            raise UnsupportedInputError(path, reason)
    source = _common_source(files)
    uids = {series_key(ds, f) for f, ds in zip(files, headers, strict=True)}
    if len(uids) > 1:
        raise InputError(source, f"the files belong to {len(uids)} different series: {', '.join(sorted(uids))}")
    kinds = {dataset_kind(ds) for ds in headers}
    if len(kinds) > 1:
        raise UnsupportedInputError(source, f"the series mixes {' and '.join(sorted(kinds))} files")
    order = _sort_key_files(headers, files)
    files = [files[i] for i in order]
    headers = [headers[i] for i in order]
    kind = kinds.pop()
    if kind == "classic":
        image, rescaled = _read_classic(files, headers, source)
    else:
        image, rescaled = _read_stacked(files, kind, source)
    first = headers[0]
    image.metadata.update(
        {
            "source_path": str(source),
            "format": "dicom",
            "dicom_kind": kind,
            "n_files": len(files),
            "dicom_files": [str(f) for f in files],  # what the image was computed from (its SR/SEG reference them)
            "modality": str(first.get("Modality", "") or ""),
            "series_description": str(first.get("SeriesDescription", "") or ""),
            "series_uid": series_key(first, files[0]),
            "study_uid": str(first.get("StudyInstanceUID", "") or ""),
            "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "") or ""),
            "patient_key": patient_key(first.get("PatientID", "")),
            "dicom_tags": extract_tags(first),
            "rescale_applied": rescaled,
            "dicom_rescale": _stored_range(first),
        }
    )
    log.info(
        "read DICOM %s series (%s, %d file(s)): size %s, spacing %s",
        kind,
        image.metadata["modality"],
        len(files),
        image.size,
        tuple(round(s, 4) for s in image.spacing),
    )
    return image


def _common_source(files: Sequence[Path]) -> Path:
    if len(files) == 1:
        return files[0]
    try:
        return Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    except ValueError:
        return files[0].parent


def _has_rescale(ds: Any) -> tuple[float, float] | None:
    slope, intercept = ds.get("RescaleSlope", None), ds.get("RescaleIntercept", None)
    if slope in (None, "") and intercept in (None, ""):
        return None
    return (float(slope) if slope not in (None, "") else 1.0, float(intercept) if intercept not in (None, "") else 0.0)


def _stored_range(ds: Any) -> dict[str, float]:
    """RescaleSlope/Intercept, BitsStored and PixelRepresentation of a dataset (what a value range is read from)."""
    try:
        slope, intercept = _has_rescale(ds) or (1.0, 0.0)
        out = {"slope": slope, "intercept": intercept}
        for keyword, name in (("BitsStored", "bits_stored"), ("PixelRepresentation", "pixel_representation")):
            value = ds.get(keyword, None)
            if value not in (None, ""):
                out[name] = int(value)
    except (TypeError, ValueError):
        return {}
    return out


def _describe_orientation(iop: np.ndarray | None) -> str:
    return "missing" if iop is None else "[" + ", ".join(f"{v:.4g}" for v in iop) + "]"


def classic_geometry(
    files: Sequence[Path], headers: Sequence[Any], source: Path
) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
    """Spacing, origin and LPS direction of sorted single-frame slices, after checking they form one volume.

    Refuses (naming the files) inconsistent orientation, size or pixel spacing,
    duplicate positions, gaps or irregular steps, and stacks whose slices are
    not along their normal (gantry tilt).
    """
    first = headers[0]
    sizes = {(int(ds.Rows), int(ds.Columns)) for ds in headers}
    if len(sizes) > 1:
        by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
        for f, ds in zip(files, headers, strict=True):
            by_size[(int(ds.Rows), int(ds.Columns))].append(f.name)
        parts = [f"{r}x{c} rows x columns in {len(n)} file(s) (e.g. {n[0]})" for (r, c), n in sorted(by_size.items())]
        raise InputError(source, "inconsistent image size across the series: " + "; ".join(parts))
    iops = [_floats(ds.get("ImageOrientationPatient", None)) for ds in headers]
    ipps = [_floats(ds.get("ImagePositionPatient", None)) for ds in headers]
    missing = [
        f.name
        for f, o, p in zip(files, iops, ipps, strict=True)
        if o is None or o.size != 6 or p is None or p.size != 3
    ]
    if missing:
        raise UnsupportedInputError(
            source if len(files) > 1 else files[0],
            f"{len(missing)} file(s) lack ImageOrientationPatient/ImagePositionPatient (e.g. {missing[0]}): "
            "the image is not placed in patient space (a secondary capture or projection image?)",
        )
    ref = iops[0]
    for f, iop in zip(files, iops, strict=True):
        if not np.allclose(iop, ref, atol=ORIENTATION_TOLERANCE):
            raise InputError(
                source,
                f"inconsistent orientation across the series: {files[0].name} has ImageOrientationPatient "
                f"{_describe_orientation(ref)} but {f.name} has {_describe_orientation(iop)}; "
                "slices with different orientations (e.g. a 3-plane localizer) cannot form one volume",
            )
    spacings = [_floats(ds.get("PixelSpacing", None)) for ds in headers]
    if spacings[0] is None or spacings[0].size != 2:
        raise UnsupportedInputError(files[0], "no PixelSpacing: cannot place the pixels in patient space")
    for f, ps in zip(files, spacings, strict=True):
        if ps is None or not np.allclose(ps, spacings[0], atol=1e-4):
            raise InputError(source, f"inconsistent PixelSpacing across the series: {files[0].name} vs {f.name}")
    row, col = ref[:3] / np.linalg.norm(ref[:3]), ref[3:] / np.linalg.norm(ref[3:])
    if abs(float(row @ col)) > 1e-3:
        raise UnsupportedInputError(files[0], "ImageOrientationPatient row and column directions are not perpendicular")
    normal = np.cross(row, col)
    direction = np.column_stack([row, col, normal])
    positions = np.array(ipps)
    depth = positions @ normal
    if len(files) == 1:
        thickness = first.get("SpacingBetweenSlices", None) or first.get("SliceThickness", None) or 1.0
        k_spacing = float(thickness) if float(thickness) > 0 else 1.0
    else:
        steps = np.diff(depth)
        dup = np.flatnonzero(steps < POSITION_TOLERANCE_MM)
        if dup.size:
            examples = ", ".join(f"{files[i].name} and {files[i + 1].name} at {depth[i]:.3f} mm" for i in dup[:3])
            raise InputError(
                source,
                f"duplicate slice positions: {dup.size} pair(s) of files share a position along the slice normal "
                f"({examples}); the series holds several images per position (echoes, phases, repeats?)",
            )
        step = float(np.median(steps))
        tol = max(POSITION_TOLERANCE_MM, SPACING_TOLERANCE * step)
        bad = np.flatnonzero(np.abs(steps - step) > tol)
        if bad.size:
            i = int(bad[0])
            what = (
                f"a gap (about {round(steps[i] / step) - 1} missing slice(s))"
                if steps[i] > step * 1.5
                else "irregular spacing"
            )
            raise InputError(
                source,
                f"{what} in slice positions: slices are {step:.4g} mm apart but {files[i].name} "
                f"({depth[i]:.3f} mm) and {files[i + 1].name} ({depth[i + 1]:.3f} mm) are {steps[i]:.4g} mm apart"
                f" ({bad.size} irregular step(s) in all)",
            )
        drift = positions - positions[0] - np.outer(depth - depth[0], normal)
        worst = float(np.linalg.norm(drift, axis=1).max())
        if worst > max(POSITION_TOLERANCE_MM, SPACING_TOLERANCE * step):
            raise UnsupportedInputError(
                source,
                f"slices are not stacked along their normal: positions drift {worst:.3g} mm sideways across the "
                "series (CT gantry tilt or a sheared stack); loading it on an orthogonal grid would distort it",
            )
        k_spacing = float((depth[-1] - depth[0]) / (len(files) - 1))
    ps = spacings[0]
    spacing = (float(ps[1]), float(ps[0]), k_spacing)  # PixelSpacing = (between rows, between columns)
    return spacing, tuple(float(v) for v in positions[0]), direction  # type: ignore[return-value]


def _read_classic(files: Sequence[Path], headers: Sequence[Any], source: Path) -> tuple[Image, bool]:
    """Check the slice geometry, then read pixels with SimpleITK (rescale applied by GDCM)."""
    import SimpleITK as sitk

    spacing, origin, direction = classic_geometry(files, headers, source)
    rescales = [_has_rescale(ds) for ds in headers]
    present = [r for r in rescales if r is not None]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files])
    if present and (len(set(present)) > 1 or any(s != 1.0 or not float(i).is_integer() for s, i in present)):
        reader.SetOutputPixelType(sitk.sitkFloat32)  # keep fractional or per-slice rescaled values exact
    try:
        itk_image = reader.Execute()
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise InputError(source, f"cannot read the pixel data: {msg}") from exc
    array = sitk.GetArrayFromImage(itk_image)
    rows, cols = int(headers[0].Rows), int(headers[0].Columns)
    if array.shape[:3] != (len(files), rows, cols):
        raise InputError(source, f"pixel data shape {array.shape} does not match {len(files)} slices of {rows}x{cols}")
    return Image(array, spacing, origin, direction), bool(present)


def _read_one_multiframe(path: Path) -> tuple[Image, bool]:
    """Read an enhanced multi-frame file with highdicom (geometry from its functional groups)."""
    import highdicom as hd

    try:
        hd_image = hd.imread(str(path))
    except Exception as exc:
        raise InputError(path, f"unreadable multi-frame DICOM: {exc}") from exc
    try:
        volume = hd_image.get_volume(dtype=np.float32)
    except Exception as exc:  # highdicom raises many types (ValueError, sqlite3 errors...)
        raise UnsupportedInputError(
            path, f"multi-frame DICOM that does not form one regularly spaced volume: {exc}"
        ) from exc
    if volume.number_of_channel_dimensions:
        raise UnsupportedInputError(path, "multi-frame DICOM with extra (channel) dimensions is not supported")
    # highdicom's affine maps the array's own axes (a0, a1, a2) to LPS; Image wants [k, j, i] with
    # columns (i, j, k), so the matrix columns are taken in reverse order of the array axes.
    matrix = np.asarray(volume.affine, dtype=float)[:3, [2, 1, 0]]
    spacing = np.linalg.norm(matrix, axis=0)
    array, origin, direction = np.asarray(volume.array), np.asarray(volume.affine[:3, 3], dtype=float), matrix / spacing
    if np.linalg.det(direction) < 0:  # stack slices along +normal (row x column), as for classic series
        origin = origin + (array.shape[0] - 1) * spacing[2] * direction[:, 2]
        array = array[::-1]
        direction = direction * np.array([1.0, 1.0, -1.0])
    image = Image(np.ascontiguousarray(array), tuple(spacing), tuple(origin), direction)
    ds = hd_image
    rescaled = _has_rescale(ds) is not None or any(
        "PixelValueTransformationSequence" in item or "RealWorldValueMappingSequence" in item
        for item in list(ds.get("SharedFunctionalGroupsSequence", []) or [])
        + list(ds.get("PerFrameFunctionalGroupsSequence", []) or [])[:1]
    )
    return image, rescaled


def _read_stacked(files: Sequence[Path], kind: str, source: Path) -> tuple[Image, bool]:
    """Read multi-frame or MOSAIC files; several files with one geometry become components ([k,j,i,c])."""
    images: list[Image] = []
    rescaled = False
    for path in files:
        if kind == "mosaic":
            ds = _read_full(path)
            image = read_mosaic(path, ds)
            rescaled = rescaled or _has_rescale(ds) is not None
        else:
            image, r = _read_one_multiframe(path)
            rescaled = rescaled or r
        images.append(image)
    first = images[0]
    if len(images) == 1:
        return first, rescaled
    for path, image in zip(files[1:], images[1:], strict=True):
        if not first.same_geometry(image, tol=1e-3):
            raise InputError(
                source,
                f"the {kind} files of this series do not share one grid ({files[0].name}: size {first.size}, "
                f"{path.name}: size {image.size}); load them one file at a time",
            )
    dtype = np.result_type(*[im.array.dtype for im in images])
    array = np.stack([im.array.astype(dtype, copy=False) for im in images], axis=-1)
    stacked = Image(array, first.spacing, first.origin, first.direction, dict(first.metadata))
    stacked.metadata["components_from_files"] = [f.name for f in files]
    return stacked, rescaled
