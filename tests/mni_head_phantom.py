"""Test helper: whole-head SWI-like phantoms on real anatomy (the MNI template's tissue maps in a random pose).

Intensities (SWI magnitude-like, 0-1) on :func:`radtriage.anatomy.head.head_layers`: CSF 1.0, grey matter 0.8,
white matter 0.6, skull 0.05, scalp 0.7, air 0; microbleeds are dark spheres (0.1) at given MNI points.
The pose maps MNI LPS points ``p`` to the phantom's LPS points ``A p`` (rotation about the brain's centre, shift,
per-axis scale); noise is Gaussian, bias a smooth multiplicative gradient. For tests of the registration to MNI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radtriage.anatomy.head import head_layers
from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec
from radtriage.preprocess.register import apply_matrix
from radtriage.preprocess.resample import resample


@dataclass(frozen=True)
class HeadPhantom:
    """The phantom, its pose (4x4, MNI LPS -> phantom LPS) and the microbleed centres in phantom LPS."""

    image: Image
    pose: np.ndarray
    bleeds_lps: np.ndarray


def random_pose(rng: np.random.Generator, max_deg: float = 15.0, max_shift_mm: float = 20.0,
                max_scale: float = 0.1, centre: Sequence[float] = (0.0, 18.0, 10.0)) -> np.ndarray:
    """A 4x4 affine: rotation up to ``max_deg`` about a random axis through ``centre``, shift, per-axis scale."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(-max_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    linear = rotation @ np.diag(1.0 + rng.uniform(-max_scale, max_scale, 3))
    c = np.asarray(centre, dtype=float)
    m = np.eye(4)
    m[:3, :3] = linear
    m[:3, 3] = c - linear @ c + rng.uniform(-max_shift_mm, max_shift_mm, 3)
    return m


def swi_like_mni_head(bleeds_mni_lps: np.ndarray, radius_mm: float = 2.0) -> Image:
    """The SWI-like head on the template's 1 mm grid with dark spheres at ``bleeds_mni_lps`` (MNI LPS mm)."""
    layers = head_layers()
    head = layers.image(gm=0.8, wm=0.6, csf=1.0, skull=0.05, scalp=0.7)
    arr = np.array(head.array, dtype=np.float32)
    half = int(np.ceil(radius_mm)) + 2
    for p in np.asarray(bleeds_mni_lps, dtype=float).reshape(-1, 3):
        centre = head.lps_to_index(p[None])[0][::-1]  # (k, j, i) on the 1 mm grid
        lo = np.maximum(np.floor(centre).astype(int) - half, 0)
        hi = np.minimum(lo + 2 * half + 1, arr.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        kji = np.indices(hi - lo, dtype=np.float32) + lo[:, None, None, None]
        d = np.sqrt(((kji - centre[:, None, None, None]) ** 2).sum(axis=0))
        arr[box] *= 1.0 - 0.9 * np.clip(radius_mm + 0.5 - d, 0.0, 1.0)
    return head.with_array(arr)


def make_head_phantom(seed: int, bleeds_mni_lps: np.ndarray, *, spacing: Sequence[float] = (1.2, 1.2, 2.0),
                      max_deg: float = 15.0, max_shift_mm: float = 20.0, max_scale: float = 0.1,
                      noise: float = 0.03, bias: float = 0.2) -> HeadPhantom:
    """A seeded phantom in a random pose on an axial grid of ``spacing`` that holds the whole head."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    pose = random_pose(rng, max_deg, max_shift_mm, max_scale)
    mni = swi_like_mni_head(bleeds_mni_lps)
    extent = np.array([200.0, 240.0, 200.0])
    centre = apply_matrix(pose, np.array([[0.0, 18.0, 10.0]]))[0]
    size = np.ceil(extent / np.asarray(spacing)).astype(int)
    origin = centre - (size - 1) / 2.0 * np.asarray(spacing)
    grid = GridSpec(tuple(size), tuple(spacing), tuple(origin))
    inverse = np.linalg.inv(pose)  # phantom point -> MNI point (what the resampler needs)
    tx = sitk.AffineTransform(3)
    tx.SetMatrix(inverse[:3, :3].ravel().tolist())
    tx.SetTranslation(inverse[:3, 3].tolist())
    image = resample(mni, grid, tx)
    arr = np.asarray(image.array, dtype=np.float32)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    kk, jj, ii = np.indices(arr.shape, dtype=np.float32)
    rel = (np.stack([ii, jj, kk], axis=-1) / (np.asarray(arr.shape[::-1], dtype=np.float32) - 1) - 0.5) @ direction
    arr = arr * (1.0 + bias * rel.astype(np.float32)) + rng.normal(0.0, noise, arr.shape).astype(np.float32)
    bleeds = apply_matrix(pose, np.asarray(bleeds_mni_lps, dtype=float).reshape(-1, 3))
    return HeadPhantom(image.with_array(np.clip(arr, 0.0, None) * 1000.0), pose, bleeds)
