"""Shared drawing helpers for the procedural phantoms: grids, random streams, shapes, noise.

Every phantom is drawn in *physical* space: each voxel's LPS position is computed
from the grid geometry (spacing, origin, direction), and the anatomy is a function
of that position. A rotated or flipped grid therefore shows the same anatomy in
the same patient coordinates, only sampled differently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from radtriage.image import Image

logger = logging.getLogger(__name__)

Vec3 = tuple[float, float, float]


# ------------------------------------------------------------------ randomness
def rng_stream(seed: int, stream: int) -> np.random.Generator:
    """An independent generator for one purpose (anatomy, finding, noise...) of one seed.

    Streams keep e.g. the anatomy of a seed identical whatever finding is drawn into it.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(stream)])


# -------------------------------------------------------------------- geometry
def check_direction(direction: np.ndarray | Sequence[Sequence[float]] | None) -> np.ndarray:
    """A 3x3 orthonormal direction matrix (identity when ``None``); raises ``ValueError`` otherwise."""
    if direction is None:
        return np.eye(3)
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-4):
        raise ValueError(f"direction must be orthonormal (columns are the i, j, k axes in LPS), got {d.tolist()}")
    return d


def centred_origin(size_ijk: Sequence[int], spacing: Sequence[float], direction: np.ndarray,
                   centre_lps: Sequence[float] = (0.0, 0.0, 0.0)) -> Vec3:
    """The origin that puts the centre of a grid at ``centre_lps``."""
    half = (np.asarray(size_ijk, dtype=float) - 1.0) / 2.0
    origin = np.asarray(centre_lps, dtype=float) - direction @ (np.asarray(spacing, dtype=float) * half)
    return (float(origin[0]), float(origin[1]), float(origin[2]))


def make_grid(size_ijk: Sequence[int], spacing: Sequence[float], origin: Sequence[float] | None,
              direction: np.ndarray | Sequence[Sequence[float]] | None) -> Image:
    """An empty float32 image carrying the grid geometry (origin defaults to a grid centred on LPS 0,0,0)."""
    size = tuple(int(s) for s in size_ijk)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"shape must be three positive sizes (i, j, k), got {size_ijk}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing must be three positive values in mm (i, j, k), got {spacing}")
    d = check_direction(direction)
    org = centred_origin(size, spacing, d) if origin is None else tuple(float(o) for o in origin)
    return Image(np.zeros(size[::-1], dtype=np.float32), tuple(spacing), org, d)  # type: ignore[arg-type]


