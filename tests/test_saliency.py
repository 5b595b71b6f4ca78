"""Saliency maps (Grad-CAM, Grad-CAM++, occlusion) of small classifiers trained here to find a bright or dark cube.

The networks are trained for a few seconds on noise volumes with cubes at random places, so a
correct heatmap has something true to find: its peak must land in (or within one voxel of) the
cube the chosen output detects, on the model grid and after mapping back to an oblique,
anisotropic native volume.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radtriage.image import Image
from radtriage.preprocess import GridSpec, prepare_to_grid
from radtriage.saliency import (
    METHODS,
    default_mask_size,
    find_target_layer,
    heatmap_image,
    saliency_map,
    slice_heatmap_image,
)

CUBE = 4
CONTRAST = 2.5
N_CASES = 10
MIN_HIT_RATE = 0.8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small convolutions run fastest single-threaded on a shared CPU; put the setting back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ synthetic data
def _two_corners(rng: np.random.Generator, size: int, ndim: int) -> np.ndarray:
    """Corners of two non-touching CUBE-sized boxes inside a size^ndim image (drawn together)."""
    while True:
        corners = rng.integers(1, size - CUBE, (2, ndim))
        if np.abs(corners[0] - corners[1]).max() > CUBE + 1:
            return corners


def cube_volume(
    rng: np.random.Generator, size: int, bright: bool = True, dark: bool = True, ndim: int = 3
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gaussian noise with a bright (+CONTRAST) and/or a dark (-CONTRAST) box; returns the image and the corners."""
    image = rng.normal(0.0, 1.0, (size,) * ndim).astype(np.float32)
    corners = {}
    for corner, name, present, value in zip(
        _two_corners(rng, size, ndim), ("bright", "dark"), (bright, dark), (CONTRAST, -CONTRAST), strict=True
    ):
        if present:
            image[tuple(slice(c, c + CUBE) for c in corner)] += value
            corners[name] = corner
    return image, corners


