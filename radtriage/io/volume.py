"""Read and write volume files (NIfTI, NRRD, MetaImage) with exact LPS geometry.

SimpleITK reads and writes the voxels. NIfTI files are also opened with
nibabel (header only) so that the RAS affine the NIfTI standard defines is
checked before use: a sheared affine is refused (ITK would silently fall back
to the qform or fail), and the LPS geometry SimpleITK reports is compared with
nibabel's affine flipped to LPS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError, UnsupportedInputError
from radtriage.image import Image
from radtriage.validation.files import check_volume_file

log = logging.getLogger(__name__)

VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
"""File name endings read and written as volumes (compound ``.nii.gz`` first)."""

FORMAT_BY_SUFFIX: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}

SHEAR_TOLERANCE = 1e-3
"""Largest |cos(angle)| between two voxel axes still taken as perpendicular."""

GEOMETRY_TOLERANCE_MM = 1e-3
"""Largest difference (mm, per matrix entry) between SimpleITK's and nibabel's voxel-to-LPS maps."""


def volume_suffix(path: str | Path) -> str | None:
    """The volume suffix a path ends with (case-insensitive, e.g. '.nii.gz'), or None."""
    name = Path(path).name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def description_from_name(path: str | Path) -> str:
    """The file name without its volume suffix (``stroke_FLAIR.nii.gz`` -> ``stroke_FLAIR``)."""
    name = Path(path).name
    suffix = volume_suffix(path)
    return name[: -len(suffix)] if suffix else Path(name).stem


def _axis_cosines(matrix: np.ndarray) -> np.ndarray:
    """Absolute cosines between the columns of a 3x3 matrix (zero diagonal)."""
    norms = np.linalg.norm(matrix, axis=0)
    if np.any(norms <= 0):
        return np.ones((3, 3))
    unit = matrix / norms
    cos = np.abs(unit.T @ unit)
    np.fill_diagonal(cos, 0.0)
    return cos


def check_orthogonal(path: str | Path, matrix: np.ndarray, what: str) -> None:
    """Raise ``UnsupportedInputError`` when the voxel axes of ``matrix`` (columns) are not perpendicular."""
    matrix = np.asarray(matrix, dtype=float)
    norms = np.linalg.norm(matrix, axis=0)
    if not np.all(np.isfinite(matrix)) or np.any(norms <= 1e-9):
        zero = ", ".join("ijk"[a] for a in range(3) if not norms[a] > 1e-9) or "?"
        raise UnsupportedInputError(
            path,
            f"{what} is singular or not finite: voxel axis {zero} has no length or direction; the geometry "
            "is unusable. Fix the header (voxel sizes and orientation) or re-export the image.",
        )
    cos = _axis_cosines(matrix)
    worst = float(cos.max())
    if worst > SHEAR_TOLERANCE:
        a, b = np.unravel_index(int(np.argmax(cos)), cos.shape)
        angle = float(np.degrees(np.arccos(min(worst, 1.0))))
        raise UnsupportedInputError(
            path,
            f"{what} has shear: voxel axes {'ijk'[a]} and {'ijk'[b]} meet at {angle:.2f} degrees, not 90; "
            "loading it on an orthogonal grid would give a wrong orientation. "
            "Resample it to an orthogonal grid first.",
        )


def _nifti_geometry(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The nibabel RAS affine of a NIfTI file (sheared ones refused) and header notes."""
    import nibabel as nib

    try:
        nii = nib.load(str(path))
        header = nii.header
        affine = np.asarray(nii.affine, dtype=float)
    except Exception as exc:  # nibabel raises many types for damaged headers
        raise InputError(path, f"unreadable or corrupt NIfTI header: {exc}") from exc
    sform_code = int(header["sform_code"]) if "sform_code" in header else 0
    qform_code = int(header["qform_code"]) if "qform_code" in header else 0
    notes: dict[str, Any] = {"nifti_sform_code": sform_code, "nifti_qform_code": qform_code}
    source = "sform" if sform_code > 0 else "qform" if qform_code > 0 else "none"
    notes["nifti_affine_source"] = source
    if np.dtype(header.get_data_dtype()).kind == "f":  # ITK reads NaN/Inf as 0: count them here, for the notice
        notes["nonfinite_voxels"] = int(np.count_nonzero(~np.isfinite(np.asanyarray(nii.dataobj))))
    check_orthogonal(path, affine[:3, :3], f"the NIfTI {source} affine")
    return affine, notes


