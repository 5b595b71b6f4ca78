"""Raw (wrapped, not background-removed) SWI phase -> high-pass filtered phase, as SWI processing does.

The model reads background-removed phase in radians. A raw scanner phase, once in radians, still wraps
around +-pi and carries the slowly varying background field; it is recognised by the share of head voxels
near +-pi and filtered with the homodyne method (the complex image divided by its low-pass copy; Gaussian,
``SIGMA_MM``), which removes both the background field and the wraps of slow variation.
"""

from __future__ import annotations

import math

import numpy as np

from radtriage.image import Image

SIGMA_MM = 5.0
WRAPPED_FRACTION = 0.05
"""Raw phase: within +-pi, with more than this share of head voxels beyond 0.8 pi (filtered phase: almost none)."""


def _weights(magnitude: Image) -> np.ndarray:
    arr = np.asarray(magnitude.array, dtype=np.float32)
    if arr.ndim == 4:
        arr = np.sqrt(np.sum(arr.astype(np.float64) ** 2, axis=-1)).astype(np.float32)
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def looks_raw(phase: np.ndarray, weights: np.ndarray) -> bool:
    """True when ``phase`` (radians, [k, j, i]) looks wrapped over the head (``weights`` = magnitude)."""
    head = weights > 0.2 * float(np.percentile(weights, 99.0))
    if not head.any() or float(np.max(np.abs(phase))) > math.pi * 1.01:
        return False  # unwrapped (values beyond +-pi): not a raw wrapped phase
    return float(np.mean(np.abs(phase[head]) > 0.8 * math.pi)) > WRAPPED_FRACTION


def homodyne_highpass(phase: np.ndarray, weights: np.ndarray, spacing: tuple[float, float, float],
                      sigma_mm: float = SIGMA_MM) -> np.ndarray:
    """High-pass filtered phase (radians, float32): angle of z * conj(lowpass(z)), z = magnitude * exp(i phase)."""
    from scipy import ndimage

    sigma = [sigma_mm / s for s in reversed(spacing)]  # array axes are (k, j, i)
    z = weights * np.exp(1j * phase.astype(np.float64))
    low = ndimage.gaussian_filter(z.real, sigma) + 1j * ndimage.gaussian_filter(z.imag, sigma)
    return np.angle(z * np.conj(low)).astype(np.float32)


def highpass_if_raw(phase: Image, magnitude: Image) -> tuple[Image, str]:
    """The phase high-pass filtered when it looks raw (with the notice), else unchanged with ''."""
    weights = _weights(magnitude)
    arr = np.asarray(phase.array, dtype=np.float32)
    comps = [arr] if arr.ndim == 3 else [arr[..., c] for c in range(arr.shape[-1])]
    if weights.shape != comps[0].shape or not looks_raw(comps[-1], weights):
        return phase, ""
    out = [homodyne_highpass(c, weights, phase.spacing) for c in comps]
    filtered = out[0] if arr.ndim == 3 else np.stack(out, axis=-1)
    note = (f"the phase looked raw (wrapped, background field not removed): it was high-pass filtered "
            f"(homodyne, Gaussian sigma {SIGMA_MM:g} mm) before use")
    return phase.with_array(filtered, phase_filter="homodyne"), note
