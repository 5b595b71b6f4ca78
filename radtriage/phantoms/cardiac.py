"""Seeded cardiac late-gadolinium-enhancement (LGE) phantom: short-axis slices and stacks.

A 3D left ventricle (half-prolate myocardial shell from the base plane to the apex),
a right ventricle wrapped around the septum, and a thorax background (chest wall,
subcutaneous and epicardial fat, lungs, liver) are drawn in a heart frame
``(p, q, l)``: ``l`` runs along the long axis from the base (0) towards the apex,
``p`` points from the septum to the lateral wall and ``q`` from the anterior to
the inferior wall.  By default the grid's direction is the short-axis orientation
(``SAX_DIRECTION``), so slices along ``k`` are true short-axis cuts from base to
apex; any other direction shows an oblique cut through the same heart.

Intensities mimic an inversion-recovery LGE magnitude image with normal myocardium
nulled (dark), blood pool intermediate, fat bright and scar brightest.

Grades (:data:`radtriage.labelsets.LGE_ENHANCEMENT_GRADES`):
``none`` (likelihood 0-8, certainty high); ``clear`` (subendocardial, transmural,
mid-wall or subepicardial bright segment; 92-100, high); ``subtle`` (faint or
small true enhancement, 55-75, or artefacts that look like it: bright blood pool
with trabeculation, ghosting, poor nulling, 25-50; certainty low).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import LGE_ENHANCEMENT_GRADES
from radtriage.phantoms import shapes

logger = logging.getLogger(__name__)


def _sax_direction() -> np.ndarray:
    long_axis = np.array([0.55, -0.45, -0.70])  # base -> apex: left, anterior, inferior (LPS)
    long_axis /= np.linalg.norm(long_axis)
    down = np.array([0.0, 0.0, -1.0])  # towards the diaphragm
    j = down - (down @ long_axis) * long_axis
    j /= np.linalg.norm(j)
    i = np.cross(long_axis, j)  # towards the lateral wall (patient left, posterior)
    # (i, j, k) is left-handed: displayed with i right and j down, the slice is seen from the apex,
    # the usual short-axis view, while k still runs from base to apex.
    return np.column_stack([i, j, long_axis])


SAX_DIRECTION = _sax_direction()
"""Default grid direction: i septum->lateral wall, j anterior->inferior wall, k base->apex (columns in LPS)."""

SUBTLE_PATTERNS: tuple[str, ...] = ("faint", "small", "blood_pool", "ghosting", "poor_nulling")
CLEAR_PATTERNS: tuple[str, ...] = ("subendocardial", "transmural", "midwall", "subepicardial")
_LIKELIHOOD = {
    "none": (0.0, 8.0), "subendocardial": (92.0, 100.0), "transmural": (95.0, 100.0), "midwall": (90.0, 98.0),
    "subepicardial": (90.0, 98.0), "faint": (55.0, 70.0), "small": (58.0, 75.0), "blood_pool": (30.0, 45.0),
    "ghosting": (25.0, 40.0), "poor_nulling": (35.0, 50.0),
}
_TRUE_ENHANCEMENT = {"subendocardial", "transmural", "midwall", "subepicardial", "faint", "small"}


@dataclass
class LgeSlice:
    """One short-axis LGE slice with its truth."""

    image: Image
    myocardium_mask: Image
    enhancement_mask: Image
    enhancement: str
    pattern: str
    likelihood: float
    certainty: str
    has_enhancement: bool
    seed: int
    reader_ratings: dict[str, float] = field(default_factory=dict)
    """Simulated blinded readers' 0-100 LGE likelihood (see :func:`simulate_readers`)."""


AMBIGUOUS_PATTERNS = frozenset(SUBTLE_PATTERNS)
"""Patterns readers find ambiguous (faint/small enhancement and artefacts): ratings near equipoise."""


