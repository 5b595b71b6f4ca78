"""Choose the CMBDetect inputs and put them on the 1 mm isotropic working grid with their geometry kept.

Working spacing: **1 mm isotropic**, in the input's own axis directions (so an oblique acquisition stays
oblique and nothing is cut). Why: microbleeds are 2-10 mm across on SWI/T2*-GRE (blooming included), so they
span >= 2 voxels at 1 mm; one isotropic grid lets one network serve 0.5x0.5x2 mm SWI and 1 mm 3D GRE alike
and keeps convolutions orientation-agnostic; a whole head is ~11 M voxels, which a small FCN screens in
seconds on a CPU. Limit: foci under ~2 mm on thin-slice data lose contrast to partial volume.

Intensities: the magnitude is divided by the median of the foreground (voxels above a SimpleITK Otsu
threshold), so tissue reads ~1 and air 0 whatever the scanner gain and the field of view. Phase (optional)
must be unwrapped, background-removed phase in radians (right-handed; ``phase_sign=-1`` flips a left-handed
one); it is divided by pi and clipped to +-4.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess import GridSpec, resample
from radtriage.preprocess.transforms import OWN_PREFIX, Preprocessing, compose_config

log = logging.getLogger(__name__)

WORKING_SPACING_MM = 1.0
MAGNITUDE_KEYS = ("magnitude", "mag", "swi", "t2s", "t2star", "gre", "image")
PHASE_KEYS = ("phase", "pha")
ECHO_MODES = ("rss", "first", "last")


@dataclass
class WorkingVolume:
    """Normalised magnitude (and phase) on the working grid, with the native grid they came from."""

    grid: GridSpec
    native: GridSpec
    magnitude: np.ndarray  # [k, j, i] float32, tissue ~ 1
    phase: np.ndarray | None  # [k, j, i] float32, radians / pi, or None
    magnitude_key: str
    echo_note: str = ""

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Continuous working-grid (i, j, k) indices to LPS mm (exact inverse of the resampling geometry)."""
        return self.grid.index_to_lps(ijk)

    def index_to_ras(self, ijk: np.ndarray) -> np.ndarray:
        """Continuous working-grid (i, j, k) indices to RAS mm."""
        lps = self.index_to_lps(ijk)
        return lps * np.array([-1.0, -1.0, 1.0])

    def stack(self) -> np.ndarray:
        """``[2, k, j, i]`` float32: magnitude and phase (zeros when no phase was given)."""
        phase = self.phase if self.phase is not None else np.zeros_like(self.magnitude)
        return np.stack([self.magnitude, phase]).astype(np.float32, copy=False)


def working_grid(image: Image | GridSpec, spacing: float = WORKING_SPACING_MM) -> GridSpec:
    """An isotropic grid with ``image``'s direction and centre that covers its whole extent (voxel edges)."""
    native = image if isinstance(image, GridSpec) else GridSpec.from_image(image)
    extent = np.asarray(native.size, dtype=float) * np.asarray(native.spacing)
    size = np.maximum(1, np.ceil(extent / spacing - 1e-6)).astype(int)
    centre = native.centre_lps()
    origin = centre - native.direction @ ((size - 1) / 2.0 * spacing)
    return GridSpec(tuple(int(s) for s in size), (spacing,) * 3, tuple(origin), native.direction.copy())


def _where(image: Image) -> str | None:
    return image.metadata.get("source_path")


def combine_echoes(image: Image, mode: str = "rss") -> tuple[Image, str]:
    """One magnitude volume from a multi-echo (components) image: root-sum-of-squares (default), first or last."""
    if image.n_components == 1:
        return image, ""
    if mode not in ECHO_MODES:
        raise ValueError(f"echo mode must be one of {ECHO_MODES}, got {mode!r}")
    arr = np.asarray(image.array, dtype=np.float32)
    if mode == "rss":
        out = np.sqrt(np.sum(arr.astype(np.float64) ** 2, axis=-1)).astype(np.float32)
        note = f"{arr.shape[-1]} echoes combined by root-sum-of-squares"
    else:
        idx = 0 if mode == "first" else arr.shape[-1] - 1
        out = np.ascontiguousarray(arr[..., idx])
        note = f"echo {idx + 1} of {arr.shape[-1]} used"
    return Image(out, image.spacing, image.origin, image.direction.copy(), dict(image.metadata)), note


