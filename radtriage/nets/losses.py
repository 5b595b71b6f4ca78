"""Losses the project's networks share."""

from __future__ import annotations

import torch
from torch.nn.functional import binary_cross_entropy_with_logits


def balanced_cell_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE of evidence-map cell ``logits`` against 0/1 ``target`` cells of the same shape:
    positive and negative cells weigh half each (only the negatives count when no cell is positive)."""
    cells = binary_cross_entropy_with_logits(logits, target, reduction="none")
    pos = target > 0.5
    loss = cells[~pos].mean() if bool((~pos).any()) else 0.0 * cells.sum()
    if bool(pos.any()):
        loss = 0.5 * loss + 0.5 * cells[pos].mean()
    return loss