def simulate_readers(likelihood: float, pattern: str, rng: np.random.Generator, n_readers: int = 2,
                     noise: float = 6.0) -> dict[str, float]:
    """Two (or ``n_readers``) blinded readers' 0-100 ratings of one slice.

    Clear-cut slices (no enhancement, clear patterns): the reference likelihood plus reader noise (sd ``noise``).
    Ambiguous slices (faint/small enhancement, blood-pool, ghosting and nulling artefacts): each reader lands near
    equipoise (50 +- 15, pulled 30 % towards the reference), and one reader in four leans strongly either way, so
    readers disagree as they do on real ambiguous slices.
    """
    out = {}
    for k in range(n_readers):
        if pattern in AMBIGUOUS_PATTERNS:
            value = 50.0 + 0.3 * (likelihood - 50.0) + rng.normal(0.0, 10.0)
            if rng.random() < 0.25:
                value += float(rng.choice([-1.0, 1.0])) * rng.uniform(20.0, 35.0)
        else:
            value = likelihood + rng.normal(0.0, noise)
        out[f"R{k + 1}"] = float(np.round(np.clip(value, 0.0, 100.0), 1))
    return out


@dataclass
class _Style:
    """Domain randomisation of the appearance (PSIR/magnitude, nulling, bias, motion, noise, resolution)."""

    psir: bool
    myo: float
    blood: float
    fat: float
    background: float
    tissue: float
    bias: float
    ghost: float
    blur: float
    noise: float
    gamma: float
    crop: float
    scar: float  # how far clear enhancement lies above the blood pool


def _draw_style(rng: np.random.Generator) -> _Style:
    return _Style(
        psir=bool(rng.random() < 0.4), myo=float(rng.uniform(0.02, 0.22)), blood=float(rng.uniform(0.3, 0.75)),
        fat=float(rng.uniform(0.45, 0.95)), background=float(rng.uniform(0.0, 0.35)),
        tissue=float(rng.uniform(0.15, 0.45)), bias=float(rng.uniform(0.0, 0.6)),
        ghost=float(rng.uniform(0.0, 0.25) if rng.random() < 0.4 else 0.0), blur=float(rng.uniform(0.3, 1.6)),
        noise=float(rng.uniform(0.01, 0.06)), gamma=float(np.exp(rng.uniform(-0.35, 0.35))),
        crop=float(rng.uniform(0.0, 0.25) if rng.random() < 0.4 else 0.0), scar=float(rng.uniform(0.15, 0.45)),
    )


