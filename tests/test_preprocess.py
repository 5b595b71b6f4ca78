"""Tests of radtriage.preprocess: grids, reorientation, resampling, rigid registration, normalisation,
and the round trip model grid -> native volume."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess import (
    GridSpec,
    apply_matrix,
    normalize_intensity,
    orientation_of,
    prepare_to_grid,
    register_rigid,
    reorient,
    resample,
    transform_matrix,
)

SIZE = (48, 56, 40)  # (i, j, k)


# ------------------------------------------------------------------ helpers
def rotation_about(axis: str, degrees: float) -> np.ndarray:
    return Rotation.from_euler(axis, degrees, degrees=True).as_matrix()


def centred_grid(size, spacing, direction=None, centre=(0.0, 0.0, 0.0)) -> GridSpec:
    """A grid of ``size``/``spacing``/``direction`` whose centre is at ``centre`` (LPS)."""
    d = np.eye(3) if direction is None else np.asarray(direction, dtype=float)
    half = (np.asarray(size) - 1) / 2.0 * np.asarray(spacing)
    return GridSpec(size, spacing, tuple(np.asarray(centre) - d @ half), d)


def voxel_lps(grid: GridSpec) -> np.ndarray:
    """LPS position of every voxel, shape (k, j, i, 3)."""
    kk, jj, ii = np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    return grid.index_to_lps(ijk).reshape(*grid.shape, 3)


def draw(grid: GridSpec, function, moved_by: np.ndarray | None = None) -> Image:
    """Sample ``function`` (LPS points -> values) on ``grid``; ``moved_by`` moves the content by a 4x4 matrix."""
    lps = voxel_lps(grid).reshape(-1, 3)
    if moved_by is not None:
        lps = apply_matrix(np.linalg.inv(moved_by), lps)
    values = function(lps).reshape(grid.shape).astype(np.float32)
    return Image(values, grid.spacing, grid.origin, grid.direction)


def gaussian_blob(centre, sigma: float = 4.0):
    c = np.asarray(centre, dtype=float)
    return lambda p: 100.0 * np.exp(-np.sum((p - c) ** 2, axis=1) / (2 * sigma**2))


def structured_head(lps: np.ndarray) -> np.ndarray:
    """A fixed, asymmetric 'anatomy': an ellipsoid with a bright rim and a dozen blobs of varied size."""
    rng = np.random.default_rng(7)
    centres = rng.uniform(-16, 16, size=(12, 3)) * [1.0, 1.0, 0.8]
    widths = rng.uniform(3, 7, 12)
    amplitudes = rng.uniform(0.4, 1.0, 12)
    v = np.zeros(len(lps))
    for c, w, a in zip(centres, widths, amplitudes, strict=True):
        v += a * np.exp(-np.sum((lps - c) ** 2, axis=1) / (2 * w * w))
    r = np.sqrt(np.sum((lps / [21.0, 25.0, 17.0]) ** 2, axis=1))
    return v + 0.6 * (r < 1) + 0.4 * np.exp(-(((r - 1) / 0.05) ** 2))


def second_contrast(lps: np.ndarray) -> np.ndarray:
    """The same anatomy with a non-monotonic intensity mapping (a different 'contrast')."""
    v = structured_head(lps)
    return np.exp(-2.0 * v) + 0.1 * v


def weighted_centroid_lps(image: Image, floor: float = 1.0) -> np.ndarray:
    w = np.where(image.array > floor, image.array, 0.0).astype(float)
    kk, jj, ii = np.nonzero(w)
    ijk = np.stack([ii, jj, kk], axis=1).astype(float)
    centroid_ijk = (ijk * w[kk, jj, ii, None]).sum(axis=0) / w.sum()
    return image.index_to_lps(centroid_ijk)[0]


def rigid(euler_deg, translation, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 rigid matrix: rotation by ``euler_deg`` (xyz) about ``centre``, then ``translation``."""
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", euler_deg, degrees=True).as_matrix()
    c = np.asarray(centre, dtype=float)
    m[:3, 3] = np.asarray(translation, dtype=float) + c - m[:3, :3] @ c
    return m


def angle_between(r1: np.ndarray, r2: np.ndarray) -> float:
    r = r1.T @ r2
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


def exact_geometry(a: Image, b: Image) -> bool:
    return (
        a.size == b.size
        and a.spacing == b.spacing
        and a.origin == b.origin
        and np.array_equal(a.direction, b.direction)
    )


