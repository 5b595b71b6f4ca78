"""Checks of an input's DICOM tags against a task contract: modality, body part, image type, contrast overrides.

Only inputs that carry DICOM tags (``metadata['dicom_tags']``) are checked; a NIfTI has none, and nothing is
refused for a tag that is absent. Body parts are refused only when *clearly* elsewhere (a tag such as CHEST for
a brain task, BRAIN for cardiac LGE); unknown or empty values pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.validation.content import source_of
from radtriage.validation.contracts import InputContract

NOT_HEAD = frozenset({
    "CHEST", "THORAX", "HEART", "CARDIAC", "ABDOMEN", "PELVIS", "ABDOMENPELVIS", "CHESTABDOMEN",
    "CHESTABDOMENPELVIS", "BREAST", "LIVER", "KIDNEY", "PROSTATE", "TSPINE", "LSPINE", "SSPINE", "SPINE",
    "LUMBARSPINE", "THORACICSPINE", "SACRUM", "COCCYX", "KNEE", "HIP", "SHOULDER", "ELBOW", "WRIST", "HAND",
    "FINGER", "ANKLE", "FOOT", "TOE", "LEG", "LOWERLEG", "UPPERLEG", "THIGH", "ARM", "UPPERARM", "FOREARM",
    "EXTREMITY", "LOWEREXTREMITY", "UPPEREXTREMITY", "AORTA", "LUNG",
})
NOT_HEART = frozenset({
    "HEAD", "BRAIN", "SKULL", "HEADNECK", "NECK", "ORBIT", "SELLA", "IAC", "CSPINE", "TSPINE", "LSPINE", "SSPINE",
    "SPINE", "LUMBARSPINE", "SACRUM", "PELVIS", "PROSTATE", "KNEE", "HIP", "SHOULDER", "ELBOW", "WRIST", "HAND",
    "FINGER", "ANKLE", "FOOT", "TOE", "LEG", "LOWERLEG", "UPPERLEG", "THIGH", "ARM", "UPPERARM", "FOREARM",
    "EXTREMITY", "LOWEREXTREMITY", "UPPEREXTREMITY", "BREAST", "LIVER", "KIDNEY",
})
PHASE_TOKENS = frozenset({"P", "PHASE", "PHASE MAP", "PHA"})
MAGNITUDE_TOKENS = frozenset({"M", "MAGNITUDE", "MAG"})
PHASE_SENSITIVE = re.compile(r"PSIR|PHASE SENSITIVE|REAL", re.IGNORECASE)
BODY = {"head": ("brain/head", NOT_HEAD), "heart": ("cardiac", NOT_HEART)}


def dicom_tags(image: Image) -> Mapping[str, Any]:
    """The DICOM tags the reader kept (empty for volume files)."""
    return image.metadata.get("dicom_tags") or {}


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def image_type(image: Image) -> tuple[str, ...]:
    """ImageType values, upper case (``('ORIGINAL', 'PRIMARY', 'P', 'ND')``)."""
    value = dicom_tags(image).get("ImageType")
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split("\\")
    return tuple(str(v).strip().upper() for v in items)


def is_phase(image: Image) -> bool:
    """True when ImageType marks a phase image (not a phase-sensitive magnitude such as PSIR)."""
    types = image_type(image)
    if not PHASE_TOKENS & set(types):
        return False
    described = " ".join([*types, _text(dicom_tags(image).get("SeriesDescription"))])
    return not PHASE_SENSITIVE.search(described)


def is_magnitude(image: Image) -> bool:
    """True when ImageType marks a magnitude image."""
    return bool(MAGNITUDE_TOKENS & set(image_type(image))) and not is_phase(image)


def modality(image: Image) -> str:
    """The DICOM Modality ('' for volume files)."""
    return str(image.metadata.get("modality") or dicom_tags(image).get("Modality") or "").strip().upper()


def check_modality(image: Image, key: str, contract: InputContract) -> None:
    """Refuse a DICOM modality the task does not read (CT never to an MR task)."""
    mod = modality(image)
    if mod and mod not in contract.modalities:
        raise InputError(source_of(image, key),
                         f"DICOM Modality {mod}: {contract.task} reads {' or '.join(contract.modalities)} images only; "
                         f"give the {' or '.join(contract.modalities)} series")


def check_body_part(image: Image, key: str, contract: InputContract) -> None:
    """Refuse a BodyPartExamined clearly outside the task's body region."""
    if contract.body is None:
        return
    raw = _text(dicom_tags(image).get("BodyPartExamined")).strip()
    norm = re.sub(r"[^A-Z]", "", raw.upper())
    label, elsewhere = BODY[contract.body]
    if norm in elsewhere:
        raise InputError(source_of(image, key),
                         f"DICOM BodyPartExamined {raw} is not {label}: {contract.task} reads {label} scans only; "
                         f"give a {label} series (or correct the tag if it is wrong)")


def check_image_type(image: Image, key: str, contract: InputContract, role: str, contrast: str | None) -> None:
    """Refuse a phase image where a magnitude is needed, and a magnitude given as the phase input.

    ``role`` is ``"phase"`` for the phase input of a task that takes one, else ``"image"``; ``contrast`` is the
    contrast the user named for the input (``T1=PATH``), if any.
    """
    types = "\\".join(image_type(image))
    where = source_of(image, key)
    if role == "phase":
        if is_magnitude(image):
            raise InputError(where, f"ImageType {types} marks a magnitude image, but it was given as the phase; "
                                    "give the phase series as PHASE=PATH")
        return
    if not is_phase(image):
        return
    if contract.phase_allowed:
        raise InputError(where, f"ImageType {types} marks a phase image, but it was given as the magnitude; give "
                                "the magnitude series as MAGNITUDE=PATH and this one as PHASE=PATH")
    wanted = contrast or "a magnitude image"
    raise InputError(where, f"ImageType {types} marks a phase image, not {wanted}: a phase image cannot feed "
                            f"{contract.task}; give the magnitude series")


def check_tags(image: Image, key: str, contract: InputContract, role: str = "image",
               contrast: str | None = None) -> None:
    """Every tag check of one input (nothing happens for inputs without DICOM tags)."""
    if not dicom_tags(image) and not image.metadata.get("modality"):
        return
    check_modality(image, key, contract)
    check_body_part(image, key, contract)
    check_image_type(image, key, contract, role, contrast)