def _apply_style(img: np.ndarray, labels: dict[str, np.ndarray], style: _Style, rng: np.random.Generator,
                 spacing: Sequence[float]) -> np.ndarray:
    """Re-paint tissues with the style's contrast, then bias field, blur (resolution), ghosting, PSIR sign."""
    out = img.copy()
    out[labels["body"]] = style.tissue
    out[labels["subcut"]] = style.fat
    out[labels["liver"]] = style.tissue * float(rng.uniform(0.8, 1.4))
    out[labels["lung"]] = style.background * 0.3
    out[labels["epi_fat"]] = style.fat * 0.9
    out[labels["rv_cavity"]] = style.blood * float(rng.uniform(0.85, 1.05))
    out[labels["cavity"]] = style.blood
    myo = labels["myo"]
    out[myo & ~labels["enhanced"]] = style.myo
    # scar: from nulled myocardium towards (clear patterns: above) the blood pool, by the pattern's strength
    scar_level = style.myo + float(labels["strength"]) * (style.blood + style.scar - style.myo)
    out[labels["enhanced"]] = scar_level
    out[~labels["body"]] = style.background * 0.2
    _paint_clutter(out, labels, style, rng, spacing)
    from scipy import ndimage

    texture = ndimage.gaussian_filter(rng.standard_normal(out.shape).astype(np.float32),
                                      (0.0, float(rng.uniform(1.5, 5.0)), float(rng.uniform(1.5, 5.0))))
    texture /= float(texture.std()) + 1e-6
    tissue = labels["body"] & ~labels["myo"] & ~labels["cavity"] & ~labels["rv_cavity"]
    out[tissue] *= (1.0 + float(rng.uniform(0.1, 0.35)) * texture[tissue])
    k = out.shape[0]
    yy, xx = np.meshgrid(np.linspace(-1, 1, out.shape[1]), np.linspace(-1, 1, out.shape[2]), indexing="ij")
    a, b, c = rng.uniform(-1, 1, 3)
    bias = np.exp(style.bias * (a * yy + b * xx + c * (yy * xx)))[None].astype(np.float32)
    out = out * np.repeat(bias, k, axis=0)
    out = shapes.point_spread(out, (0.0, style.blur, style.blur))
    if style.ghost > 0:
        shift = max(1, round(float(rng.uniform(10.0, 40.0)) / float(spacing[1])))
        out = out + np.float32(style.ghost) * 0.5 * (np.roll(out, shift, axis=1) + np.roll(out, -shift, axis=1))
    out = np.clip(out, 0.0, None) ** np.float32(style.gamma)
    if style.psir:
        out = out - np.float32(style.myo * 0.8)  # phase-sensitive: nulled myocardium near zero, air negative-ish
    if style.crop > 0:  # zero-padded borders (as in resampled/cropped exports)
        n = int(style.crop * out.shape[1])
        side = int(rng.integers(0, 4))
        sl = [slice(None)] * 3
        sl[1 + side % 2] = slice(0, n) if side < 2 else slice(out.shape[1 + side % 2] - n, None)
        out[tuple(sl)] = 0.0
    return out.astype(np.float32)


def _paint_clutter(out: np.ndarray, labels: dict[str, np.ndarray], style: _Style, rng: np.random.Generator,
                   spacing: Sequence[float]) -> None:
    """Thoracic and upper-abdominal structures around the heart, as a real slice has them: organs, muscle and
    bowel as blobs of tissue-to-fat intensity, bright fat planes, vessels seen end-on in the lungs."""
    shape = out.shape[1:]
    jj, ii = np.meshgrid(np.arange(shape[0]) * float(spacing[1]), np.arange(shape[1]) * float(spacing[0]),
                         indexing="ij")
    free = labels["body"][0] & ~labels["heart"][0] & ~labels["lung"][0]
    extent = np.array([shape[0] * float(spacing[1]), shape[1] * float(spacing[0])])
    for _ in range(int(rng.integers(4, 14))):
        cj, ci = rng.uniform(0.0, 1.0, 2) * extent
        aj, ai = rng.uniform(5.0, 30.0, 2)
        ang = rng.uniform(0.0, np.pi)
        dj, di = jj - cj, ii - ci
        u, v = dj * np.cos(ang) + di * np.sin(ang), -dj * np.sin(ang) + di * np.cos(ang)
        rad = np.sqrt((u / aj) ** 2 + (v / ai) ** 2)
        level = float(rng.uniform(0.5, 1.0) * (style.fat if rng.random() < 0.3 else style.tissue * 1.6))
        shell = rng.random() < 0.4  # a plane (shell) rather than a solid organ
        inside = np.abs(rad - 1.0) < rng.uniform(0.05, 0.15) if shell else rad < 1.0
        out[0][free & inside] = level
    lung = labels["lung"][0]
    if lung.any():
        dots = rng.random(shape) < 0.004
        from scipy import ndimage

        if rng.random() < 0.5:  # vessels of one or three pixels (iterations=0 would dilate until the lung is full)
            dots = ndimage.binary_dilation(dots, iterations=1)
        dots &= lung
        out[0][dots] = style.tissue * float(rng.uniform(0.8, 1.5))


@dataclass
class _Heart:
    r_endo: float
    wall: float
    length: float
    rv_width: float
    jitter: np.ndarray
    blood: float
    fat: float
    noise: float
    wall_rng: np.random.Generator


