"""Short-axis reformat geometry: long axis from points (LPS/RAS) or estimated, SAX grid, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from radtriage.image import Image
from radtriage.phantoms import SAX_DIRECTION, make_lge_stack
from radtriage.tasks.lge_certainty.reformat import (
    TYPICAL_LONG_AXIS_LPS,
    LongAxis,
    estimate_long_axis,
    is_short_axis_like,
    reformat_to_short_axis,
    sax_direction,
    short_axis_grid,
    volume_centre_lps,
)

APEX = (38.0, -25.0, -60.0)
BASE = (0.0, 0.0, 0.0)


def _axial_volume(value_at=None) -> Image:
    """An axial 3D volume 120 x 120 x 100 mm (2 mm voxels) centred near the origin, with optional bright spheres."""
    image = Image(np.zeros((50, 60, 60), np.float32), spacing=(2.0, 2.0, 2.0), origin=(-60.0, -60.0, -80.0))
    if value_at is not None:
        k, j, i = np.indices(image.array.shape)
        pts = image.index_to_lps(np.column_stack([i.ravel(), j.ravel(), k.ravel()])).reshape(*image.array.shape, 3)
        d = np.linalg.norm(pts - np.asarray(value_at), axis=-1)
        image.array[:] = np.exp(-(d**2) / (2 * 3.0**2)).astype(np.float32)
    return image


def test_grid_is_orthonormal_and_normals_parallel_to_axis():
    axis = LongAxis(BASE, APEX)
    grid = short_axis_grid(axis, fov_mm=100, pixel_mm=1.25, slice_spacing_mm=8)
    d = grid.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(d[:, 2], axis.unit, atol=1e-12)
    assert grid.size[2] == int(axis.length // 8) + 1


def test_every_slice_centre_lies_on_the_axis_and_axis_points_map_to_the_centre():
    axis = LongAxis(BASE, APEX)
    sax = reformat_to_short_axis(_axial_volume(), axis, fov_mm=90, pixel_mm=1.5, slice_spacing_mm=6)
    ni, nj, nk = sax.size
    centres = sax.index_to_lps(np.column_stack([np.full(nk, (ni - 1) / 2), np.full(nk, (nj - 1) / 2), np.arange(nk)]))
    rel = centres - np.asarray(BASE)
    off_axis = rel - np.outer(rel @ axis.unit, axis.unit)
    assert np.abs(off_axis).max() < 1e-6
    for t in (0.0, 0.37, 0.81):  # any point of the axis projects to the slice centre (i, j)
        point = np.asarray(BASE) + t * (np.asarray(APEX) - np.asarray(BASE))
        ijk = sax.lps_to_index(point)[0]
        np.testing.assert_allclose(ijk[:2], [(ni - 1) / 2, (nj - 1) / 2], atol=1e-6)


def test_point_round_trip_and_content_follow_the_geometry():
    axis = LongAxis(BASE, APEX)
    unit = axis.unit
    target = np.asarray(BASE) + 4 * 6.0 * unit + 10.0 * sax_direction(unit)[:, 0]  # slice 4, 10 mm off-axis
    volume = _axial_volume(value_at=target)
    sax = reformat_to_short_axis(volume, axis, fov_mm=90, pixel_mm=1.0, slice_spacing_mm=6)
    ijk = sax.lps_to_index(target)
    assert np.abs(sax.index_to_lps(ijk)[0] - target).max() < 1e-6
    peak = np.unravel_index(np.argmax(sax.array), sax.array.shape)  # (k, j, i)
    found = sax.index_to_lps(np.array([[peak[2], peak[1], peak[0]]], float))[0]
    voxel = np.array(sax.spacing)
    assert np.all(np.abs(sax.lps_to_index(found)[0] - ijk[0]) <= 0.5 + 1e-6)
    assert np.linalg.norm(found - target) < 0.5 * voxel.min() * np.sqrt(3) + 1e-6


def test_ras_points_equal_flipped_lps_points():
    ras_apex = (-APEX[0], -APEX[1], APEX[2])
    ras_base = (-BASE[0], -BASE[1], BASE[2])
    a = LongAxis.from_points(APEX, BASE, "LPS")
    b = LongAxis.from_points(ras_apex, ras_base, "RAS")
    np.testing.assert_allclose(a.apex_lps, b.apex_lps)
    np.testing.assert_allclose(a.base_lps, b.base_lps)
    np.testing.assert_allclose(b.to_dict()["apex_ras"], ras_apex)
    with pytest.raises(ValueError):
        LongAxis.from_points(APEX, BASE, "XYZ")
    with pytest.raises(ValueError):
        LongAxis(BASE, BASE)


def test_sax_frame_matches_the_phantom_and_estimate_is_typical_orientation():
    np.testing.assert_allclose(sax_direction(SAX_DIRECTION[:, 2]), SAX_DIRECTION, atol=1e-12)
    volume = _axial_volume()
    est = estimate_long_axis(volume)
    assert est.source == "estimated" and "not fitted" in est.note
    np.testing.assert_allclose(est.unit, TYPICAL_LONG_AXIS_LPS, atol=1e-12)
    midpoint = (np.asarray(est.base_lps) + np.asarray(est.apex_lps)) / 2
    np.testing.assert_allclose(midpoint, volume_centre_lps(volume), atol=1e-9)


def test_short_axis_heuristic():
    stack, _ = make_lge_stack(1, n_slices=4, size=(32, 32))
    assert is_short_axis_like(stack)
    assert not is_short_axis_like(_axial_volume())


def test_phantom_drawn_axially_reformats_to_a_ring_shaped_myocardium():
    """The phantom heart drawn on an axial grid, reformatted along its own long-axis direction: the mid-ventricular
    SAX slice shows the LV myocardium as a ring around the slice centre (true short-axis cut)."""
    stack, slices = make_lge_stack(
        3, n_slices=50, size=(80, 80), spacing=(2.0, 2.0), slice_spacing=2.0, direction=np.eye(3)
    )
    myo = Image(
        np.concatenate([s.myocardium_mask.array for s in slices]).astype(np.float32),
        stack.spacing,
        stack.origin,
        stack.direction,
    )
    axis = estimate_long_axis(myo, length_mm=60.0)  # typical orientation = the phantom's, through the LV centre
    sax = reformat_to_short_axis(myo, axis, fov_mm=120, pixel_mm=2.0, slice_spacing_mm=10.0)
    mid = sax.array[sax.array.shape[0] // 2] > 0.5
    j, i = np.nonzero(mid)
    c = (mid.shape[0] - 1) / 2
    angles = np.arctan2(j - c, i - c)
    bins = np.histogram(angles, bins=12, range=(-np.pi, np.pi))[0]
    assert (bins > 0).all()  # myocardium all around the centre
    assert mid[int(c) - 2 : int(c) + 3, int(c) - 2 : int(c) + 3].sum() == 0  # the cavity at the centre


@pytest.mark.slow
def test_real_axial_lge_reformats(shared_data):
    from radtriage.io import read_image

    folder = shared_data / "Seg3DData" / "example_dicom_LGE"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    image = read_image(folder)
    assert image.size == (640, 640, 44)
    assert not is_short_axis_like(image)
    axis = estimate_long_axis(image)
    sax = reformat_to_short_axis(image, axis)
    assert sax.array.shape[0] >= 5 and np.isfinite(sax.array).all()
    assert float(sax.array.max()) > 0  # the reformat samples the heart region, not only background
    np.testing.assert_allclose(sax.direction[:, 2], axis.unit, atol=1e-9)