def lps_coordinates(grid: Image, centre_lps: Sequence[float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays ``(x, y, z)`` (each ``[k, j, i]``, float32) of voxel-centre LPS mm relative to ``centre_lps``.

    ``centre_lps`` defaults to the grid centre, so a phantom drawn around (0, 0, 0)
    sits in the middle of the grid whatever the origin.
    """
    ni, nj, nk = grid.size
    m = grid.ijk_to_lps
    if centre_lps is None:
        centre = grid.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, (nk - 1) / 2]]))[0]
    else:
        centre = np.asarray(centre_lps, dtype=float)
    ii = np.arange(ni, dtype=np.float32)[None, None, :]
    jj = np.arange(nj, dtype=np.float32)[None, :, None]
    kk = np.arange(nk, dtype=np.float32)[:, None, None]
    out = []
    for row in range(3):
        a, b, c = (np.float32(v) for v in m[row, :3])
        t = np.float32(m[row, 3] - centre[row])
        out.append((a * ii + b * jj + c * kk + t).astype(np.float32, copy=False))
    return out[0], out[1], out[2]


def rotation_matrix(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation about S (yaw), then L (pitch), then P (roll), in degrees."""
    a, b, c = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return rz @ rx @ ry


def rotate_points(x: np.ndarray, y: np.ndarray, z: np.ndarray, rot: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``rot.T`` to coordinate arrays (world -> body frame when ``rot`` maps body -> world)."""
    r = rot.T.astype(np.float32)
    return (r[0, 0] * x + r[0, 1] * y + r[0, 2] * z,
            r[1, 0] * x + r[1, 1] * y + r[1, 2] * z,
            r[2, 0] * x + r[2, 1] * y + r[2, 2] * z)


# ---------------------------------------------------------------------- shapes
def ellipsoid_radius(x: np.ndarray, y: np.ndarray, z: np.ndarray, centre: Sequence[float],
                     semi_axes: Sequence[float]) -> np.ndarray:
    """Normalised ellipsoid radius (< 1 inside, 1 on the surface) of axis-aligned ellipsoid."""
    cx, cy, cz = centre
    ax, ay, az = semi_axes
    return np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2)


def ellipse_radius(x: np.ndarray, y: np.ndarray, cx: float | np.ndarray, cy: float | np.ndarray,
                   ax: float | np.ndarray, ay: float | np.ndarray) -> np.ndarray:
    """Normalised 2D ellipse radius in the (x, y) plane (parameters may vary per voxel)."""
    return np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)


def segment_distance(x: np.ndarray, y: np.ndarray, z: np.ndarray, p0: Sequence[float],
                     p1: Sequence[float]) -> np.ndarray:
    """Distance (mm) from each point to the segment ``p0``-``p1``."""
    a = np.asarray(p0, dtype=np.float32)
    d = np.asarray(p1, dtype=np.float32) - a
    dd = float(d @ d) or 1e-9
    t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / dd, 0.0, 1.0)
    return np.sqrt((x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2)


def soft_inside(distance_outside: np.ndarray, width: float) -> np.ndarray:
    """A 0..1 partial-volume weight from a signed distance (negative inside), ramp of ``width`` mm."""
    return np.clip(0.5 - distance_outside / max(width, 1e-6), 0.0, 1.0).astype(np.float32)


def local_box(image: Image, centre_lps: Sequence[float], radius_mm: float) -> tuple[slice, slice, slice]:
    """Array slices ``[k, j, i]`` of the voxel box holding a sphere (clipped to the grid)."""
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    idx = image.lps_to_index(np.asarray(centre_lps, dtype=float) + corners * radius_mm)
    lo = np.floor(idx.min(axis=0)).astype(int) - 1
    hi = np.ceil(idx.max(axis=0)).astype(int) + 2
    size = image.size
    lo = np.maximum(lo, 0)
    hi = np.maximum(np.minimum(hi, size), lo)
    return (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))


def box_coordinates(image: Image, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS coordinates (absolute, mm) of the voxels in an array box ``[k, j, i]``."""
    ks, js, is_ = box
    kk, jj, ii = np.meshgrid(np.arange(ks.start, ks.stop), np.arange(js.start, js.stop),
                             np.arange(is_.start, is_.stop), indexing="ij")
    pts = image.index_to_lps(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1))
    shape = kk.shape
    return pts[:, 0].reshape(shape), pts[:, 1].reshape(shape), pts[:, 2].reshape(shape)


# ----------------------------------------------------------------------- noise
def bias_field(x: np.ndarray, y: np.ndarray, z: np.ndarray, rng: np.random.Generator,
               strength: float = 0.15, scale_mm: float = 120.0) -> np.ndarray:
    """A smooth multiplicative coil-sensitivity field around 1 (low-order in physical space)."""
    c = rng.normal(0.0, 1.0, size=9) * strength
    u, v, w = x / scale_mm, y / scale_mm, z / scale_mm
    field = 1.0 + c[0] * u + c[1] * v + c[2] * w + 0.5 * (c[3] * u * u + c[4] * v * v + c[5] * w * w
                                                          + c[6] * u * v + c[7] * v * w + c[8] * u * w)
    return np.clip(field, 0.5, 1.6).astype(np.float32)


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise of ``sigma`` on both channels (MR magnitude)."""
    n1 = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    n2 = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt((signal + n1) ** 2 + n2 ** 2).astype(np.float32)


def point_spread(array: np.ndarray, sigma_vox: float | Sequence[float] = 0.6) -> np.ndarray:
    """Blur a noiseless rendering a little, as a scanner's point-spread function would."""
    return ndimage.gaussian_filter(array, sigma_vox, mode="nearest").astype(np.float32)


def fourier_field(x: np.ndarray, y: np.ndarray, z: np.ndarray, rng: np.random.Generator,
                  wavelength_mm: tuple[float, float] = (10.0, 30.0), n_waves: int = 16) -> np.ndarray:
    """A smooth random field of physical position (random plane waves), zero mean, unit variance.

    Being a function of position rather than of the voxel grid, the same seed gives the
    same pattern in patient space whatever the grid's spacing, origin or direction.
    """
    dirs = rng.standard_normal((n_waves, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    k = 2 * np.pi / rng.uniform(*wavelength_mm, size=n_waves)
    phase = rng.uniform(0, 2 * np.pi, size=n_waves)
    field = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
    for d, ph in zip(dirs * k[:, None], phase, strict=True):
        field += np.cos(np.float32(d[0]) * x + np.float32(d[1]) * y + np.float32(d[2]) * z + np.float32(ph))
    return (field * np.float32(np.sqrt(2.0 / n_waves))).astype(np.float32)
