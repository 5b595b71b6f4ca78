"""Temperature scaling (Guo et al. 2017) of the LGE logit, and the calibration measures used to show it works.

The network gives one logit ``z`` per slice; the calibrated likelihood is ``100 * sigmoid(z / T)``. ``T`` is
fitted on the validation split by minimising the binary negative log-likelihood against the truth label
(true enhancement yes/no) and stored in the bundle (``radtriage.outputs.calibration.temperature``). Scaling by
``T`` is monotone, so ranking (AUC) is unchanged and ``z = 0`` stays at 50.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

TEMPERATURE_BOUNDS = (0.05, 20.0)


def _as_arrays(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if z.size != y.size or z.size == 0:
        raise ValueError(f"logits and labels need the same non-zero length, got {z.size} and {y.size}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    return z, y


def binary_nll(logits: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean binary negative log-likelihood of ``sigmoid(logits / temperature)`` (numerically stable form)."""
    z, y = _as_arrays(logits, labels)
    s = z / float(temperature)
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(logits: Any, labels: Any, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature ``T`` in ``bounds`` that minimises :func:`binary_nll` (bounded search on log T)."""
    z, y = _as_arrays(logits, labels)
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(
        lambda t: binary_nll(z, y, float(np.exp(t))), bounds=(lo, hi), method="bounded", options={"xatol": 1e-5}
    )
    best = float(np.exp(res.x))
    return best if binary_nll(z, y, best) <= binary_nll(z, y, 1.0) else 1.0


def likelihood_from_logits(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Calibrated likelihood 0-100: ``100 * sigmoid(logits / temperature)``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return 100.0 * expit(np.asarray(logits, dtype=np.float64) / float(temperature))


def calibration_report(logits: Any, labels: Any, temperature: float, n_bins: int = 10) -> dict[str, Any]:
    """NLL, ECE, MCE and Brier score before (T = 1) and after temperature scaling, on the given slices."""
    from radtriage.evaluation import reliability_bins  # radtriage[eval]: not needed to run the task

    z, y = _as_arrays(logits, labels)
    out: dict[str, Any] = {"temperature": float(temperature), "n": int(z.size), "n_bins": n_bins}
    for name, t in (("before", 1.0), ("after", float(temperature))):
        bins = reliability_bins(y, likelihood_from_logits(z, t) / 100.0, n_bins=n_bins)
        out[name] = {"nll": binary_nll(z, y, t), "ece": bins["ece"], "mce": bins["mce"], "brier": bins["brier"]}
    return out