OBLIQUE = rotation_about("z", 20.0) @ rotation_about("x", 8.0)


# --------------------------------------------------------------------- grids
def test_gridspec_from_image_is_exact_and_isotropic_grid_covers_the_image():
    native = centred_grid(SIZE, (0.9, 0.9, 3.0), OBLIQUE, centre=(3.0, -5.0, 12.0)).empty_image()
    g = GridSpec.from_image(native)
    assert g.size == native.size and g.spacing == native.spacing and g.origin == native.origin
    assert np.array_equal(g.direction, native.direction)

    cover = GridSpec.isotropic_around(native, 1.5)
    assert cover.spacing == (1.5, 1.5, 1.5)
    assert np.allclose(cover.direction, np.eye(3))
    np.testing.assert_allclose(cover.centre_lps(), g.centre_lps(), atol=1e-9)
    # Every outer corner of the native volume lies inside the new grid's voxel extent.
    corners_idx = cover.lps_to_index(g.corners_lps())
    assert np.all(corners_idx >= -0.5 - 1e-6) and np.all(corners_idx <= np.asarray(cover.size) - 0.5 + 1e-6)
    # ... and the grid is not much larger than needed (at most one voxel of slack per side).
    assert np.all(corners_idx.min(axis=0) < 0.5) and np.all(corners_idx.max(axis=0) > np.asarray(cover.size) - 1.5)

    fixed = GridSpec.isotropic_around(native, 2.0, size=32, orientation="RAS")
    assert fixed.size == (32, 32, 32)
    np.testing.assert_allclose(fixed.direction, np.diag([-1.0, -1.0, 1.0]))
    np.testing.assert_allclose(fixed.centre_lps(), g.centre_lps(), atol=1e-9)

    with pytest.raises(ValueError, match="orientation"):
        GridSpec.isotropic_around(native, 1.0, orientation="RLS")
    with pytest.raises(ValueError, match="orthonormal"):
        GridSpec((4, 4, 4), direction=np.diag([1.0, 2.0, 1.0]))


# ------------------------------------------------------------------- reorient
def test_reorient_permutes_voxels_but_keeps_every_world_position():
    rng = np.random.default_rng(0)
    grid = centred_grid(
        (7, 9, 5), (0.8, 1.1, 2.5), rotation_about("y", 12.0) @ np.diag([-1.0, 1.0, -1.0])[:, [2, 0, 1]]
    )
    image = grid.empty_image()
    image = image.with_array(rng.normal(size=grid.shape).astype(np.float32))

    ras = reorient(image, "RAS")
    assert orientation_of(ras) == "RAS"
    assert ras.size != image.size or not np.array_equal(ras.direction, image.direction)
    # Each output voxel holds the input voxel found at the same LPS position.
    out_lps = voxel_lps(GridSpec.from_image(ras)).reshape(-1, 3)
    src_idx = image.lps_to_index(out_lps)
    np.testing.assert_allclose(src_idx, np.round(src_idx), atol=1e-6)
    i, j, k = np.round(src_idx).astype(int).T
    np.testing.assert_array_equal(ras.array.reshape(-1), image.array[k, j, i])

    back = reorient(ras, orientation_of(image))
    np.testing.assert_array_equal(back.array, image.array)
    np.testing.assert_allclose(back.origin, image.origin, atol=1e-9)
    np.testing.assert_allclose(back.direction, image.direction, atol=1e-12)

    vector = Image(np.stack([image.array, -image.array], axis=-1), image.spacing, image.origin, image.direction)
    vec_ras = reorient(vector, "RAS")
    np.testing.assert_array_equal(vec_ras.array[..., 0], ras.array)
    np.testing.assert_array_equal(vec_ras.array[..., 1], -ras.array)
    with pytest.raises(ValueError, match="orientation"):
        reorient(image, "XYZ")


# ------------------------------------------------------------------- resample
def test_resample_to_grid_and_back_keeps_a_blob_centroid():
    centre = (4.3, -6.1, 3.7)
    native = draw(centred_grid(SIZE, (1.0, 1.0, 1.0)), gaussian_blob(centre))
    model = GridSpec.isotropic_around(native, 1.7, orientation="RAS")
    on_model = resample(native, model)
    assert on_model.array.dtype == np.float32 and on_model.size == model.size
    assert np.linalg.norm(weighted_centroid_lps(on_model) - centre) < 0.5 * 1.7

    back = resample(on_model, native)
    assert exact_geometry(back, native)
    assert np.linalg.norm(weighted_centroid_lps(back) - weighted_centroid_lps(native)) < 0.5


