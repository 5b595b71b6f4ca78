"""Seeded whole-body phantom: axial slices from head to feet with per-slice body-region labels.

The body lies supine along the scanner axis; each voxel's height below the vertex
``h`` (mm) comes from its LPS superior coordinate, and its cross-section from
region-appropriate shapes at that height (skull and brain, orbits and sinuses,
neck with airway and spine, shoulders, lungs and heart, abdominal organs, pelvis
and bladder, hips, two thighs, knees, lower legs, ankles, feet, and the arms by the
sides of the trunk).  Heights are those of a 1750 mm adult in anatomical position,
scaled per case.  CT is in Hounsfield units; MR is a T1-weighted-like image in
arbitrary units (fat bright, fluid and cortical bone dark).

Three chains of regions can be scanned: the axial chain (head ... foot), an arm on
its own (``upper_arm`` ... ``hand``; beside the trunk the arms count as the trunk
region) and, for MR only, a dedicated prone breast examination (``breast``).
The per-slice label is the region at the slice centre; labels are monotone
non-decreasing from head to feet within a chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import UPPER_LIMB_REGIONS, LabelSet, body_region_labelset
from radtriage.phantoms import shapes
from radtriage.preprocess.resample import block_mean

logger = logging.getLogger(__name__)

# Where each region starts, mm below the vertex, for a 1750 mm adult; the last entry is the chain's end.
AXIAL_CHAIN: tuple[tuple[str, float], ...] = (
    ("head", 0.0), ("face", 110.0), ("neck", 215.0), ("shoulder", 285.0), ("chest", 360.0), ("abdomen", 540.0),
    ("pelvis", 740.0), ("hip", 840.0), ("thigh", 930.0), ("knee", 1230.0), ("lower_leg", 1340.0),
    ("ankle", 1640.0), ("foot", 1700.0), ("", 1750.0),
)
ARM_CHAIN: tuple[tuple[str, float], ...] = (
    ("upper_arm", 400.0), ("elbow", 640.0), ("forearm", 700.0), ("hand", 870.0), ("", 1080.0),
)
BREAST_CHAIN: tuple[tuple[str, float], ...] = (("breast", 380.0), ("", 520.0))

AIR, FAT, MUSCLE, BONE, MARROW, LUNG, BRAIN, CSF, BLOOD, LIVER, SPLEEN, KIDNEY, BOWEL, GAS, FLUID, GLAND, TABLE = (
    range(17))
TISSUE_NAMES: tuple[str, ...] = ("air", "fat", "muscle", "cortical_bone", "marrow", "lung", "brain", "csf", "blood",
                                 "liver", "spleen", "kidney", "bowel", "gas", "fluid", "gland", "table")
_CT_HU = np.array([-1000, -100, 50, 900, 250, -850, 35, 8, 45, 60, 50, 35, 30, -950, 5, 30, 250], dtype=np.float32)
_MR_T1 = np.array([0, 950, 350, 30, 800, 25, 550, 150, 220, 500, 400, 420, 380, 0, 120, 380, 0], dtype=np.float32)


@dataclass
class BodyCase:
    """A body phantom: image, per-slice region labels (indexed by k) and their label set.

    ``structures`` is a TotalSegmentator-style label map of the named structures (brain, skull, lungs, heart,
    liver, kidneys, hip bones, sacrum, bladder, femora ...; one id per structure, ``structure_names`` maps
    ids to TotalSegmentator's names) for deriving slice labels from a segmentation."""

    image: Image
    slice_labels: np.ndarray
    labelset: LabelSet
    tissue: Image
    structures: Image
    structure_names: dict[int, str]
    modality: str
    start_region: str
    end_region: str
    seed: int

    @property
    def region_names(self) -> list[str]:
        """Region name of every slice, indexed by k."""
        return [self.labelset.names[i] for i in self.slice_labels]

    def slice_order_head_to_feet(self) -> np.ndarray:
        """Slice indices sorted from the most superior to the most inferior slice centre."""
        ni, nj, nk = self.image.size
        centres = self.image.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, k] for k in range(nk)]))
        return np.argsort(-centres[:, 2], kind="stable")


def _chain_of(region: str, modality: str) -> tuple[tuple[str, float], ...]:
    if region in UPPER_LIMB_REGIONS:
        return ARM_CHAIN
    if region == "breast":
        if modality != "MR":
            raise ValueError("region 'breast' exists only in the MR label set")
        return BREAST_CHAIN
    if region not in [n for n, _ in AXIAL_CHAIN[:-1]]:
        raise ValueError(f"unknown body region {region!r}")
    return AXIAL_CHAIN


def _region_span(chain: tuple[tuple[str, float], ...], region: str) -> tuple[float, float]:
    names = [n for n, _ in chain]
    i = names.index(region)
    return chain[i][1], chain[i + 1][1]


def _label_at(chain: tuple[tuple[str, float], ...], h: np.ndarray) -> list[str]:
    starts = np.array([s for _, s in chain[:-1]])
    idx = np.clip(np.searchsorted(starts, h, side="right") - 1, 0, len(starts) - 1)
    return [chain[i][0] for i in idx]


def _interp(h: np.ndarray, knots: Sequence[float], values: Sequence[float]) -> np.ndarray:
    return np.interp(h, knots, values).astype(np.float32)


