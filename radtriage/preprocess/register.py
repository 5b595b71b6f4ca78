"""Rigid co-registration of one series to a reference series (SimpleITK, Mattes mutual information)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec

logger = logging.getLogger(__name__)

INITIALIZERS = ("geometry", "moments", "none")
PLAUSIBLE_ROTATION_DEG = 10.0
PLAUSIBLE_SHIFT_MM = 20.0
"""Series of one study rarely need more than this to line up (head motion between series); a larger rigid move
is flagged: it may be a registration that locked onto the wrong structure."""


def source_of(image: Image, fallback: str | None = None) -> str | None:
    """The file an image came from (``metadata['source_path']``), else ``fallback``, for error messages."""
    return image.metadata.get("source_path") or fallback


@dataclass
class RigidRegistration:
    """Result of :func:`register_rigid`.

    ``transform`` is a ``SimpleITK.Euler3DTransform`` mapping points of the *fixed*
    image's LPS space to the *moving* image's LPS space (SimpleITK's convention), so
    ``resample(moving, GridSpec.from_image(fixed), transform)`` puts the moving image
    on the fixed image's grid.
    """

    transform: Any
    metric: float
    iterations: int
    stop_condition: str
    initial_metric: float | None = None
    fixed_centre_lps: tuple[float, float, float] | None = None
    """Centre of the fixed image, where :attr:`shift_mm` is measured (None: at the LPS origin)."""

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix of the fixed-LPS -> moving-LPS point mapping."""
        return transform_matrix(self.transform)

    @property
    def rotation_degrees(self) -> float:
        """Total rotation angle of the transform, in degrees."""
        r = self.matrix[:3, :3]
        return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))

    @property
    def shift_mm(self) -> float:
        """How far the transform moves the centre of the fixed image, in mm."""
        centre = np.zeros(3) if self.fixed_centre_lps is None else np.asarray(self.fixed_centre_lps, dtype=float)
        return float(np.linalg.norm(self.fixed_to_moving(centre[None])[0] - centre))

    def implausible_move(
        self, max_degrees: float = PLAUSIBLE_ROTATION_DEG, max_mm: float = PLAUSIBLE_SHIFT_MM
    ) -> str | None:
        """A sentence when the rigid move is larger than series of one study need (else None)."""
        if self.rotation_degrees <= max_degrees and self.shift_mm <= max_mm:
            return None
        return (f"registration moved the series by {self.rotation_degrees:.1f} degrees / {self.shift_mm:.1f} mm "
                f"(more than {max_degrees:g} degrees or {max_mm:g} mm is implausible within one study): check the "
                "alignment before trusting the result")

    def fixed_to_moving(self, points_lps: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` points from the fixed image's LPS space to the moving image's."""
        return apply_matrix(self.matrix, points_lps)

    def moving_to_fixed(self, points_lps: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` points from the moving image's LPS space to the fixed image's."""
        return apply_matrix(np.linalg.inv(self.matrix), points_lps)

    def summary(self) -> dict[str, Any]:
        """Plain numbers for logs and reports."""
        return {
            "metric": self.metric,
            "initial_metric": self.initial_metric,
            "iterations": self.iterations,
            "stop_condition": self.stop_condition,
            "rotation_degrees": self.rotation_degrees,
            "translation_mm": self.matrix[:3, 3].tolist(),
            "shift_mm": self.shift_mm,
        }


def transform_matrix(transform: Any) -> np.ndarray:
    """4x4 homogeneous matrix of an affine ``SimpleITK`` transform (``None`` = identity).

    Read off the transform's action on the origin and the unit vectors, so it works for
    every linear SimpleITK transform (Euler, versor, similarity, affine, composites of them).
    Raises ``ValueError`` for a non-linear transform.
    """
    if transform is None:
        return np.eye(4)
    basis = np.vstack([np.zeros(3), np.eye(3), [[13.0, -7.0, 29.0]]])
    mapped = np.array([transform.TransformPoint(tuple(float(v) for v in p)) for p in basis])
    m = np.eye(4)
    m[:3, 3] = mapped[0]
    m[:3, :3] = (mapped[1:4] - mapped[0]).T
    if not np.allclose(apply_matrix(m, basis[4]), mapped[4], atol=1e-6):
        raise ValueError(f"transform {transform.GetName()} is not affine; cannot express it as a matrix")
    return m


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous matrix to ``(N, 3)`` points."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    return pts @ matrix[:3, :3].T + matrix[:3, 3]


def _bounds(image: Image | GridSpec) -> tuple[np.ndarray, np.ndarray]:
    grid = image if isinstance(image, GridSpec) else GridSpec.from_image(image)
    corners = grid.corners_lps()
    return corners.min(axis=0), corners.max(axis=0)


def overlap_fraction(a: Image | GridSpec, b: Image | GridSpec) -> float:
    """Volume of the intersection of two images' (or grids') LPS bounding boxes over the smaller box's volume."""
    lo_a, hi_a = _bounds(a)
    lo_b, hi_b = _bounds(b)
    inter = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None).prod()
    smaller = min((hi_a - lo_a).prod(), (hi_b - lo_b).prod())
    return float(inter / smaller) if smaller > 0 else 0.0


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """SimpleITK's global thread pool set to ``threads`` inside the block (None: left as it is), restored
    after: a registration's pyramid and scale estimators run on it, so a pinned count gives repeatable sums."""
    import SimpleITK as sitk

    saved = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        if threads is not None:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(saved)


