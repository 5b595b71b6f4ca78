"""Checks of one image's voxels and grid against a task contract: finite, not blank, not a mask, plausible extent.

Each check either raises :class:`~radtriage.errors.InputError` (one line: the file, the problem, what to do) or
returns notices for an accepted but unusual input. Values are sampled (at most ``SAMPLE`` voxels) so the
checks stay fast on whole-body CT.
"""

from __future__ import annotations

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.validation.contracts import InputContract

SAMPLE = 2_000_000
MASK_MAX_LEVELS = 16
"""An integer-valued image with at most this many distinct values is a mask or label map, not an acquisition."""
BLANK_FRACTION = 1e-3
"""An image whose voxels differ from its most common value in fewer than this fraction is blank."""


def source_of(image: Image, key: str) -> str:
    """The file an input came from (or ``input 'key'`` when it has none)."""
    return str(image.metadata.get("source_path") or f"input {key!r}")


def _sample(arr: np.ndarray) -> np.ndarray:
    flat = arr.reshape(-1)
    return flat if flat.size <= SAMPLE else flat[:: flat.size // SAMPLE + 1]


def check_values(image: Image, key: str, task: str) -> tuple[Image, list[str]]:
    """Refuse non-real, all-NaN, blank, constant and mask-like images; NaN/Inf are set to 0 with a notice."""
    where = source_of(image, key)
    arr = np.asarray(image.array)
    if arr.dtype.kind == "c":
        raise InputError(where, f"complex-valued voxels: {task} reads real-valued images; give the magnitude")
    if arr.dtype.kind not in "biuf":
        raise InputError(where, f"voxel type {arr.dtype} is not numeric; give a scalar image")
    notices: list[str] = []
    if arr.dtype.kind == "f" or image.metadata.get("nonfinite_voxels"):
        bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, bool)
        n_bad = max(int(bad.sum()), int(image.metadata.get("nonfinite_voxels") or 0))
        if n_bad >= arr.size:
            raise InputError(where, f"no finite voxel values (all NaN or infinite): {task} cannot read it; "
                                    "check the export that produced it")
        if n_bad and bad.any():
            image = image.with_array(np.where(bad, np.zeros((), arr.dtype), arr))
            arr = image.array
        if n_bad:
            notices.append(f"input {key!r}: {n_bad} voxel(s) ({100.0 * n_bad / arr.size:.2g} %) were NaN or "
                           "infinite; they were set to 0 (background) before the model ran")
    sample = _sample(arr)
    lo, hi = float(sample.min()), float(sample.max())
    if lo == hi and float(arr.min()) == float(arr.max()):
        raise InputError(where, f"constant image (every voxel is {lo:g}): no signal for {task} to read; "
                                "give the acquired series")
    values, counts = np.unique(sample, return_counts=True)
    if sample.size - int(counts.max()) < BLANK_FRACTION * sample.size:
        raise InputError(where, f"blank image: {100.0 * (1 - counts.max() / sample.size):.2g} % of the voxels differ "
                                f"from {float(values[np.argmax(counts)]):g}; {task} needs an acquired series")
    integer_valued = arr.dtype.kind in "biu" or bool(np.all(values == np.round(values)))
    if len(values) <= 2 or (integer_valued and len(values) <= MASK_MAX_LEVELS):
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (" ..." if len(values) > 8 else "")
        raise InputError(where, f"only {len(values)} distinct values ({shown}): this is a mask or label map, not "
                                f"an image {task} can read; give the acquired series")
    return image, notices


CT_AIR_HU = (-1100.0, -900.0)
CT_SOFT_TISSUE_HU = (-200.0, 200.0)
CT_RANGE_HU = (-3100.0, 4096.0)
"""Stored CT values: air about -1000, soft tissue -200..200, within -3024 (padding) .. 4095 (12-bit)."""