def _geometry_from_ras_affine(affine: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """Spacing, origin and direction (LPS) of a voxel-to-RAS affine."""
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    direction = lps[:, :3] / spacing
    return tuple(spacing), tuple(lps[:, 3]), direction


def _image_from_sitk(path: Path, img: Any) -> Image:
    """An ``Image`` from a 2D/3D scalar or vector, or 4D scalar SimpleITK image (4D -> components)."""
    import SimpleITK as sitk

    dim = img.GetDimension()
    if dim in (2, 3):
        return Image.from_sitk(img)
    if dim == 4 and img.GetNumberOfComponentsPerPixel() == 1:
        direction4 = np.asarray(img.GetDirection(), dtype=float).reshape(4, 4)
        if not (np.allclose(direction4[3, :3], 0) and np.allclose(direction4[:3, 3], 0)):
            raise UnsupportedInputError(path, "4D image whose fourth axis is mixed with space; cannot split it")
        array = np.moveaxis(sitk.GetArrayFromImage(img), 0, -1)  # [t,k,j,i] -> [k,j,i,t]
        return Image(array, img.GetSpacing()[:3], img.GetOrigin()[:3], direction4[:3, :3])
    raise UnsupportedInputError(
        path,
        f"{dim}D image with {img.GetNumberOfComponentsPerPixel()} components per voxel; "
        "only 3D images and 3D images with one extra axis (loaded as components) are supported",
    )


def read_volume(path: str | Path) -> Image:
    """Read a NIfTI/NRRD/MetaImage file into an ``Image`` with LPS geometry.

    4D files (e.g. multi-echo NIfTI) load as multi-component images with the
    array indexed ``[k, j, i, c]``. Raises ``InputError`` for a missing,
    unreadable or corrupt file and ``UnsupportedInputError`` for a sheared
    affine or more than four dimensions.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.is_dir():
        raise InputError(path, "is a folder, not a volume file (use read_image for DICOM folders)")
    suffix = volume_suffix(path)
    if suffix is None:
        raise InputError(path, f"not a volume file: expected one of {', '.join(VOLUME_SUFFIXES)}")
    fmt = FORMAT_BY_SUFFIX[suffix]
    metadata: dict[str, Any] = {}
    ras_affine = None
    check_volume_file(path, fmt)
    if fmt == "nifti":
        ras_affine, notes = _nifti_geometry(path)
        metadata.update(notes)
    try:
        itk_image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise InputError(path, f"unreadable or corrupt {fmt} file: {reason}") from exc
    image = _image_from_sitk(path, itk_image)
    check_orthogonal(path, image.direction, f"the {fmt} header's direction matrix")
    if ras_affine is not None and metadata["nifti_affine_source"] != "none":
        spacing, origin, direction = _geometry_from_ras_affine(ras_affine)
        nib_map = np.eye(4)
        nib_map[:3, :3] = direction @ np.diag(spacing)
        nib_map[:3, 3] = origin
        if not np.allclose(image.ijk_to_lps, nib_map, atol=GEOMETRY_TOLERANCE_MM):
            log.warning(
                "%s: SimpleITK and the NIfTI %s disagree on the geometry; using the %s (NIfTI standard order)",
                path.name,
                metadata["nifti_affine_source"],
                metadata["nifti_affine_source"],
            )
            metadata["geometry_warning"] = "SimpleITK's geometry differed from the NIfTI affine; the affine was used"
            image = Image(image.array, spacing, origin, direction)
    elif ras_affine is not None:
        metadata["geometry_warning"] = (
            "NIfTI header has no orientation (qform_code = sform_code = 0): axes as stored, the header's voxel "
            "sizes and origin 0 were assumed, so left/right and position are not known"
        )
    metadata.update(
        {
            "source_path": str(path),
            "format": fmt,
            "description": description_from_name(path),
        }
    )
    image.metadata.update(metadata)
    log.debug("read %s volume %s: size %s, %d component(s)", fmt, path.name, image.size, image.n_components)
    return image


def write_volume(image: Image, path: str | Path) -> Path:
    """Write an ``Image`` as NIfTI/NRRD/MetaImage, chosen by the file name's suffix; returns the path.

    Geometry is written exactly (NIfTI stores it in single precision).
    Multi-component images are written as vector images.
    """
    import SimpleITK as sitk

    path = Path(path)
    if volume_suffix(path) is None:
        raise InputError(path, f"cannot write this file type: expected one of {', '.join(VOLUME_SUFFIXES)}")
    check_orthogonal(path, image.direction, "the image's direction matrix")
    array = image.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    out = Image(array, image.spacing, image.origin, image.direction).to_sitk()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(out, str(path), useCompression=path.name.lower().endswith((".gz", ".nrrd", ".mha")))
    except RuntimeError as exc:
        raise InputError(path, f"cannot write volume: {str(exc).strip().splitlines()[-1]}") from exc
    return path
