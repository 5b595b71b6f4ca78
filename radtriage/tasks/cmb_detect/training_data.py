"""Training patches for the two stages, cut from SWI phantoms on the working grid (truth from the phantom).

Stage 1 (screener, one magnitude channel, patch = the network's receptive field): positives are voxels within
1 voxel (1 mm) of a microbleed centre; negatives are a shell 2.5-6 mm around each microbleed (so peaks are
sharp), the mimics (vessel points, calcifications, air-bone cells), the darkest brain voxels and random voxels.
Stage 2 (discriminator, magnitude + phase): every candidate the trained screener proposes on the mining phantoms
(its false positives are the hard negatives: veins, calcifications, air-bone edges, noise), each microbleed centre
with jitter, and every mimic; the phase channel is zeroed in a share of the samples so
the model also works without phase. The magnitude-only discriminator gets the same patches, one magnitude channel,
mined from candidates of magnitude-only runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radtriage.phantoms import SwiCase
from radtriage.tasks.cmb_detect.detector import extract_patches
from radtriage.tasks.cmb_detect.prep import WorkingVolume, prepare_working_volume


@dataclass
class PatchSet:
    """Patches ``(N, C, P, P, P)``, 0/1 labels, the phantom seed of each (the 'patient') and what each is."""

    patches: np.ndarray
    labels: np.ndarray
    seeds: np.ndarray
    kinds: list[str]

    def items(self, split: str) -> list[dict[str, Any]]:
        """Datalist items for :func:`radtriage.training.train_bundle` (one channel per ``image*`` key)."""
        out = []
        for p, lab, seed in zip(self.patches, self.labels, self.seeds, strict=True):
            item: dict[str, Any] = {"image": p[0], "label": [int(lab)], "patient_id": f"swi-{int(seed)}",
                                    "split": split}
            for c in range(1, p.shape[0]):
                item[f"image{c + 1}"] = p[c]
            out.append(item)
        return out


def working_of(case: SwiCase, with_phase: bool = True) -> WorkingVolume:
    """The phantom's magnitude (and phase) on the 1 mm working grid, normalised as at inference."""
    return prepare_working_volume(case.magnitude, case.phase if with_phase else None)


def truth_voxels(case: SwiCase, work: WorkingVolume) -> np.ndarray:
    """Continuous working-grid (i, j, k) of the phantom's microbleeds."""
    if not case.microbleeds:
        return np.zeros((0, 3))
    return work.grid.lps_to_index(np.array([f.centre_lps for f in case.microbleeds]))


def _kji(ijk: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    v = np.rint(np.asarray(ijk, dtype=float).reshape(-1, 3)[:, ::-1]).astype(int)
    return np.clip(v, 0, np.asarray(shape) - 1)


def stage1_patches(case: SwiCase, work: WorkingVolume, size: int, rng: np.random.Generator,
                   n_random: int = 24, n_dark: int = 12) -> PatchSet:
    """Screener patches (magnitude only) for one phantom."""
    shape = work.magnitude.shape
    pos: list[np.ndarray] = []
    neg: list[np.ndarray] = []
    kinds: list[str] = []
    offsets = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing="ij"), -1).reshape(-1, 3)
    dist = np.linalg.norm(offsets, axis=1)
    centres = _kji(truth_voxels(case, work), shape)
    for c in centres:
        pos += [c + o for o in offsets[dist <= 1.0]]
        shell = offsets[(dist >= 2.5) & (dist <= 6.0)]
        neg += [c + o for o in shell[rng.choice(len(shell), 6, replace=False)]]
        kinds += ["shell"] * 6
    for m in case.mimics:
        pts = [np.asarray(m.centre_lps)] + [np.asarray(e) for e in m.end_points_lps]
        if m.kind == "vessel" and len(m.end_points_lps) > 1:
            ends = np.asarray(m.end_points_lps)
            t = rng.uniform(0, 1, (4, 1))
            seg = rng.integers(0, len(ends) - 1, 4)
            pts += list(ends[seg] + t * (ends[seg + 1] - ends[seg]))
        for p in pts:
            v = _kji(work.grid.lps_to_index(np.asarray(p)[None]), shape)[0]
            neg += [v + o for o in offsets[dist <= 1.0][rng.choice(7, 2, replace=False)]]
            kinds += [m.kind] * 2
    tissue = work.magnitude > 0.3
    idx = np.argwhere(tissue)
    if len(idx):
        neg += list(idx[rng.choice(len(idx), min(n_random, len(idx)), replace=False)])
        kinds += ["random"] * min(n_random, len(idx))
        vals = work.magnitude[tuple(idx.T)]
        darkest = idx[np.argsort(vals)[: 20 * n_dark]]
        neg += list(darkest[rng.choice(len(darkest), min(n_dark, len(darkest)), replace=False)])
        kinds += ["dark"] * min(n_dark, len(darkest))
    # drop negatives that land within 2.5 voxels of a microbleed centre
    neg_arr = np.clip(np.asarray(neg, dtype=int).reshape(-1, 3), 0, np.asarray(shape) - 1)
    if len(centres) and len(neg_arr):
        far = np.min(np.linalg.norm(neg_arr[:, None] - centres[None], axis=2), axis=1) >= 2.5
        neg_arr, kinds = neg_arr[far], [k for k, f in zip(kinds, far, strict=True) if f]
    pos_arr = np.clip(np.asarray(pos, dtype=int).reshape(-1, 3), 0, np.asarray(shape) - 1)
    voxels = np.concatenate([pos_arr, neg_arr])
    patches = extract_patches(work.magnitude[None], voxels, size)
    labels = np.r_[np.ones(len(pos_arr)), np.zeros(len(neg_arr))].astype(int)
    return PatchSet(patches, labels, np.full(len(labels), case.seed), ["microbleed"] * len(pos_arr) + kinds)


