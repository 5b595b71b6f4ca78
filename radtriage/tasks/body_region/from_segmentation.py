"""Per-slice body-region labels from an organ/bone segmentation (TotalSegmentator-style label maps).

Each slice (along the same head-feet axis the task uses, :func:`.slices.slice_geometry`) gets the region its
segmented structures imply, by the rule table :data:`RULES`, read top to bottom, first match wins:

==========  ==========================================================================================
region      a slice is this region when it contains ...
==========  ==========================================================================================
head        brain
face        skull without brain (orbits, sinuses, jaw)
neck        cervical vertebrae, thyroid or carotid arteries, and no lung
shoulder    shoulder girdle or humeri, no heart, no upper abdominal organ, lung < twice those bones
thigh       femur without hip bone (below the ischial tuberosities)
hip         femur together with hip bone (femoral heads in the acetabula, ischia, pubis)
pelvis      hip bone (iliac wings, ilium above the acetabulum) or sacrum without femur; bladder, prostate
chest       lung or heart covering more of the slice than the upper abdominal organs
abdomen     liver, spleen, stomach, pancreas, kidneys, gallbladder, bowel, lumbar vertebrae ...
==========  ==========================================================================================

A slice with none of these structures gets ``None`` (no truth; left out of agreement counts). Class ids are
read through a class map (id -> structure name); :data:`TOTALSEGMENTATOR_CT` is TotalSegmentator v2's ``total``
task and :data:`TOTALSEGMENTATOR_MR` its ``total_mr`` task (ids as documented in TotalSegmentator's
``map_to_binary.py``). Any other label map works with its own id -> name mapping using the same names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from radtriage.image import Image
from radtriage.tasks.body_region.slices import SliceGeometry, slice_geometry


def _numbered(prefix: str, names: Sequence[str]) -> list[str]:
    return [f"{prefix}{n}" for n in names]


_VERTEBRAE = ["vertebrae_S1", *_numbered("vertebrae_L", "54321"),
              *_numbered("vertebrae_T", [str(i) for i in range(12, 0, -1)]),
              *_numbered("vertebrae_C", [str(i) for i in range(7, 0, -1)])]
_RIBS = [f"rib_{side}_{i}" for side in ("left", "right") for i in range(1, 13)]
TOTALSEGMENTATOR_CT: dict[int, str] = dict(enumerate([
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas", "adrenal_gland_right",
    "adrenal_gland_left", "lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right",
    "lung_middle_lobe_right", "lung_lower_lobe_right", "esophagus", "trachea", "thyroid_gland", "small_bowel",
    "duodenum", "colon", "urinary_bladder", "prostate", "kidney_cyst_left", "kidney_cyst_right", "sacrum",
    *_VERTEBRAE, "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk", "subclavian_artery_right",
    "subclavian_artery_left", "common_carotid_artery_right", "common_carotid_artery_left",
    "brachiocephalic_vein_left", "brachiocephalic_vein_right", "atrial_appendage_left", "superior_vena_cava",
    "inferior_vena_cava", "portal_vein_and_splenic_vein", "iliac_artery_left", "iliac_artery_right",
    "iliac_vena_left", "iliac_vena_right", "humerus_left", "humerus_right", "scapula_left", "scapula_right",
    "clavicula_left", "clavicula_right", "femur_left", "femur_right", "hip_left", "hip_right", "spinal_cord",
    "gluteus_maximus_left", "gluteus_maximus_right", "gluteus_medius_left", "gluteus_medius_right",
    "gluteus_minimus_left", "gluteus_minimus_right", "autochthon_left", "autochthon_right", "iliopsoas_left",
    "iliopsoas_right", "brain", "skull", *_RIBS, "sternum", "costal_cartilages",
], start=1))
"""TotalSegmentator v2 ``total`` (CT, 117 classes): label id -> structure name."""

TOTALSEGMENTATOR_MR: dict[int, str] = dict(enumerate([
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas", "adrenal_gland_right",
    "adrenal_gland_left", "lung_left", "lung_right", "esophagus", "small_bowel", "duodenum", "colon",
    "urinary_bladder", "prostate", "sacrum", "vertebrae", "intervertebral_discs", "spinal_cord", "heart", "aorta",
    "inferior_vena_cava", "portal_vein_and_splenic_vein", "iliac_artery_left", "iliac_artery_right",
    "iliac_vena_left", "iliac_vena_right", "humerus_left", "humerus_right", "scapula_left", "scapula_right",
    "clavicula_left", "clavicula_right", "femur_left", "femur_right", "hip_left", "hip_right",
    "gluteus_maximus_left", "gluteus_maximus_right", "gluteus_medius_left", "gluteus_medius_right",
    "gluteus_minimus_left", "gluteus_minimus_right", "autochthon_left", "autochthon_right", "iliopsoas_left",
    "iliopsoas_right", "brain",
], start=1))
"""TotalSegmentator v2 ``total_mr`` (MR, 50 classes): label id -> structure name."""


def default_class_map(modality: str) -> dict[int, str]:
    """TotalSegmentator's ``total`` map for CT, ``total_mr`` for MR."""
    return TOTALSEGMENTATOR_CT if modality.upper() == "CT" else TOTALSEGMENTATOR_MR