@dataclass
class _Habitus:
    height: float  # scale of the standard heights
    width: float  # scale of cross-sections
    fat: float  # subcutaneous fat thickness, mm
    female: bool
    arms_down: bool
    shift: np.ndarray
    yaw: float
    sacrum_end: float = 875.0  # how far down the sacrum and coccyx reach (coccyx tip), standard mm
    sacrum_top: float = 775.0  # top of the sacrum (S1 endplate), below the iliac crests; L5 sits above it
    bladder_fill: float = 1.0  # bladder size (0.3 nearly empty ... 1.3 full)
    wing: float = 1.0  # thickness scale of the iliac wings


Mask = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _trunk_axes(h: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Half-width and half-depth (mm) of the neck/trunk outline at height ``h`` (standard body)."""
    knots = [200, 230, 280, 300, 360, 540, 740, 840, 930]
    a = _interp(h, knots, [50, 52, 60, 175, 165, 150, 170, 180, 180]) * w
    b = _interp(h, knots, [52, 55, 60, 105, 115, 112, 108, 108, 108]) * w
    return a, b


def _leg_centre(h: np.ndarray, w: float) -> np.ndarray:
    return _interp(h, [930, 1230, 1700], [92, 95, 90]) * w


def _leg_radius(h: np.ndarray, w: float) -> np.ndarray:
    return _interp(h, [900, 930, 1230, 1340, 1400, 1640, 1700], [95, 85, 58, 52, 55, 34, 38]) * w


def _arm_profile(h: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Half-width (x) and half-depth (y) of an arm at height ``h`` (upper arm to fingertips)."""
    knots = [400, 640, 700, 870, 900, 1080]
    return (_interp(h, knots, [45, 40, 36, 28, 42, 30]) * w, _interp(h, knots, [45, 38, 33, 22, 16, 10]) * w)


def _structures(hb: _Habitus, chain_name: str) -> list[tuple[float, float, int, Mask, str]]:
    """Ordered (h0, h1, tissue, mask, structure) drawing list; later entries paint over earlier ones.

    ``structure`` names the anatomical structure (TotalSegmentator's names) for the structure label map, ``""``
    for unnamed soft tissue."""
    w = hb.width
    out: list[tuple[float, float, int, Mask, str]] = []

    def add(h0: float, h1: float, tissue: int, fn: Mask, structure: str = "") -> None:
        out.append((h0, h1, tissue, fn, structure))

    def head_r(x: np.ndarray, y: np.ndarray, h: np.ndarray, shrink: float = 0.0) -> np.ndarray:
        t = np.clip(1.0 - ((h - 112.0) / 112.0) ** 2, 1e-4, 1.0)
        return shapes.ellipse_radius(x, y, 0.0, 5.0, np.maximum(75 * w * np.sqrt(t) - shrink, 0.5),
                                     np.maximum(95 * w * np.sqrt(t) - shrink, 0.5))

    def leg_r(x: np.ndarray, y: np.ndarray, h: np.ndarray, s: float, scale: float = 1.0,
              dx: float = 0.0, dy: float = 0.0, ry: float = 1.0) -> np.ndarray:
        r = _leg_radius(h, w) * scale
        return shapes.ellipse_radius(x, y, s * (_leg_centre(h, w) + dx), dy, r, r * ry)

    def arm_xy(x: np.ndarray, y: np.ndarray, h: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
        if chain_name == "arm":
            return x, y
        a, _ = _trunk_axes(np.minimum(h, 930.0), w)
        ax, _ = _arm_profile(h, w)
        return x - s * (a + ax + 10.0), y

    if chain_name == "arm":
        _arm(add, arm_xy, 1.0, w)
        return out
    if hb.arms_down:
        for s in (-1.0, 1.0):
            _arm(add, arm_xy, s, w)

    # Head: scalp, skull, brain, ventricles; face: orbits, sinuses, nasal cavity, jaw.
    add(0, 224, MUSCLE, lambda x, y, h: head_r(x, y, h) < 1)
    add(0, 200, BONE, lambda x, y, h: (head_r(x, y, h, 5) < 1) & ((head_r(x, y, h, 12) >= 1) | (h > 125))
        & ((h < 125) | (y > 10 * w)), "skull")
    add(110, 140, BONE, lambda x, y, h: shapes.ellipse_radius(x, y, 0, 0, 60 * w, 12 * w) < 1, "skull")
    add(0, 125, BRAIN, lambda x, y, h: head_r(x, y, h, 12) < 1, "brain")
    add(40, 90, CSF, lambda x, y, h: (np.abs(np.abs(x) - 8 * w) < 4 * w) & (np.abs(y + 5) < 22 * w))
    add(110, 175, BRAIN, lambda x, y, h: shapes.ellipse_radius(x, y, 0, 35 * w, 45 * w, 35 * w) < 1, "brain")
    add(115, 150, FLUID, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 32 * w, -62 * w, 12 * w, 12 * w) < 1)
    add(140, 185, GAS, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 24 * w, -48 * w, 14 * w, 16 * w) < 1)
    add(135, 200, GAS, lambda x, y, h: shapes.ellipse_radius(x, y, 0, -60 * w, 5 * w, 18 * w) < 1)
    add(185, 222, BONE, lambda x, y, h: (shapes.ellipse_radius(x, y, 0, -20 * w, 55 * w, 62 * w) < 1)
        & (shapes.ellipse_radius(x, y, 0, -20 * w, 47 * w, 54 * w) >= 1) & (y < -10 * w), "skull")
    # Neck and trunk outline with subcutaneous fat.
    add(200, 935, FAT, lambda x, y, h: _trunk_r(x, y, h, w, 0.0) < 1)
    add(200, 935, MUSCLE, lambda x, y, h: _trunk_r(x, y, h, w, hb.fat) < 1)
    # Spine (vertebral bodies with marrow, posterior arch and spinous process, canal with CSF) from the skull base
    # to the sacrum.
    # The lumbar column reaches below the iliac crests: L5 lies between the wings, above the sacrum.
    for v0, v1, level in ((150, 282, "vertebrae_C4"), (282, 560, "vertebrae_T6"),
                          (560, hb.sacrum_top + 5.0, "vertebrae_L3")):
        add(v0, v1, MARROW, lambda x, y, h: shapes.ellipse_radius(x, y, 0, _spine_y(h, w), 16 * w, 14 * w) < 1, level)
        add(v0, v1, BONE, lambda x, y, h: _neural_arch(x, y, h, w), level)
    add(150, 800, CSF, lambda x, y, h: shapes.ellipse_radius(x, y, 0, _spine_y(h, w) + 24 * w, 7 * w, 7 * w) < 1)
    add(220, 430, GAS, lambda x, y, h: shapes.ellipse_radius(x, y, 0, _interp(h, [220, 430], [-25, 0]) * w,
                                                             8 * w, 8 * w) < 1)
    add(230, 420, BLOOD, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 22 * w, -8 * w, 5 * w, 5 * w) < 1)
    # Shoulders: humeral heads, clavicles, scapulae.
    add(295, 360, BONE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 145 * w, 0, 24 * w, 24 * w) < 1,
        "humerus_left")
    add(295, 360, MARROW, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 145 * w, 0, 19 * w, 19 * w) < 1,
        "humerus_left")
    add(288, 312, BONE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 70 * w, -85 * w, 60 * w, 8 * w) < 1,
        "clavicula_left")
    add(300, 440, BONE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 95 * w, 75 * w, 45 * w, 7 * w) < 1,
        "scapula_left")
    # Chest: lungs, heart, aorta, ribs, sternum.
    add(300, 580, LUNG, lambda x, y, h: _lung(x, y, h, w), "lung_lower_lobe_left")
    add(420, 545, BLOOD, lambda x, y, h: shapes.ellipse_radius(x, y, 22 * w, -22 * w, 55 * w, 45 * w) < 1, "heart")
    add(420, 545, MUSCLE, lambda x, y, h: (shapes.ellipse_radius(x, y, 22 * w, -22 * w, 55 * w, 45 * w) < 1)
        & (shapes.ellipse_radius(x, y, 22 * w, -22 * w, 45 * w, 35 * w) >= 1), "heart")
    add(380, 820, BLOOD, lambda x, y, h: shapes.ellipse_radius(x, y, 14 * w, _spine_y(h, w) - 28 * w,
                                                               11 * w, 11 * w) < 1)
    add(310, 640, BONE, lambda x, y, h: _ribs(x, y, h, w, hb.fat))
    add(330, 530, BONE, lambda x, y, h: shapes.ellipse_radius(x, y, 0, -(_trunk_axes(h, w)[1] - hb.fat - 12 * w),
                                                              16 * w, 7 * w) < 1)
    if hb.female:
        add(380, 520, FAT, lambda x, y, h: _breast(x, y, h, w, 1.0))
        add(390, 505, GLAND, lambda x, y, h: _breast(x, y, h, w, 0.6))
    # Abdomen: liver, spleen, kidneys, bowel, psoas.
    add(510, 700, LIVER, lambda x, y, h: shapes.ellipse_radius(x, y, -55 * w, -5 * w, _interp(h, [510, 560, 700],
                                                               [40, 90, 35]) * w, 80 * w) < 1, "liver")
    add(545, 650, SPLEEN, lambda x, y, h: shapes.ellipse_radius(x, y, 90 * w, 45 * w, 32 * w, 45 * w) < 1, "spleen")
    add(600, 730, KIDNEY, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 68 * w, 50 * w, 27 * w, 33 * w) < 1,
        "kidney_left")
    add(600, 850, BOWEL, lambda x, y, h: _bowel(x, y, h, w, hb.fat), "small_bowel")
    add(600, 850, GAS, lambda x, y, h: _bowel(x, y, h, w, hb.fat) & (_gas_pattern(x, y, h) > 0.75))
    add(560, 620, GAS, lambda x, y, h: shapes.ellipse_radius(x, y, 45 * w, -45 * w, 35 * w, 22 * w) < 1)
    add(660, 860, MUSCLE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 42 * w, _spine_y(h, w), 18 * w,
                                                                18 * w) < 1)
    # Pelvis (iliac crests to the top of the femoral heads): flaring iliac wings, joined below L5 to the sacrum;
    # bladder.
    add(740, 848, BONE, lambda x, y, h: _ilium(x, y, h, w, 0.0, hb.wing), "hip_left")
    add(740, 848, MARROW, lambda x, y, h: _ilium(x, y, h, w, 2.5 * w, hb.wing), "hip_left")
    add(hb.sacrum_top, hb.sacrum_end, BONE, lambda x, y, h: _sacrum(x, y, h, w, 0.0, hb.sacrum_top, hb.sacrum_end),
        "sacrum")
    add(hb.sacrum_top, hb.sacrum_end, MARROW,
        lambda x, y, h: _sacrum(x, y, h, w, 4.0 * w, hb.sacrum_top, hb.sacrum_end), "sacrum")
    add(795, 880, FLUID, lambda x, y, h: shapes.ellipse_radius(x, y, 0, -45 * w, _interp(h, [795, 830, 880],
                                                               [25, 45, 30]) * w * hb.bladder_fill,
                                                               35 * w * hb.bladder_fill) < 1, "urinary_bladder")
    # Hip (femoral heads to the ischial tuberosities): acetabula around the femoral heads, femoral necks and
    # greater trochanters, pubic rami and symphysis, ischial tuberosities.
    add(835, 880, BONE, lambda x, y, h: _acetabulum(x, y, h, w), "hip_left")
    add(840, 885, BONE, lambda x, y, h: _femoral_head(x, y, h, w, 0.0), "femur_left")
    add(840, 885, MARROW, lambda x, y, h: _femoral_head(x, y, h, w, 4.0 * w), "femur_left")
    add(872, 912, BONE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, _interp(h, [872, 912], [105, 98]) * w,
                                                              5 * w, 30 * w, 19 * w) < 1, "femur_left")
    add(872, 912, MARROW, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, _interp(h, [872, 912], [105, 98]) * w,
                                                                5 * w, 24 * w, 13 * w) < 1, "femur_left")
    add(878, 918, BONE, lambda x, y, h: (shapes.ellipse_radius(np.abs(x), y, 38 * w, -62 * w, 32 * w, 9 * w) < 1)
        & (shapes.ellipse_radius(np.abs(x), y, 38 * w, -62 * w, 24 * w, 4 * w) >= 1), "hip_left")
    add(885, 935, BONE, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 55 * w, 45 * w, 16 * w, 20 * w) < 1,
        "hip_left")
    add(890, 930, MARROW, lambda x, y, h: shapes.ellipse_radius(np.abs(x), y, 55 * w, 45 * w, 10 * w, 14 * w) < 1,
        "hip_left")
    # Legs: thighs with femur, knees, lower legs with tibia and fibula, ankles, feet.
    for s in (-1.0, 1.0):
        add(920, 1700, FAT, lambda x, y, h, s=s: leg_r(x, y, h, s) < 1)
        add(920, 1700, MUSCLE, lambda x, y, h, s=s: leg_r(x, y, h, s, 0.88) < 1)
        add(905, 1240, BONE, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * _leg_centre(h, w), 0,
                                                                        15 * w, 15 * w) < 1, "femur_left")
        add(905, 1230, MARROW, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * _leg_centre(h, w), 0,
                                                                          9 * w, 9 * w) < 1, "femur_left")
        add(1230, 1345, MARROW, lambda x, y, h, s=s: leg_r(x, y, h, s, 0.72, dy=5 * w, ry=0.75) < 1)
        add(1215, 1275, BONE, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * _leg_centre(h, w), -48 * w,
                                                                         20 * w, 9 * w) < 1)
        add(1340, 1690, BONE, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * (_leg_centre(h, w) - 8 * w),
                                                                         -12 * w, 13 * w, 13 * w) < 1)
        add(1340, 1680, MARROW, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * (_leg_centre(h, w) - 8 * w),
                                                                           -12 * w, 7 * w, 7 * w) < 1)
        add(1345, 1690, BONE, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * (_leg_centre(h, w) + 22 * w),
                                                                         8 * w, 7 * w, 7 * w) < 1)
        add(1665, 1712, MARROW, lambda x, y, h, s=s: shapes.ellipse_radius(x, y, s * _leg_centre(h, w), 0,
                                                                           24 * w, 24 * w) < 1)
        add(1695, 1750, FAT, lambda x, y, h, s=s: _foot(x, y, h, w, s, 1.0))
        add(1695, 1750, MUSCLE, lambda x, y, h, s=s: _foot(x, y, h, w, s, 0.85))
        add(1700, 1745, MARROW, lambda x, y, h, s=s: _foot_bones(x, y, h, w, s))
    return out