def count_iterations(reg: Any) -> dict[str, int]:
    """``{"n": ...}``, counting the optimiser iterations of a ``SimpleITK.ImageRegistrationMethod`` as it runs."""
    import SimpleITK as sitk

    count = {"n": 0}
    reg.AddCommand(sitk.sitkIterationEvent, lambda: count.__setitem__("n", count["n"] + 1))
    return count


def check_input(image: Image, role: str) -> None:
    if image.n_components != 1:
        raise InputError(
            source_of(image), f"{role} image has {image.n_components} components; register one scalar volume"
        )
    if image.array.size == 0 or min(image.size) < 1:
        raise InputError(source_of(image), f"{role} image is empty")
    arr = image.array
    if not np.isfinite(arr).all():
        raise InputError(source_of(image), f"{role} image contains NaN or infinite values")
    if float(arr.max()) == float(arr.min()):
        raise InputError(source_of(image), f"{role} image is constant ({float(arr.min())}); nothing to register")
    if min(image.size) < 4:
        raise InputError(source_of(image), f"{role} image is too thin to register ({image.size} voxels)")


def mask_to_sitk(mask: Image | None, role: str) -> Any:
    if mask is None:
        return None
    import SimpleITK as sitk

    m = mask.with_array((np.asarray(mask.array) > 0).astype(np.uint8)).to_sitk()
    if not np.any(mask.array):
        raise InputError(source_of(mask), f"{role} mask is empty")
    return sitk.Cast(m, sitk.sitkUInt8)


