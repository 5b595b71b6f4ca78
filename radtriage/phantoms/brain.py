"""Seeded multi-contrast brain MR phantom with acute infarct, haemorrhage and mass-effect findings.

The head is drawn analytically in a head frame (u = patient left, v = posterior,
w = superior, mm) that is placed at the grid centre with a small random pose, so
any spacing, origin or direction shows the same anatomy in patient space.  Tissue
classes are mapped to per-contrast intensities (relative values of typical 1.5-3 T
appearances; ADC in 1e-6 mm²/s, DWI = b0 · exp(-b · ADC) with b = 1000 s/mm²),
then blurred by a small point-spread function, multiplied by a coil bias field and
given Rician noise.

Findings
--------
* ``infarct``: acute ischaemic wedge in an MCA, ACA or PCA-like territory from
  the deep apex to the cortex: DWI bright, ADC dark, T2/FLAIR mildly bright.
* ``haemorrhage``: deep or lobar haematoma, mixed deoxy-/methaemoglobin signal
  on T1/T2, dark and blooming on SWI, a rim of oedema.
* ``mass_effect``: necrotic tumour with an enhancing rim on T1post and vasogenic
  oedema in white matter; a displacement field compresses the ipsilateral
  ventricle and shifts the midline towards the other side (subfalcine shift).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.phantoms import shapes

logger = logging.getLogger(__name__)

FINDING_TYPES: tuple[str, ...] = ("normal", "infarct", "haemorrhage", "mass_effect")
"""Finding names accepted by :func:`make_brain_case` (combine with ``+`` or pass a sequence)."""

_ALIASES = {
    "normal": "normal", "none": "normal",
    "infarct": "infarct", "acute_infarct": "infarct", "stroke": "infarct",
    "haemorrhage": "haemorrhage", "hemorrhage": "haemorrhage", "acute_haemorrhage": "haemorrhage",
    "bleed": "haemorrhage",
    "mass_effect": "mass_effect", "mass": "mass_effect", "tumour": "mass_effect", "tumor": "mass_effect",
}

_DESCRIPTIONS = {
    "T1": "T1-weighted", "T1post": "T1-weighted after gadolinium", "T2": "T2-weighted",
    "FLAIR": "T2 FLAIR", "DWI": "diffusion-weighted trace, b=1000 s/mm2",
    "ADC": "apparent diffusion coefficient (1e-6 mm2/s)", "SWI": "susceptibility-weighted magnitude",
    "other": "proton-density-weighted",
}

# Render classes: tissue labels 0..8 (see labelsets.BRAIN_TISSUE_LABELS), then lesion tissues.
BG, SCALP, SKULL, CSF, GM, WM, VENT, DEEP, SINUS = range(9)
INFARCT, HEM_DEOXY, HEM_METHB, HEM_OEDEMA, TUM_RIM, TUM_NECROSIS, TUM_OEDEMA = range(9, 16)
_PROPS = ("T1", "T1post", "T2", "FLAIR", "PD", "ADC", "SWI", "B0")
# Relative intensities per render class: T1, T1post, T2, FLAIR, PD, ADC (1e-6 mm²/s), SWI, b0 of the DWI.
_TABLE = np.array([
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.0, 0.00, 0.00],  # background (air)
    [0.85, 0.86, 0.55, 0.60, 0.80, 150.0, 0.70, 0.08],  # scalp (fat; fat-suppressed DWI)
    [0.05, 0.05, 0.04, 0.03, 0.05, 0.0, 0.03, 0.02],  # skull
    [0.12, 0.12, 1.00, 0.06, 0.95, 3000.0, 0.85, 1.00],  # CSF
    [0.45, 0.46, 0.62, 0.58, 0.85, 850.0, 0.55, 0.62],  # grey matter
    [0.68, 0.69, 0.45, 0.45, 0.70, 750.0, 0.70, 0.45],  # white matter
    [0.12, 0.12, 1.00, 0.06, 0.95, 3000.0, 0.85, 1.00],  # ventricle
    [0.50, 0.51, 0.55, 0.53, 0.82, 800.0, 0.42, 0.55],  # deep grey (iron: darker SWI)
    [0.30, 0.95, 0.20, 0.15, 0.40, 900.0, 0.08, 0.15],  # venous sinus (enhances, SWI dark)
    [0.38, 0.39, 0.78, 0.75, 0.90, 420.0, 0.55, 0.80],  # acute infarct (restricted diffusion)
    [0.48, 0.50, 0.22, 0.25, 0.60, 600.0, 0.06, 0.25],  # haematoma, deoxyhaemoglobin
    [0.78, 0.80, 0.80, 0.70, 0.75, 850.0, 0.10, 0.70],  # haematoma, methaemoglobin
    [0.50, 0.50, 0.85, 0.82, 0.90, 1300.0, 0.70, 0.85],  # perihaematomal oedema
    [0.42, 1.00, 0.62, 0.65, 0.85, 900.0, 0.50, 0.62],  # tumour, enhancing rim
    [0.20, 0.22, 0.95, 0.50, 0.90, 2000.0, 0.75, 0.95],  # tumour, necrosis
    [0.50, 0.50, 0.88, 0.85, 0.90, 1350.0, 0.75, 0.88],  # vasogenic oedema
], dtype=np.float32)

RENDER_TABLE = _TABLE
"""Relative intensity of each render class (rows: tissue labels, then lesion tissues) per :data:`RENDER_PROPS`."""
RENDER_PROPS = _PROPS

_HEAD_AXES = np.array([72.0, 92.0, 76.0])  # scalp surface semi-axes (L-R, A-P, S-I), mm
_HEAD_CENTRE_W = -8.0  # head ellipsoid centre below the grid centre, mm
_SCALP_T, _SKULL_T = 5.0, 6.0
_B_VALUE = 1000.0


@dataclass
class BrainCase:
    """One brain phantom: contrasts on one grid, case labels and masks."""

    images: dict[str, Image]
    labels: dict[str, int]
    lesion_mask: Image
    brain_mask: Image
    tissue: Image
    findings: tuple[str, ...]
    seed: int
    midline_shift_mm: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> Image:
        """The first contrast (they all share one grid)."""
        return next(iter(self.images.values()))

    def stacked(self, contrasts: Sequence[str] | None = None) -> np.ndarray:
        """A ``(C, K, J, I)`` float32 array of the contrasts, in :data:`MR_CONTRASTS` order by default."""
        names = [c for c in MR_CONTRASTS if c in self.images] if contrasts is None else list(contrasts)
        return np.stack([self.images[c].array for c in names]).astype(np.float32)


def parse_findings(finding: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise a finding spec (``"infarct"``, ``"infarct+haemorrhage"``, ``["mass", ...]``) to sorted names."""
    parts = finding.replace(",", "+").split("+") if isinstance(finding, str) else list(finding)
    out = set()
    for p in parts:
        key = str(p).strip().lower()
        if key not in _ALIASES:
            raise ValueError(f"unknown brain finding {p!r}; use one or more of {', '.join(FINDING_TYPES)}")
        out.add(_ALIASES[key])
    if len(out) > 1:
        out.discard("normal")
    return tuple(f for f in FINDING_TYPES if f in out) or ("normal",)