def _arm(add: Callable[[float, float, int, Mask], None], arm_xy: Callable, s: float, w: float) -> None:
    def outline(x: np.ndarray, y: np.ndarray, h: np.ndarray, scale: float = 1.0) -> np.ndarray:
        ax, ay = _arm_profile(h, w)
        u, v = arm_xy(x, y, h, s)
        return shapes.ellipse_radius(u, v, 0, 0, ax * scale, ay * scale) < 1

    def bone(x: np.ndarray, y: np.ndarray, h: np.ndarray, r: float, dx: float = 0.0, r_y: float | None = None
             ) -> np.ndarray:
        u, v = arm_xy(x, y, h, s)
        return shapes.ellipse_radius(u, v, dx * w, 0, r * w, (r_y or r) * w) < 1

    add(400, 1080, FAT, outline)
    add(400, 1070, MUSCLE, lambda x, y, h: outline(x, y, h, 0.85))
    add(400, 650, BONE, lambda x, y, h: bone(x, y, h, 12))
    add(400, 640, MARROW, lambda x, y, h: bone(x, y, h, 7))
    add(640, 700, MARROW, lambda x, y, h: bone(x, y, h, 28, r_y=14))
    add(700, 880, BONE, lambda x, y, h: bone(x, y, h, 8, dx=-12) | bone(x, y, h, 7, dx=12))
    add(880, 1060, BONE, lambda x, y, h: (np.cos(arm_xy(x, y, h, s)[0] / (8 * w)) > 0.3) & outline(x, y, h, 0.55))