def register_rigid(
    moving: Image,
    fixed: Image,
    *,
    fixed_mask: Image | None = None,
    moving_mask: Image | None = None,
    initializer: str = "geometry",
    initial_transform: Any | None = None,
    histogram_bins: int = 50,
    sampling_percentage: float = 0.1,
    seed: int = 20240607,
    shrink_factors: Sequence[int] = (4, 2, 1),
    smoothing_sigmas: Sequence[float] = (2.0, 1.0, 0.0),
    max_iterations: int = 200,
    learning_rate: float = 2.0,
    min_overlap: float = 0.1,
    threads: int | None = 1,
) -> RigidRegistration:
    """Rigidly register ``moving`` to ``fixed`` (6 degrees of freedom: Euler angles + translation).

    SimpleITK ``ImageRegistrationMethod`` with Mattes mutual information (works across
    contrasts), random sampling of ``sampling_percentage`` of voxels with a fixed ``seed``
    (repeatable results), a centred initialiser (``"geometry"``: bounding-box centres,
    ``"moments"``: centres of mass, ``"none"``: start from ``initial_transform`` or identity),
    regular-step gradient descent with physical-shift scales, and a multi-resolution pyramid
    (``shrink_factors``/``smoothing_sigmas`` in mm). Raises :class:`InputError` when an image
    is constant, non-scalar or non-finite, when their physical extents overlap less than
    ``min_overlap`` (fraction of the smaller one), or when the optimisation loses the overlap.
    ``threads=1`` (the default) makes two runs bit-identical; ``None`` uses SimpleITK's default
    thread count (faster, results then differ between runs in the last digits only).
    """
    import SimpleITK as sitk

    check_input(fixed, "fixed")
    check_input(moving, "moving")
    if initializer not in INITIALIZERS:
        raise ValueError(f"unknown initializer {initializer!r}; choose one of {', '.join(INITIALIZERS)}")
    if len(shrink_factors) != len(smoothing_sigmas):
        raise ValueError("shrink_factors and smoothing_sigmas must have one entry per resolution level")
    if not 0 < sampling_percentage <= 1:
        raise ValueError(f"sampling_percentage must be in (0, 1], got {sampling_percentage}")
    overlap = overlap_fraction(fixed, moving)
    if overlap < min_overlap:
        raise InputError(
            source_of(moving),
            f"moving image does not overlap the fixed image in patient space (overlap {overlap:.1%} of the smaller "
            f"volume, need {min_overlap:.0%}); are they from the same study / frame of reference?",
        )

    fixed_s = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_s = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)

    euler = sitk.Euler3DTransform()
    if initial_transform is not None:
        euler.SetMatrix(transform_matrix(initial_transform)[:3, :3].ravel().tolist())
        euler.SetTranslation(transform_matrix(initial_transform)[:3, 3].tolist())
    if initializer != "none":
        mode = {
            "geometry": sitk.CenteredTransformInitializerFilter.GEOMETRY,
            "moments": sitk.CenteredTransformInitializerFilter.MOMENTS,
        }[initializer]
        euler = sitk.Euler3DTransform(sitk.CenteredTransformInitializer(fixed_s, moving_s, euler, mode))

    reg = sitk.ImageRegistrationMethod()
    if threads is not None:
        reg.SetNumberOfThreads(int(threads))
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(histogram_bins))
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(float(sampling_percentage), int(seed))
    if fixed_mask is not None:
        reg.SetMetricFixedMask(mask_to_sitk(fixed_mask, "fixed"))
    if moving_mask is not None:
        reg.SetMetricMovingMask(mask_to_sitk(moving_mask, "moving"))
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=float(learning_rate),
        minStep=1e-4,
        numberOfIterations=int(max_iterations),
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([int(s) for s in shrink_factors])
    reg.SetSmoothingSigmasPerLevel([float(s) for s in smoothing_sigmas])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(euler, inPlace=False)

    count = count_iterations(reg)
    try:
        with pinned_threads(threads):
            initial_metric = float(reg.MetricEvaluate(fixed_s, moving_s))
            result = reg.Execute(fixed_s, moving_s)
    except RuntimeError as exc:
        text = str(exc)
        if "outside" in text.lower() or "samples" in text.lower():
            raise InputError(
                source_of(moving), "registration lost the overlap between moving and fixed images (too few samples)"
            ) from exc
        raise InputError(source_of(moving), f"rigid registration failed: {text.strip().splitlines()[-1]}") from exc

    final = _as_euler(result)
    out = RigidRegistration(
        transform=final,
        metric=float(reg.GetMetricValue()),
        iterations=count["n"],
        stop_condition=reg.GetOptimizerStopConditionDescription(),
        initial_metric=initial_metric,
        fixed_centre_lps=_centre_lps(fixed),
    )
    logger.info(
        "rigid registration: metric %.4f -> %.4f in %d iterations, rotation %.2f deg, translation %s mm",
        initial_metric,
        out.metric,
        out.iterations,
        out.rotation_degrees,
        np.round(out.matrix[:3, 3], 2).tolist(),
    )
    return out


def _centre_lps(image: Image) -> tuple[float, float, float]:
    centre = image.index_to_lps(((np.asarray(image.size, dtype=float) - 1.0) / 2.0)[None])[0]
    return (float(centre[0]), float(centre[1]), float(centre[2]))


def _as_euler(transform: Any) -> Any:
    """Flatten the registration's (composite) result into one ``Euler3DTransform``."""
    import SimpleITK as sitk

    tx = transform
    if tx.GetTransformEnum() == sitk.sitkComposite:
        composite = sitk.CompositeTransform(tx)
        composite.FlattenTransform()
        if composite.GetNumberOfTransforms() != 1:
            raise RuntimeError("registration returned a composite of several transforms")
        tx = composite.GetNthTransform(0)
    return sitk.Euler3DTransform(tx)