# Structure groups (regular expressions on structure names).
GROUPS: dict[str, str] = {
    "brain": r"brain",
    "skull": r"skull",
    "cervical": r"vertebrae_C\d|thyroid_gland|common_carotid_artery_.*",
    "lung": r"lung_.*",
    "heart": r"heart.*|atrial_appendage_left|pulmonary_vein",
    "shoulder_bones": r"clavicula_.*|scapula_.*|humerus_.*",
    "femur": r"femur_.*",
    "hip_bone": r"hip_(left|right)",
    "pelvic": r"sacrum|urinary_bladder|prostate",
    "upper_abdominal": r"liver|spleen|stomach|pancreas|gallbladder|kidney_.*|adrenal_gland_.*|duodenum",
    "abdominal": (r"liver|spleen|stomach|pancreas|gallbladder|kidney_.*|adrenal_gland_.*|duodenum|small_bowel|colon"
                  r"|vertebrae_L\d|portal_vein_and_splenic_vein|iliopsoas_.*"),
}

Areas = Mapping[str, float]
"""Voxel count of every structure group in one slice."""


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: ``region`` when ``applies(areas)`` is true (``why`` says it in words)."""

    region: str
    why: str
    applies: Callable[[Areas], bool]


def _has(a: Areas, group: str) -> bool:
    return a.get(group, 0.0) > 0


RULES: tuple[Rule, ...] = (
    Rule("head", "brain", lambda a: _has(a, "brain")),
    Rule("face", "skull without brain", lambda a: _has(a, "skull")),
    Rule("neck", "cervical vertebrae, thyroid or carotids and no lung",
         lambda a: _has(a, "cervical") and not _has(a, "lung")),
    Rule("shoulder", "shoulder girdle or humeri, no heart, no upper abdominal organ, lung < twice those bones",
         lambda a: _has(a, "shoulder_bones") and not _has(a, "heart") and not _has(a, "upper_abdominal")
         and a.get("lung", 0.0) < 2.0 * a.get("shoulder_bones", 0.0)),
    Rule("thigh", "femur without hip bone", lambda a: _has(a, "femur") and not _has(a, "hip_bone")),
    Rule("hip", "femur and hip bone", lambda a: _has(a, "femur") and _has(a, "hip_bone")),
    Rule("pelvis", "hip bone, sacrum, bladder or prostate without femur",
         lambda a: _has(a, "hip_bone") or _has(a, "pelvic")),
    Rule("chest", "lung or heart larger than the upper abdominal organs",
         lambda a: a.get("lung", 0.0) + a.get("heart", 0.0) > a.get("upper_abdominal", 0.0)),
    Rule("abdomen", "abdominal organs, bowel or lumbar vertebrae", lambda a: _has(a, "abdominal")),
)
"""The rule table, first match wins (see the module docstring)."""


def group_lut(class_map: Mapping[int, str], groups: Mapping[str, str] = GROUPS) -> dict[str, np.ndarray]:
    """Per group, a boolean lookup table over label ids (``lut[label]`` true when the label is in the group)."""
    size = max(class_map, default=0) + 1
    out = {}
    for group, pattern in groups.items():
        lut = np.zeros(size, dtype=bool)
        for label, name in class_map.items():
            lut[label] = re.fullmatch(pattern, name) is not None
        out[group] = lut
    return out


def slice_areas(segmentation: Image, class_map: Mapping[int, str],
                geometry: SliceGeometry | None = None) -> list[dict[str, float]]:
    """Voxel count of every structure group in every slice (indexed by slice number along the slice axis)."""
    geo = geometry if geometry is not None else slice_geometry(segmentation)
    arr = np.asarray(segmentation.array)
    arr = arr if arr.ndim == 3 else arr[..., 0]
    labels = np.rint(arr).astype(np.int64)
    luts = group_lut(class_map)
    size = next(iter(luts.values())).size
    labels = np.where((labels >= 0) & (labels < size), labels, 0)
    stack = np.moveaxis(labels, 2 - geo.axis, 0).reshape(geo.n_slices, -1)
    counts = np.stack([np.bincount(row, minlength=size) for row in stack])  # [slice, label]
    return [{g: float(c[lut].sum()) for g, lut in luts.items()} for c in counts]


def region_of(areas: Areas, rules: Sequence[Rule] = RULES) -> str | None:
    """The region the rule table gives one slice's structure areas, or None when no rule applies."""
    return next((r.region for r in rules if r.applies(areas)), None)


def regions_from_segmentation(segmentation: Image, modality: str = "CT",
                              class_map: Mapping[int, str] | None = None,
                              geometry: SliceGeometry | None = None) -> list[str | None]:
    """Region name (or None) of every slice of ``segmentation`` by :data:`RULES` (TotalSegmentator ids by
    default: ``total`` for CT, ``total_mr`` for MR)."""
    cmap = class_map if class_map is not None else default_class_map(modality)
    return [region_of(a) for a in slice_areas(segmentation, cmap, geometry)]


def regions_on_image(image: Image, segmentation: Image, modality: str = "CT",
                     class_map: Mapping[int, str] | None = None, offset: int = 0) -> list[str | None]:
    """Truth region (or None) of every slice of ``image`` from a segmentation of it.

    Each segmentation slice labels the image slice at its position along the image's slice axis (within half a
    slice); ``offset`` shifts that by whole slices where a file's header is known to be off. Image slices the
    segmentation does not reach get None.
    """
    geo, seg_geo = slice_geometry(image), slice_geometry(segmentation)
    truth: list[str | None] = [None] * geo.n_slices
    position = geo.centres_lps @ geo.normal
    for k, region in enumerate(regions_from_segmentation(segmentation, modality, class_map, seg_geo)):
        gap = np.abs(position - seg_geo.centres_lps[k] @ geo.normal)
        target = int(np.argmin(gap)) + offset
        if region is not None and gap[target - offset] <= 0.5 * geo.spacing + 1e-3 and 0 <= target < geo.n_slices:
            truth[target] = region
    return truth