def case_labels(findings: Sequence[str]) -> dict[str, int]:
    """The case-level labels of :data:`BRAIN_FINDINGS` for a set of findings."""
    lab = {
        "acute_infarct": int("infarct" in findings),
        "acute_haemorrhage": int("haemorrhage" in findings),
        "mass_effect": int("mass_effect" in findings),
    }
    lab["abnormal"] = int(any(lab.values()))
    return {k: lab[k] for k in BRAIN_FINDINGS}


def contrast_names(contrasts: Sequence[str] | None) -> list[str]:
    """The contrasts to render (all of :data:`MR_CONTRASTS` when None); ``ValueError`` for unknown or none."""
    names = list(MR_CONTRASTS) if contrasts is None else list(contrasts)
    unknown = [c for c in names if c not in MR_CONTRASTS]
    if unknown or not names:
        raise ValueError(f"unknown contrasts {unknown}; choose from {', '.join(MR_CONTRASTS)}")
    return names


# ----------------------------------------------------------------- anatomy
@dataclass
class _Anatomy:
    scale: float
    rotation: np.ndarray
    offset: np.ndarray
    csf_t: float
    gm_t: float
    vent_scale: float
    sulcus_depth: float
    gyral_rng: np.random.Generator

    @property
    def axes(self) -> np.ndarray:
        return _HEAD_AXES * self.scale

    @property
    def centre(self) -> tuple[float, float, float]:
        return (0.0, 0.0, _HEAD_CENTRE_W * self.scale)

    @property
    def inner_axes(self) -> np.ndarray:
        return self.axes - _SCALP_T - _SKULL_T

    @property
    def brain_axes(self) -> np.ndarray:
        return self.inner_axes - self.csf_t