def test_resample_interpolators_dtypes_components_and_transform():
    labels = Image(np.zeros((10, 12, 14), dtype=np.uint8))
    labels.array[3:6, 4:8, 5:9] = 3
    nearest = resample(labels, GridSpec((14, 12, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), interpolator="nearest")
    assert nearest.array.dtype == np.uint8
    assert set(np.unique(nearest.array)) == {0, 3}
    np.testing.assert_array_equal(nearest.array, labels.array)

    # A pure translation transform moves the content the other way (output -> input mapping).
    shift = sitk.TranslationTransform(3, (2.0, 0.0, 0.0))
    shifted = resample(labels, GridSpec.from_image(labels), shift, interpolator="nearest", default=7)
    np.testing.assert_array_equal(shifted.array[..., :-2], labels.array[..., 2:])
    assert np.all(shifted.array[..., -2:] == 7)
    np.testing.assert_allclose(transform_matrix(shift)[:3, 3], [2.0, 0.0, 0.0])

    vec = Image(np.stack([labels.array, 2 * labels.array], axis=-1).astype(np.float32))
    out = resample(vec, GridSpec.isotropic_around(vec, 0.5), interpolator="bspline")
    assert out.array.shape[-1] == 2 and out.array.dtype == np.float32
    np.testing.assert_allclose(out.array[..., 1], 2 * out.array[..., 0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="interpolator"):
        resample(labels, GridSpec.from_image(labels), interpolator="cubic")


# ---------------------------------------------------- oblique native round trip
def test_oblique_anisotropic_native_to_model_grid_and_back_lands_on_the_same_lps():
    centre = np.array([6.0, -9.0, 4.0])
    native_grid = centred_grid(SIZE, (0.9, 0.9, 3.0), OBLIQUE, centre=(2.0, -3.0, 1.0))
    native = draw(native_grid, gaussian_blob(centre, sigma=5.0))
    native.metadata["source_path"] = "native.nii.gz"
    model = GridSpec.isotropic_around(native, 1.5, size=(40, 44, 48), orientation="RAS")

    prepared = prepare_to_grid({"T2": native}, "T2", model, register=False, normalize=None)
    on_model = prepared.channels["T2"]
    assert on_model.size == model.size
    assert np.linalg.norm(weighted_centroid_lps(on_model) - centre) < 1.0

    # A "model output": a heatmap on the model grid (channel-first, as a network returns it).
    heat = np.stack([on_model.array / on_model.array.max(), 1 - on_model.array / on_model.array.max()])
    native_heat = prepared.to_native(heat)
    assert exact_geometry(native_heat, native)
    assert native_heat.array.shape == (*native.array.shape, 2)
    assert np.linalg.norm(weighted_centroid_lps(native_heat.with_array(100 * native_heat.array[..., 0])) - centre) < 1.0

    scalar_back = prepared.to_native(on_model.array)
    assert exact_geometry(scalar_back, native)
    mask_back = prepared.to_native(on_model.array > 0.5 * on_model.array.max(), interpolator="nearest")
    assert mask_back.array.dtype == np.uint8 and exact_geometry(mask_back, native)
    assert np.linalg.norm(weighted_centroid_lps(mask_back.with_array(100.0 * mask_back.array)) - centre) < 1.0
    # Points: model index of the true centre -> native LPS and native index, and back.
    model_ijk = prepared.native_lps_to_model_index(centre)
    np.testing.assert_allclose(prepared.points_to_native_lps(model_ijk)[0], centre, atol=1e-9)
    np.testing.assert_allclose(prepared.points_to_native_index(model_ijk), native.lps_to_index(centre), atol=1e-9)
    argmax_ijk = np.array(np.unravel_index(np.argmax(on_model.array), on_model.array.shape)[::-1], dtype=float)
    assert np.linalg.norm(prepared.points_to_native_lps(argmax_ijk)[0] - centre) < np.sqrt(3) * 0.75 + 1e-6
    with pytest.raises(ValueError, match="model grid"):
        prepared.to_native(np.zeros((3, 4, 5)))


# ---------------------------------------------------------------- registration
@pytest.fixture(scope="module")
def rigid_pair():
    grid = centred_grid(SIZE, (1.0, 1.0, 1.0))
    truth = rigid([5.0, -2.0, 3.0], [4.0, -3.0, 2.0])
    fixed = draw(grid, structured_head)
    moving = draw(grid, second_contrast, moved_by=truth)
    return fixed, moving, truth


def test_register_rigid_recovers_a_known_rotation_and_translation(rigid_pair):
    fixed, moving, truth = rigid_pair
    result = register_rigid(moving, fixed)
    assert result.iterations > 0 and result.metric < result.initial_metric
    inside = voxel_lps(GridSpec.from_image(fixed)).reshape(-1, 3)[::97]
    error_mm = np.linalg.norm(result.fixed_to_moving(inside) - apply_matrix(truth, inside), axis=1)
    assert error_mm.max() < 1.0
    assert angle_between(result.matrix[:3, :3], truth[:3, :3]) < 1.0
    np.testing.assert_allclose(result.moving_to_fixed(result.fixed_to_moving(inside)), inside, atol=1e-9)

    again = register_rigid(moving, fixed)
    np.testing.assert_array_equal(again.matrix, result.matrix)
    assert again.metric == result.metric and again.iterations == result.iterations

    # The transform resamples the moving series onto the fixed grid: structure lines up again.
    aligned = resample(moving, fixed, result.transform)
    inner = (slice(8, -8),) * 3
    before = np.corrcoef(moving.array[inner].ravel(), second_contrast_of(fixed)[inner].ravel())[0, 1]
    after = np.corrcoef(aligned.array[inner].ravel(), second_contrast_of(fixed)[inner].ravel())[0, 1]
    assert after > 0.98 > before


def second_contrast_of(fixed: Image) -> np.ndarray:
    return draw(GridSpec.from_image(fixed), second_contrast).array


def test_register_rigid_rejects_bad_input():
    grid = centred_grid((20, 22, 18), (1.0, 1.0, 1.0))
    fixed = draw(grid, structured_head)
    far_origin = (fixed.origin[0] + 300.0, *fixed.origin[1:])
    far = Image(fixed.array, fixed.spacing, far_origin, fixed.direction, {"source_path": "/data/far_away.nii.gz"})
    with pytest.raises(InputError, match=r"far_away\.nii\.gz: .*does not overlap"):
        register_rigid(far, fixed)
    with pytest.raises(InputError, match="constant"):
        register_rigid(fixed.with_array(np.zeros(grid.shape, np.float32)), fixed)
    with pytest.raises(InputError, match="components"):
        register_rigid(Image(np.zeros((18, 22, 20, 2), np.float32)), fixed)
    with pytest.raises(InputError, match="NaN"):
        register_rigid(fixed.with_array(np.full(grid.shape, np.nan, np.float32)), fixed)


# --------------------------------------------------------------- normalisation
def test_normalize_zscore_inside_mask_and_percentile_range():
    rng = np.random.default_rng(3)
    image = Image(rng.gamma(2.0, 30.0, size=(12, 14, 16)).astype(np.float32) + 50)
    mask = np.zeros(image.array.shape, dtype=bool)
    mask[2:10, 3:12, 4:13] = True

    z = normalize_intensity(image, "zscore", mask=mask)
    assert z.array.dtype == np.float32 and z.same_geometry(image)
    assert abs(float(z.array[mask].mean())) < 1e-4
    assert abs(float(z.array[mask].std()) - 1.0) < 1e-3
    assert np.all(z.array[~mask] == 0)
    # Monotonic inside the mask: the order of intensities is kept.
    assert np.all(np.diff(z.array[mask][np.argsort(image.array[mask])]) >= -1e-6)

    whole = normalize_intensity(image, "zscore")
    assert abs(float(whole.array.mean())) < 1e-4 and abs(float(whole.array.std()) - 1) < 1e-3

    p = normalize_intensity(image, "percentile", lower=1, upper=99)
    lo, hi = np.percentile(image.array, [1, 99])
    assert float(p.array.min()) == 0.0 and float(p.array.max()) == 1.0
    inside = (image.array > lo) & (image.array < hi)
    np.testing.assert_allclose(p.array[inside], (image.array[inside] - lo) / (hi - lo), atol=1e-5)

    background = image.with_array(np.where(mask, image.array, 0).astype(np.float32))
    nz = normalize_intensity(background, "zscore", nonzero=True)
    np.testing.assert_allclose(nz.array, z.array, atol=1e-5)

    two = Image(np.stack([image.array, 10 * image.array + 5], axis=-1))
    two_z = normalize_intensity(two, "zscore")
    np.testing.assert_allclose(two_z.array[..., 0], two_z.array[..., 1], atol=1e-4)

    with pytest.raises(InputError, match="mask shape"):
        normalize_intensity(image, mask=np.ones((3, 3, 3)))
    with pytest.raises(InputError, match="no voxel"):
        normalize_intensity(image, mask=np.zeros(image.array.shape))
    with pytest.raises(ValueError, match="normalisation"):
        normalize_intensity(image, "minmax")


# ------------------------------------------------------------ prepare_to_grid
def test_prepare_to_grid_registers_contrasts_and_stacks_channels(rigid_pair):
    fixed, moving, truth = rigid_pair
    fixed = Image(fixed.array, fixed.spacing, fixed.origin, fixed.direction, {"source_path": "t1.nii"})
    model = GridSpec.isotropic_around(fixed, 2.0, size=(24, 28, 20))
    prepared = prepare_to_grid(
        {"T1": fixed, "T2": moving, "FLAIR": None}, "T1", model, register=True, names=("T1", "T2", "FLAIR")
    )
    stack, available = prepared.stack()
    assert stack.dtype == np.float32 and stack.shape == (3, 20, 28, 24)
    np.testing.assert_array_equal(available, [True, True, False])
    assert np.all(stack[2] == 0)
    assert set(prepared.registrations) == {"T2"}
    inside = voxel_lps(model).reshape(-1, 3)[::31]
    err = np.linalg.norm(prepared.registrations["T2"].fixed_to_moving(inside) - apply_matrix(truth, inside), axis=1)
    assert err.max() < 1.0
    # Registered T2 on the model grid matches the T2 contrast drawn directly in the T1 space.
    # (Inner region only: near the edges the moved T2 has no data.)
    expected = draw(model, second_contrast).array
    inner = (slice(4, -4),) * 3
    assert np.corrcoef(stack[1][inner].ravel(), expected[inner].ravel())[0, 1] > 0.97
    # A point on the model grid maps into the T2's own space through the registration.
    p = np.array([[12.0, 14.0, 10.0]])
    np.testing.assert_allclose(
        prepared.points_to_input_lps("T2", p), apply_matrix(truth, model.index_to_lps(p)), atol=1.0
    )
    # A map on the model grid goes onto the T2's native grid through the inverse transform.
    blob_centre = model.index_to_lps(p)[0]
    t2_map = prepared.to_input_native("T2", draw(model, gaussian_blob(blob_centre, 3.0)))
    assert exact_geometry(t2_map, moving)
    assert np.linalg.norm(weighted_centroid_lps(t2_map) - apply_matrix(truth, blob_centre)[0]) < 1.0
    label_native = fixed.with_array((fixed.array > 0.9).astype(np.uint8))
    label_model = prepared.from_native(label_native)
    assert label_model.array.dtype == np.uint8 and label_model.size == model.size

    with pytest.raises(InputError, match="reference series 'FLAIR' is missing"):
        prepare_to_grid({"T1": fixed, "FLAIR": None}, "FLAIR", model)
    far = GridSpec((8, 8, 8), (1.0, 1.0, 1.0), (500.0, 500.0, 500.0))
    with pytest.raises(InputError, match=r"t1\.nii: model grid .* does not overlap"):
        prepare_to_grid({"T1": fixed}, "T1", far)


# ------------------------------------------------------------------ real data
@pytest.mark.slow
def test_real_t2_moved_by_known_rigid_transform_registers_back_to_t1(shared_data):
    folder = shared_data / "VolumeRenderingData"
    t1 = Image.from_sitk(sitk.ReadImage(str(folder / "stroke_T1.nii.gz")))
    t2 = Image.from_sitk(sitk.ReadImage(str(folder / "stroke_T2.nii.gz")))
    truth = rigid([6.0, -4.0, 3.0], [5.0, -4.0, 3.0], centre=GridSpec.from_image(t1).centre_lps())
    move = sitk.AffineTransform(3)
    move.SetMatrix(truth[:3, :3].ravel().tolist())
    move.SetTranslation(truth[:3, 3].tolist())
    moved_t2 = resample(t2, t1, move.GetInverse())

    result = register_rigid(moved_t2, t1, sampling_percentage=0.05, shrink_factors=(4, 2), smoothing_sigmas=(2.0, 1.0))
    brain = np.argwhere(t1.array > 0)[::40, ::-1]
    points = t1.index_to_lps(brain)
    error_mm = np.linalg.norm(result.fixed_to_moving(points) - apply_matrix(truth, points), axis=1)
    assert error_mm.max() < 1.5, f"max registration error {error_mm.max():.2f} mm"