def _trunk_r(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, inset: float) -> np.ndarray:
    a, b = _trunk_axes(h, w)
    return shapes.ellipse_radius(x, y, 0, 0, np.maximum(a - inset, 1.0), np.maximum(b - inset, 1.0))


def _spine_y(h: np.ndarray, w: float) -> np.ndarray:
    return _interp(h, [150, 280, 320, 740, 860], [20, 15, 55, 55, 70]) * w


def _lung(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float) -> np.ndarray:
    size_r = _interp(h, [300, 420, 520, 560], [0.25, 1.0, 0.8, 0.0])  # right base higher (liver)
    size_l = _interp(h, [300, 420, 540, 580], [0.25, 1.0, 0.85, 0.0])
    right = shapes.ellipse_radius(x, y, -72 * w, 5 * w, np.maximum(58 * w * size_r, 1e-3),
                                  np.maximum(80 * w * size_r, 1e-3)) < 1
    left = shapes.ellipse_radius(x, y, 72 * w, 5 * w, np.maximum(55 * w * size_l, 1e-3),
                                 np.maximum(80 * w * size_l, 1e-3)) < 1
    return right | left


def _ribs(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, fat: float) -> np.ndarray:
    r = _trunk_r(x, y, h, w, fat + 4 * w)
    band = (r < 1) & (_trunk_r(x, y, h, w, fat + 12 * w) >= 1)
    return band & (np.cos(2 * np.pi * h / 25.0) > 0.2) & (np.abs(x) > 15 * w)