def draw_head_anatomy(rng: np.random.Generator) -> _Anatomy:
    """Random head pose and size (also used by the SWI phantom)."""
    return _draw_anatomy(rng)


def head_tissue_map(u: np.ndarray, v: np.ndarray, w: np.ndarray, anat: _Anatomy) -> np.ndarray:
    """Tissue labels (:data:`radtriage.labelsets.BRAIN_TISSUE_LABELS`) of a normal head at head-frame mm."""
    return _tissue_map(u, v, w, u, v, w, anat)


def _draw_anatomy(rng: np.random.Generator) -> _Anatomy:
    return _Anatomy(
        scale=float(rng.uniform(0.92, 1.05)),
        rotation=shapes.rotation_matrix(rng.uniform(-6, 6), rng.uniform(-8, 8), rng.uniform(-4, 4)),
        offset=rng.uniform(-4, 4, size=3),
        csf_t=float(rng.uniform(1.5, 4.0)),
        gm_t=float(rng.uniform(3.0, 4.2)),
        vent_scale=float(rng.uniform(0.8, 1.4)),
        sulcus_depth=float(rng.uniform(6.0, 12.0)),
        gyral_rng=np.random.default_rng(rng.integers(2**32)),
    )


@dataclass
class _Mass:
    side: int
    centre: np.ndarray  # head frame, deformed space
    radius: float
    rim: float
    oedema: float
    shift: float
    r0: float


