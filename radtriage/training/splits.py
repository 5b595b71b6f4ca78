"""Patient-level train/val/test splits: seeded, stratified by label where possible, given splits honoured."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from radtriage.errors import InputError
from radtriage.training.datalist import SPLIT_NAMES, Case

log = logging.getLogger(__name__)

DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Split fractions as a checked dict over train/val/test (they need not sum to 1; they are normalised)."""
    unknown = set(fractions) - set(SPLIT_NAMES)
    if unknown:
        raise ValueError(f"unknown split name(s) {sorted(unknown)}; use {SPLIT_NAMES}")
    out = {name: float(fractions.get(name, 0.0)) for name in SPLIT_NAMES}
    if any(v < 0 for v in out.values()) or out["train"] <= 0:
        raise ValueError(f"split fractions must be >= 0 with a positive train fraction, got {out}")
    return out


def stratified_patient_split(
    patient_strata: Mapping[str, Hashable], fractions: Mapping[str, float], seed: int
) -> dict[str, str]:
    """Assign each patient to a split so that every stratum is spread over the splits in proportion.

    Patients are shuffled (seeded) within their stratum, strata are laid end to end, and each patient in turn
    goes to the split furthest below its share so far. Every split with a positive fraction gets at least one
    patient when there are enough patients. The result does not depend on the order of ``patient_strata``.
    """
    names = [n for n in fractions if fractions[n] > 0]
    if not names:
        raise ValueError("no split has a positive fraction")
    total = sum(fractions[n] for n in names)
    share = np.array([fractions[n] / total for n in names])
    rng = np.random.default_rng(seed)
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for pid in sorted(patient_strata):
        groups[patient_strata[pid]].append(pid)
    order: list[str] = []
    for key in sorted(groups, key=repr):
        members = groups[key]
        order += [members[i] for i in rng.permutation(len(members))]
    counts = np.zeros(len(names), dtype=int)
    out: dict[str, int] = {}
    for i, pid in enumerate(order):
        s = int(np.argmax(share * (i + 1) - counts))
        out[pid] = s
        counts[s] += 1
    for s in range(len(names)):  # make sure no requested split is left empty
        if counts[s] == 0 and len(order) >= len(names):
            donor = int(np.argmax(counts))
            pid = next(p for p in reversed(order) if out[p] == donor)
            out[pid], counts[donor], counts[s] = s, counts[donor] - 1, 1
    return {pid: names[s] for pid, s in out.items()}


def assign_splits(
    cases: Sequence[Case],
    strata: Sequence[Hashable],
    fractions: Mapping[str, float],
    seed: int,
    where: str,
) -> list[str]:
    """The split of every case (patients never cross splits).

    Splits given in the datalist are honoured; a patient given two different splits, or given val/test on one
    row and no split on another, raises :class:`InputError` naming the rows. Patients without a given split go to
    train and to whichever of val/test the datalist does not provide, stratified by ``strata`` (one hashable per
    case; a patient's stratum is its most frequent one).
    """
    fractions = check_fractions(fractions)
    given: dict[str, tuple[str, str]] = {}
    for case in cases:
        if case.split is None:
            continue
        seen = given.get(case.patient_id)
        if seen is not None and seen[0] != case.split:
            raise InputError(
                where,
                f"{seen[1]} ({seen[0]}) and {case.row} ({case.split}) are the same patient but are given different "
                "splits; a patient must be in one split only",
            )
        given.setdefault(case.patient_id, (case.split, case.row))
    for case in cases:  # an unsplit row could land in train or val: a leak for a patient given val or test
        seen = given.get(case.patient_id)
        if case.split is None and seen is not None and seen[0] != "train":
            raise InputError(
                where,
                f"{case.row} (no split given: train or val) and {seen[1]} ({seen[0]}) are the same patient; a patient "
                "must be in one split only (give every row of this patient the same split)",
            )
    per_patient: dict[str, list[Hashable]] = defaultdict(list)
    for case, key in zip(cases, strata, strict=True):
        if case.patient_id not in given:
            per_patient[case.patient_id].append(key)
    present = {split for split, _ in given.values()}
    targets = {"train": fractions["train"]}
    targets.update({s: fractions[s] for s in ("val", "test") if s not in present and fractions[s] > 0})
    patient_strata = {pid: most_common(keys) for pid, keys in per_patient.items()}
    drawn = stratified_patient_split(patient_strata, targets, seed) if patient_strata else {}
    if given:
        log.info(
            "splits given in the datalist for %d patient(s); %d patient(s) split over %s",
            len(given),
            len(drawn),
            sorted(targets),
        )
    return [given[c.patient_id][0] if c.patient_id in given else drawn[c.patient_id] for c in cases]


def most_common(values: Sequence[Hashable]) -> Hashable:
    """The most frequent of ``values``, ties broken by ``repr`` (the same on every run); None when empty."""
    if not values:
        return None
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], repr(v)))


def split_fingerprint(cases: Sequence[Case], splits: Sequence[str]) -> str:
    """A SHA-256 over (row, patient, split) of every case: equal fingerprints mean equal splits."""
    items = sorted((c.row, c.patient_id, s) for c, s in zip(cases, splits, strict=True))
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()
