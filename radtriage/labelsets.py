"""Label sets and class names shared by the phantoms, models and tasks (constants only, no I/O).

Body-region label sets
----------------------
Classes are ordered head to feet by where each region *starts* in the standard
anatomical position (standing, arms hanging by the sides, palms forward).  The
upper-limb classes therefore sit between the trunk classes at the level where
they hang: the upper arm starts at the armpit (below the top of the chest), the
elbow at the lower ribs, the forearm and hand beside the abdomen, pelvis and hips.
A scan along one chain (head→feet through the trunk and legs, or shoulder→hand
along an arm) thus always has non-decreasing class indices.

The MR set has one class the CT set lacks: ``breast``.  Dedicated breast MR
(prone, breast coil, pendant breasts) is one of the commonest MR examinations and
looks unlike any other chest image, whereas breast CT is rare and a chest CT shows
the breasts as part of the chest.  Splitting the spine was rejected because spine
levels cut across the trunk regions rather than following them head to feet.

SNOMED CT codes are given only where they were checked against the SNOMED CT
concepts that pydicom's DICOM code dictionary carries (DICOM CID 4031 "Common
Anatomic Regions" where possible); a test cross-checks them.  Elbow and ankle use
DICOM's codes for the joints, which is what DICOM uses for those regions.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class RegionClass:
    """One body-region class: index, name, display colour and (when known) its SNOMED CT code."""

    index: int
    name: str
    display_name: str
    colour: RGB
    snomed_code: str | None
    snomed_meaning: str | None
    description: str


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of region classes (indices 0..n-1, head to feet)."""

    name: str
    modality: str
    classes: tuple[RegionClass, ...]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names in index order."""
        return tuple(c.name for c in self.classes)

    @property
    def colours(self) -> tuple[RGB, ...]:
        """Display colours in index order."""
        return tuple(c.colour for c in self.classes)

    def index(self, name: str) -> int:
        """Index of a class by name; ``KeyError`` names the known classes when absent."""
        for c in self.classes:
            if c.name == name:
                return c.index
        raise KeyError(f"no class {name!r} in label set {self.name}; known: {', '.join(self.names)}")

    def __getitem__(self, key: int | str) -> RegionClass:
        return self.classes[self.index(key) if isinstance(key, str) else key]


# name, display name, colour, SNOMED code, SNOMED meaning, description
_REGIONS: dict[str, tuple[str, RGB, str | None, str | None, str]] = {
    "head": ("Head", (177, 122, 101), "69536005", "Head", "cranium and brain, vertex to the orbital roofs"),
    "face": ("Face and skull base", (241, 214, 145), "89545001", "Face",
             "orbits, paranasal sinuses, skull base and jaw"),
    "neck": ("Neck", (216, 101, 79), "45048000", "Neck", "chin to the thoracic inlet"),
    "shoulder": ("Shoulder", (111, 184, 210), "16982005", "Shoulder",
                 "shoulder girdle, humeral heads and lung apices"),
    "chest": ("Chest", (128, 174, 128), "816094009", "Chest", "lungs, heart and mediastinum down to the diaphragm"),
    "breast": ("Breast", (255, 182, 193), "76752008", "Breast", "dedicated breast examination (MR only)"),
    "upper_arm": ("Upper arm", (183, 156, 220), "40983000", "Upper arm", "armpit to the elbow"),
    "abdomen": ("Abdomen", (221, 130, 101), "818981001", "Abdomen", "diaphragm to the iliac crests"),
    "elbow": ("Elbow", (144, 238, 144), "16953009", "Elbow joint", "distal humerus to the proximal forearm"),
    "forearm": ("Forearm", (220, 245, 20), "14975008", "Forearm", "radius and ulna shafts"),
    "pelvis": ("Pelvis", (0, 151, 206), "816092008", "Pelvis", "iliac crests to the hip joints"),
    "hip": ("Hip", (88, 106, 215), "29836001", "Hip", "femoral heads to the ischial tuberosities"),
    "hand": ("Wrist and hand", (244, 214, 49), "85562004", "Hand", "wrist, palm and fingers"),
    "thigh": ("Thigh", (230, 220, 70), "68367000", "Thigh", "femoral shafts"),
    "knee": ("Knee", (200, 200, 235), "72696002", "Knee", "femoral condyles, patella and tibial plateau"),
    "lower_leg": ("Lower leg", (250, 250, 210), "30021000", "Lower leg", "tibia and fibula shafts"),
    "ankle": ("Ankle", (244, 164, 96), "70258002", "Ankle joint", "malleoli and talus"),
    "foot": ("Foot", (157, 108, 162), "56459004", "Foot", "hind-, mid- and forefoot"),
}

CT_REGION_NAMES: tuple[str, ...] = (
    "head", "face", "neck", "shoulder", "chest", "upper_arm", "abdomen", "elbow", "forearm",
    "pelvis", "hip", "hand", "thigh", "knee", "lower_leg", "ankle", "foot",
)
"""The 17 CT body-region classes, head to feet."""

MR_REGION_NAMES: tuple[str, ...] = (
    "head", "face", "neck", "shoulder", "chest", "breast", "upper_arm", "abdomen", "elbow", "forearm",
    "pelvis", "hip", "hand", "thigh", "knee", "lower_leg", "ankle", "foot",
)
"""The 18 MR body-region classes, head to feet (CT's 17 plus ``breast``)."""

UPPER_LIMB_REGIONS: tuple[str, ...] = ("upper_arm", "elbow", "forearm", "hand")
"""Regions seen only when an arm is scanned on its own (beside the trunk they count as the trunk region)."""


def _labelset(name: str, modality: str, names: tuple[str, ...]) -> LabelSet:
    classes = tuple(RegionClass(i, n, *_REGIONS[n]) for i, n in enumerate(names))
    return LabelSet(name, modality, classes)


CT_BODY_REGIONS = _labelset("body_regions_ct", "CT", CT_REGION_NAMES)
MR_BODY_REGIONS = _labelset("body_regions_mr", "MR", MR_REGION_NAMES)


def body_region_labelset(modality: str) -> LabelSet:
    """The body-region label set for ``"CT"`` or ``"MR"``."""
    key = modality.upper()
    if key == "CT":
        return CT_BODY_REGIONS
    if key in ("MR", "MRI"):
        return MR_BODY_REGIONS
    raise ValueError(f"no body-region label set for modality {modality!r} (use 'CT' or 'MR')")


# ------------------------------------------------------------------- brain MR
BRAIN_FINDINGS: tuple[str, ...] = ("abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect")
"""Case-level binary labels of the brain triage task."""

MR_CONTRASTS: tuple[str, ...] = ("T1", "T1post", "T2", "FLAIR", "DWI", "ADC", "SWI", "other")
"""The 8 MR contrast channels of the brain task, in channel order (``other`` = e.g. PD)."""

BRAIN_TISSUE_LABELS: dict[int, str] = {
    0: "background", 1: "scalp", 2: "skull", 3: "csf", 4: "grey_matter", 5: "white_matter",
    6: "ventricle", 7: "deep_grey", 8: "venous_sinus",
}
"""Tissue label values of the brain phantom's tissue map (lesions are in the lesion mask)."""

BRAIN_LESION_LABELS: dict[int, str] = {
    0: "none", 1: "acute_infarct", 2: "haemorrhage", 3: "perihaematomal_oedema", 4: "tumour",
    5: "vasogenic_oedema", 6: "chronic_infarct",
}
"""Values of the brain phantom's lesion mask (``> 0`` is any lesion)."""

# ------------------------------------------------------------------ cardiac LGE
LGE_CERTAINTY: tuple[str, ...] = ("high", "low")
"""Reader certainty classes: ``high`` = clearly yes or clearly no, ``low`` = ambiguous."""

LGE_DEFAULT_CERTAINTY_BAND: tuple[float, float] = (30.0, 70.0)
"""The documented default low-certainty band (likelihood 0-100); a bundle may set its own, a caller may override."""

LGE_ENHANCEMENT_GRADES: tuple[str, ...] = ("none", "clear", "subtle")
"""Enhancement grades of the LGE phantom (``subtle`` covers faint, small and artefact-like cases)."""

# ------------------------------------------------------------------ SWI
SWI_TRUTH_KINDS: tuple[str, ...] = ("microbleed", "vessel", "calcification", "air_bone")
"""Kinds of dark foci in the SWI phantom's truth lists (only ``microbleed`` is a target)."""
