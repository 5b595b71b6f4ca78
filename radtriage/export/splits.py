"""Patient-level train/val/test splits of an export, drawn with :func:`radtriage.training.assign_splits`
(the same code ``radtriage train`` uses), so a patient never crosses splits and the split is seeded."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


def case_splits(
    patients: Mapping[str, str],
    strata: Mapping[str, Sequence[Hashable]],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, str]:
    """The split of every case. ``patients``: case id -> patient pseudonym; ``strata``: case id -> the strata of
    its labels (a case's stratum is its most frequent one)."""
    from radtriage.training.datalist import Case
    from radtriage.training.splits import assign_splits, most_common

    ids = list(patients)
    cases = [Case((), None, patients[c], None, f"case {c}") for c in ids]
    keys = [most_common(strata.get(c, ())) for c in ids]
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    return dict(zip(ids, assign_splits(cases, keys, fractions, seed, "export"), strict=True))