@dataclass
class _Enhancement:
    pattern: str
    angle: float
    width: float
    depth: tuple[float, float]
    levels: tuple[float, float]
    intensity: float


def _draw_heart(rng: np.random.Generator) -> _Heart:
    return _Heart(
        r_endo=float(rng.uniform(18.0, 27.0)), wall=float(rng.uniform(7.0, 11.0)), length=float(rng.uniform(70, 90)),
        rv_width=float(rng.uniform(8.0, 16.0)), jitter=rng.uniform(-6.0, 6.0, 2), blood=float(rng.uniform(0.38, 0.5)),
        fat=float(rng.uniform(0.55, 0.75)), noise=float(rng.uniform(0.015, 0.035)),
        wall_rng=np.random.default_rng(rng.integers(2**32)),
    )


def _draw_enhancement(rng: np.random.Generator, grade: str, heart: _Heart, levels: tuple[float, float]
                      ) -> _Enhancement | None:
    """Random enhancement (or artefact) of a grade; ``levels`` is the long-axis range (fraction) it may cover."""
    territories = {"LAD": -0.5 * np.pi, "LCx": 0.1 * np.pi, "RCA": 0.5 * np.pi}  # anterior, lateral, inferior
    angle = float(territories[str(rng.choice(list(territories)))] + rng.uniform(-0.3, 0.3))
    lo, hi = levels
    span = float(rng.uniform(0.3, 0.6)) * (hi - lo)
    start = float(rng.uniform(lo, hi - span))
    if grade == "none":
        return None
    if grade == "clear":
        pattern = str(rng.choice(CLEAR_PATTERNS, p=[0.4, 0.3, 0.15, 0.15]))
        depth = {"subendocardial": (0.0, float(rng.uniform(0.4, 0.8))), "transmural": (0.0, 1.0),
                 "midwall": (0.3, 0.7), "subepicardial": (float(rng.uniform(0.3, 0.6)), 1.0)}[pattern]
        if pattern == "midwall":
            angle = float(np.pi + rng.uniform(-0.3, 0.3))  # septal stripe
        # a territory's infarct covers a quarter to almost half of the circumference in the slices it reaches
        return _Enhancement(pattern, angle, float(np.deg2rad(rng.uniform(70, 160))), depth, (start, start + span),
                            float(rng.uniform(0.85, 1.0)))
    pattern = str(rng.choice(SUBTLE_PATTERNS))
    if pattern == "faint":
        return _Enhancement(pattern, angle, float(np.deg2rad(rng.uniform(40, 90))), (0.0, float(rng.uniform(0.3, 0.6))),
                            (start, start + span), float(rng.uniform(0.15, 0.25)))
    if pattern == "small":
        return _Enhancement(pattern, angle, float(np.deg2rad(rng.uniform(10, 20))), (0.0, float(rng.uniform(0.3, 0.5))),
                            (start, start + max(span * 0.4, 0.08)), float(rng.uniform(0.7, 0.9)))
    return _Enhancement(pattern, angle, 0.0, (0.0, 0.0), (lo, hi), float(rng.uniform(0.15, 0.3)))


