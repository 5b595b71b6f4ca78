"""Affine registration of a head MR (any contrast) to the MNI ICBM152 2009a template, with a quality check.

The target (*fixed* image) is the MNI template's tissue layers with a skull and scalp around them
(:func:`radtriage.anatomy.head.head_layers`: the nilearn template is brain-extracted, and a whole head fitted to
a bare brain inflates it) on a :data:`COARSE_MM` grid, the head the *moving* one (smoothed onto the same
spacing): Mattes mutual information (contrast-independent) sampled inside the target's intracranial space grown
by :data:`MASK_MARGIN_MM` (a wider mask let the scalp pull the fit 10-15 % too large on a real T1), a
12-parameter affine transform started from a vertex-based translation (the top of the head foreground, so a neck
or shoulders in the field of view do not pull the start, assuming the patient's S axis points up within ~30
degrees), two resolution levels. A whole head takes 2-8 s on one thread.

Quality check (all must hold, thresholds below; values measured on MNI phantoms and real T1 heads, see
``tests/test_cmb_atlas_location.py``): the affine's scales (singular values, native mm per MNI mm) within
:data:`SCALE_RANGE`, their ratio (stretch / shear) at most :data:`MAX_ANISOTROPY`, rotation at most
:data:`MAX_ROTATION_DEG`, at least :data:`MIN_BRAIN_IN_FOV` of the template brain inside the image's field of view,
at least :data:`MIN_BRAIN_ON_FOREGROUND` of it on the image's foreground, a final metric at most
:data:`MAX_METRIC` (Mattes MI is negative; closer to 0 means the images share little information) and voxels
no coarser than :data:`MAX_SPACING_MM`.

Measured (this version): 15 SWI-like MNI phantoms in random poses (15 degrees, 20 mm, 10 % scale, noise, bias):
metric -0.86 to -1.13, microbleed points within 1.1 mm of truth; T1-like phantoms with thicker skull and scalp
than the target: -1.59 to -1.64; real heads (clinical T1; brain-extracted T1 / T2 / FLAIR, 1 mm): metric
-0.32 to -0.50, scales 0.80-0.94, brain on foreground >= 0.93 (pass); abdominal and chest CT: metric -0.01 to
-0.02, brain on foreground ~0.5 (fail); 3 mm low-resolution head CT: metric -0.07 (fail); 3 mm EPI: 84 % of the
brain on foreground (fail: signal drop-outs); 6.5 mm post-contrast T1: fit 10-20 % too large (fail: spacing).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec
from radtriage.preprocess.register import (
    apply_matrix,
    check_input,
    count_iterations,
    mask_to_sitk,
    pinned_threads,
    transform_matrix,
)
from radtriage.preprocess.resample import resample

log = logging.getLogger(__name__)

COARSE_MM = 3.0
TARGET_LEVELS = {"gm": 0.7, "wm": 1.0, "csf": 0.35, "skull": 0.1, "scalp": 0.55}
"""Intensities of the registration target's layers (only their distinctness matters to mutual information)."""
MASK_MARGIN_MM = 3.0
SCALP_MM = 10.0
"""Assumed distance from the top of the head foreground (scalp) to the top of the brain, for the start only."""
SCALE_RANGE = (0.7, 1.2)
MAX_ANISOTROPY = 1.3
MAX_ROTATION_DEG = 45.0
MIN_BRAIN_IN_FOV = 0.85
MIN_BRAIN_ON_FOREGROUND = 0.9
MAX_METRIC = -0.12
MAX_SPACING_MM = 4.0
"""Coarser voxels fail the check: on 6.5 mm slices (two real post-contrast T1 scans) the fit inflated the brain by
10-20 % while every other value looked fine."""
MIN_EXTENT_MM = 100.0
"""A field of view narrower than this along any patient axis cannot hold a whole brain: no registration is tried."""


