"""Which axis of a volume holds the axial slices, where each slice lies, and its canonical 2D view.

Body regions follow the patient's head-feet axis, so the task works on the volume axis that
runs most nearly along LPS S: the acquired slice axis ``k`` for axial and oblique-axial
(tilted gantry) scans, another axis for sagittal or coronal acquisitions. Every native slice
along that axis is resampled onto a canonical square grid *in its own plane*: columns run
toward patient left (LPS +x projected into the plane), rows toward posterior (+y), centred on
the slice centre, with a fixed field of view in mm. The network thus always sees a slice in
the same patient orientation and scale, whatever the volume's direction, spacing or flips.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from radtriage.image import Image
from radtriage.preprocess.resample import block_mean

logger = logging.getLogger(__name__)

AXIS_NAMES = ("i", "j", "k")
KEEP_K_BELOW_DEGREES = 45.0
"""The acquired slice axis ``k`` is kept when it is within this angle of the head-feet axis."""


@dataclass(frozen=True)
class SliceGeometry:
    """Where the slices along one volume axis lie in patient space (LPS millimetres).

    ``axis`` is 0, 1 or 2 for the image's i, j or k axis; ``normal`` its unit vector in LPS;
    ``centres_lps`` the centre point of every slice (indexed by slice number along ``axis``);
    ``in_plane_u``/``in_plane_v`` the canonical in-plane directions (toward patient left and
    posterior, projected into the slice plane).
    """

    axis: int
    normal: np.ndarray
    spacing: float
    centres_lps: np.ndarray
    in_plane_u: np.ndarray
    in_plane_v: np.ndarray

    @property
    def axis_name(self) -> str:
        """``"i"``, ``"j"`` or ``"k"``."""
        return AXIS_NAMES[self.axis]

    @property
    def n_slices(self) -> int:
        """Number of slices along the axis."""
        return int(self.centres_lps.shape[0])

    @property
    def z_mm(self) -> np.ndarray:
        """LPS z (superior, = RAS S) of every slice centre."""
        return self.centres_lps[:, 2]

    @property
    def position_mm(self) -> np.ndarray:
        """Position of every slice along the slice normal (``centre . normal``), mm."""
        return self.centres_lps @ self.normal

    @property
    def superior_first(self) -> bool:
        """True when slice 0 is the most superior (the index runs head to feet)."""
        return bool(self.normal[2] < 0)

    def head_to_feet(self) -> np.ndarray:
        """Slice indices ordered from the most superior slice to the most inferior one."""
        idx = np.arange(self.n_slices)
        return idx if self.superior_first else idx[::-1]

    @property
    def tilt_degrees(self) -> float:
        """Angle between the slice normal and the head-feet axis."""
        return float(np.degrees(np.arccos(min(1.0, abs(float(self.normal[2]))))))

    @property
    def half_thickness_z(self) -> float:
        """Half the slice spacing projected onto z: how far a slice reaches above/below its centre."""
        return 0.5 * self.spacing * abs(float(self.normal[2]))


def slice_axis_of(image: Image) -> int:
    """The volume axis used as the slice axis: ``k`` unless it is tilted more than 45 deg from head-feet."""
    s_component = np.abs(image.direction[2, :])
    if s_component[2] >= np.cos(np.radians(KEEP_K_BELOW_DEGREES)) - 1e-9:
        return 2
    return int(np.argmax(s_component))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-9:
        raise ValueError("degenerate in-plane direction")
    return v / n


def slice_geometry(image: Image, axis: int | None = None) -> SliceGeometry:
    """Geometry of the slices of ``image`` along ``axis`` (default :func:`slice_axis_of`)."""
    ax = slice_axis_of(image) if axis is None else int(axis)
    if ax not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (i, j, k), got {axis}")
    normal = np.asarray(image.direction[:, ax], dtype=float)
    size = np.asarray(image.size, dtype=float)
    n = int(size[ax])
    idx = np.tile((size - 1) / 2.0, (n, 1))
    idx[:, ax] = np.arange(n)
    centres = image.index_to_lps(idx)
    e_x, e_y = np.eye(3)[0], np.eye(3)[1]
    u = _unit(e_x - (e_x @ normal) * normal)
    v = _unit(e_y - (e_y @ normal) * normal - (e_y @ u) * u)
    return SliceGeometry(ax, normal, float(image.spacing[ax]), centres, u, v)


def _strided(image: Image, axes_ijk: tuple[int, int], strides: tuple[int, int]) -> Image:
    """Every ``stride``-th voxel along two image axes (exact geometry), as a contiguous array."""
    arr = image.array if image.array.ndim == 3 else image.array[..., 0]
    step = np.ones(3, dtype=int)
    for a, st in zip(axes_ijk, strides, strict=True):
        step[a] = st
    first = (step - 1) // 2
    picked = np.ascontiguousarray(arr[first[2]::step[2], first[1]::step[1], first[0]::step[0]])
    origin = image.index_to_lps(first[None].astype(float))[0]
    return Image(picked, tuple(np.asarray(image.spacing) * step), tuple(origin), image.direction.copy())


def _block_mean(image: Image, axes_ijk: tuple[int, int], factors: tuple[int, int]) -> Image:
    """Average non-overlapping blocks along two image axes (anti-aliasing before strong downsampling)."""
    if factors == (1, 1):
        return image
    arr = image.array if image.array.ndim == 3 else image.array[..., 0]
    out = block_mean(arr, tuple(factors[axes_ijk.index(2 - a)] if 2 - a in axes_ijk else 1 for a in range(3)))
    f_ijk = np.ones(3)
    for a, f in zip(axes_ijk, factors, strict=True):
        f_ijk[a] = f
    spacing = np.asarray(image.spacing) * f_ijk
    origin = image.index_to_lps((f_ijk - 1) / 2.0)[0]
    return Image(out, tuple(spacing), tuple(origin), image.direction.copy())


def downsample_in_plane(image: Image, axes_ijk: tuple[int, int], factors: tuple[int, int]) -> Image:
    """Reduce two axes by about ``factors`` with a box filter, cheaply on large matrices.

    Factors below 4 average whole blocks; from 4 up, every (factor // 2)-th voxel is kept first and
    pairs of those are averaged, so 4 samples (not factor^2) make each output voxel: a 512 x 512 CT
    slice is read at a sixteenth of its voxels while the filter still spans the output pixel.
    """
    strides = tuple(f // 2 if f >= 4 else 1 for f in factors)
    blocks = tuple(max(1, f // s) for f, s in zip(factors, strides, strict=True))
    small = _strided(image, axes_ijk, strides) if strides != (1, 1) else image  # type: ignore[arg-type]
    return _block_mean(small, axes_ijk, blocks)  # type: ignore[arg-type]


def canonical_slices(
    image: Image,
    geometry: SliceGeometry | None = None,
    size: int = 64,
    fov_mm: float = 512.0,
    fill: float = 0.0,
) -> np.ndarray:
    """Every slice resampled onto a ``size`` x ``size`` grid over ``fov_mm`` in a fixed patient orientation.

    Returns float32 ``[n_slices, size, size]`` indexed ``[slice, row, column]``; columns run toward
    patient left, rows toward posterior, and the grid is centred on the slice centre. Each slice is
    sampled in its own plane (bilinear, after box-filtering fine in-plane voxels to about the
    output pixel size, see :func:`downsample_in_plane`); points outside the volume get ``fill``.
    Multi-component images use their first component.
    """
    geo = geometry if geometry is not None else slice_geometry(image)
    px = float(fov_mm) / int(size)
    in_plane = tuple(a for a in (0, 1, 2) if a != geo.axis)
    factors = tuple(max(1, int(np.floor(px / image.spacing[a] + 1e-6))) for a in in_plane)
    small = downsample_in_plane(image, in_plane, factors)  # type: ignore[arg-type]
    arr = small.array if small.array.ndim == 3 else small.array[..., 0]
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)

    # Every slice has its centre at the same in-plane index, so one 2D map serves all slices.
    inv = np.linalg.inv(small.ijk_to_lps)
    offsets = (np.arange(size) - (size - 1) / 2.0) * px
    centre = inv[:3, :3] @ geo.centres_lps[0] + inv[:3, 3]  # continuous (i, j, k) of slice 0's centre
    du = inv[:3, :3] @ geo.in_plane_u  # index step per mm toward left
    dv = inv[:3, :3] @ geo.in_plane_v  # index step per mm toward posterior
    coords = centre + offsets[None, :, None] * du + offsets[:, None, None] * dv  # [row, col, (i, j, k)]
    stack = np.moveaxis(arr, 2 - geo.axis, 0)  # [slice, a, b]: the other two array axes, in array order
    axes = [2 - a for a in range(3) if a != 2 - geo.axis]  # (i, j, k) axis behind array axes a and b
    return _bilinear(stack, coords[..., axes[0]], coords[..., axes[1]], float(fill))


def _bilinear(stack: np.ndarray, pa: np.ndarray, pb: np.ndarray, fill: float) -> np.ndarray:
    """Sample every slice of ``stack`` [n, A, B] at continuous in-plane indices (pa, pb) (bilinear)."""
    def corners(p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if n == 1:
            zero = np.zeros(p.shape, dtype=np.intp)
            return zero, zero, np.zeros(p.shape, np.float32), np.abs(p) <= 0.5
        p0 = np.clip(np.floor(p), 0, n - 2).astype(np.intp)
        return p0, p0 + 1, (p - p0).astype(np.float32), (p >= -1e-6) & (p <= n - 1 + 1e-6)

    a0, a1, wa, va = corners(pa, stack.shape[1])
    b0, b1, wb, vb = corners(pb, stack.shape[2])
    out = (stack[:, a0, b0] * ((1 - wa) * (1 - wb)) + stack[:, a0, b1] * ((1 - wa) * wb)
           + stack[:, a1, b0] * (wa * (1 - wb)) + stack[:, a1, b1] * (wa * wb))
    out[:, ~(va & vb)] = fill
    return out.astype(np.float32, copy=False)