def hounsfield_evidence(arr: np.ndarray) -> str | None:
    """Why the values read as CT Hounsfield units (None when they do not): the darkest 0.5 % below -500, at least
    1 % of the voxels at air (-1100..-900) and 10 % at soft tissue (-200..200), all within CT's stored range.
    Magnitude MR has no such negatives; a cropped CT without outside air still has lung or bowel gas."""
    sample = _sample(np.asarray(arr)).astype(np.float64, copy=False)
    if sample.size == 0:
        return None
    low = float(np.percentile(sample, 0.5))
    air = float(np.mean((sample >= CT_AIR_HU[0]) & (sample <= CT_AIR_HU[1])))
    tissue = float(np.mean((sample >= CT_SOFT_TISSUE_HU[0]) & (sample <= CT_SOFT_TISSUE_HU[1])))
    in_range = CT_RANGE_HU[0] <= float(sample.min()) and float(sample.max()) <= CT_RANGE_HU[1]
    if low <= -500.0 and air >= 0.01 and tissue >= 0.10 and in_range:
        return (f"{100 * air:.0f} % of the voxels at air (-1100..-900) and {100 * tissue:.0f} % at soft tissue "
                "(-200..200)")
    return None


def check_not_ct(image: Image, key: str, contract: InputContract) -> None:
    """Refuse an image without a Modality tag whose values are CT Hounsfield units, for a task that reads MR only."""
    if "CT" in contract.modalities:
        return
    evidence = hounsfield_evidence(image.array)
    if evidence is not None:
        raise InputError(source_of(image, key),
                         f"the values look like CT Hounsfield units ({evidence}), and {contract.task} reads "
                         f"{' or '.join(contract.modalities)} only; give the MR series (an MR with signed values, "
                         "e.g. PSIR, as its DICOM series so that its Modality tag is read)")


def _axes(image: Image) -> tuple[int, tuple[int, int]]:
    """The slice axis (fewest voxels; the stack axis k on ties) and the two in-plane axes, as (i, j, k) indices."""
    size = image.size
    slice_axis = min((2, 1, 0), key=lambda a: size[a])
    return slice_axis, tuple(a for a in range(3) if a != slice_axis)  # type: ignore[return-value]


def check_grid(image: Image, key: str, contract: InputContract) -> None:
    """Refuse a grid the task cannot read: too few slices or in-plane voxels, voxels or field of view implausible."""
    where = source_of(image, key)
    task = contract.task
    size, spacing = image.size, image.spacing
    dims = "x".join(str(n) for n in size)
    if size == (1, 1, 1):
        raise InputError(where, f"the image is 1x1x1 (a single voxel): {task} needs a volume")
    slice_axis, plane = _axes(image)
    n_slices = size[slice_axis]
    if min(size[a] for a in plane) < contract.min_inplane_voxels or n_slices < contract.min_slices:
        what = "a single slice" if n_slices == 1 else f"{n_slices} slices"
        raise InputError(where, f"the image is {dims} voxels ({what}, {size[plane[0]]}x{size[plane[1]]} in-plane): "
                                f"{task} needs at least {contract.min_slices} slice(s) of at least "
                                f"{contract.min_inplane_voxels}x{contract.min_inplane_voxels} voxels; give the whole "
                                "acquired volume")
    extent = [size[a] * spacing[a] for a in range(3)]
    fov = "x".join(f"{e:.0f}" for e in extent)
    vox = "x".join(f"{s:.3g}" for s in spacing)
    coarse_plane = max(spacing[a] for a in plane)
    if coarse_plane > contract.max_inplane_voxel_mm or spacing[slice_axis] > contract.max_slice_mm:
        raise InputError(where, f"voxels of {vox} mm are too coarse for {task} (at most "
                                f"{contract.max_inplane_voxel_mm:g} mm in-plane and {contract.max_slice_mm:g} mm "
                                "between slices); check the voxel sizes in the header or give a finer acquisition")
    if max(extent) > contract.max_fov_mm or min(extent[a] for a in plane) < contract.min_fov_mm:
        raise InputError(where, f"field of view {fov} mm ({dims} voxels of {vox} mm) is not plausible for {task} "
                                f"(in-plane at least {contract.min_fov_mm:g} mm, at most {contract.max_fov_mm:g} mm "
                                "along any axis); check the voxel sizes in the header")
    if contract.working_spacing_mm and contract.max_working_voxels:
        grid = [int(np.ceil(e / contract.working_spacing_mm - 1e-6)) for e in extent]
        n = int(np.prod(grid, dtype=np.int64))
        if n > contract.max_working_voxels:
            raise InputError(where, f"the {contract.working_spacing_mm:g} mm working grid of {task} would be "
                                    f"{'x'.join(map(str, grid))} = {n / 1e6:.0f} M voxels (limit "
                                    f"{contract.max_working_voxels / 1e6:.0f} M, to keep memory under 4 GB); crop "
                                    "the volume to the head first")