@dataclass(frozen=True)
class QualityCheck:
    """Whether a registration to MNI can be trusted: ``reason`` says why not (empty when it passed)."""

    passed: bool
    reason: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MniRegistration:
    """Affine map between a head's LPS space and MNI (template) LPS space, with its quality check.

    ``matrix`` maps MNI points to the head's points (SimpleITK's fixed -> moving convention).
    """

    matrix: np.ndarray
    metric: float
    qc: QualityCheck
    seconds: float

    def native_to_mni(self, points_lps: np.ndarray) -> np.ndarray:
        """``(N, 3)`` head LPS points to MNI LPS points (MNI RAS is ``(-x, -y, z)`` of these)."""
        return apply_matrix(np.linalg.inv(self.matrix), points_lps)

    def mni_to_native(self, points_lps: np.ndarray) -> np.ndarray:
        """``(N, 3)`` MNI LPS points to head LPS points."""
        return apply_matrix(self.matrix, points_lps)

    def summary(self) -> dict[str, Any]:
        """Plain JSON for result.json: QC verdict, reason, measured values, matrix and run time."""
        return {"target": "MNI ICBM152 2009a symmetric (nilearn)", "transform": "affine, MNI LPS -> image LPS",
                "matrix": np.round(self.matrix, 5).tolist(), "qc_passed": self.qc.passed, "qc_reason": self.qc.reason,
                "qc": {k: round(float(v), 4) for k, v in self.qc.values.items()}, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class _Fixed:
    image: Any  # SimpleITK template T1 on the coarse grid
    mask: Any  # SimpleITK brain + margin
    brain_lps: np.ndarray  # (N, 3) template brain points on the coarse grid
    brain_top_z: float
    brain_centre: np.ndarray


@functools.lru_cache(maxsize=1)
def _fixed() -> _Fixed:
    from scipy import ndimage

    from radtriage.anatomy.head import head_layers
    from radtriage.anatomy.mni import load_template

    template, layers = load_template(), head_layers()
    grid = GridSpec.isotropic_around(template.t1, COARSE_MM)
    head = layers.image(**TARGET_LEVELS)
    fixed = resample(_smoothed(head, COARSE_MM), grid)
    brain = resample(template.t1.with_array(template.brain.astype(np.float32)), grid).array > 0.5
    outer = resample(head.with_array(layers.intracranial.astype(np.float32)), grid).array > 0.5
    mask = ndimage.binary_dilation(outer, iterations=round(MASK_MARGIN_MM / COARSE_MM))
    lps = grid.index_to_lps(np.argwhere(brain)[:, ::-1].astype(float))
    return _Fixed(fixed.to_sitk(), mask_to_sitk(fixed.with_array(mask.astype(np.uint8)), "template"),
                  lps, float(lps[:, 2].max()), lps.mean(axis=0))


def _smoothed(image: Image, spacing: float) -> Image:
    """``image`` low-passed for a ``spacing`` grid (Gaussian, sigma half the new spacing, physical units)."""
    import SimpleITK as sitk

    src = sitk.Cast(image.to_sitk(), sitk.sitkFloat32)
    sigmas = [max(0.01, max(0.0, spacing**2 - s**2) ** 0.5 / 2.0) for s in image.spacing]
    if max(sigmas) <= 0:
        return image.with_array(sitk.GetArrayFromImage(src))
    out = sitk.SmoothingRecursiveGaussian(src, sigmas)
    return image.with_array(sitk.GetArrayFromImage(out))


def whole_head_problem(image: Image | GridSpec) -> str | None:
    """Why ``image``'s field of view cannot hold a whole head (None when it can: registration is worth trying)."""
    grid = image if isinstance(image, GridSpec) else GridSpec.from_image(image)
    corners = grid.corners_lps()
    extent = corners.max(axis=0) - corners.min(axis=0)
    if extent.min() < MIN_EXTENT_MM:
        dims = " x ".join(f"{v:.0f}" for v in extent)
        return (f"not a whole-head scan: the field of view is {dims} mm (LR x AP x SI), "
                f"under {MIN_EXTENT_MM:.0f} mm along one axis")
    return None


def _coarse_head(image: Image) -> tuple[Image, float]:
    """The head on a :data:`COARSE_MM` grid, intensities clipped to 0-1 at the 99.5th percentile, and its
    foreground level (a fifth of the median of the voxels above the mean: tissue, not air)."""
    arr = np.asarray(image.array, dtype=np.float32)
    arr = arr - float(arr.min())
    top = float(np.percentile(arr, 99.5)) or float(arr.max())
    scaled = image.with_array(np.clip(arr / top, 0.0, 1.0))
    coarse = resample(_smoothed(scaled, COARSE_MM), GridSpec.isotropic_around(image, COARSE_MM,
                                                                              orientation="LPS"))
    values = np.asarray(coarse.array)
    level = 0.2 * float(np.median(values[values > values.mean()]))
    return coarse, level


def _start(coarse: Image, level: float, fixed: _Fixed) -> np.ndarray:
    """Translation (MNI -> head) that puts the template brain under the top of the head foreground."""
    from scipy import ndimage

    fg = np.asarray(coarse.array) > level
    labels, n = ndimage.label(fg)
    if n > 1:
        sizes = ndimage.sum(fg, labels, index=range(1, n + 1))
        fg = labels == (int(np.argmax(sizes)) + 1)
    if not fg.any():
        return np.zeros(3)
    lps = coarse.index_to_lps(np.argwhere(fg)[:, ::-1].astype(float))
    top = float(lps[:, 2].max())
    upper = lps[lps[:, 2] > top - 100.0]
    target = np.array([upper[:, 0].mean(), upper[:, 1].mean(),
                       top - SCALP_MM - (fixed.brain_top_z - fixed.brain_centre[2])])
    return target - fixed.brain_centre


def register_to_mni(image: Image, *, native_spacing: tuple[float, float, float] | None = None,
                    seed: int = 20240607, threads: int = 1) -> MniRegistration:
    """Affine registration of a scalar head volume to MNI with the quality check of the module docstring.

    ``native_spacing``: the acquired voxel size when ``image`` is a resampled copy (the spacing check uses it).

    Raises :class:`~radtriage.errors.InputError` for an empty, constant, non-finite or multi-component image;
    a failed optimisation or an implausible result is a failed :class:`QualityCheck`, not an error.
    """
    import SimpleITK as sitk

    check_input(image, "head")
    t0 = time.perf_counter()
    fixed = _fixed()
    coarse, level = _coarse_head(image)
    moving = sitk.Cast(coarse.to_sitk(), sitk.sitkFloat32)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(tuple(float(v) for v in fixed.brain_centre))
    affine.SetTranslation(tuple(float(v) for v in _start(coarse, level, fixed)))
    reg = sitk.ImageRegistrationMethod()
    reg.SetNumberOfThreads(int(threads))
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.3, int(seed))
    reg.SetMetricFixedMask(fixed.mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=2e-3, numberOfIterations=100,
                                                 relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([3.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(affine, inPlace=True)
    iterations = count_iterations(reg)
    try:
        with pinned_threads(int(threads)):
            reg.Execute(fixed.image, moving)
            metric = float(reg.MetricEvaluate(fixed.image, moving))
    except RuntimeError as exc:
        seconds = time.perf_counter() - t0
        why = str(exc).strip().splitlines()[-1] if str(exc).strip() else "optimisation failed"
        qc = QualityCheck(False, f"registration to MNI failed: {why}")
        return MniRegistration(np.eye(4), float("nan"), qc, seconds)
    matrix = transform_matrix(affine)
    qc = quality_check(matrix, metric, coarse, level, fixed.brain_lps,
                       max(native_spacing or image.spacing))
    qc.values["iterations"] = float(iterations["n"])
    seconds = time.perf_counter() - t0
    log.info("MNI registration: metric %.3f, QC %s %s (%.1f s)", metric, "passed" if qc.passed else "failed",
             qc.values, seconds)
    return MniRegistration(matrix, metric, qc, seconds)


def quality_check(matrix: np.ndarray, metric: float, coarse: Image, level: float,
                  brain_lps: np.ndarray, spacing_mm: float = 1.0) -> QualityCheck:
    """The documented checks on a fitted affine (``matrix``: MNI -> head) and the head on its coarse grid."""
    linear = matrix[:3, :3]
    u, scales, vt = np.linalg.svd(linear)
    rotation = u @ vt
    angle = float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))
    points = apply_matrix(matrix, brain_lps)
    ijk = np.round(coarse.lps_to_index(points)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(coarse.size)), axis=1)
    values = np.asarray(coarse.array)
    on_fg = values[ijk[inside, 2], ijk[inside, 1], ijk[inside, 0]] > level
    v = {"metric": metric, "scale_min": float(scales.min()), "scale_max": float(scales.max()),
         "anisotropy": float(scales.max() / scales.min()), "rotation_deg": angle,
         "brain_in_fov": float(inside.mean()), "brain_on_foreground": float(on_fg.mean()) if on_fg.size else 0.0,
         "determinant": float(np.linalg.det(linear)), "max_spacing_mm": float(spacing_mm)}
    problems = []
    if spacing_mm > MAX_SPACING_MM:
        problems.append(f"voxels up to {spacing_mm:.1f} mm (> {MAX_SPACING_MM:.0f} mm: too coarse to check the fit)")
    if not (SCALE_RANGE[0] <= v["scale_min"] and v["scale_max"] <= SCALE_RANGE[1]) or v["determinant"] <= 0:
        problems.append(f"scale {v['scale_min']:.2f}-{v['scale_max']:.2f} outside {SCALE_RANGE[0]}-{SCALE_RANGE[1]}")
    if v["anisotropy"] > MAX_ANISOTROPY:
        problems.append(f"stretch/shear {v['anisotropy']:.2f} > {MAX_ANISOTROPY}")
    if angle > MAX_ROTATION_DEG:
        problems.append(f"rotation {angle:.0f} > {MAX_ROTATION_DEG:.0f} degrees")
    if v["brain_in_fov"] < MIN_BRAIN_IN_FOV:
        problems.append(f"only {v['brain_in_fov']:.0%} of the brain inside the field of view "
                        f"(need {MIN_BRAIN_IN_FOV:.0%})")
    if v["brain_on_foreground"] < MIN_BRAIN_ON_FOREGROUND:
        problems.append(f"only {v['brain_on_foreground']:.0%} of the brain on the image's foreground "
                        f"(need {MIN_BRAIN_ON_FOREGROUND:.0%})")
    if not np.isfinite(metric) or metric > MAX_METRIC:
        problems.append(f"mutual information {metric:.3f} > {MAX_METRIC} (images share too little)")
    reason = "" if not problems else "registration to MNI failed its quality check: " + "; ".join(problems)
    return QualityCheck(not problems, reason, v)
