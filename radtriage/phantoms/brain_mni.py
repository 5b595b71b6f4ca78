"""Semi-synthetic multi-contrast brain MR on real anatomy: the MNI ICBM152 template with real infarct shapes.

Anatomy comes from the MNI ICBM152 2009a grey- and white-matter probability maps that nilearn ships
(:mod:`radtriage.anatomy.mni`); CSF is the rest of the intracranial space; deep grey matter is the template's
grey matter inside the basal-ganglia / thalamus region; skull and scalp are shells drawn outside it. Every tissue
is a probability, so partial volume is real at any grid. The head is placed in the grid with a random pose
(rotation, shift, scale), then each contrast is rendered from per-class intensities (those of
:mod:`radtriage.phantoms.brain`) with **domain randomisation**: per-case jitter of every class intensity and of
the contrast gain, DWI b-value and ADC scale, coil bias field, Rician noise level, and an effective resolution
(in-plane blur, and thick slices along a random axis in part of the cases), so a model does not learn one
synthetic look.

Findings (combine with ``+``):

* ``infarct``: an acute ischaemic lesion whose shape is a real DWI lesion mask of the SOOP study in MNI space
  (``../shared/data/SOOP``, BSD-2; mirrored left-right at random) when that folder is present, else a lobulated
  lesion in a cortical or deep territory: DWI bright, ADC low, T2/FLAIR mildly bright.
* ``haemorrhage``: deep (basal ganglia / thalamus), lobar or cerebellar haematoma with deoxy- and
  methaemoglobin compartments, an oedema rim and blooming on SWI.
* ``mass_effect``: necrotic tumour with an enhancing rim, vasogenic oedema in white matter and a displacement
  field that compresses the hemisphere and shifts the midline.
* ``chronic_infarct`` (abnormal, not acute): a gliotic cavity of the same shapes: T2 bright, FLAIR mixed,
  ADC high, DWI not bright — the mimic that makes a model use DWI/ADC for the acute call.

Age: each case draws an age (20-90); older brains show atrophy (tissue shrunk inside the same skull) and white
matter hyperintensities (periventricular and punctate: T2/FLAIR bright, DWI not restricted), which are normal for
age and never labelled abnormal.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from radtriage.image import Image
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.phantoms import brain as analytic
from radtriage.phantoms import shapes
from radtriage.phantoms.brain import BrainCase

logger = logging.getLogger(__name__)

FINDING_TYPES: tuple[str, ...] = ("normal", "infarct", "haemorrhage", "mass_effect", "chronic_infarct")
SOOP_ENV = "RADTRIAGE_SOOP_DIR"
"""Folder of SOOP lesion masks (``bwsrsub-*_lesion.nii.gz``); default ``<repo>/../shared/data/SOOP/NIfTI``."""

ACQUISITION_GRID: dict[str, tuple[float, ...]] = {"shape": (80, 96, 64), "spacing": (2.4, 2.4, 3.0)}
"""A typical axial brain acquisition grid (i, j, k): 2.4 x 2.4 x 3 mm, 192 x 230 x 192 mm — what exported cases,
the demo and the evaluation draw on (not the model grid)."""
_PAD_MM = 16
_B0_COL = analytic.RENDER_PROPS.index("B0")
_ADC_COL = analytic.RENDER_PROPS.index("ADC")
# Render classes beyond the analytic phantom's: white matter hyperintensity and chronic infarct.
WMH, CHRONIC = len(analytic.RENDER_TABLE), len(analytic.RENDER_TABLE) + 1
_TABLE = np.vstack([analytic.RENDER_TABLE, np.array([
    [0.58, 0.59, 0.68, 0.70, 0.80, 1000.0, 0.66, 0.66],  # WMH (gliosis / small vessel disease)
    [0.22, 0.23, 0.95, 0.35, 0.92, 2100.0, 0.80, 0.95],  # chronic infarct (cavity with gliotic margin)
], dtype=np.float32)])
# Deep grey nuclei in MNI RAS mm: (centre, semi-axes), mirrored for the left.
_DEEP_NUCLEI = (((11.0, -18.0, 7.0), (8.0, 12.0, 8.0)),  # thalamus
                ((22.0, 2.0, 0.0), (8.0, 15.0, 9.0)),  # lentiform nucleus
                ((13.0, 12.0, 10.0), (5.5, 10.0, 9.0)))  # caudate head
_BRAIN_CENTRE_RAS = np.array([0.0, -18.0, 12.0])


def _ras_to_lps(p: Sequence[float]) -> np.ndarray:
    return np.array([-p[0], -p[1], p[2]], dtype=float)


@dataclass(frozen=True)
class _Points:
    """Trilinear interpolation weights of a set of points on the atlas grid (computed once, used per map)."""

    flat: np.ndarray  # (8, N) flat voxel indices of the cell corners
    weight: np.ndarray  # (8, N) corner weights (0 outside the grid)
    inside: np.ndarray  # (N,) bool


@dataclass(frozen=True)
class _Atlas:
    """Template-space maps (padded 1 mm grid of the MNI template), sampled by LPS point."""

    lps_to_index: np.ndarray
    maps: dict[str, np.ndarray]
    centres: dict[str, np.ndarray]
    """LPS points (N, 3) where lesions of each kind are centred (deep, infratentorial, lobar, hemisphere_wm)."""

    def points(self, lps: np.ndarray) -> _Points:
        """Interpolation weights of ``(N, 3)`` LPS points."""
        shape = next(iter(self.maps.values())).shape
        ijk = (lps @ self.lps_to_index[:3, :3].T + self.lps_to_index[:3, 3]).astype(np.float32)
        kji = ijk[:, ::-1]
        hi = np.array(shape, dtype=np.float32) - 1.001
        inside = np.all((kji >= 0) & (kji <= hi), axis=1)
        kji = np.clip(kji, 0.0, hi)
        base = np.floor(kji).astype(np.int64)
        t = kji - base
        w = (1.0 - t, t)
        flat0 = base[:, 0] * (shape[1] * shape[2]) + base[:, 1] * shape[2] + base[:, 2]
        steps = (shape[1] * shape[2], shape[2], 1)
        flat, weight = [], []
        for ck, cj, ci in np.ndindex(2, 2, 2):
            flat.append(flat0 + ck * steps[0] + cj * steps[1] + ci * steps[2])
            weight.append(w[ck][:, 0] * w[cj][:, 1] * w[ci][:, 2] * inside)
        return _Points(np.stack(flat), np.stack(weight).astype(np.float32), inside)

    def sample(self, name: str, pts: _Points) -> np.ndarray:
        """Values of map ``name`` at the points (outside the template: 0, or far for distances)."""
        values = (self.maps[name].ravel()[pts.flat] * pts.weight).sum(axis=0)
        if name == "outside_mm":
            values = np.where(pts.inside, values, 1000.0)
        return values.astype(np.float32)


def _ras_grid(ijk_to_lps: np.ndarray, shape_kji: tuple[int, ...]) -> np.ndarray:
    """RAS mm of every voxel (``[k, j, i, 3]`` float32) of an axis-aligned grid."""
    axes = [np.arange(n, dtype=np.float32) for n in shape_kji]
    d = np.diag(ijk_to_lps[:3, :3]).astype(np.float32) * np.array([-1.0, -1.0, 1.0], dtype=np.float32)
    o = ijk_to_lps[:3, 3].astype(np.float32) * np.array([-1.0, -1.0, 1.0], dtype=np.float32)
    ras = np.empty((*shape_kji, 3), dtype=np.float32)
    ras[..., 0] = (o[0] + d[0] * axes[2])[None, None, :]
    ras[..., 1] = (o[1] + d[1] * axes[1])[None, :, None]
    ras[..., 2] = (o[2] + d[2] * axes[0])[:, None, None]
    return ras


def _edt(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (voxels) of every ``mask`` voxel to the nearest voxel outside it (0 outside),
    as ``scipy.ndimage.distance_transform_edt`` gives, with ITK's faster Maurer transform."""
    import SimpleITK as sitk

    outside = sitk.GetImageFromArray((~np.asarray(mask, dtype=bool)).astype(np.uint8))
    distance = sitk.SignedMaurerDistanceMap(outside, insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=False, backgroundValue=0)
    return np.maximum(sitk.GetArrayFromImage(distance), 0.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _atlas() -> _Atlas:
    from radtriage.anatomy.mni import load_template

    t = load_template()
    pad = _PAD_MM
    gm = np.pad(t.gm.array, pad)
    wm = np.pad(t.wm.array, pad)
    tissue = gm + wm
    intracranial = ndimage.binary_fill_holes(ndimage.binary_closing(tissue > 0.2, iterations=4))
    outside = _edt(~intracranial)
    csf = np.where(intracranial, np.clip(1.0 - tissue, 0.0, 1.0), 0.0).astype(np.float32)
    m = t.gm.ijk_to_lps.copy()
    m[:3, 3] = m[:3, 3] - m[:3, :3] @ np.full(3, pad)
    lps_to_index = np.linalg.inv(m)
    ras = _ras_grid(m, gm.shape)
    region = np.zeros(gm.shape, dtype=np.float32)
    for centre, axes in _DEEP_NUCLEI:
        for side in (-1.0, 1.0):
            c = np.array([side * centre[0], centre[1], centre[2]], dtype=np.float32)
            r = np.sqrt((((ras - c) / np.asarray(axes, dtype=np.float32)) ** 2).sum(axis=-1))
            region = np.maximum(region, np.clip(1.4 - r, 0.0, 1.0))
    deep = (gm * region).astype(np.float32)
    cerebellum = ((ras[..., 2] < -18) & (ras[..., 1] < -40) & (tissue > 0.5)).astype(np.float32)
    maps = {"gm": (gm - deep).astype(np.float32), "wm": wm.astype(np.float32), "deep": deep, "csf": csf,
            "outside_mm": outside, "cerebellum": cerebellum}
    central = (np.abs(ras[..., 0]) < 30) & (np.abs(ras[..., 1] + 10) < 45) & (ras[..., 2] > -5)
    ventricles = csf * central * (_edt(intracranial) > 12)
    maps["ventricles"] = ventricles.astype(np.float32)
    near = np.clip(1.0 - _edt(ventricles < 0.5) / 8.0, 0.0, 1.0)
    maps["periventricular"] = (near * wm).astype(np.float32)
    ras_points = ras[tissue > 0.9]
    lps_points = ras_points * np.array([-1.0, -1.0, 1.0], dtype=np.float32)
    deep_v, cer_v, wm_v = deep[tissue > 0.9], cerebellum[tissue > 0.9], wm[tissue > 0.9]
    centres = {
        "deep": lps_points[deep_v > 0.3],
        "infratentorial": lps_points[cer_v > 0.5],
        "hemisphere_wm": lps_points[(wm_v > 0.8) & (ras_points[:, 2] > -10) & (np.abs(ras_points[:, 0]) > 18)],
        "lobar": lps_points[(deep_v < 0.05) & (ras_points[:, 2] > -15) & (cer_v < 0.5)],
    }
    return _Atlas(lps_to_index, maps, {k: v[::7].copy() for k, v in centres.items()})


# ----------------------------------------------------------------- SOOP lesion shapes
def soop_folder() -> Path | None:
    """The folder of SOOP lesion masks, or None when it is not on this machine."""
    env = os.environ.get(SOOP_ENV)
    folder = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared/data/SOOP/NIfTI"
    return folder if folder.is_dir() and any(folder.glob("bwsrsub-*_lesion.nii.gz")) else None


@functools.lru_cache(maxsize=1)
def soop_masks() -> tuple[Path, ...]:
    """The SOOP lesion mask files (empty when the folder is absent)."""
    folder = soop_folder()
    return tuple(sorted(folder.glob("bwsrsub-*_lesion.nii.gz"))) if folder else ()


@functools.lru_cache(maxsize=64)
def _soop_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    img = Image.from_sitk(sitk.ReadImage(str(path)))
    return (img.array > 0).astype(np.float32), np.linalg.inv(img.ijk_to_lps)


def _sample_soop(path: Path, points: np.ndarray) -> np.ndarray:
    arr, to_index = _soop_mask(path)
    idx = points @ to_index[:3, :3].T + to_index[:3, 3]
    return ndimage.map_coordinates(arr, idx[:, ::-1].T, order=1, mode="constant", cval=0.0,
                                   prefilter=False).astype(np.float32)


# ----------------------------------------------------------------- findings
def parse_findings(finding: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise a finding spec; the analytic phantom's names plus ``chronic_infarct``."""
    parts = finding.replace(",", "+").split("+") if isinstance(finding, str) else list(finding)
    chronic = any(str(p).strip().lower() in ("chronic_infarct", "chronic") for p in parts)
    rest = [p for p in parts if str(p).strip().lower() not in ("chronic_infarct", "chronic")]
    found = set(analytic.parse_findings(rest)) if rest else set()
    if chronic:
        found.add("chronic_infarct")
        found.discard("normal")
    return tuple(f for f in FINDING_TYPES if f in found) or ("normal",)


def case_labels(findings: Sequence[str]) -> dict[str, int]:
    """Case labels of :data:`BRAIN_FINDINGS`: a chronic infarct is abnormal but not an acute finding."""
    labels = analytic.case_labels([f for f in findings if f != "chronic_infarct"])
    labels["abnormal"] = int(labels["abnormal"] or "chronic_infarct" in findings)
    return {k: labels[k] for k in BRAIN_FINDINGS}


@dataclass
class _Pose:
    rotation: np.ndarray
    scale: np.ndarray
    shift: np.ndarray

    def to_template(self, x: np.ndarray) -> np.ndarray:
        """Grid LPS points -> template LPS points (the head's brain centre sits at the grid's LPS origin)."""
        centre = _ras_to_lps(_BRAIN_CENTRE_RAS)
        return ((x - self.shift) @ self.rotation) / self.scale + centre

    def to_grid(self, p: np.ndarray) -> np.ndarray:
        centre = _ras_to_lps(_BRAIN_CENTRE_RAS)
        return ((np.atleast_2d(p) - centre) * self.scale) @ self.rotation.T + self.shift


def _draw_pose(rng: np.random.Generator) -> _Pose:
    rot = shapes.rotation_matrix(rng.uniform(-12, 12), rng.uniform(-12, 12), rng.uniform(-8, 8))
    scale = rng.uniform(0.9, 1.08) * rng.uniform(0.97, 1.03, size=3)
    return _Pose(rot, scale, rng.uniform(-8.0, 8.0, size=3))


def _pick_centre(rng: np.random.Generator, where: str) -> np.ndarray:
    """A random template LPS point of parenchyma of one kind (``deep``, ``infratentorial``, ``lobar``,
    ``hemisphere_wm``)."""
    choice = _atlas().centres[where]
    return choice[int(rng.integers(len(choice)))].astype(float)


def _blob(p: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator, lobes: int = 1
          ) -> np.ndarray:
    """Soft (0-1) lobulated blob of about ``radius`` mm around ``centre`` (template LPS)."""
    out = np.zeros(len(p), dtype=np.float32)
    for _ in range(lobes):
        c = centre + rng.normal(0.0, radius * 0.4, size=3) * (lobes > 1)
        axes = radius * rng.uniform(0.6, 1.2, size=3)
        edge = shapes.fourier_field(p[:, 0], p[:, 1], p[:, 2], rng, (6.0, 20.0), 8)
        r = np.sqrt((((p - c) / axes) ** 2).sum(axis=1)) * (1.0 + 0.15 * edge)
        out = np.maximum(out, np.clip((1.0 - r) * radius / 1.5 + 0.5, 0.0, 1.0))
    return out


def _infarct_shape(rng: np.random.Generator, p: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Soft mask (0-1) of an infarct-shaped lesion at template points ``p``."""
    masks = soop_masks()
    flip = bool(rng.random() < 0.5)
    q = p * np.array([-1.0, 1.0, 1.0]) if flip else p
    if masks:
        path = masks[int(rng.integers(len(masks)))]
        return _sample_soop(path, q), {"shape": f"SOOP {path.name.split('_')[0]}", "mirrored": flip}
    where = str(rng.choice(["lobar", "lobar", "deep"]))
    centre = _pick_centre(rng, where)
    radius = float(rng.uniform(4.0, 22.0) if where == "lobar" else rng.uniform(3.0, 9.0))
    return _blob(q, centre, radius, rng, lobes=int(rng.integers(1, 4))), {"shape": f"synthetic {where}",
                                                                         "mirrored": flip}


@dataclass
class _Mass:
    centre: np.ndarray
    radius: float
    rim: float
    oedema: float
    shift: float
    side: float


def _warp(p: np.ndarray, mass: _Mass | None) -> np.ndarray:
    """Deformed template points -> undeformed anatomy points (radial push plus subfalcine shift)."""
    if mass is None:
        return p
    d = p - mass.centre
    r = np.linalg.norm(d, axis=1) + 1e-6
    r0 = 0.35 * mass.radius
    rho = np.cbrt(np.maximum(r**3 - mass.radius**3 + r0**3, 0.0))
    inner = np.clip(1.0 - (r / 90.0) ** 2, 0.0, 1.0)  # the push fades towards the skull
    f = 1.0 - inner * (1.0 - rho / r)
    out = mass.centre + d * f[:, None]
    gauss = np.exp(-((p[:, 0] / 45.0) ** 2 + ((p[:, 1] - mass.centre[1]) / 40.0) ** 2
                     + ((p[:, 2] - mass.centre[2]) / 32.0) ** 2))
    out[:, 0] = out[:, 0] + mass.side * mass.shift * gauss
    return out


def _midline_shift(mass: _Mass) -> float:
    """Displacement (mm) of the midline at the mass's level."""
    q = np.linspace(-45.0, 45.0, 1801)
    p = np.stack([q, np.full_like(q, mass.centre[1]), np.full_like(q, mass.centre[2])], axis=1)
    a = _warp(p, mass)[:, 0]
    order = np.argsort(a)
    return float(abs(np.interp(0.0, a[order], q[order])))


# ----------------------------------------------------------------- rendering
def _render(frac: np.ndarray, contrast: str, rng: np.random.Generator, shape_kji: tuple[int, int, int],
            x: np.ndarray, bloom: np.ndarray | None) -> np.ndarray:
    """One contrast from class fractions ``frac`` (N, classes) with per-case randomised appearance."""
    jitter = rng.lognormal(0.0, 0.08, size=len(_TABLE)).astype(np.float32)
    if contrast in ("DWI", "ADC"):
        adc = _TABLE[:, _ADC_COL] * rng.uniform(0.93, 1.07) * rng.lognormal(0.0, 0.04, size=len(_TABLE))
        if contrast == "ADC":
            clean = frac @ adc.astype(np.float32)
        else:
            b = float(rng.uniform(800.0, 1200.0))
            clean = 2.0 * (frac @ (_TABLE[:, _B0_COL] * jitter * np.exp(-b * 1e-6 * adc)).astype(np.float32))
    else:
        col = analytic.RENDER_PROPS.index("PD" if contrast == "other" else contrast)
        clean = frac @ (_TABLE[:, col] * jitter)
    vol = clean.reshape(shape_kji).astype(np.float32)
    sigma = np.full(3, rng.uniform(0.3, 0.9))
    if rng.random() < 0.4:
        sigma[int(rng.integers(3))] = rng.uniform(1.0, 1.8)  # thick slices along one axis
    vol = ndimage.gaussian_filter(vol, sigma)
    if contrast == "SWI" and bloom is not None:
        vol = vol * (1.0 - 0.9 * np.clip(bloom.reshape(shape_kji), 0.0, 1.0)) ** 2
    noise = float(rng.uniform(0.01, 0.05))
    if contrast == "ADC":
        out = vol + rng.normal(0.0, noise * 2000.0, size=vol.shape).astype(np.float32)
        return np.maximum(out, 0.0).astype(np.float32)
    gain = float(rng.uniform(600.0, 1500.0))
    xs = [c.reshape(shape_kji) for c in x.T]
    field_ = shapes.bias_field(xs[0], xs[1], xs[2], rng, strength=float(rng.uniform(0.0, 0.3)))
    return shapes.rician(vol * field_ * np.float32(gain), noise * gain, rng)


def make_mni_brain_case(
    seed: int,
    finding: str | Iterable[str] = "normal",
    shape: Sequence[int] = (64, 64, 64),
    spacing: Sequence[float] = (3.0, 3.0, 3.0),
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
    contrasts: Sequence[str] | None = None,
    age: float | None = None,
) -> BrainCase:
    """A seeded brain MR case on real anatomy (see the module docstring) on an ``(i, j, k)`` grid.

    The grid is centred on LPS (0, 0, 0) by default, where the head's brain centre is placed (then moved by the
    random pose). ``age`` fixes the age (years) instead of drawing it.
    """
    findings = parse_findings(finding)
    names = analytic.contrast_names(contrasts)
    grid = shapes.make_grid(shape, spacing, origin, direction)
    shape_kji = grid.array.shape
    x = np.stack(shapes.lps_coordinates(grid), axis=-1).reshape(-1, 3)
    rng_anat = shapes.rng_stream(seed, 10)
    pose = _draw_pose(rng_anat)
    age_years = float(rng_anat.uniform(20.0, 90.0) if age is None else age)
    rng_inf, rng_hem, rng_mass, rng_chr, rng_wmh = (shapes.rng_stream(seed, 11 + i) for i in range(5))

    atlas = _atlas()
    p = pose.to_template(x)
    mass = None
    if "mass_effect" in findings:
        side = float(rng_mass.choice([-1.0, 1.0]))  # +1: patient left (LPS +x)
        c = _pick_centre(rng_mass, "hemisphere_wm")
        c[0] = abs(c[0]) * side
        radius = float(rng_mass.uniform(10.0, 18.0))
        oedema = float(rng_mass.uniform(10.0, 22.0))
        mass = _Mass(c, radius, float(rng_mass.uniform(2.5, 4.5)), oedema,
                     float(rng_mass.uniform(0.35, 0.55) * (radius + 0.5 * oedema)), side=side)
    q = _warp(p, mass)
    atrophy = float(np.clip((age_years - 45.0) / 45.0, 0.0, 1.0) * rng_anat.uniform(0.0, 0.07))
    centre = _ras_to_lps(_BRAIN_CENTRE_RAS)
    q_tissue = centre + (q - centre) * (1.0 + atrophy)  # tissue shrunk inside the same skull
    at_tissue = atlas.points(q_tissue)
    gm, wm, deep = (atlas.sample(n, at_tissue) for n in ("gm", "wm", "deep"))
    outside = atlas.sample("outside_mm", atlas.points(q))
    skull_t, scalp_t = float(rng_anat.uniform(4.0, 8.0)), float(rng_anat.uniform(4.0, 8.0))
    intracranial = np.clip(1.0 - outside, 0.0, 1.0)
    skull = np.clip(np.minimum(outside, skull_t - outside + 1.0), 0.0, 1.0) * (outside > 0)
    scalp = np.clip(np.minimum(outside - skull_t, skull_t + scalp_t - outside + 1.0), 0.0, 1.0)
    tissue = np.clip(gm + wm + deep, 0.0, 1.0) * intracranial
    scale_t = np.where(gm + wm + deep > 1.0, 1.0 / np.maximum(gm + wm + deep, 1e-6), 1.0) * intracranial
    gm, wm, deep = gm * scale_t, wm * scale_t, deep * scale_t
    csf = np.clip(intracranial - tissue, 0.0, 1.0)
    n_cls = len(_TABLE)
    frac = np.zeros((len(x), n_cls), dtype=np.float32)
    frac[:, analytic.SCALP], frac[:, analytic.SKULL] = scalp, skull
    frac[:, analytic.CSF], frac[:, analytic.GM], frac[:, analytic.WM], frac[:, analytic.DEEP] = csf, gm, wm, deep
    parenchyma = gm + wm + deep
    lesion = np.zeros(len(x), dtype=np.uint8)
    details: dict[str, Any] = {"age_years": age_years, "atrophy": atrophy, "pose": {
        "rotation": pose.rotation.tolist(), "scale": pose.scale.tolist(), "shift_lps": pose.shift.tolist()}}

    def put(cls: int, amount: np.ndarray, label: int | None = None) -> None:
        amount = np.clip(amount, 0.0, 1.0).astype(np.float32)
        frac[:] = frac * (1.0 - amount)[:, None]
        frac[:, cls] += amount
        if label is not None:
            lesion[amount >= 0.5] = label

    load = np.clip((age_years - 50.0) / 40.0, 0.0, 1.0) * rng_wmh.uniform(0.0, 1.0)
    if load > 0.05:  # white matter hyperintensities: normal for age, never a finding
        caps = atlas.sample("periventricular", at_tissue) * load * rng_wmh.uniform(0.4, 1.0)
        for _ in range(int(rng_wmh.integers(0, 2 + int(12 * load)))):
            caps = np.maximum(caps, _blob(q_tissue, _pick_centre(rng_wmh, "lobar"), float(rng_wmh.uniform(1.5, 4.0)),
                                          rng_wmh) * wm)
        put(WMH, caps * (wm + deep))
        details["wmh_load"] = float(load)
    if "chronic_infarct" in findings:
        shape_c, info = _infarct_shape(rng_chr, q_tissue)
        put(CHRONIC, shape_c * parenchyma, 6)
        details["chronic_infarct"] = info
    if mass is not None:
        d = np.linalg.norm(p - mass.centre, axis=1)
        spread = shapes.fourier_field(p[:, 0], p[:, 1], p[:, 2], rng_mass, (10.0, 25.0), 8)
        put(analytic.TUM_OEDEMA, np.clip(mass.radius + mass.oedema * (1 + 0.3 * spread) - d, 0, 1)
            * (wm + deep) / np.maximum(parenchyma, 1e-6) * (parenchyma > 0.3), 5)
        details["mass_effect"] = {"side": "left" if mass.side > 0 else "right", "radius_mm": mass.radius,
                                  "centre_lps": pose.to_grid(mass.centre)[0].tolist(),
                                  "midline_shift_mm": _midline_shift(mass)}
    bloom = None
    if "haemorrhage" in findings:
        where = str(rng_hem.choice(["deep", "deep", "lobar", "lobar", "infratentorial"]))
        c = _pick_centre(rng_hem, where)
        radius = float(rng_hem.uniform(5.0, 16.0) * (0.6 if where == "infratentorial" else 1.0))
        core = _blob(q, c, radius, rng_hem)
        rim = _blob(q, c, radius + float(rng_hem.uniform(3.0, 7.0)), rng_hem) * parenchyma
        put(analytic.HEM_OEDEMA, np.clip(rim - core, 0.0, 1.0), 3)
        mix = shapes.fourier_field(q[:, 0], q[:, 1], q[:, 2], rng_hem, (6.0, 14.0), 8) > rng_hem.uniform(-0.3, 0.6)
        put(analytic.HEM_DEOXY, core * ~mix, 2)
        put(analytic.HEM_METHB, core * mix, 2)
        bloom_r = np.linalg.norm(q - c, axis=1) / (radius * float(rng_hem.uniform(1.25, 1.6)))
        bloom = np.clip(1.5 - bloom_r, 0.0, 1.0)
        details["haemorrhage"] = {"location": where, "radius_mm": radius, "centre_lps": pose.to_grid(c)[0].tolist()}
    if "infarct" in findings:
        shape_i, info = _infarct_shape(rng_inf, q_tissue)
        put(analytic.INFARCT, shape_i * parenchyma * (parenchyma > 0.2), 1)
        details["infarct"] = {**info, "volume_ml": float((shape_i * parenchyma).sum() * np.prod(spacing) / 1000.0)}
    if mass is not None:
        d = np.linalg.norm(p - mass.centre, axis=1)
        put(analytic.TUM_RIM, np.clip(mass.radius - d + 0.5, 0.0, 1.0), 4)
        put(analytic.TUM_NECROSIS, np.clip(mass.radius - mass.rim - d + 0.5, 0.0, 1.0))

    meta = {"phantom": "brain_mni", "seed": int(seed), "findings": list(findings), "modality": "MR"}
    images = {}
    for name in names:
        rng_c = np.random.default_rng([int(seed) & 0xFFFFFFFF, 30, MR_CONTRASTS.index(name)])
        images[name] = grid.with_array(_render(frac, name, rng_c, shape_kji, x, bloom), **meta, contrast=name,
                                       description=f"{name} (semi-synthetic, MNI anatomy)",
                                       units="1e-6 mm2/s" if name == "ADC" else "arbitrary")
    labels_t = np.zeros(len(x), dtype=np.uint8)
    tissue_cls = frac[:, [analytic.SCALP, analytic.SKULL, analytic.CSF, analytic.GM, analytic.WM, analytic.DEEP]]
    best = tissue_cls.argmax(axis=1)
    labels_t[tissue_cls.max(axis=1) > 0.3] = np.array([1, 2, 3, 4, 5, 7], dtype=np.uint8)[best][
        tissue_cls.max(axis=1) > 0.3]
    return BrainCase(
        images=images,
        labels=case_labels(findings),
        lesion_mask=grid.with_array(lesion.reshape(shape_kji), **meta,
                                    description="lesion labels (labelsets.BRAIN_LESION_LABELS)"),
        brain_mask=grid.with_array((intracranial > 0.5).astype(np.uint8).reshape(shape_kji), **meta,
                                   description="intracranial mask"),
        tissue=grid.with_array(labels_t.reshape(shape_kji), **meta, description="tissue labels"),
        findings=findings,
        seed=int(seed),
        midline_shift_mm=float(details.get("mass_effect", {}).get("midline_shift_mm", 0.0)),
        details=details,
    )


def make_mni_twin(seed: int, findings: str | Iterable[str], without: str, **kwargs: Any) -> BrainCase:
    """Phantom ``seed`` drawn again without the finding ``without``: the same anatomy, pose, noise and other
    findings (normal when none is left). The counterfactual twin of ``radtriage evaluate triage`` and of the demo
    recipe's training negatives; ``kwargs`` as :func:`make_mni_brain_case` (grid, ``contrasts``)."""
    return make_mni_brain_case(seed, [f for f in parse_findings(findings) if f != without], **kwargs)


def make_mni_brain_cohort(n: int, seed: int, combination_rate: float = 0.0, chronic_rate: float = 0.15,
                          **kwargs: Any) -> list[BrainCase]:
    """``n`` cases: normal, infarct, haemorrhage and mass effect in equal shares (blocks of four), a
    ``combination_rate`` of abnormal cases with a second finding, and a ``chronic_rate`` of normal / non-infarct
    cases with a chronic infarct added (abnormal, not acute)."""
    rng = shapes.rng_stream(seed, 98)
    cases: list[BrainCase] = []
    order: list[str] = []
    base = ("normal", "infarct", "haemorrhage", "mass_effect")
    for _ in range(int(n)):
        if not order:
            order = list(rng.permutation(base))
        f = [order.pop()]
        if f[0] != "normal" and rng.random() < combination_rate:
            f.append(str(rng.choice([t for t in base[1:] if t != f[0]])))
        if "infarct" not in f and rng.random() < chronic_rate:
            f.append("chronic_infarct")
        cases.append(make_mni_brain_case(int(rng.integers(2**31 - 1)), f, **kwargs))
    return cases
