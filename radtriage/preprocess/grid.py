"""Voxel grids in patient LPS space: the native grid of an image, or the fixed grid a model reads.

A :class:`GridSpec` is an :class:`~radtriage.image.Image` without voxels: size and
spacing in (i, j, k) order, origin in LPS millimetres, and a 3x3 direction whose
columns are the i, j, k axes in LPS. Two grids that describe the same patient space
can be mapped onto each other exactly, which is how model outputs go back to the
native volume.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtriage.image import Image, ijk_to_lps_matrix

logger = logging.getLogger(__name__)


def direction_from_orientation(orientation: str) -> np.ndarray:
    """The 3x3 LPS direction whose i, j, k axes point toward the three letters (``"RAS"``, ``"LPS"``...)."""
    import SimpleITK as sitk

    code = orientation.upper()
    if len(code) != 3 or any(sum(c in pair for c in code) != 1 for pair in ("LR", "AP", "SI")):
        raise ValueError(f"orientation must name one of L/R, A/P and S/I each (e.g. 'RAS'), got {orientation!r}")
    cosines = sitk.DICOMOrientImageFilter.GetDirectionCosinesFromOrientation(code)
    return np.asarray(cosines, dtype=float).reshape(3, 3)


@dataclass(eq=False)
class GridSpec:
    """A voxel grid in LPS: ``size``/``spacing`` in (i, j, k), ``origin`` in mm, ``direction`` columns = axes."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        self.size = tuple(int(s) for s in self.size)  # type: ignore[assignment]
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if len(self.size) != 3 or len(self.spacing) != 3 or len(self.origin) != 3:
            raise ValueError("size, spacing and origin must have three values (i, j, k)")
        if any(s < 1 for s in self.size):
            raise ValueError(f"grid size must be at least 1 voxel per axis, got {self.size}")
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"grid spacing must be positive, got {self.spacing}")
        if not np.allclose(self.direction.T @ self.direction, np.eye(3), atol=1e-4):
            raise ValueError(f"grid direction must be orthonormal, got {self.direction.tolist()}")

    # ------------------------------------------------------------ builders
    @classmethod
    def from_image(cls, image: Image) -> GridSpec:
        """The grid of ``image``, with its geometry copied exactly."""
        return cls(image.size, image.spacing, image.origin, image.direction.copy())

    @classmethod
    def isotropic_around(
        cls,
        image: Image | GridSpec,
        spacing: float,
        size: int | tuple[int, int, int] | None = None,
        orientation: str = "LPS",
    ) -> GridSpec:
        """An axis-aligned grid of cubic voxels centred on ``image``'s physical centre.

        Without ``size`` the grid covers the whole physical extent of ``image`` (voxel
        edges included); with ``size`` (one int or (i, j, k)) it has exactly that many voxels.
        ``orientation`` names where the grid's i, j, k axes point (``"LPS"``: identity direction).
        """
        if spacing <= 0:
            raise ValueError(f"spacing must be positive, got {spacing}")
        source = image if isinstance(image, GridSpec) else cls.from_image(image)
        direction = direction_from_orientation(orientation)
        if size is None:
            # Extent of the source's voxel corners measured along the new grid's axes.
            corners_lps = source.corners_lps()
            along_axes = corners_lps @ direction
            extent = along_axes.max(axis=0) - along_axes.min(axis=0)
            n = np.maximum(1, np.ceil(extent / spacing - 1e-6)).astype(int)
        else:
            n = np.broadcast_to(np.asarray(size, dtype=int), (3,)).copy()
        centre = source.centre_lps()
        origin = centre - direction @ ((n - 1) / 2.0 * spacing)
        return cls(tuple(n), (spacing,) * 3, tuple(origin), direction)

    # ------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (k, j, i) of an image on this grid."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def ijk_to_lps(self) -> np.ndarray:
        """4x4 matrix from voxel index (i, j, k) to LPS millimetres."""
        return ijk_to_lps_matrix(self.direction, self.spacing, self.origin)

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` continuous indices (i, j, k) to LPS points."""
        m = self.ijk_to_lps
        return np.asarray(ijk, dtype=float).reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` LPS points to continuous indices (i, j, k)."""
        inv = np.linalg.inv(self.ijk_to_lps)
        return np.asarray(lps, dtype=float).reshape(-1, 3) @ inv[:3, :3].T + inv[:3, 3]

    def centre_lps(self) -> np.ndarray:
        """LPS position of the grid's centre."""
        return self.index_to_lps((np.asarray(self.size, dtype=float) - 1) / 2.0)[0]

    def corners_lps(self) -> np.ndarray:
        """The 8 outer voxel-edge corners of the grid in LPS, shape (8, 3)."""
        edges = [(-0.5, n - 0.5) for n in self.size]
        corners = np.array(list(itertools.product(*edges)), dtype=float)
        return self.index_to_lps(corners)

    def same_as(self, other: GridSpec | Image, tol: float = 1e-6) -> bool:
        """True when ``other`` has this grid (size, spacing, origin and direction within ``tol``)."""
        return (
            tuple(self.size) == tuple(other.size)
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    # ----------------------------------------------------------- conversion
    def empty_image(self, dtype: Any = np.float32) -> Image:
        """A zero-filled :class:`Image` on this grid."""
        return Image(np.zeros(self.shape, dtype=dtype), self.spacing, self.origin, self.direction.copy())

    def __repr__(self) -> str:
        return (
            f"GridSpec(size={self.size}, spacing={tuple(round(s, 4) for s in self.spacing)}, "
            f"origin={tuple(round(o, 3) for o in self.origin)}, direction={np.round(self.direction, 4).tolist()})"
        )