def _warp(u: np.ndarray, v: np.ndarray, w: np.ndarray, anat: _Anatomy, mass: _Mass | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map deformed positions (what the image shows) back to undeformed anatomy positions."""
    if mass is None:
        return u, v, w
    cx, cy, cz = mass.centre
    du, dv, dw = u - cx, v - cy, w - cz
    r = np.sqrt(du * du + dv * dv + dw * dw) + 1e-6
    rho = np.cbrt(np.maximum(r**3 - mass.radius**3 + mass.r0**3, 0.0))
    r_in = shapes.ellipsoid_radius(u, v, w, anat.centre, anat.inner_axes)
    taper = np.clip(1.0 - r_in**8, 0.0, 1.0)
    f = 1.0 - taper * (1.0 - rho / r)
    a, b, c = cx + du * f, cy + dv * f, cz + dw * f
    gauss = np.exp(-((u / 45.0) ** 2 + ((v - cy) / 40.0) ** 2 + ((w - cz) / 32.0) ** 2))
    a = a + mass.side * mass.shift * gauss * taper
    return a.astype(np.float32), b.astype(np.float32), c.astype(np.float32)


def _tissue_map(u: np.ndarray, v: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                anat: _Anatomy) -> np.ndarray:
    """Tissue labels from undeformed (u, v, w) for scalp/skull and deformed-back (a, b, c) inside the skull."""
    hc = anat.centre
    tissue = np.zeros(u.shape, dtype=np.uint8)
    tissue[shapes.ellipsoid_radius(u, v, w, hc, anat.axes) < 1] = SCALP
    tissue[shapes.ellipsoid_radius(u, v, w, hc, anat.axes - _SCALP_T) < 1] = SKULL
    r_inner = shapes.ellipsoid_radius(u, v, w, hc, anat.inner_axes)
    intracranial = r_inner < 1
    tissue[intracranial] = CSF

    rng = np.random.default_rng(anat.gyral_rng.integers(2**32))
    gyral = shapes.fourier_field(a, b, c, rng, (15.0, 35.0), 12)
    sulcal = shapes.fourier_field(a, b, c, rng, (14.0, 28.0), 12)
    baxes = anat.brain_axes
    r_brain = shapes.ellipsoid_radius(a, b, c, hc, baxes)
    depth = (1.0 - r_brain) * float(np.mean(baxes))
    brain = (r_brain < 1) & intracranial
    tissue[brain] = GM
    wm = brain & (depth > np.maximum(anat.gm_t + 1.8 * gyral, 1.5))
    tissue[wm] = WM

    cw = c - hc[2]  # height above the brain centre
    vs = anat.vent_scale
    deep = np.zeros(u.shape, dtype=bool)
    vent = np.zeros(u.shape, dtype=bool)
    for s in (-1.0, 1.0):
        deep |= shapes.ellipsoid_radius(a, b, cw, (s * 10, 8, 4), (7, 12, 8)) < 1  # thalamus
        deep |= shapes.ellipsoid_radius(a, b, cw, (s * 22, -4, 4), (5.5, 14, 9)) < 1  # lentiform nucleus
        deep |= shapes.ellipsoid_radius(a, b, cw, (s * (7 + 5 * vs), -20, 15), (4, 7, 6)) < 1  # caudate head
        vent |= shapes.ellipsoid_radius(a, b, cw, (s * 7 * vs, -3, 15), (4 * vs, 22, 6 * vs)) < 1  # body
        vent |= shapes.ellipsoid_radius(a, b, cw, (s * 15, 22, 10), (5 * vs, 9, 5 * vs)) < 1  # atrium
        vent |= shapes.ellipsoid_radius(a, b, cw, (s * 28, -5, -18), (2.5 * vs, 12, 3)) < 1  # temporal horn
    vent |= shapes.ellipsoid_radius(a, b, cw, (0, 5, 0), (1.8 * vs, 11, 8)) < 1  # third ventricle
    tissue[deep & brain] = DEEP
    tissue[vent & brain] = VENT

    fissure = brain & (np.abs(a) < 1.6) & ((cw > 26) | (np.abs(b) > 45))
    sulci = brain & (depth < anat.sulcus_depth) & (np.abs(sulcal) < 0.22) & ~vent & ~deep
    tissue[fissure | sulci] = CSF
    sinus = intracranial & (r_inner > 0.93) & (np.abs(u) < 3.5) & (w - hc[2] > 10)
    tissue[sinus] = SINUS
    return tissue


# ----------------------------------------------------------------- findings
_PARENCHYMA = (GM, WM, DEEP)


def _is_parenchyma(tissue: np.ndarray) -> np.ndarray:
    return np.isin(tissue, _PARENCHYMA)


def _draw_mass(rng: np.random.Generator, anat: _Anatomy) -> _Mass:
    side = int(rng.choice([-1, 1]))
    radius = float(rng.uniform(10.0, 17.0))
    oedema = float(rng.uniform(10.0, 22.0))
    hc = anat.centre
    centre = np.array([side * rng.uniform(24, 34), rng.uniform(-30, 25), hc[2] + rng.uniform(5, 25)])
    return _Mass(side, centre, radius, float(rng.uniform(2.5, 4.5)), oedema,
                 shift=float(rng.uniform(0.35, 0.55) * (radius + 0.5 * oedema)), r0=0.35 * radius)


def _infarct(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, c: np.ndarray, anat: _Anatomy,
             tissue: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    side = int(rng.choice([-1, 1]))
    territory = str(rng.choice(["MCA", "MCA", "MCA", "ACA", "PCA"]))
    cw0 = anat.centre[2]
    if territory == "MCA":
        apex = np.array([side * 14.0, -4.0, cw0 + 8.0])
        axis = np.array([side * 1.0, rng.uniform(-0.4, 0.4), rng.uniform(0.0, 0.5)])
    elif territory == "ACA":
        apex = np.array([side * 4.0, -18.0, cw0 + 10.0])
        axis = np.array([side * 0.1, rng.uniform(-0.8, -0.3), 1.0])
    else:
        apex = np.array([side * 8.0, 18.0, cw0 + 0.0])
        axis = np.array([side * 0.25, 1.0, rng.uniform(-0.2, 0.3)])
    axis /= np.linalg.norm(axis)
    half_angle = np.deg2rad(rng.uniform(16.0, 30.0))
    r_min = float(rng.uniform(5.0, 25.0))
    da, db, dc = a - apex[0], b - apex[1], c - apex[2]
    dist = np.sqrt(da * da + db * db + dc * dc) + 1e-6
    cosang = (da * axis[0] + db * axis[1] + dc * axis[2]) / dist
    edge = shapes.fourier_field(a, b, c, rng, (12.0, 25.0), 8)
    wedge = (cosang > np.cos(half_angle * (1.0 + 0.15 * edge))) & (dist > r_min) & (side * a > 1.5)
    mask = wedge & _is_parenchyma(tissue)
    info = {"side": "left" if side > 0 else "right", "territory": territory,
            "apex_head_mm": apex.tolist(), "axis": axis.tolist(), "half_angle_deg": float(np.rad2deg(half_angle))}
    return mask, info


def _haemorrhage(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, c: np.ndarray, anat: _Anatomy,
                 tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    side = int(rng.choice([-1, 1]))
    cw0 = anat.centre[2]
    deep = bool(rng.random() < 0.5)
    if deep:
        centre = np.array([side * rng.uniform(16, 24), rng.uniform(-8, 6), cw0 + rng.uniform(-2, 10)])
    else:
        centre = np.array([side * rng.uniform(25, 38), rng.uniform(-40, 35), cw0 + rng.uniform(5, 28)])
    radius = float(rng.uniform(6.0, 15.0))
    rim = float(rng.uniform(3.0, 8.0))
    bloom = float(rng.uniform(1.25, 1.6))
    shape_f = shapes.fourier_field(a, b, c, rng, (10.0, 25.0), 8)
    mix_f = shapes.fourier_field(a, b, c, rng, (6.0, 14.0), 8)
    dist = np.sqrt((a - centre[0]) ** 2 + (b - centre[1]) ** 2 + (c - centre[2]) ** 2)
    dist_irregular = dist * (1.0 + 0.15 * shape_f)
    core = dist_irregular < radius
    oedema = (dist_irregular < radius + rim) & ~core & _is_parenchyma(tissue)
    methb = core & (mix_f > rng.uniform(-0.3, 0.6))
    info = {"side": "left" if side > 0 else "right", "location": "deep" if deep else "lobar",
            "centre_head_mm": centre.tolist(), "radius_mm": radius, "bloom_factor": bloom}
    return core, methb, oedema, dist / (radius * bloom), info


def _tumour(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, w: np.ndarray, tissue: np.ndarray,
            mass: _Mass) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cx, cy, cz = mass.centre
    shape_f = shapes.fourier_field(u, v, w, rng, (12.0, 30.0), 8)
    spread_f = shapes.fourier_field(u, v, w, rng, (10.0, 25.0), 8)
    dist = np.sqrt((u - cx) ** 2 + (v - cy) ** 2 + (w - cz) ** 2) * (1.0 + 0.08 * shape_f)
    tumour = dist < mass.radius
    necrosis = dist < mass.radius - mass.rim
    oedema = ~tumour & (dist < mass.radius + mass.oedema * (1.0 + 0.3 * spread_f)) & np.isin(tissue, (WM, DEEP))
    return tumour, necrosis, oedema


def _midline_shift(anat: _Anatomy, mass: _Mass) -> float:
    """Signed displacement (mm, + = towards patient left) of the septum at the ventricles."""
    q = np.linspace(-45.0, 45.0, 1801, dtype=np.float32)
    v = np.full_like(q, np.clip(mass.centre[1], -20.0, 10.0))
    w = np.full_like(q, anat.centre[2] + 14.0)
    a, _, _ = _warp(q, v, w, anat, mass)
    order = np.argsort(a)
    return float(np.interp(0.0, a[order], q[order]))


# ----------------------------------------------------------------- rendering
def _render(render: np.ndarray, contrast: str, rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
            z: np.ndarray, noise: float, bias: float, bloom_dist: np.ndarray | None) -> np.ndarray:
    col = {p: i for i, p in enumerate(_PROPS)}
    if contrast == "DWI":
        clean = _TABLE[render, col["B0"]] * np.exp(-_B_VALUE * 1e-6 * _TABLE[render, col["ADC"]])
        clean = clean * 2.0  # keep DWI in a range comparable with the other contrasts
    else:
        clean = _TABLE[render, col["PD" if contrast == "other" else contrast]]
    clean = shapes.point_spread(clean.astype(np.float32), 0.6)
    if contrast == "SWI" and bloom_dist is not None:
        clean = clean * (1.0 - 0.9 * np.clip(1.5 - bloom_dist, 0.0, 1.0)) ** 2
    if contrast == "ADC":
        out = clean + rng.normal(0.0, noise * 2000.0, size=clean.shape).astype(np.float32)
        return np.maximum(out, 0.0).astype(np.float32)
    gain = float(rng.uniform(800.0, 1250.0))
    field_ = shapes.bias_field(x, y, z, rng, strength=bias) if bias > 0 else np.float32(1.0)
    signal = clean * field_ * np.float32(gain)
    return shapes.rician(signal, noise * gain, rng) if noise > 0 else signal.astype(np.float32)


def make_brain_case(
    seed: int,
    finding: str | Iterable[str] = "normal",
    shape: Sequence[int] = (64, 64, 48),
    spacing: Sequence[float] = (3.0, 3.0, 3.0),
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
    contrasts: Sequence[str] | None = None,
    noise: float = 0.02,
    bias: float = 0.15,
) -> BrainCase:
    """A seeded brain MR case on an ``(i, j, k)`` grid with the requested contrasts and findings.

    ``finding`` is ``"normal"``, ``"infarct"``, ``"haemorrhage"``, ``"mass_effect"`` or a
    combination (``"infarct+haemorrhage"`` or a sequence).  The same seed gives the same
    anatomy whatever the finding.  ``origin`` defaults to a grid centred on LPS (0, 0, 0);
    ``direction`` columns are the i, j, k axes in LPS.  ``noise`` is the noise SD as a
    fraction of the full intensity scale and ``bias`` the coil-field strength (0 disables each).
    """
    findings = parse_findings(finding)
    names = contrast_names(contrasts)
    grid = shapes.make_grid(shape, spacing, origin, direction)
    rng_anat, rng_find = shapes.rng_stream(seed, 0), shapes.rng_stream(seed, 1)
    anat = _draw_anatomy(rng_anat)

    x, y, z = shapes.lps_coordinates(grid)
    u, v, w = shapes.rotate_points(x - anat.offset[0], y - anat.offset[1], z - anat.offset[2], anat.rotation)
    # Draw every finding's parameters in a fixed order so that combinations stay reproducible.
    rng_inf, rng_hem, rng_mass = (np.random.default_rng(rng_find.integers(2**32)) for _ in range(3))
    mass = _draw_mass(rng_mass, anat) if "mass_effect" in findings else None
    a, b, c = _warp(u, v, w, anat, mass)
    tissue = _tissue_map(u, v, w, a, b, c, anat)

    lesion = np.zeros(tissue.shape, dtype=np.uint8)
    render = tissue.copy()
    details: dict[str, Any] = {}
    bloom_dist = None
    midline = 0.0
    if mass is not None:
        tum, necrosis, oedema = _tumour(rng_mass, u, v, w, tissue, mass)
        lesion[oedema], render[oedema] = 5, TUM_OEDEMA
        midline = _midline_shift(anat, mass)
        details["mass_effect"] = {"side": "left" if mass.side > 0 else "right", "radius_mm": mass.radius,
                                  "oedema_mm": mass.oedema, "centre_head_mm": mass.centre.tolist(),
                                  "midline_shift_signed_mm": midline}
    if "haemorrhage" in findings:
        core, methb, h_oedema, bloom_dist, info = _haemorrhage(rng_hem, a, b, c, anat, tissue)
        h_oedema &= lesion == 0
        lesion[h_oedema], render[h_oedema] = 3, HEM_OEDEMA
        details["haemorrhage"] = info
    if "infarct" in findings:
        inf, info = _infarct(rng_inf, a, b, c, anat, tissue)
        lesion[inf], render[inf] = 1, INFARCT
        details["infarct"] = info
    if "haemorrhage" in findings:
        lesion[core], render[core] = 2, HEM_DEOXY
        render[methb] = HEM_METHB
    if mass is not None:
        lesion[tum], render[tum] = 4, TUM_RIM
        render[necrosis] = TUM_NECROSIS

    brain = (shapes.ellipsoid_radius(u, v, w, anat.centre, anat.inner_axes) < 1).astype(np.uint8)
    meta = {"phantom": "brain", "seed": int(seed), "findings": list(findings), "modality": "MR"}
    images = {}
    for name in names:
        arr = _render(render, name, np.random.default_rng([int(seed) & 0xFFFFFFFF, 2, MR_CONTRASTS.index(name)]),
                      x, y, z, noise, bias, bloom_dist)
        images[name] = grid.with_array(arr, **meta, contrast=name, description=f"{_DESCRIPTIONS[name]} (phantom)",
                                       units="1e-6 mm2/s" if name == "ADC" else "arbitrary")
    for key in details.values():
        for k in [k for k in key if k.endswith("_head_mm")]:
            key[k.replace("_head_mm", "_lps")] = _head_to_lps(np.asarray(key[k]), anat, grid).tolist()
    return BrainCase(
        images=images,
        labels=case_labels(findings),
        lesion_mask=grid.with_array(lesion, **meta, description="lesion labels (labelsets.BRAIN_LESION_LABELS)"),
        brain_mask=grid.with_array(brain, **meta, description="intracranial mask"),
        tissue=grid.with_array(tissue, **meta, description="tissue labels (labelsets.BRAIN_TISSUE_LABELS)"),
        findings=findings,
        seed=int(seed),
        midline_shift_mm=abs(midline),
        details=details,
    )


def _head_to_lps(p: np.ndarray, anat: _Anatomy, grid: Image) -> np.ndarray:
    """A head-frame point (mm) in absolute LPS."""
    ni, nj, nk = grid.size
    centre = grid.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, (nk - 1) / 2]]))[0]
    return anat.rotation @ p + anat.offset + centre


def make_brain_cohort(n: int, seed: int, combination_rate: float = 0.0, **kwargs: Any) -> list[BrainCase]:
    """``n`` brain cases with a balanced mix of the four finding types (shuffled in blocks of four).

    With ``combination_rate`` > 0 that fraction of abnormal cases gets a second finding.
    Extra keyword arguments go to :func:`make_brain_case`.
    """
    rng = shapes.rng_stream(seed, 99)
    cases = []
    order: list[str] = []
    for idx in range(int(n)):
        if not order:
            order = list(rng.permutation(FINDING_TYPES))
        f = [order.pop()]
        if f[0] != "normal" and rng.random() < combination_rate:
            f.append(str(rng.choice([t for t in FINDING_TYPES[1:] if t != f[0]])))
        case_seed = int(rng.integers(2**31 - 1))
        logger.debug("cohort case %d: %s", idx, f)
        cases.append(make_brain_case(case_seed, f, **kwargs))
    return cases