def _breast(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, scale: float) -> np.ndarray:
    t = np.clip(1.0 - ((h - 450.0) / 70.0) ** 2, 0, 1)
    _, b = _trunk_axes(h, w)
    return (shapes.ellipse_radius(np.abs(x), y, 70 * w, -(b - 10 * w), np.maximum(60 * w * t * scale, 1e-3),
                                  np.maximum(55 * w * t * scale, 1e-3)) < 1) & (y < 0)


def _bowel(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, fat: float) -> np.ndarray:
    inner = _trunk_r(x, y, h, w, fat + 15 * w) < 1
    return inner & (y < 25 * w) & (np.abs(x) < 110 * w)


def _gas_pattern(x: np.ndarray, y: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.cos(x / 9.0) * np.cos(y / 7.0 + h / 23.0) * np.cos(h / 11.0 + x / 13.0)


def _segment_2d(x: np.ndarray, y: np.ndarray, p0: tuple[np.ndarray, np.ndarray],
                p1: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Distance (mm) of in-plane points from the segment p0-p1 (end points may vary per voxel)."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / np.maximum(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    return np.hypot(x - p0[0] - t * dx, y - p0[1] - t * dy)


def _neural_arch(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float) -> np.ndarray:
    """Posterior elements of a vertebra: the arch behind the spinal canal and the spinous process."""
    canal = _spine_y(h, w) + 24 * w
    arch = (shapes.ellipse_radius(x, y, 0, canal, 13 * w, 12 * w) < 1) & (y > canal - 3 * w)
    spinous = shapes.ellipse_radius(x, y, 0, canal + 22 * w, 4 * w, 13 * w) < 1
    return arch | spinous


def _ilium(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, inset: float, thick: float = 1.0) -> np.ndarray:
    """Iliac wings: at the crest a short posterolateral plate that lengthens downward into thin plates flaring
    from the sacro-iliac joints forward and outward, narrowing into the thick ilium body above the acetabulum, a
    bar running front to back over the femoral head (``thick`` scales the plate thickness)."""
    knots = [740, 755, 770, 800, 825, 848]
    p0 = (_interp(h, knots, [100, 72, 60, 58, 66, 78]) * w, _interp(h, knots, [50, 66, 70, 60, 46, 34]) * w)
    p1 = (_interp(h, knots, [128, 136, 138, 124, 108, 98]) * w, _interp(h, knots, [20, -8, -22, -32, -34, -28]) * w)
    half = _interp(h, knots, [3.0, 3.0, 3.0, 3.5, 7.0, 12.0]) * w * thick - inset
    return _segment_2d(np.abs(x), y, p0, p1) < np.maximum(half, 0.0)


def _sacrum(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, inset: float, top: float = 775.0,
            end: float = 855.0) -> np.ndarray:
    """Sacrum: wide alae at ``top`` (meeting the ilia), tapering and curving back toward the coccyx at ``end``."""
    knots = [top, top + 25.0, top + 50.0, max(end, top + 51.0)]
    a = _interp(h, knots, [50, 38, 24, 8]) * w - inset
    b = _interp(h, knots, [17, 14, 11, 6]) * w - inset
    return shapes.ellipse_radius(x, y, 0, _interp(h, [745, 855], [68, 88]) * w, np.maximum(a, 0.5),
                                 np.maximum(b, 0.5)) < 1


def _acetabulum(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float) -> np.ndarray:
    """Acetabular cup: a ring of bone around the medial part of each femoral head."""
    r = shapes.ellipse_radius(np.abs(x), y, 92 * w, 0, 33 * w, 33 * w)
    return (r < 1) & (r >= 0.78) & (np.abs(x) < 100 * w)


def _femoral_head(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, inset: float) -> np.ndarray:
    """Femoral heads: spheres of 24 mm radius centred 862 mm below the vertex."""
    r = 24 * w * np.sqrt(np.clip(1.0 - ((h - 862.0) / 24.0) ** 2, 0.04, 1.0)) - inset
    return shapes.ellipse_radius(np.abs(x), y, 92 * w, 0, np.maximum(r, 0.5), np.maximum(r, 0.5)) < 1


def _foot(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, s: float, scale: float) -> np.ndarray:
    length = _interp(h, [1695, 1720, 1750], [40, 120, 90]) * w * scale
    cy = _interp(h, [1695, 1720, 1750], [0, -55, -60]) * w
    return shapes.ellipse_radius(x, y, s * 88 * w, cy, 42 * w * scale, length) < 1


def _foot_bones(x: np.ndarray, y: np.ndarray, h: np.ndarray, w: float, s: float) -> np.ndarray:
    calc = shapes.ellipse_radius(x, y, s * 88 * w, 10 * w, 22 * w, 30 * w) < 1
    rays = (np.cos((x - s * 88 * w) / (5 * w)) > 0.5) & _foot(x, y, h, w, s, 0.6) & (y < -40 * w)
    return calc | rays


def _ct_table(x: np.ndarray, y: np.ndarray, back: float) -> np.ndarray:
    return (np.abs(y - back - 25.0) < 4.0) & (np.abs(x) < 240.0)


def make_body_case(
    seed: int,
    modality: str = "CT",
    n_slices: int | None = None,
    spacing: Sequence[float] | None = None,
    start_region: str | None = None,
    end_region: str | None = None,
    size: Sequence[int] = (64, 64),
    origin: Sequence[float] | None = None,
    direction: np.ndarray | Sequence[Sequence[float]] | None = None,
    noise: bool = True,
    randomise_appearance: bool = False,
    supersample: int = 1,
) -> BodyCase:
    """A seeded body case of axial slices from ``start_region`` to ``end_region`` (random extents when ``None``).

    The covered range starts somewhere inside ``start_region`` and ends inside
    ``end_region`` (regions of one chain, head to feet).  ``spacing`` (i, j, k) defaults
    to an in-plane FOV that fits the body and 5 mm (CT) or 6 mm (MR) slices; with
    ``n_slices`` alone the slice spacing is chosen to span the range; with both, the
    range is ``n_slices`` slices from the start.  The direction's k axis must run
    mostly along S (axial slices); with the identity direction slice 0 is the most
    inferior, so labels read head to feet by descending k (see
    :meth:`BodyCase.slice_order_head_to_feet`).  ``randomise_appearance`` draws the appearance per case for
    training (domain randomisation, see :func:`_intensities`): CT contrast enhancement and oral contrast; MR
    contrast family (T1, T2, fat-suppressed or random tissue values), tissue jitter, bias field, noise and blur.
    ``supersample`` (odd) draws each voxel as the mean of ``supersample`` x ``supersample`` in-plane sub-samples,
    so structures thinner than a voxel (iliac wings, ribs, cortex) partial-volume as on a real scan instead of
    aliasing into dots; the tissue and structure maps keep each voxel's centre sample.
    """
    mod = modality.upper()
    if mod not in ("CT", "MR"):
        raise ValueError(f"modality must be 'CT' or 'MR', got {modality!r}")
    ss = int(supersample)
    if ss != supersample or ss < 1 or ss % 2 == 0:
        raise ValueError(f"supersample must be an odd whole number >= 1, got {supersample!r}")
    labelset = body_region_labelset(mod)
    rng_anat, rng_ext, rng_noise = (shapes.rng_stream(seed, s) for s in (30, 31, 32))
    start, end = _pick_regions(rng_ext, mod, start_region, end_region)
    chain = _chain_of(start, mod)
    if _chain_of(end, mod) is not chain:
        raise ValueError(f"regions {start!r} and {end!r} are not on one chain (axial, arm or breast)")
    names = [n for n, _ in chain[:-1]]
    if names.index(end) < names.index(start):
        raise ValueError(f"start region {start!r} lies below end region {end!r}; give them head to feet")
    hb = _Habitus(height=float(rng_anat.uniform(0.9, 1.08)), width=float(rng_anat.uniform(0.88, 1.15)),
                  fat=float(rng_anat.uniform(6.0, 30.0)), female=bool(rng_anat.random() < 0.5 or chain is BREAST_CHAIN),
                  arms_down=bool(rng_anat.random() < 0.75), shift=rng_anat.uniform(-8, 8, 2),
                  yaw=float(rng_anat.uniform(-4, 4)), sacrum_end=float(rng_anat.uniform(860.0, 890.0)),
                  bladder_fill=float(rng_anat.uniform(0.3, 1.3)), wing=float(rng_anat.uniform(0.7, 1.4)),
                  sacrum_top=float(rng_anat.uniform(760.0, 790.0)))

    s0, s1 = _region_span(chain, start)
    e0, e1 = _region_span(chain, end)
    h0 = rng_ext.uniform(s0, s0 + 0.5 * (s1 - s0))
    h1 = rng_ext.uniform(e0 + 0.5 * (e1 - e0), e1 - 1.0)
    if h1 <= h0:
        h0, h1 = s0 + 0.2 * (s1 - s0), s1 - 0.2 * (s1 - s0)
    in_plane, sk = _default_spacing(chain, hb, h0, h1, size, mod)
    if spacing is not None:
        if len(spacing) != 3:
            raise ValueError(f"spacing must be three values (i, j, k) in mm, got {spacing}")
        in_plane, sk = (float(spacing[0]), float(spacing[1])), float(spacing[2])
    if n_slices is None:
        n = int(np.floor((h1 - h0) * hb.height / sk)) + 1
    else:
        n = int(n_slices)
        if n < 1:
            raise ValueError(f"n_slices must be >= 1, got {n_slices}")
        if spacing is None:
            sk = (h1 - h0) * hb.height / max(n - 1, 1)
    grid = shapes.make_grid((int(size[0]), int(size[1]), n), (in_plane[0], in_plane[1], sk), origin, direction)
    if abs(grid.direction[2, 2]) < 0.7:
        raise ValueError("the body phantom needs axial slices: the direction's k axis must run mostly along S")

    # Standard height below the vertex of every voxel: the grid centre sits mid-way along the covered range.
    x, y, z = shapes.lps_coordinates(grid)
    xf, yf, zf = _sub_samples(grid, (x, y, z), ss)
    centre_depth = h0 * hb.height + (n - 1) * sk / 2.0  # mm below this body's vertex
    h = ((centre_depth - zf) / hb.height).astype(np.float32)
    rot = shapes.rotation_matrix(hb.yaw)[:2, :2].astype(np.float32)
    xs, ys = xf - np.float32(hb.shift[0]), yf - np.float32(hb.shift[1])
    xb, yb = rot[0, 0] * xs + rot[1, 0] * ys, rot[0, 1] * xs + rot[1, 1] * ys

    tissue = np.zeros(xf.shape, dtype=np.uint8)
    chain_name = {id(AXIAL_CHAIN): "axial", id(ARM_CHAIN): "arm", id(BREAST_CHAIN): "breast"}[id(chain)]
    h_lo, h_hi = h.reshape(n, -1).min(axis=1), h.reshape(n, -1).max(axis=1)
    structures = np.zeros(xf.shape, dtype=np.uint8)
    names = [""]
    for a0, a1, t, fn, name in _structures(hb, chain_name):
        ks = np.nonzero((h_hi >= a0) & (h_lo <= a1))[0]
        if not len(ks):
            continue
        sub = fn(xb[ks], yb[ks], h[ks]) & (h[ks] >= a0) & (h[ks] <= a1)
        tissue[ks] = np.where(sub, np.uint8(t), tissue[ks])
        if name and name not in names:
            names.append(name)
        structures[ks] = np.where(sub, np.uint8(names.index(name)), structures[ks])
    if mod == "CT" and chain_name == "axial":
        back = float(np.max(_trunk_axes(np.clip(h, 200, 930), hb.width)[1]))
        tissue[(tissue == AIR) & _ct_table(xb, yb, back)] = TABLE
    centre = (ss - 1) // 2
    tissue_centre = np.ascontiguousarray(tissue[:, centre::ss, centre::ss])
    structures = np.ascontiguousarray(structures[:, centre::ss, centre::ss])

    ni, nj, _ = grid.size
    centres = grid.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, k] for k in range(n)], dtype=float))
    grid_centre = grid.index_to_lps(np.array([[(ni - 1) / 2, (nj - 1) / 2, (n - 1) / 2]]))[0]
    slice_h = (centre_depth - (centres[:, 2] - grid_centre[2])) / hb.height
    region = _label_at(chain, slice_h)
    slice_labels = np.array([labelset.index(r) for r in region], dtype=np.int64)

    image = _intensities(tissue, mod, rng_noise, x, y, z, noise, randomise_appearance, ss)
    meta = {"phantom": "body", "seed": int(seed), "modality": mod,
            "description": f"{mod} body phantom, {start} to {end} ({chain_name} chain)"}
    return BodyCase(
        image=grid.with_array(image, **meta, units="HU" if mod == "CT" else "arbitrary"),
        slice_labels=slice_labels, labelset=labelset,
        tissue=grid.with_array(tissue_centre, **meta, tissue_names=list(TISSUE_NAMES)),
        structures=grid.with_array(structures, **meta), structure_names=dict(enumerate(names[1:], start=1)),
        modality=mod, start_region=start, end_region=end, seed=int(seed),
    )


