"""Sequence smoothing of per-slice region probabilities: an ordered HMM decoded with Viterbi.

Regions along a scan are contiguous and ordered. Walking the slices from head to feet, the hidden
region may only stay the same or move to a *later* class of the label set (whose classes are ordered
head to feet, with the arm classes at the level where the arms hang — see
:mod:`radtriage.labelsets`). Moving to the next region of the same chain (head→feet through trunk and
legs, shoulder→hand along an arm) is cheap; skipping ahead to any other later class is possible but
costly, and so is leaving the last region of a chain; moving back up is impossible. The chance of a
boundary between two slices grows with the slice spacing (``1 - exp(-spacing / mean_region_mm)``), so
thin and thick slices smooth alike.

The slice order is put head to feet before decoding (the caller passes it from the geometry), so
either slice direction works. Besides the Viterbi path, forward-backward gives each slice the
posterior probability of its decoded region (its smoothed confidence).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

AXIAL_CHAIN: tuple[str, ...] = (
    "head", "face", "neck", "shoulder", "chest", "abdomen", "pelvis", "hip", "thigh", "knee", "lower_leg",
    "ankle", "foot",
)
"""Regions met from head to feet through the trunk and legs."""
ARM_CHAIN: tuple[str, ...] = ("upper_arm", "elbow", "forearm", "hand")
"""Regions met along an arm scanned on its own."""
BREAST_CHAIN: tuple[str, ...] = ("breast",)
"""A dedicated breast MR examination."""
CHAINS: tuple[tuple[str, ...], ...] = (AXIAL_CHAIN, ARM_CHAIN, BREAST_CHAIN)

MEAN_REGION_MM = 120.0
"""Typical length of one region along the body; sets the per-slice boundary probability."""
SKIP_SHARE = 0.02
"""Share of the boundary probability given to jumps other than to the next region of the chain."""
MIN_PROB = 1e-6
"""Floor on per-slice probabilities before taking logs (a zero would forbid a region outright)."""


def next_in_chain(names: Sequence[str]) -> dict[int, int]:
    """For each class index, the index of the next region of its chain (classes last in a chain are absent)."""
    index = {n: i for i, n in enumerate(names)}
    out: dict[int, int] = {}
    for chain in CHAINS:
        present = [index[n] for n in chain if n in index]
        for a, b in itertools.pairwise(present):
            out[a] = b
    return out


def transition_log_matrix(
    names: Sequence[str], spacing_mm: float, mean_region_mm: float = MEAN_REGION_MM, skip_share: float = SKIP_SHARE
) -> np.ndarray:
    """``[K, K]`` log transition probabilities from one slice to the next, walking head to feet.

    Row ``a`` (from) to column ``b`` (to): ``b == a`` stays; ``b`` the next region in ``a``'s chain takes
    ``(1 - skip_share)`` of the boundary probability; every other later class shares ``skip_share``;
    earlier classes are impossible (-inf). The last region of a chain (hand, foot, breast) is left only by
    such a jump; the last class can only stay.
    """
    k = len(names)
    if k < 1:
        raise ValueError("need at least one class")
    if spacing_mm <= 0 or mean_region_mm <= 0:
        raise ValueError(f"spacing and mean region length must be positive, got {spacing_mm}, {mean_region_mm}")
    p_move = float(-np.expm1(-float(spacing_mm) / float(mean_region_mm)))
    nxt = next_in_chain(names)
    trans = np.zeros((k, k))
    for a in range(k):
        later = list(range(a + 1, k))
        if not later:
            trans[a, a] = 1.0
            continue
        b = nxt.get(a)
        if b is None:  # the end of a chain (hand, foot, breast): only a cross-chain jump leaves it
            trans[a, later] = p_move * skip_share / len(later)
            trans[a, a] = 1.0 - p_move * skip_share
            continue
        trans[a, a] = 1.0 - p_move
        others = [c for c in later if c != b]
        trans[a, b] = p_move * (1.0 - skip_share if others else 1.0)
        if others:
            trans[a, others] = p_move * skip_share / len(others)
    with np.errstate(divide="ignore"):
        return np.log(trans)


def viterbi(log_emissions: np.ndarray, log_trans: np.ndarray, log_start: np.ndarray | None = None) -> np.ndarray:
    """Most likely state path ``[T]`` for log emissions ``[T, K]`` and log transitions ``[K, K]``."""
    t_len, k = log_emissions.shape
    start = np.full(k, -np.log(k)) if log_start is None else log_start
    score = start + log_emissions[0]
    back = np.zeros((t_len, k), dtype=np.int64)
    for t in range(1, t_len):
        cand = score[:, None] + log_trans  # [from, to]
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], np.arange(k)] + log_emissions[t]
    path = np.empty(t_len, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(t_len - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def posteriors(log_emissions: np.ndarray, log_trans: np.ndarray, log_start: np.ndarray | None = None) -> np.ndarray:
    """Posterior state probabilities ``[T, K]`` (forward-backward, rescaled at every step)."""
    t_len, k = log_emissions.shape
    start = np.full(k, -np.log(k)) if log_start is None else log_start
    emit = np.exp(log_emissions - log_emissions.max(axis=1, keepdims=True))  # per-slice scale cancels out
    trans = np.exp(log_trans)
    alpha = np.empty((t_len, k))
    a = np.exp(start - start.max()) * emit[0]
    alpha[0] = a / a.sum()
    for t in range(1, t_len):
        a = (alpha[t - 1] @ trans) * emit[t]
        alpha[t] = a / a.sum()
    beta = np.ones((t_len, k))
    for t in range(t_len - 2, -1, -1):
        b = trans @ (emit[t + 1] * beta[t + 1])
        beta[t] = b / b.sum()
    post = alpha * beta
    return post / post.sum(axis=1, keepdims=True)


@dataclass
class SmoothedLabels:
    """Per-slice results in native slice order: smoothed class, its posterior, and the raw per-slice argmax."""

    labels: np.ndarray
    confidence: np.ndarray
    raw_labels: np.ndarray
    raw_confidence: np.ndarray
    posterior: np.ndarray


def smooth_slice_probabilities(
    probabilities: np.ndarray,
    names: Sequence[str],
    head_to_feet: np.ndarray,
    spacing_mm: float,
    mean_region_mm: float = MEAN_REGION_MM,
) -> SmoothedLabels:
    """Contiguous, head-to-feet-ordered labels from per-slice probabilities ``[n_slices, K]``.

    ``head_to_feet`` lists the slice indices from the most superior to the most inferior (from
    :meth:`SliceGeometry.head_to_feet`); results come back indexed by native slice number.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(names):
        raise ValueError(f"probabilities must be [n_slices, {len(names)}], got {probs.shape}")
    order = np.asarray(head_to_feet, dtype=np.int64)
    if sorted(order.tolist()) != list(range(probs.shape[0])):
        raise ValueError("head_to_feet must be a permutation of the slice indices")
    log_e = np.log(np.clip(probs[order], MIN_PROB, 1.0))
    log_t = transition_log_matrix(names, spacing_mm, mean_region_mm)
    path = viterbi(log_e, log_t)
    post = posteriors(log_e, log_t)
    labels = np.empty_like(path)
    labels[order] = path
    posterior = np.empty_like(post)
    posterior[order] = post
    confidence = posterior[np.arange(len(labels)), labels]
    raw = np.argmax(probs, axis=1)
    return SmoothedLabels(labels, confidence, raw, probs[np.arange(len(raw)), raw], posterior)