def _heart_coordinates(grid: Image, heart: _Heart, level_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heart-frame (p, q, l) mm of every voxel; the grid centre sits at ``level_mm`` on the long axis."""
    x, y, z = shapes.lps_coordinates(grid)
    h = SAX_DIRECTION
    p = h[0, 0] * x + h[1, 0] * y + h[2, 0] * z + np.float32(heart.jitter[0])
    q = h[0, 1] * x + h[1, 1] * y + h[2, 1] * z + np.float32(heart.jitter[1])
    ll = h[0, 2] * x + h[1, 2] * y + h[2, 2] * z + np.float32(level_mm)
    return p.astype(np.float32), q.astype(np.float32), ll.astype(np.float32)


def _render(grid: Image, heart: _Heart, level_mm: float, enh: _Enhancement | None, rng: np.random.Generator,
            style: _Style | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy image, LV myocardium mask and enhancement mask on ``grid``."""
    p, q, ll = _heart_coordinates(grid, heart, level_mm)
    r = np.sqrt(p * p + q * q)
    theta = np.arctan2(q, p)
    frac = np.clip(ll / heart.length, -1.0, 1.5)
    shape_rng = np.random.default_rng(heart.wall_rng.integers(2**32))
    wobble = shapes.fourier_field(p, q, ll, shape_rng, (25.0, 60.0), 8)
    taper = np.sqrt(np.clip(1.0 - frac**2, 0.0, 1.0))
    r_endo = heart.r_endo * taper * (1.0 + 0.04 * wobble)
    r_epi = (heart.r_endo + heart.wall) * np.sqrt(np.clip(1.0 - (ll / (heart.length + heart.wall)) ** 2, 0, 1))
    above_base = ll >= 0
    cavity = above_base & (r < r_endo)
    myo = above_base & (r >= r_endo) & (r < r_epi)
    # Right ventricle: a crescent on the septal (-p), slightly anterior side, shorter than the LV.
    rv_taper = np.sqrt(np.clip(1.0 - (ll / (0.8 * heart.length)) ** 2, 0.0, 1.0))
    r_epi0 = heart.r_endo + heart.wall
    rv_cx = -0.85 * r_epi0
    rv_ax = (0.6 * r_epi0 + heart.rv_width) * rv_taper
    rv_ay = 1.05 * r_epi0 * rv_taper
    rv_r = shapes.ellipse_radius(p, q, rv_cx, -4.0, np.maximum(rv_ax, 1e-3), np.maximum(rv_ay, 1e-3))
    outside_lv = r >= r_epi + 0.5
    rv_cavity = above_base & (rv_r < 1) & outside_lv & (rv_ax > 5)
    rv_wall = above_base & (rv_r >= 1) & (rv_r < 1 + 3.0 / np.maximum(rv_ax, 3.0)) & outside_lv & (rv_ax > 5)
    heart_all = cavity | myo | rv_cavity | rv_wall

    # Thorax background in the same frame (approximate, for context); randomised lungs with a style.
    lx, ly, ls = (rng.uniform(-15.0, 15.0, 2), rng.uniform(-15.0, 15.0, 2), rng.uniform(0.7, 1.15, 2)) \
        if style is not None else (np.zeros(2), np.zeros(2), np.ones(2))
    lung = ((shapes.ellipse_radius(p, q, 72.0 + lx[0], 10.0 + ly[0], 38.0 * ls[0], 60.0 * ls[0]) < 1)
            | (shapes.ellipse_radius(p, q, -78.0 + lx[1], 5.0 + ly[1], 35.0 * ls[1], 60.0 * ls[1]) < 1))
    body = shapes.ellipse_radius(p, q, 0.0, 10.0, 150.0, 95.0) < 1
    subcut = body & (shapes.ellipse_radius(p, q, 0.0, 10.0, 138.0, 83.0) >= 1)
    liver = shapes.ellipse_radius(p, q, -55.0, 62.0, 55.0, 30.0) < 1
    epi_fat = ~heart_all & (r < r_epi + 4.0) & (np.cos(theta - 0.8) > 0.2) & above_base

    img = np.zeros(p.shape, dtype=np.float32)
    img[body] = 0.2
    img[subcut] = heart.fat
    img[liver] = 0.27
    img[lung] = 0.03
    img[epi_fat] = heart.fat * 0.9
    img[rv_wall] = 0.06
    img[rv_cavity] = heart.blood * 0.95
    img[cavity] = heart.blood
    img[myo] = 0.05

    papillary = np.zeros(p.shape, dtype=bool)
    if style is not None:  # papillary muscles: nulled (dark) spots inside the cavity at mid-ventricular levels
        for angle in (-0.25 * np.pi, 0.6 * np.pi):
            a = angle + rng.uniform(-0.3, 0.3)
            rad = float(rng.uniform(2.5, 5.5))
            cp, cq = np.cos(a) * (r_endo - rad - 1.0), np.sin(a) * (r_endo - rad - 1.0)
            papillary |= cavity & ((p - cp) ** 2 + (q - cq) ** 2 < rad**2) & (frac > 0.15) & (frac < 0.75)
        img[papillary] = 0.05

    enhanced = np.zeros(p.shape, dtype=bool)
    no_reflow = np.zeros(p.shape, dtype=bool)
    if enh is not None and enh.pattern in _TRUE_ENHANCEMENT:
        thickness = np.maximum(r_epi - r_endo, 1e-3)
        depth = (r - r_endo) / thickness
        dang = np.angle(np.exp(1j * (theta - enh.angle)))
        lev = ll / heart.length
        # irregular scar borders, as real infarcts have (part of the heart's shape: the same with or without style)
        ragged = shapes.fourier_field(p, q, ll, shape_rng, (6.0, 20.0), 8)
        width = enh.width / 2 * (1.0 + 0.25 * ragged)
        deep_edge = np.clip(enh.depth[1] + 0.15 * ragged, 0.15, 1.0) if enh.depth[1] < 1.0 else enh.depth[1]
        enhanced = (myo & (np.abs(dang) < width) & (depth >= enh.depth[0]) & (depth <= deep_edge)
                    & (lev >= enh.levels[0]) & (lev <= enh.levels[1]))
        img[enhanced] = enh.intensity
        if style is not None and enh.pattern in ("transmural", "subendocardial") and rng.random() < 0.3:
            # microvascular obstruction (EMIDEC's "no-reflow"): a dark core inside the bright scar
            no_reflow = enhanced & (np.abs(dang) < 0.4 * width) & (depth > 0.1) & (depth < 0.5 * deep_edge)
    elif enh is not None:
        lev = ll / heart.length
        in_range = (lev >= enh.levels[0]) & (lev <= enh.levels[1])
        if enh.pattern == "poor_nulling":
            patch = shapes.fourier_field(p, q, ll, rng, (10.0, 25.0), 8)
            img[myo & in_range] = (0.12 + enh.intensity * (0.6 + 0.25 * patch))[myo & in_range]
        elif enh.pattern == "blood_pool":
            trab = shapes.fourier_field(p, q, ll, rng, (4.0, 8.0), 12)
            fingers = myo & in_range & (r < r_endo + 1.0 + 1.5 * np.maximum(trab, 0.0))
            img[(cavity & in_range) | fingers] = heart.blood + 0.25
    if style is not None:
        labels = {"body": body, "subcut": subcut, "liver": liver, "lung": lung, "epi_fat": epi_fat,
                  "rv_cavity": rv_cavity, "cavity": cavity & ~papillary, "myo": myo | papillary,
                  "enhanced": enhanced & ~no_reflow, "heart": heart_all | epi_fat,
                  "strength": float(enh.intensity) if enh is not None else 0.0}
        if enh is not None and enh.pattern not in _TRUE_ENHANCEMENT:
            labels["myo"] = (myo | papillary) & ~(img > 0.05)  # keep artefact paint (poor nulling, fingers)
            labels["cavity"] = cavity & ~papillary & ~(img > heart.blood)
        clean = _apply_style(img, labels, style, rng, grid.spacing)
    else:
        clean = shapes.point_spread(img, (0.0, 0.7, 0.7))
    if enh is not None and enh.pattern == "ghosting":
        shift_mm = rng.uniform(15.0, 35.0)
        shift = max(1, round(shift_mm / grid.spacing[1]))
        ghost = 0.5 * (np.roll(clean, shift, axis=1) + np.roll(clean, -shift, axis=1))
        clean = clean + np.float32(enh.intensity * 1.5) * ghost
    gain = float(rng.uniform(700.0, 1300.0))
    if style is not None and style.psir:
        out = (clean + rng.normal(0.0, style.noise, clean.shape).astype(np.float32)) * np.float32(gain)
        return out.astype(np.float32), myo.astype(np.uint8), enhanced.astype(np.uint8)
    noise = heart.noise if style is None else style.noise
    out = shapes.rician(clean * np.float32(gain), noise * gain, rng)
    return out, myo.astype(np.uint8), enhanced.astype(np.uint8)


def _check_grade(enhancement: str) -> str:
    grade = "subtle" if enhancement == "ambiguous" else enhancement
    if grade not in LGE_ENHANCEMENT_GRADES:
        known = ", ".join(LGE_ENHANCEMENT_GRADES)
        raise ValueError(f"unknown LGE enhancement grade {enhancement!r}; use one of {known}")
    return grade


MIN_CLEAR_AREA_MM2 = 20.0
"""A clear pattern that shows less than this area of enhancement in a slice (its edge just grazing the slice) is
graded as the ``small`` subtle pattern there: readers would not call a sliver certain."""


def _truth(grade: str, enh: _Enhancement | None, level: float, enhanced: np.ndarray,
           rng: np.random.Generator, pixel_area_mm2: float) -> tuple[str, str, float, str, bool]:
    """(grade, pattern, likelihood, certainty, has_enhancement) of one slice."""
    if enh is None or (enh.pattern in _TRUE_ENHANCEMENT and not enhanced.any()) or not (
            enh.levels[0] <= level <= enh.levels[1]):
        grade, pattern = "none", "none"
    else:
        pattern = enh.pattern
        if pattern in CLEAR_PATTERNS and float(enhanced.sum()) * pixel_area_mm2 < MIN_CLEAR_AREA_MM2:
            pattern = "small"
        grade = "clear" if pattern in CLEAR_PATTERNS else "subtle"
    lo, hi = _LIKELIHOOD[pattern]
    likelihood = float(np.round(rng.uniform(lo, hi), 1))
    return grade, pattern, likelihood, ("low" if grade == "subtle" else "high"), pattern in _TRUE_ENHANCEMENT


def _slice_grid(size: Sequence[int], spacing: Sequence[float], thickness: float, origin: Sequence[float] | None,
                direction: np.ndarray | Sequence[Sequence[float]] | None, n_slices: int) -> Image:
    d = SAX_DIRECTION if direction is None else direction
    return shapes.make_grid((int(size[0]), int(size[1]), n_slices), (float(spacing[0]), float(spacing[1]), thickness),
                            origin, d)


def make_lge_slice(
    seed: int,
    enhancement: str = "none",
    size: Sequence[int] = (96, 96),
    spacing: Sequence[float] = (1.5, 1.5),
    slice_thickness: float = 8.0,
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
    randomize: bool = False,
) -> LgeSlice:
    """One short-axis LGE slice (``(1, J, I)`` image) of grade ``none``, ``clear`` or ``subtle`` (alias ``ambiguous``).

    The same seed gives the same heart whatever the grade.  ``direction`` defaults to
    :data:`SAX_DIRECTION`; ``origin`` to a grid centred on LPS (0, 0, 0). ``randomize`` adds domain
    randomisation (PSIR or magnitude appearance, nulling error, coil bias, ghosting/motion, noise, resolution,
    padded borders). ``reader_ratings`` holds two simulated readers (:func:`simulate_readers`).
    """
    grade = _check_grade(enhancement)
    rng_anat, rng_enh, rng_noise = (shapes.rng_stream(seed, s) for s in (20, 21, 22))
    heart = _draw_heart(rng_anat)
    level = float(rng_anat.uniform(0.1, 0.6))
    enh = _draw_enhancement(rng_enh, grade, heart, (level - 0.05, level + 0.05))
    if enh is not None:
        enh.levels = (min(enh.levels[0], level - 0.02), max(enh.levels[1], level + 0.02))
    grid = _slice_grid(size, spacing, slice_thickness, origin, direction, 1)
    style = _draw_style(shapes.rng_stream(seed, 23)) if randomize else None
    img, myo, enhanced = _render(grid, heart, level * heart.length, enh, rng_noise, style)
    if enh is not None and enh.pattern in _TRUE_ENHANCEMENT and not enhanced.any():
        logger.info("LGE phantom: the enhancement missed this slice; it is graded none")
    g, pattern, likelihood, certainty, has = _truth(grade, enh, level, enhanced, rng_enh,
                                                    float(grid.spacing[0] * grid.spacing[1]))
    readers = simulate_readers(likelihood, pattern, shapes.rng_stream(seed, 24))
    meta = {"phantom": "lge", "seed": int(seed), "modality": "MR", "contrast": "LGE"}
    return LgeSlice(
        image=grid.with_array(img, **meta, description="short-axis LGE, inversion recovery (phantom)"),
        myocardium_mask=grid.with_array(myo, **meta, description="LV myocardium"),
        enhancement_mask=grid.with_array(enhanced, **meta, description="true enhancement"),
        enhancement=g, pattern=pattern, likelihood=likelihood, certainty=certainty, has_enhancement=has,
        seed=int(seed), reader_ratings=readers,
    )


def make_lge_stack(
    seed: int,
    n_slices: int = 12,
    enhancement: str | None = None,
    size: Sequence[int] = (96, 96),
    spacing: Sequence[float] = (1.5, 1.5),
    slice_spacing: float | None = None,
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> tuple[Image, list[LgeSlice]]:
    """A base-to-apex short-axis stack (slices along ``k``) and the truth of every slice.

    ``enhancement`` is the grade of the heart (random when ``None``); slices the
    enhancement does not reach are graded ``none``.  ``slice_spacing`` defaults to
    covering the LV from near the base to near the apex (at most 10 mm).
    """
    if n_slices < 1:
        raise ValueError(f"n_slices must be >= 1, got {n_slices}")
    rng_anat, rng_enh, rng_noise = (shapes.rng_stream(seed, s) for s in (20, 21, 22))
    heart = _draw_heart(rng_anat)
    grade = _check_grade(str(rng_enh.choice(LGE_ENHANCEMENT_GRADES)) if enhancement is None else enhancement)
    first, last = 0.06 * heart.length, 0.9 * heart.length
    step = float(slice_spacing) if slice_spacing else min(10.0, (last - first) / max(n_slices - 1, 1))
    levels = [(first + k * step) / heart.length for k in range(n_slices)]
    enh = _draw_enhancement(rng_enh, grade, heart, (levels[0], levels[-1]))
    grid = _slice_grid(size, spacing, step, origin, direction, n_slices)
    mid = first + step * (n_slices - 1) / 2
    img, myo, enhanced = _render(grid, heart, mid, enh, rng_noise)
    meta = {"phantom": "lge", "seed": int(seed), "modality": "MR", "contrast": "LGE"}
    slices = []
    for k in range(n_slices):
        sub = Image(img[k:k + 1], grid.spacing, tuple(grid.index_to_lps(np.array([[0.0, 0.0, k]]))[0]),
                    grid.direction)
        g, pattern, likelihood, certainty, has = _truth(grade, enh, levels[k], enhanced[k], rng_enh,
                                                        float(grid.spacing[0] * grid.spacing[1]))
        slices.append(LgeSlice(
            image=sub.with_array(img[k:k + 1], **meta, description=f"short-axis LGE slice {k} (phantom)"),
            myocardium_mask=sub.with_array(myo[k:k + 1], **meta, description="LV myocardium"),
            enhancement_mask=sub.with_array(enhanced[k:k + 1], **meta, description="true enhancement"),
            enhancement=g, pattern=pattern, likelihood=likelihood, certainty=certainty, has_enhancement=has,
            seed=int(seed),
        ))
    stack = grid.with_array(img, **meta, grade=grade, description="short-axis LGE stack, base to apex (phantom)")
    return stack, slices