def _pick_regions(rng: np.random.Generator, mod: str, start: str | None, end: str | None) -> tuple[str, str]:
    if start is not None and end is not None:
        return start, end
    if start is not None or end is not None:
        given = start if start is not None else end
        names = [n for n, _ in _chain_of(str(given), mod)[:-1]]
        i = names.index(str(given))
        other = names[int(rng.integers(i, len(names)))] if start is not None else names[int(rng.integers(0, i + 1))]
        return (str(given), other) if start is not None else (other, str(given))
    p = rng.random()
    if mod == "MR" and p < 0.06:
        return "breast", "breast"
    names = [n for n, _ in (ARM_CHAIN if p < 0.2 else AXIAL_CHAIN)[:-1]]
    i, j = sorted(int(v) for v in rng.integers(0, len(names), size=2))
    return names[i], names[j]


def _default_spacing(chain: tuple[tuple[str, float], ...], hb: _Habitus, h0: float, h1: float,
                     size: Sequence[int], mod: str) -> tuple[tuple[float, float], float]:
    hs = np.linspace(h0, h1, 50)
    if chain is ARM_CHAIN:
        half = float(np.max(_arm_profile(hs, hb.width)[0]))
    else:
        a, _ = _trunk_axes(np.clip(hs, 200, 930), hb.width)
        half = float(np.max(np.where(hs < 200, 80 * hb.width, a)))
        if hb.arms_down and h1 > 400 and h0 < 1080:
            half += 2 * 45 * hb.width + 12
        half = max(half, float(np.max(np.where(hs > 920, _leg_centre(hs, hb.width) + _leg_radius(hs, hb.width), 0))))
    fov = 2.0 * half * 1.05 + 10.0
    px = fov / max(int(size[0]), int(size[1]))
    return (px, px), (5.0 if mod == "CT" else 6.0)


