"""Training progress: a tqdm bar on a terminal, JSON-lines ``progress`` events in a background job, or nothing."""

from __future__ import annotations

import logging
import sys
from typing import Any

from radtriage.runtime.events import emit_progress, resolve_progress

log = logging.getLogger(__name__)

_JSON_UPDATES_PER_EPOCH = 10


class Progress:
    """Reports steps and epochs of a run of ``max_epochs`` x ``steps_per_epoch`` steps: a tqdm bar (``text``),
    ``progress`` events (``json``) or nothing (``none``; epoch summaries still go to the log)."""

    def __init__(self, mode: str, max_epochs: int, steps_per_epoch: int, start_epoch: int = 0) -> None:
        self.mode = resolve_progress(mode)
        self.max_epochs = max(1, max_epochs)
        self.steps = max(1, steps_per_epoch)
        self._bar: Any = None
        self._every = max(1, self.steps // _JSON_UPDATES_PER_EPOCH)
        if self.mode == "text":
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.max_epochs * self.steps,
                initial=start_epoch * self.steps,
                unit="batch",
                desc="training",
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def fraction(self, epoch: int, step: int) -> float:
        """Fraction of the run done after ``step`` steps of ``epoch`` (0-based)."""
        return min(1.0, (epoch + step / self.steps) / self.max_epochs)

    def step(self, epoch: int, step: int, loss: float) -> None:
        """One training batch done (``step`` counts from 1)."""
        if self._bar is not None:
            if step == 1:
                self._bar.set_description(f"epoch {epoch + 1}/{self.max_epochs}", refresh=False)
            self._bar.update(1)
            self._bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}", refresh=False)
        elif self.mode == "json" and step % self._every == 0 and step < self.steps:
            emit_progress(self.fraction(epoch, step), f"epoch {epoch + 1}/{self.max_epochs}: batch {step}/{self.steps}")

    def epoch_end(self, epoch: int, message: str) -> None:
        """An epoch finished; ``message`` summarises it."""
        log.info("%s", message)
        if self.mode == "json":
            emit_progress(self.fraction(epoch + 1, 0), message)

    def close(self) -> None:
        """Close the bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
