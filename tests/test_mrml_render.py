"""The Red slice view's blended image (slice logic pipeline, no OpenGL) shows the heatmap overlay where it belongs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core (the MRML libraries) is not installed")

from radtriage.image import Image
from radtriage.mrml import (
    add_heatmap_overlay,
    blended_slice_rgba,
    create_headless_scene,
    image_to_volume_node,
    load_mrb,
    ras_to_slice_pixel,
    save_mrb,
    show_slice_through,
)

pytestmark = pytest.mark.mrml

VIEW_SIZE = (160, 128)  # width, height in pixels
BLOB_INDEX = np.array([9.0, 27.0, 7.0])  # (i, j, k) centre of the hot blob
BLOB_RADIUS_MM = 4.0


def _scene_images() -> tuple[Image, Image, np.ndarray]:
    """A noisy grey background, rotated 30 degrees about S, and a heatmap with a hot sphere at a known RAS point."""
    a = np.radians(30.0)
    direction = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rng = np.random.default_rng(7)
    background = Image(
        rng.normal(100.0, 3.0, (16, 40, 48)).astype(np.float32),
        spacing=(1.0, 0.8, 2.0),
        origin=(30.0, -12.0, -15.0),
        direction=direction,
    )
    blob_ras = background.index_to_ras(BLOB_INDEX[None])[0]
    k, j, i = np.indices(background.array.shape)
    ras = background.index_to_ras(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1))
    distance = np.linalg.norm(ras - blob_ras, axis=1).reshape(background.array.shape)
    heat = background.with_array(np.clip(1.0 - distance / BLOB_RADIUS_MM, 0.0, 1.0).astype(np.float32))
    return background, heat, blob_ras


def _overlay_mask(rgba: np.ndarray) -> np.ndarray:
    """Pixels with colour (the grey background has R = G = B; the Iron table is red to yellow)."""
    rgb = rgba[..., :3].astype(int)
    return (rgb.max(axis=-1) - rgb.min(axis=-1) > 60) & (rgb[..., 0] >= rgb[..., 2])


def _render_through(slice_logic, ras) -> np.ndarray:
    show_slice_through(slice_logic, tuple(ras), VIEW_SIZE)
    rgba = blended_slice_rgba(slice_logic)
    assert rgba.shape == (VIEW_SIZE[1], VIEW_SIZE[0], 4) and rgba.dtype == np.uint8
    return rgba


def _assert_overlay_at_blob(slice_logic, blob_ras) -> None:
    rgba = _render_through(slice_logic, blob_ras)
    x, y, z = ras_to_slice_pixel(slice_logic, blob_ras)
    assert abs(z) < 1e-6, "the slice passes through the blob"
    mask = _overlay_mask(rgba)
    assert mask[round(y), round(x)], (
        f"no overlay colour at the blob pixel ({x:.1f}, {y:.1f}): {rgba[round(y), round(x)]}"
    )
    ys, xs = np.nonzero(mask)
    assert np.hypot(xs.mean() - x, ys.mean() - y) < 2.0, "overlay is centred on the blob"
    mm_per_pixel = np.linalg.norm(np.asarray(slice_logic.GetSliceNode().GetXYToRAS().MultiplyPoint((1, 0, 0, 0))[:3]))
    far = np.hypot(xs - x, ys - y) * mm_per_pixel
    assert far.max() <= BLOB_RADIUS_MM + 2 * mm_per_pixel, "no overlay colour far from the blob"
    # the rest of the view is the grey background
    grey = ~mask & (rgba[..., 3] > 0)
    assert grey.sum() > 0.3 * mask.size
    assert np.abs(rgba[grey][:, 0].astype(int) - rgba[grey][:, 2]).max() <= 2


def test_red_view_shows_overlay_at_blob_and_nowhere_else():
    background, heat, blob_ras = _scene_images()
    with create_headless_scene() as headless:
        node = image_to_volume_node(headless.scene, background, "T1")
        add_heatmap_overlay(headless.scene, node, heat, "heat", threshold=0.2, opacity=1.0, window_level=(1.0, 0.5))
        red = headless.slice_logic("Red")
        _assert_overlay_at_blob(red, blob_ras)

        # A slice 10 mm above the blob shows no overlay at all.
        rgba_away = _render_through(red, blob_ras + np.array([0.0, 0.0, 10.0]))
        assert not _overlay_mask(rgba_away).any()

        # Opacity 0 hides the overlay on the blob slice.
        for composite_index in range(headless.scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
            headless.scene.GetNthNodeByClass(composite_index, "vtkMRMLSliceCompositeNode").SetForegroundOpacity(0.0)
        assert not _overlay_mask(_render_through(red, blob_ras)).any()


def test_overlay_renders_the_same_after_mrb_reload(tmp_path):
    background, heat, blob_ras = _scene_images()
    with create_headless_scene() as headless:
        node = image_to_volume_node(headless.scene, background, "T1")
        add_heatmap_overlay(headless.scene, node, heat, "heat", threshold=0.2, opacity=0.8, window_level=(1.0, 0.5))
        path = save_mrb(headless.scene, tmp_path / "overlay.mrb")
    with load_mrb(path) as reloaded:
        _assert_overlay_at_blob(reloaded.slice_logic("Red"), blob_ras)