_MR_T2 = np.array([0, 700, 250, 30, 550, 20, 500, 1000, 120, 300, 600, 650, 500, 0, 1000, 500, 0], dtype=np.float32)
_DARK = (AIR, BONE, LUNG, GAS, TABLE)


def _ct_table_random(rng: np.random.Generator) -> np.ndarray:
    """HU per tissue with a random contrast phase: enhanced blood and organs, sometimes oral contrast."""
    hu = _CT_HU.copy()
    phase = float(rng.uniform(0.0, 1.0))  # 0 = unenhanced ... 1 = arterial/portal venous peak
    hu[BLOOD] += 250.0 * phase
    hu[KIDNEY] += 180.0 * phase
    hu[[LIVER, SPLEEN]] += 70.0 * phase
    if rng.random() < 0.3:
        hu[BOWEL] += float(rng.uniform(100.0, 400.0))
    hu[[FAT, MUSCLE, FLUID]] += rng.normal(0.0, 10.0, size=3).astype(np.float32)
    hu[BONE] = float(rng.uniform(600.0, 1300.0))
    hu[MARROW] = float(rng.uniform(120.0, 350.0))
    return hu


def _mr_table_random(rng: np.random.Generator) -> np.ndarray:
    """MR signal per tissue: a random contrast family with per-tissue jitter (domain randomisation)."""
    family = rng.choice(["T1", "T2", "fat_sat", "random"], p=[0.25, 0.25, 0.1, 0.4])
    if family == "random":
        table = rng.uniform(60.0, 1000.0, size=len(TISSUE_NAMES)).astype(np.float32)
    else:
        table = (_MR_T2 if family == "T2" else _MR_T1).copy()
        table *= rng.uniform(0.75, 1.3, size=len(table)).astype(np.float32)
    if family == "fat_sat":
        table[[FAT, MARROW]] *= 0.15
    table[list(_DARK)] = rng.uniform(0.0, 40.0, size=len(_DARK))
    table[[AIR, GAS]] = 0.0
    return table.astype(np.float32)


