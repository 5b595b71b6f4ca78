"""Class-balanced sampling: each stratum (class, label combination or score band) drawn equally often."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def balancing_weights(keys: Sequence[Hashable]) -> np.ndarray:
    """Per-sample weights 1 / (size of the sample's stratum), normalised to sum to 1."""
    if not keys:
        raise ValueError("no samples to weight")
    counts = Counter(keys)
    weights = np.array([1.0 / counts[k] for k in keys], dtype=np.float64)
    return weights / weights.sum()


def balanced_sampler(
    keys: Sequence[Hashable], generator: torch.Generator, num_samples: int | None = None
) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` (with replacement) that draws every stratum in ``keys`` equally often.

    ``num_samples`` defaults to ``len(keys)`` (one epoch); ``generator`` makes the draw reproducible.
    """
    weights = torch.as_tensor(balancing_weights(keys), dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples or len(keys), replacement=True, generator=generator)
