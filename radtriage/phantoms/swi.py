"""Seeded SWI phantom with cerebral microbleeds and their mimics, and microbleed insertion into real images.

The default grid (96 x 96 x 48 at 0.5 x 0.5 x 2 mm) is a 48 x 48 x 96 mm patch of a
head (the same head model as :mod:`radtriage.phantoms.brain`), centred over the
temporal lobe so that it holds brain, the lateral skull and the skull base.  A
larger grid shows more of the head.

* Magnitude: tissue signal of a T2*-weighted GRE, microbleeds as dark round foci
  whose *apparent* (blooming) radius is 1.3-1.7 times the true radius, and signal
  loss from intra-voxel dephasing next to air-bone interfaces.
* Phase (optional): the local field of a susceptibility map (veins and microbleeds
  paramagnetic, calcifications and bone diamagnetic, air strongly paramagnetic
  relative to tissue) through the dipole kernel along B0, as unwrapped,
  background-free phase in radians (phase = -2π γ ΔB TE, right-handed).  A
  microbleed and a calcification therefore show opposite phase patterns.
* minIP (optional): minimum intensity projection over a sliding slab along k.

Mimics: ``vessel`` (elongated dark tubes), ``calcification`` (dark dots,
diamagnetic) and ``air_bone`` (air cells in the skull base; present only when the
grid reaches the skull base).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radtriage.image import Image
from radtriage.phantoms import brain, shapes

logger = logging.getLogger(__name__)

GAMMA_HZ_PER_T = 42.577478e6
MIMIC_KINDS: tuple[str, ...] = ("vessel", "calcification", "air_bone")

# Magnitude of a T2*-weighted GRE per tissue label (labelsets.BRAIN_TISSUE_LABELS).
_MAGNITUDE = np.array([0.0, 0.70, 0.04, 0.85, 0.55, 0.70, 0.85, 0.42, 0.08], dtype=np.float32)
# Susceptibility relative to brain tissue, ppm.
_CHI = np.array([9.4, 0.0, -2.0, -0.02, 0.0, -0.03, -0.02, 0.08, 0.4], dtype=np.float32)
_CHI_VEIN, _CHI_BLEED, _CHI_CALC, _CHI_AIR = 0.45, 0.9, -0.7, 9.4


@dataclass(frozen=True)
class Focus:
    """One dark focus with its kind, centre (continuous ijk, LPS and RAS mm) and radii."""

    kind: str
    centre_ijk: tuple[float, float, float]
    centre_lps: tuple[float, float, float]
    centre_ras: tuple[float, float, float]
    radius_mm: float
    apparent_radius_mm: float
    susceptibility_ppm: float = 0.0
    end_points_lps: tuple[tuple[float, float, float], ...] = ()


@dataclass
class SwiCase:
    """An SWI phantom: magnitude (+ optional phase and minIP), brain mask and truth lists."""

    magnitude: Image
    brain_mask: Image
    microbleed_mask: Image
    microbleeds: list[Focus]
    mimics: list[Focus]
    seed: int
    phase: Image | None = None
    minip: Image | None = None
    details: dict[str, float] = field(default_factory=dict)


def _focus(kind: str, grid: Image, centre_lps: np.ndarray, radius: float, apparent: float, chi: float,
           ends: Sequence[np.ndarray] = ()) -> Focus:
    ijk = grid.lps_to_index(centre_lps[None])[0]
    ras = grid.index_to_ras(ijk[None])[0]
    return Focus(kind, tuple(float(v) for v in ijk), tuple(float(v) for v in centre_lps),  # type: ignore[arg-type]
                 tuple(float(v) for v in ras), float(radius), float(apparent), float(chi),  # type: ignore[arg-type]
                 tuple(tuple(float(v) for v in e) for e in ends))  # type: ignore[arg-type]


def _darken(arr: np.ndarray, grid: Image, centre_lps: np.ndarray, apparent_radius: float, depth: float,
            edge_mm: float) -> None:
    """Multiply a round region by ``1 - depth`` (smooth edge) in place; ``arr`` may have components."""
    box = shapes.local_box(grid, centre_lps, apparent_radius + 2 * edge_mm)
    x, y, z = shapes.box_coordinates(grid, box)
    d = np.sqrt((x - centre_lps[0]) ** 2 + (y - centre_lps[1]) ** 2 + (z - centre_lps[2]) ** 2)
    weight = shapes.soft_inside(d - apparent_radius, edge_mm)
    # Smooth, darkest at the centre: a flat core with a cosine-like fall-off.
    profile = np.float32(depth) * weight * (1.0 - 0.15 * np.clip(d / max(apparent_radius, 1e-6), 0, 1) ** 2)
    factor = (1.0 - profile).astype(np.float32)
    if arr.ndim == 4:
        factor = factor[..., None]
    arr[box] = arr[box] * factor


def _sphere_mask(mask: np.ndarray, grid: Image, centre_lps: np.ndarray, radius: float, value: int) -> None:
    box = shapes.local_box(grid, centre_lps, radius + 1.0)
    x, y, z = shapes.box_coordinates(grid, box)
    inside = (x - centre_lps[0]) ** 2 + (y - centre_lps[1]) ** 2 + (z - centre_lps[2]) ** 2 <= radius**2
    mask[box][inside] = value


def dipole_field(chi: np.ndarray, grid: Image, b0_direction_lps: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Local field (ppm of B0) of a susceptibility map (ppm) on ``grid``, via the k-space dipole kernel."""
    b = np.asarray(b0_direction_lps, dtype=float)
    bd = grid.direction.T @ (b / np.linalg.norm(b))  # B0 in (i, j, k) axes
    pads = [(min(8, n // 4), min(8, n // 4)) for n in chi.shape[:1]] + [(min(16, n // 4),) * 2 for n in chi.shape[1:]]
    padded = np.pad(chi, pads, mode="constant")
    nk, nj, ni = padded.shape
    sk, sj, si = grid.spacing[2], grid.spacing[1], grid.spacing[0]
    fk = np.fft.fftfreq(nk, sk)[:, None, None]
    fj = np.fft.fftfreq(nj, sj)[None, :, None]
    fi = np.fft.rfftfreq(ni, si)[None, None, :]
    kb = fi * bd[0] + fj * bd[1] + fk * bd[2]
    k2 = fi**2 + fj**2 + fk**2
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(k2 > 0, 1.0 / 3.0 - kb**2 / k2, 0.0)
    out = np.fft.irfftn(np.fft.rfftn(padded) * kernel, s=padded.shape, axes=(0, 1, 2))
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, chi.shape, strict=True))
    return out[crop].astype(np.float32)


def _dephasing(phase: np.ndarray) -> np.ndarray:
    """Signal kept after intra-voxel dephasing by a phase gradient (product of sincs per axis)."""
    keep = np.ones(phase.shape, dtype=np.float32)
    for axis in range(3):
        grad = np.gradient(phase, axis=axis)  # rad per voxel
        keep *= np.abs(np.sinc(grad / (2 * np.pi))).astype(np.float32)
    return keep


def _split_mimics(n_mimics: int | Mapping[str, int] | None, rng: np.random.Generator) -> dict[str, int]:
    if isinstance(n_mimics, Mapping):
        bad = [k for k in n_mimics if k not in MIMIC_KINDS]
        if bad:
            raise ValueError(f"unknown mimic kinds {bad}; use {', '.join(MIMIC_KINDS)}")
        return {k: int(n_mimics.get(k, 0)) for k in MIMIC_KINDS}
    total = int(rng.integers(2, 9)) if n_mimics is None else int(n_mimics)
    if total < 0:
        raise ValueError(f"n_mimics must be >= 0, got {total}")
    counts = rng.multinomial(total, [0.5, 0.25, 0.25])
    return dict(zip(MIMIC_KINDS, (int(c) for c in counts), strict=True))


def make_swi_case(
    seed: int,
    shape: Sequence[int] = (96, 96, 48),
    spacing: Sequence[float] = (0.5, 0.5, 2.0),
    n_microbleeds: int | None = None,
    n_mimics: int | Mapping[str, int] | None = None,
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
    centre_head_mm: Sequence[float] | None = None,
    with_phase: bool = True,
    with_minip: bool = False,
    minip_slab_mm: float = 8.0,
    noise: float = 0.03,
    field_strength_t: float = 3.0,
    echo_time_ms: float = 20.0,
    b0_direction_lps: Sequence[float] = (0.0, 0.0, 1.0),
) -> SwiCase:
    """A seeded SWI patch with ``n_microbleeds`` microbleeds and ``n_mimics`` mimics (random when ``None``).

    ``n_mimics`` may be a mapping ``{"vessel": 3, "calcification": 1, "air_bone": 2}``.
    ``centre_head_mm`` places the grid centre in the head frame (mm; left, posterior,
    superior from the head centre); by default it lies over one temporal lobe.
    """
    grid = shapes.make_grid(shape, spacing, origin, direction)
    rng_anat, rng_find, rng_noise = (shapes.rng_stream(seed, s) for s in (10, 11, 12))
    anat = brain.draw_head_anatomy(rng_anat)
    side = float(rng_anat.choice([-1.0, 1.0]))
    if centre_head_mm is None:
        centre = np.array([side * rng_anat.uniform(38, 46), rng_anat.uniform(-25, 15), rng_anat.uniform(-22, -14)])
    else:
        centre = np.asarray(centre_head_mm, dtype=float)
    offset = anat.offset - anat.rotation @ centre
    x, y, z = shapes.lps_coordinates(grid)
    u, v, w = shapes.rotate_points(x - offset[0], y - offset[1], z - offset[2], anat.rotation)
    tissue = brain.head_tissue_map(u, v, w, anat)
    base_w = anat.centre[2] - 40.0 + 3.0 * shapes.fourier_field(u, v, w * 0, rng_anat, (40.0, 80.0), 4)
    intracranial = np.isin(tissue, (3, 4, 5, 6, 7, 8))
    skull_base = intracranial & (w < base_w)
    tissue[skull_base] = 2
    brain_mask = intracranial & ~skull_base
    parenchyma = np.isin(tissue, (4, 5, 7)) & brain_mask

    grid_centre = grid.index_to_lps(np.array([[(n - 1) / 2 for n in grid.size]]))[0]

    def to_lps(p_head: np.ndarray) -> np.ndarray:
        return anat.rotation @ p_head + offset + grid_centre

    counts = _split_mimics(n_mimics, rng_find)
    n_mb = (int(rng_find.choice([0, *range(1, 11)], p=[0.2] + [0.08] * 10)) if n_microbleeds is None
            else int(n_microbleeds))
    if n_mb < 0:
        raise ValueError(f"n_microbleeds must be >= 0, got {n_mb}")

    mag = _MAGNITUDE[tissue].copy()
    chi = _CHI[tissue].copy()
    chi[tissue == 0] = 0.0  # air outside the head: no signal, and its field is not modelled
    air = np.zeros(tissue.shape, dtype=bool)
    mimics: list[Focus] = []

    # Air cells in the skull base (air-bone interfaces).
    in_grid = _inside_grid(grid)
    for _ in range(counts["air_bone"]):
        placed = False
        for _attempt in range(30):
            r = float(rng_find.uniform(3.0, 7.0))
            p = np.array([centre[0] + rng_find.uniform(-18, 18), centre[1] + rng_find.uniform(-18, 18),
                          anat.centre[2] - 40.0 - rng_find.uniform(r + 1.0, r + 8.0)])
            lps = to_lps(p)
            if not in_grid(lps):
                continue
            cell = shapes.ellipsoid_radius(u, v, w, p, (r, r * 1.3, r * 0.8)) < 1
            cell &= skull_base
            if cell.sum() < 3:
                continue
            air |= cell
            mimics.append(_focus("air_bone", grid, lps, r, r, _CHI_AIR))
            placed = True
            break
        if not placed:
            logger.info("SWI phantom: the grid does not reach the skull base; fewer air-bone mimics placed")
    mag[air] = 0.0
    chi[air] = _CHI_AIR

    # Veins: tubes of two or three straight segments inside the brain.
    dist_brain = ndimage.distance_transform_edt(brain_mask, sampling=grid.spacing[::-1])
    candidates = np.argwhere(parenchyma & (dist_brain > 3.0))
    for _ in range(counts["vessel"]):
        if not len(candidates):
            break
        start = _voxel_lps(grid, candidates[rng_find.integers(len(candidates))])
        radius = float(rng_find.uniform(0.4, 1.1))
        d = rng_find.standard_normal(3)
        d /= np.linalg.norm(d)
        pts = [start]
        for _seg in range(int(rng_find.integers(2, 4))):
            d = d + rng_find.normal(0, 0.35, 3)
            d /= np.linalg.norm(d)
            pts.append(pts[-1] + d * rng_find.uniform(8.0, 20.0))
        for p0, p1 in itertools.pairwise(pts):
            mid = (p0 + p1) / 2
            box = shapes.local_box(grid, mid, float(np.linalg.norm(p1 - p0)) / 2 + radius + 1.0)
            bx, by, bz = shapes.box_coordinates(grid, box)
            dist = shapes.segment_distance(bx, by, bz, p0, p1)
            wgt = shapes.soft_inside(dist - radius, 0.5 * min(grid.spacing)) * brain_mask[box]
            mag[box] = mag[box] * (1.0 - 0.75 * wgt)
            chi[box] = chi[box] + _CHI_VEIN * wgt
        mimics.append(_focus("vessel", grid, np.mean(pts, axis=0), radius, radius, _CHI_VEIN, pts))

    # Microbleeds and calcifications: round foci away from the brain edge and from each other.
    bleeds: list[Focus] = []
    taken: list[tuple[np.ndarray, float]] = [(np.asarray(f.centre_lps), f.apparent_radius_mm) for f in mimics
                                             if f.kind == "air_bone"]
    mb_mask = np.zeros(tissue.shape, dtype=np.uint8)
    edge = 0.5 * float(np.mean(grid.spacing[:2]))
    for kind, n in (("microbleed", n_mb), ("calcification", counts["calcification"])):
        for _ in range(n):
            if kind == "microbleed":
                true_r = float(rng_find.uniform(0.8, 3.0))
                app_r = float(min(true_r * rng_find.uniform(1.3, 1.7), 5.0))
                depth, chi_v = float(rng_find.uniform(0.8, 0.95)), _CHI_BLEED
            else:
                true_r = float(rng_find.uniform(0.6, 2.0))
                app_r = float(true_r * rng_find.uniform(1.0, 1.25))
                depth, chi_v = float(rng_find.uniform(0.6, 0.85)), _CHI_CALC
            ok = candidates[dist_brain[tuple(candidates.T)] > app_r + 1.5] if len(candidates) else candidates
            lps = None
            for _attempt in range(50):
                if not len(ok):
                    break
                trial = _voxel_lps(grid, ok[rng_find.integers(len(ok))]) + rng_find.uniform(-0.2, 0.2, 3)
                if all(np.linalg.norm(trial - c) > app_r + r + 2.0 for c, r in taken):
                    lps = trial
                    break
            if lps is None:
                logger.info("SWI phantom: no room left for another %s", kind)
                continue
            taken.append((lps, app_r))
            _darken(mag, grid, lps, app_r, depth, edge)
            box = shapes.local_box(grid, lps, true_r + 1.0)
            bx, by, bz = shapes.box_coordinates(grid, box)
            dist = np.sqrt((bx - lps[0]) ** 2 + (by - lps[1]) ** 2 + (bz - lps[2]) ** 2)
            chi[box] = chi[box] + chi_v * shapes.soft_inside(dist - true_r, edge)
            focus = _focus(kind, grid, lps, true_r, app_r, chi_v)
            if kind == "microbleed":
                _sphere_mask(mb_mask, grid, lps, true_r, len(bleeds) + 1)
                bleeds.append(focus)
            else:
                mimics.append(focus)

    to_rad = -2 * np.pi * GAMMA_HZ_PER_T * field_strength_t * echo_time_ms * 1e-3 * 1e-6
    phase = dipole_field(chi, grid, b0_direction_lps) * np.float32(to_rad)
    if air.any() or skull_base.any():
        chi_static = np.where(air, _CHI_AIR, 0.0) + np.where(skull_base & ~air, _CHI[2], 0.0)
        phase_static = dipole_field(chi_static.astype(np.float32), grid, b0_direction_lps) * np.float32(to_rad)
        mag *= _dephasing(phase_static)
    mag = shapes.point_spread(mag, (0.35, 0.4, 0.4))
    gain = float(rng_noise.uniform(600.0, 1400.0))
    mag = shapes.rician(mag * np.float32(gain), noise * gain, rng_noise) if noise > 0 else mag * np.float32(gain)

    meta = {"phantom": "swi", "seed": int(seed), "modality": "MR"}
    magnitude = grid.with_array(mag.astype(np.float32), **meta, contrast="SWI",
                                description="SWI/T2*-weighted GRE magnitude (phantom)",
                                field_strength_t=field_strength_t, echo_time_ms=echo_time_ms)
    phase_img = (grid.with_array(phase.astype(np.float32), **meta, contrast="SWI_phase", units="rad",
                                 description="unwrapped background-free phase (phantom)") if with_phase else None)
    minip_img = None
    if with_minip:
        n_slab = max(1, round(minip_slab_mm / grid.spacing[2]))
        minip = ndimage.minimum_filter1d(mag, n_slab, axis=0, mode="nearest")
        minip_img = grid.with_array(minip.astype(np.float32), **meta, contrast="SWI_minIP",
                                    description=f"minimum intensity projection, {n_slab}-slice slab (phantom)")
    return SwiCase(
        magnitude=magnitude,
        brain_mask=grid.with_array(brain_mask.astype(np.uint8), **meta, description="brain mask"),
        microbleed_mask=grid.with_array(mb_mask, **meta, description="true microbleed extents (1..n in list order)"),
        microbleeds=bleeds,
        mimics=mimics,
        seed=int(seed),
        phase=phase_img,
        minip=minip_img,
        details={"gain": gain},
    )


def _voxel_lps(grid: Image, kji: np.ndarray) -> np.ndarray:
    return grid.index_to_lps(np.asarray(kji, dtype=float)[::-1][None])[0]


def _inside_grid(grid: Image) -> Callable[[np.ndarray], bool]:
    size = np.asarray(grid.size, dtype=float)

    def inside(lps: np.ndarray) -> bool:
        ijk = grid.lps_to_index(np.asarray(lps)[None])[0]
        return bool(np.all(ijk >= 0) and np.all(ijk <= size - 1))

    return inside


def insert_microbleeds(
    image: Image,
    centres_lps: Sequence[Sequence[float]] | np.ndarray,
    radii_mm: Sequence[float] | float,
    seed: int,
    bloom: tuple[float, float] = (1.3, 1.7),
    depth: tuple[float, float] = (0.75, 0.95),
) -> tuple[Image, list[Focus]]:
    """Add dark round microbleeds to a copy of a real image (e.g. an SWI or T2* magnitude).

    ``radii_mm`` are the true radii; each focus is drawn with an apparent (blooming)
    radius of ``bloom`` times that and darkened by a factor ``1 - depth`` at its
    centre, with a soft edge of half a voxel so thick slices show partial volume.
    Returns the new float32 image and the truth list (ijk, LPS and RAS centres).
    """
    centres = np.asarray(centres_lps, dtype=float).reshape(-1, 3)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=float), (len(centres),))
    if np.any(radii <= 0):
        raise ValueError(f"microbleed radii must be positive, got {radii.tolist()}")
    inside = _inside_grid(image)
    for c in centres:
        if not inside(c):
            raise ValueError(f"microbleed centre {c.tolist()} (LPS mm) lies outside the image grid")
    rng = shapes.rng_stream(seed, 13)
    arr = np.array(image.array, dtype=np.float32, copy=True)
    edge = 0.5 * float(np.mean(image.spacing))
    truth = []
    for c, r in zip(centres, radii, strict=True):
        app = float(r * rng.uniform(*bloom))
        _darken(arr, image, c, app, float(rng.uniform(*depth)), edge)
        truth.append(_focus("microbleed", image, c, float(r), app, _CHI_BLEED))
    out = image.with_array(arr, synthetic_microbleeds=len(truth))
    return out, truth