class CubeNet(nn.Module):
    """Two conv layers and a global max: outputs one logit per class (2D or 3D)."""

    def __init__(self, spatial_dims: int, n_outputs: int = 2) -> None:
        super().__init__()
        conv, pool = (nn.Conv3d, nn.MaxPool3d) if spatial_dims == 3 else (nn.Conv2d, nn.MaxPool2d)
        self.features = nn.Sequential(
            conv(1, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            pool(2),
            conv(8, 16, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(16, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return self.head(torch.amax(features, dim=tuple(range(2, features.ndim))))


def _batch(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images))[:, None]


@pytest.fixture(scope="module")
def cube_net() -> CubeNet:
    """A 3D multi-label net: sigmoid output 0 = 'a bright cube is there', output 1 = 'a dark cube is there'."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = CubeNet(3)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(90):
        flags = rng.random((16, 2)) < 0.5
        images = [cube_volume(rng, 16, bright=b, dark=d)[0] for b, d in flags]
        loss = nn.functional.binary_cross_entropy_with_logits(net(_batch(images)), torch.from_numpy(flags).float())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    return net


@pytest.fixture(scope="module")
def square_net() -> CubeNet:
    """A 2D softmax net: class 1 = 'a bright square is there', class 0 = 'noise only'."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    net = CubeNet(2)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        labels = rng.random(32) < 0.5
        images = [cube_volume(rng, 24, bright=bool(y), dark=False, ndim=2)[0] for y in labels]
        loss = nn.functional.cross_entropy(net(_batch(images)), torch.from_numpy(labels).long())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    return net


def _peak(heatmap: np.ndarray) -> np.ndarray:
    return np.array(np.unravel_index(int(np.argmax(heatmap)), heatmap.shape))


def _hits_box(heatmap: np.ndarray, corner: np.ndarray, tolerance: int = 1) -> bool:
    """Whether the heatmap's peak lies in the CUBE box at ``corner`` (or within ``tolerance`` voxels of it)."""
    peak = _peak(heatmap)
    return bool(np.all(peak >= corner - tolerance) and np.all(peak <= corner + CUBE - 1 + tolerance))


def _check_unit_maps(maps: np.ndarray, shape: tuple[int, ...]) -> None:
    assert maps.shape == shape
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0
    assert np.allclose(maps.reshape(len(maps), -1).max(axis=1), 1.0)


# ------------------------------------------------------------------------ 3D / 2D
def test_networks_learned_their_task(cube_net, square_net):
    rng = np.random.default_rng(10)
    flags = rng.random((24, 2)) < 0.5
    volumes = [cube_volume(rng, 24, bright=b, dark=d)[0] for b, d in flags]
    with torch.no_grad():
        predicted = torch.sigmoid(cube_net(_batch(volumes))).numpy() > 0.5
    assert (predicted == flags).mean() >= 0.9
    labels = rng.random(24) < 0.5
    slices = [cube_volume(rng, 24, bright=bool(y), dark=False, ndim=2)[0] for y in labels]
    with torch.no_grad():
        predicted2d = square_net(_batch(slices)).argmax(1).numpy().astype(bool)
    assert (predicted2d == labels).mean() >= 0.9


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_3d_peaks_in_the_cube_of_the_chosen_sigmoid_output(cube_net, method):
    rng = np.random.default_rng(20)
    cases = [cube_volume(rng, 24) for _ in range(N_CASES)]
    x = _batch([image for image, _ in cases])
    for class_index, name in enumerate(("bright", "dark")):
        maps = saliency_map(cube_net, x, class_index, method)
        _check_unit_maps(maps, (N_CASES, 24, 24, 24))
        hits = [_hits_box(maps[n], corners[name]) for n, (_, corners) in enumerate(cases)]
        assert np.mean(hits) >= MIN_HIT_RATE, f"{method} output {class_index} ({name}): hits {hits}"


def test_occlusion_3d_peaks_in_the_cube_of_the_chosen_sigmoid_output(cube_net):
    rng = np.random.default_rng(30)
    cases = [cube_volume(rng, 16) for _ in range(N_CASES)]
    x = _batch([image for image, _ in cases])
    for class_index, name in enumerate(("bright", "dark")):
        maps = saliency_map(cube_net, x, class_index, "occlusion", mask_size=6, overlap=0.5, activation="sigmoid")
        _check_unit_maps(maps, (N_CASES, 16, 16, 16))
        hits = [_hits_box(maps[n], corners[name]) for n, (_, corners) in enumerate(cases)]
        assert np.mean(hits) >= MIN_HIT_RATE, f"occlusion output {class_index} ({name}): hits {hits}"


@pytest.mark.parametrize("method", METHODS)
def test_2d_maps_peak_in_the_square(square_net, method):
    rng = np.random.default_rng(40)
    cases = [cube_volume(rng, 24, dark=False, ndim=2) for _ in range(N_CASES)]
    maps = saliency_map(square_net, _batch([image for image, _ in cases]), 1, method)
    _check_unit_maps(maps, (N_CASES, 24, 24))
    hits = [_hits_box(maps[n], corners["bright"]) for n, (_, corners) in enumerate(cases)]
    assert np.mean(hits) >= MIN_HIT_RATE, f"{method}: hits {hits}"


def test_raw_maps_are_unnormalised_and_batch_matches_single_images(cube_net):
    rng = np.random.default_rng(50)
    x = _batch([cube_volume(rng, 16)[0] for _ in range(3)])
    for method in METHODS:
        batch = saliency_map(cube_net, x, 0, method, normalize=False, mask_size=6)
        singles = np.concatenate(
            [saliency_map(cube_net, x[n : n + 1], 0, method, normalize=False, mask_size=6) for n in range(3)]
        )
        np.testing.assert_allclose(batch, singles, rtol=1e-4, atol=1e-6)
        assert batch.min() >= 0 and batch.max() > 0
        assert not np.allclose(batch.reshape(3, -1).max(axis=1), 1.0)  # raw values, not rescaled
    probabilities = torch.sigmoid(cube_net(x[:1]))[0, 0].item()
    drop = saliency_map(cube_net, x[:1], 0, "occlusion", normalize=False, mask_size=6, activation="sigmoid")
    assert drop.max() <= probabilities + 1e-6  # a probability cannot drop by more than it is


def test_occlusion_of_a_saturated_probability_warns_and_raw_scores_still_localise(cube_net, caplog):
    rng = np.random.default_rng(55)
    cases = [cube_volume(rng, 16, dark=False) for _ in range(3)]
    for image, corners in cases:
        image[tuple(slice(c, c + CUBE) for c in corners["bright"])] += 3 * CONTRAST  # a very obvious cube
    x = _batch([image for image, _ in cases])
    with torch.no_grad():
        assert torch.all(torch.sigmoid(cube_net(x))[:, 0] == 1.0)  # float32 probability saturated
    with caplog.at_level("WARNING", logger="radtriage.saliency.maps"):
        flat = saliency_map(cube_net, x, 0, "occlusion", mask_size=6, activation="sigmoid")
    assert not flat.any()
    assert "activation=None" in caplog.text
    scores = saliency_map(cube_net, x, 0, "occlusion", mask_size=6, activation=None)
    assert all(_hits_box(scores[n], corners["bright"]) for n, (_, corners) in enumerate(cases))


# ------------------------------------------------------------------- geometry
def _rotation(degrees_z: float, degrees_x: float) -> np.ndarray:
    z, x = np.deg2rad(degrees_z), np.deg2rad(degrees_x)
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return rz @ rx


@pytest.mark.parametrize("seed", [0, 1])
def test_oblique_anisotropic_native_volume_round_trip(cube_net, seed):
    rng = np.random.default_rng(60 + seed)
    spacing = (0.9, 1.25, 1.6)  # (i, j, k) mm
    size = (30, 22, 17)  # (i, j, k) voxels: about 27 mm each way
    box = (5, 4, 3)  # a ~4.5 x 5 x 4.8 mm bright box, in native voxels (i, j, k)
    native_array = rng.normal(0.0, 1.0, size[::-1]).astype(np.float32)
    # The box centre lies within 5 mm of the volume centre, so well inside the 24 mm model grid.
    offset_voxels = np.round(rng.uniform(-5.0, 5.0, 3) / np.array(spacing))
    start = ((np.array(size) - np.array(box)) // 2 + offset_voxels).astype(int)
    native_array[tuple(slice(s, s + b) for s, b in zip(start[::-1], box[::-1], strict=True))] += 3.0
    native = Image(native_array, spacing, (-12.0, 30.5, 7.25), _rotation(25.0, 15.0), {"source": "phantom"})

    grid = GridSpec.isotropic_around(native, 1.0, size=24)
    prepared = prepare_to_grid({"T1": native}, "T1", grid)
    stacked, available = prepared.stack()
    assert available.all() and stacked.shape == (1, 24, 24, 24)

    heatmap = saliency_map(cube_net, torch.from_numpy(stacked)[None], 0, "gradcam")[0]
    on_grid = heatmap_image(heatmap, model_grid_image=prepared.channels["T1"])
    assert on_grid.same_geometry(prepared.channels["T1"])
    np.testing.assert_array_equal(on_grid.array, heatmap)
    assert on_grid.metadata == {}  # a heatmap does not inherit the input's metadata

    native_map = heatmap_image(heatmap, prepared, metadata={"method": "gradcam"})
    assert native_map.same_geometry(native, tol=1e-9)
    assert native_map.array.shape == native.array.shape
    assert native_map.metadata == {"method": "gradcam"}
    assert native_map.array.min() >= 0.0 and native_map.array.max() <= 1.0 + 1e-6

    peak_ijk = _peak(native_map.array)[::-1].astype(float)
    centre_ijk = start + (np.array(box) - 1) / 2.0
    assert np.linalg.norm(peak_ijk - centre_ijk) < 1.5, (peak_ijk, centre_ijk)


def test_heatmap_image_shapes_and_errors(cube_net):
    grid = GridSpec((6, 5, 4), (1.0, 2.0, 3.0), (1.0, 2.0, 3.0))
    native = Image(np.zeros(grid.shape, np.float32), grid.spacing, grid.origin, grid.direction)
    prepared = prepare_to_grid({"A": native}, "A", grid, normalize=None)
    heatmap = np.random.default_rng(0).random(grid.shape).astype(np.float32)
    # A [1, k, j, i] batch of one is accepted; on its own grid the native map is the same map.
    back = heatmap_image(heatmap[None], prepared)
    np.testing.assert_allclose(back.array, heatmap, atol=1e-6)
    assert back.same_geometry(native)
    as_image = heatmap_image(prepared.grid.empty_image().with_array(heatmap), prepared)
    np.testing.assert_allclose(as_image.array, heatmap, atol=1e-6)
    with pytest.raises(ValueError, match="does not match the model grid"):
        heatmap_image(heatmap[:, :, :3], prepared)
    with pytest.raises(ValueError, match="does not match the model grid"):
        heatmap_image(heatmap[:2], model_grid_image=native)
    with pytest.raises(ValueError, match="give prepared or model_grid_image"):
        heatmap_image(heatmap)


def test_slice_heatmap_image_keeps_the_slice_geometry():
    direction = _rotation(30.0, 0.0)
    slice_image = Image(np.zeros((1, 8, 12), np.float32), (0.5, 0.7, 3.0), (4.0, -2.0, 17.5), direction)
    map2d = np.zeros((8, 12), np.float32)
    map2d[5, 9] = 1.0
    out = slice_heatmap_image(map2d, slice_image, metadata={"method": "gradcam"})
    assert out.same_geometry(slice_image)
    assert out.array.shape == (1, 8, 12)
    assert tuple(_peak(out.array)) == (0, 5, 9)
    assert out.metadata == {"method": "gradcam"}
    # A model that read the slice resized to 16 x 24 gives a map that is resized back onto the slice.
    resized = np.zeros((1, 1, 16, 24), np.float32)
    resized[0, 0, 10:12, 18:20] = 1.0
    back = slice_heatmap_image(resized, slice_image)
    assert back.array.shape == (1, 8, 12) and tuple(_peak(back.array)) == (0, 5, 9)
    with pytest.raises(ValueError, match="exactly one slice"):
        slice_heatmap_image(map2d, Image(np.zeros((2, 8, 12))))
    with pytest.raises(ValueError, match=r"\[j, i\]"):
        slice_heatmap_image(np.zeros((2, 8, 12)), slice_image)


# ------------------------------------------------------------ network state
def _state_net() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.BatchNorm3d(4),
        nn.ReLU(inplace=True),
        nn.Conv3d(4, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


@pytest.mark.parametrize("method", METHODS)
def test_network_state_is_left_as_it_was(method):
    net = _state_net()
    net.train()
    net[5].eval()  # a mixed train/eval network
    net[0].weight.requires_grad_(False)
    net[7].weight.grad = torch.full_like(net[7].weight, 7.0)
    modes = [m.training for m in net.modules()]
    flags = [p.requires_grad for p in net.parameters()]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(2, 1, 10, 10, 10)
    x_before = x.clone()
    with torch.no_grad():
        maps = saliency_map(net, x, 2, method, mask_size=4)
        assert not torch.is_grad_enabled()
    assert maps.shape == (2, 10, 10, 10) and np.isfinite(maps).all()
    assert [m.training for m in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == flags
    assert net[2].inplace and net[4].inplace
    assert torch.equal(net[7].weight.grad, torch.full_like(net[7].weight, 7.0))
    assert all(p.grad is None for name, p in net.named_parameters() if name != "7.weight")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics untouched
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())
    assert torch.equal(x, x_before) and not x.requires_grad
    # Even a failing call leaves the network as it was.
    with pytest.raises(ValueError, match="out of range"):
        saliency_map(net, x, 3, method, mask_size=4)
    assert [m.training for m in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())
    # Backward hooks of the caller's own kind still register afterwards.
    net[3].register_backward_hook(lambda *args: None)


def test_monai_densenet_with_inplace_activations():
    from monai.networks.nets import DenseNet

    torch.manual_seed(3)
    net = DenseNet(3, 1, 4, init_features=4, growth_rate=4, block_config=(2, 2), bn_size=2).eval()
    layer = find_target_layer(net)
    assert layer.startswith("features.denseblock2.")
    inplace_before = [getattr(m, "inplace", None) for m in net.modules()]
    x = torch.randn(2, 1, 16, 16, 16)
    for method in ("gradcam", "gradcam++"):
        maps = saliency_map(net, x, 3, method)
        _check_unit_maps(maps, (2, 16, 16, 16))
    assert [getattr(m, "inplace", None) for m in net.modules()] == inplace_before
    named = saliency_map(net, x, 1, "gradcam", target_layer="features.transition1.conv")
    assert named.shape == (2, 16, 16, 16)


# --------------------------------------------------------------------- errors
def test_find_target_layer_and_clear_errors(square_net):
    assert find_target_layer(square_net) == "features.3"
    assert find_target_layer(square_net, spatial_dims=2) == "features.3"
    with pytest.raises(ValueError, match="no Conv3d layer"):
        find_target_layer(square_net, spatial_dims=3)
    dense_only = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    with pytest.raises(ValueError, match="has no Conv2d/Conv3d layer"):
        find_target_layer(dense_only)
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(ValueError, match="pass target_layer"):
        saliency_map(dense_only, x, 0, "gradcam")
    assert saliency_map(dense_only, x, 0, "occlusion", mask_size=2).shape == (1, 8, 8)  # model-agnostic
    with pytest.raises(ValueError, match="unknown saliency method 'lime'"):
        saliency_map(square_net, x, 1, "lime")
    with pytest.raises(ValueError, match=r"no layer named .features\.9.*features\.3"):
        saliency_map(square_net, x, 1, "gradcam", target_layer="features.9")
    square_net.unused = nn.Conv2d(1, 1, 1)
    try:
        with pytest.raises(ValueError, match="'unused' takes no part in the class score"):
            saliency_map(square_net, x, 1, "gradcam", target_layer="unused")
    finally:
        del square_net.unused
    with pytest.raises(ValueError, match="class_index 2 is out of range for a network with 2 outputs"):
        saliency_map(square_net, x, 2, "gradcam")
    with pytest.raises(ValueError, match="out of range"):
        saliency_map(square_net, x, 5, "occlusion")
    with pytest.raises(ValueError, match="non-negative int"):
        saliency_map(square_net, x, -1)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        saliency_map(square_net, torch.randn(8, 8), 1)
    with pytest.raises(ValueError, match="larger than the image"):
        saliency_map(square_net, x, 1, "occlusion", mask_size=9)
    with pytest.raises(ValueError, match="unknown occlusion fill"):
        saliency_map(square_net, x, 1, "occlusion", fill="blur")
    with pytest.raises(ValueError, match="unknown activation"):
        saliency_map(square_net, x, 1, "occlusion", activation="tanh")
    with pytest.raises(ValueError, match="overlap"):
        saliency_map(square_net, x, 1, "occlusion", overlap=1.0)
    assert default_mask_size((24, 64, 200, 2)) == (6, 16, 16, 1)