def _sub_samples(grid: Image, coords: tuple[np.ndarray, np.ndarray, np.ndarray], ss: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS coordinates ``[k, j * ss, i * ss]`` of ``ss`` x ``ss`` in-plane sub-samples per voxel, centred on it."""
    if ss == 1:
        return coords
    frac = (np.arange(ss) - (ss - 1) / 2.0) / ss
    step_i = grid.direction[:, 0] * grid.spacing[0]
    step_j = grid.direction[:, 1] * grid.spacing[1]
    out = []
    for axis, c in enumerate(coords):
        offset = frac[:, None] * step_j[axis] + frac[None, :] * step_i[axis]  # [sub-row, sub-column]
        fine = np.repeat(np.repeat(c, ss, axis=1), ss, axis=2)
        out.append((fine + np.tile(offset, c.shape[1:])[None]).astype(np.float32))
    return out[0], out[1], out[2]


def _intensities(tissue: np.ndarray, mod: str, rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
                 z: np.ndarray, noise: bool, randomise: bool = False, ss: int = 1) -> np.ndarray:
    """Image values from the tissue map (``ss`` x ``ss`` sub-samples per voxel of ``x``): fixed CT HU / T1-like
    MR, or per-case random appearance."""
    blur = (0.0, 0.5, 0.5)
    if randomise:
        s_blur = float(rng.uniform(0.3, 1.4))
        blur = (float(rng.uniform(0.0, 0.8)), s_blur, s_blur)
    if mod == "CT":
        table = _ct_table_random(rng) if randomise else _CT_HU
        img = shapes.point_spread(block_mean(table[tissue], (1, ss, ss)), blur)
        if noise:
            img = img + rng.normal(0.0, rng.uniform(8.0, 40.0 if randomise else 20.0), size=img.shape).astype(
                np.float32)
        return np.maximum(img, -1024.0).astype(np.float32)
    table = _mr_table_random(rng) if randomise else _MR_T1
    img = shapes.point_spread(block_mean(table[tissue], (1, ss, ss)), blur)
    strength, scale = (float(rng.uniform(0.05, 0.4)), float(rng.uniform(200.0, 500.0))) if randomise else (0.12, 400.0)
    img = img * shapes.bias_field(x, y, z, rng, strength=strength, scale_mm=scale)
    if noise:
        img = shapes.rician(img, float(rng.uniform(8.0, 45.0 if randomise else 20.0)), rng)
    return img.astype(np.float32)
