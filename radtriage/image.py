"""The project's image type: a voxel array with exact LPS geometry.

Conventions (the same as SimpleITK's ``GetArrayFromImage`` and Slicer's
``arrayFromVolume``):

* ``array`` is indexed ``[k, j, i]`` (slice, row, column) for 3D images, and
  ``[k, j, i, c]`` for images with ``c`` components per voxel (e.g. echoes).
* ``spacing`` and ``origin`` are given in ``(i, j, k)`` order, in millimetres.
* ``direction`` is a 3x3 matrix whose *columns* are the unit vectors of the
  i, j and k axes in patient LPS coordinates (DICOM/ITK convention).
* ``ijk_to_lps`` maps a voxel index ``(i, j, k, 1)`` to LPS millimetres;
  ``ijk_to_ras`` is the same in RAS (Slicer/MRML, NIfTI world), obtained by
  flipping the first two axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Homogeneous matrix converting LPS coordinates to RAS (it is its own inverse)."""


def lps_to_ras_points(points: np.ndarray) -> np.ndarray:
    """Convert an ``(N, 3)`` array of LPS points to RAS (or RAS to LPS)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3).copy()
    pts[:, :2] *= -1.0
    return pts


ras_to_lps_points = lps_to_ras_points


def ijk_to_lps_matrix(direction: np.ndarray, spacing: Any, origin: Any) -> np.ndarray:
    """4x4 matrix from voxel index (i, j, k) to LPS millimetres of a grid's direction, spacing and origin."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(direction, dtype=float) @ np.diag(np.asarray(spacing, dtype=float))
    m[:3, 3] = origin
    return m


@dataclass
class Image:
    """A scalar (or multi-component) image with exact patient geometry in LPS."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim == 2:
            self.array = self.array[np.newaxis]
        if self.array.ndim not in (3, 4):
            raise ValueError(f"Image array must be 2D, 3D or 3D+components, got shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if len(self.spacing) != 3 or len(self.origin) != 3:
            raise ValueError("spacing and origin must have three values (i, j, k)")
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    # ------------------------------------------------------------------ shape
    @property
    def size(self) -> tuple[int, int, int]:
        """Number of voxels along (i, j, k)."""
        k, j, i = self.array.shape[:3]
        return (i, j, k)

    @property
    def n_components(self) -> int:
        """Components per voxel (1 for scalar images)."""
        return 1 if self.array.ndim == 3 else int(self.array.shape[3])

    # --------------------------------------------------------------- geometry
    @property
    def ijk_to_lps(self) -> np.ndarray:
        """4x4 matrix from voxel index (i, j, k) to LPS millimetres."""
        return ijk_to_lps_matrix(self.direction, self.spacing, self.origin)

    @property
    def ijk_to_ras(self) -> np.ndarray:
        """4x4 matrix from voxel index (i, j, k) to RAS millimetres (MRML's IJKToRAS)."""
        return LPS_TO_RAS @ self.ijk_to_lps

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` continuous indices (i, j, k) to LPS points."""
        pts = np.asarray(ijk, dtype=float).reshape(-1, 3)
        return pts @ self.ijk_to_lps[:3, :3].T + self.ijk_to_lps[:3, 3]

    def index_to_ras(self, ijk: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` continuous indices (i, j, k) to RAS points."""
        return lps_to_ras_points(self.index_to_lps(ijk))

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` LPS points to continuous indices (i, j, k)."""
        inv = np.linalg.inv(self.ijk_to_lps)
        pts = np.asarray(lps, dtype=float).reshape(-1, 3)
        return pts @ inv[:3, :3].T + inv[:3, 3]

    def ras_to_index(self, ras: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` RAS points to continuous indices (i, j, k)."""
        return self.lps_to_index(ras_to_lps_points(ras))

    def same_geometry(self, other: Image, tol: float = 1e-4) -> bool:
        """True when both images have the same grid (size, spacing, origin, direction)."""
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def with_array(self, array: np.ndarray, **metadata: Any) -> Image:
        """A new image on the same grid with another voxel array (shape must match)."""
        array = np.asarray(array)
        if array.shape[:3] != self.array.shape[:3]:
            raise ValueError(f"array shape {array.shape} does not match image grid {self.array.shape[:3]}")
        return replace(self, array=array, metadata={**self.metadata, **metadata})

    # ------------------------------------------------------------- SimpleITK
    def to_sitk(self) -> Any:
        """Convert to a ``SimpleITK.Image`` with the same geometry."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.array, isVector=self.array.ndim == 4)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(self.direction.ravel()))
        return img

    @classmethod
    def from_sitk(cls, img: Any, metadata: dict[str, Any] | None = None) -> Image:
        """Build from a 3D ``SimpleITK.Image`` (2D images get a single slice)."""
        import SimpleITK as sitk

        if img.GetDimension() == 2:
            arr = sitk.GetArrayFromImage(img)
            spacing = (*img.GetSpacing(), 1.0)
            origin = (*img.GetOrigin(), 0.0)
            d2 = np.asarray(img.GetDirection()).reshape(2, 2)
            direction = np.eye(3)
            direction[:2, :2] = d2
            return cls(arr[np.newaxis], spacing, origin, direction, dict(metadata or {}))
        if img.GetDimension() != 3:
            raise ValueError(f"expected a 2D or 3D image, got {img.GetDimension()}D")
        arr = sitk.GetArrayFromImage(img)
        direction = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
        return cls(arr, img.GetSpacing(), img.GetOrigin(), direction, dict(metadata or {}))