def stage2_patches(case: SwiCase, work: WorkingVolume, candidate_ijk: np.ndarray, size: int,
                   rng: np.random.Generator, match_mm: float = 2.0, phase_dropout: float = 0.3,
                   n_jitter: int = 3, max_negatives: int | None = None, magnitude_only: bool = False) -> PatchSet:
    """Discriminator patches for one phantom: every screener candidate (``candidate_ijk``, working-grid (i, j, k))
    labelled against the truth — the false ones are the hard negatives stage 2 must learn to reject; with
    ``max_negatives`` only the first (strongest, when ``candidate_ijk`` is sorted by screener score) are kept — plus
    ``n_jitter`` copies of each microbleed centre moved by up to 1 voxel, and every mimic's centre.
    ``magnitude_only``: one magnitude channel (for the magnitude-only discriminator; ``phase_dropout`` unused)."""
    shape = work.magnitude.shape
    truth = truth_voxels(case, work)
    reach = np.array([max(match_mm, f.apparent_radius_mm) for f in case.microbleeds])
    voxels: list[np.ndarray] = []
    labels: list[int] = []
    kinds: list[str] = []
    n_negatives = 0
    for ijk in np.asarray(candidate_ijk, dtype=float).reshape(-1, 3):
        d = np.linalg.norm(truth - ijk, axis=1) * work.grid.spacing[0] if len(truth) else np.zeros(0)
        hit = bool(len(d) and np.any(d <= reach))
        if not hit:
            n_negatives += 1
            if max_negatives is not None and n_negatives > max_negatives:
                continue
        voxels.append(_kji(ijk, shape)[0])
        labels.append(int(hit))
        kinds.append("peak-hit" if hit else "peak-fp")
    for c in _kji(truth, shape):
        for _ in range(n_jitter):
            voxels.append(c + rng.integers(-1, 2, 3))
            labels.append(1)
            kinds.append("microbleed")
    for m in case.mimics:
        voxels.append(_kji(work.grid.lps_to_index(np.asarray(m.centre_lps)[None]), shape)[0])
        labels.append(0)
        kinds.append(m.kind)
    vox = np.clip(np.asarray(voxels, dtype=int).reshape(-1, 3), 0, np.asarray(shape) - 1)
    patches = extract_patches(work.stack()[:1] if magnitude_only else work.stack(), vox, size)
    drop = rng.random(len(patches)) < (0.0 if magnitude_only else phase_dropout)
    patches[drop, 1:] = 0.0
    return PatchSet(patches, np.asarray(labels, dtype=int), np.full(len(labels), case.seed), kinds)