def _names(key: str, words: tuple[str, ...]) -> bool:
    """Whether a lower-case input name is one of ``words`` or ends with one after ``_`` (``swi_phase``)."""
    return key in words or any(key.endswith("_" + w) for w in words)


def pick_inputs(inputs: Mapping[str, Image]) -> tuple[str, Image, Image | None]:
    """The magnitude (the only input, or the one keyed magnitude/mag/swi/t2s/gre/image) and the optional phase
    (keyed phase/pha); a name may carry a prefix (``swi_magnitude``, ``swi_phase``: the phantom's file names)."""
    if not inputs:
        raise InputError(None, "cmb_detect needs an SWI or T2*-GRE magnitude image; none was given")
    lowered = {k.lower(): k for k in inputs}
    phase_key = next((lowered[k] for k in lowered if _names(k, PHASE_KEYS)), None)
    rest = [k for k in inputs if k != phase_key]
    if len(rest) == 1:
        mag_key = rest[0]
    else:
        mag_key = next((lowered[k] for k in lowered if lowered[k] != phase_key and _names(k, MAGNITUDE_KEYS)), "")
        if not mag_key:
            raise InputError(None, f"cmb_detect takes one magnitude (and optionally PHASE=...); got {sorted(inputs)}"
                                   " — name it MAGNITUDE=PATH")
    return mag_key, inputs[mag_key], (inputs[phase_key] if phase_key else None)


def default_pipeline_config() -> dict[str, Any]:
    """The ``inference.json`` ``preprocessing`` item of a CMBDetect bundle: the magnitude on the working grid
    divided by its foreground median (:class:`~radtriage.preprocess.transforms.DivideByForegroundMedian`)."""
    return compose_config([{"_target_": OWN_PREFIX + "DivideByForegroundMedian"}])


def prepare_working_volume(
    magnitude: Image,
    phase: Image | None = None,
    *,
    key: str = "magnitude",
    spacing: float = WORKING_SPACING_MM,
    echo_mode: str = "rss",
    phase_sign: float = 1.0,
    pipeline: Preprocessing | None = None,
) -> WorkingVolume:
    """Resample (linear, SimpleITK) the magnitude and phase onto the working grid and normalise them (the
    magnitude through the bundle's ``pipeline``, default :func:`default_pipeline_config`)."""
    where = _where(magnitude)
    mag, note = combine_echoes(magnitude, echo_mode)
    if mag.array.ndim != 3 or min(mag.array.shape) < 1:
        raise InputError(where, f"cmb_detect needs a 3D volume, got array shape {mag.array.shape}")
    arr = np.asarray(mag.array, dtype=np.float32)
    if not np.isfinite(arr).any():
        raise InputError(where, "the magnitude image has no finite voxel values")
    mag = mag.with_array(np.nan_to_num(np.abs(arr), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32))
    grid = working_grid(mag, spacing)
    work = resample(mag, grid, None, "linear").array.astype(np.float32)
    try:
        work = (pipeline or Preprocessing(default_pipeline_config()))(work[None])[0]
    except ValueError as exc:
        raise InputError(where, str(exc)) from exc
    phase_arr = None
    if phase is not None:
        ph, _ = combine_echoes(phase, "last")
        ph = ph.with_array(np.nan_to_num(np.asarray(ph.array, dtype=np.float32)))
        phase_arr = resample(ph, grid, None, "linear").array.astype(np.float32)
        phase_arr = np.clip(phase_arr * np.float32(phase_sign / np.pi), -4.0, 4.0)
    log.debug("working grid %s from %s", grid, GridSpec.from_image(magnitude))
    return WorkingVolume(grid, GridSpec.from_image(magnitude), work, phase_arr, key, note)
