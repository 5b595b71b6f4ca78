"""Score one short-axis slice at a time: prepare, run the network, calibrate, band.

:class:`LgeSliceScorer` holds a loaded network with its temperature, certainty band and slice preparation;
``score_slice`` can be called as soon as a slice arrives (no neighbouring slices needed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radtriage.image import Image
from radtriage.tasks.lge_certainty.calibration import likelihood_from_logits
from radtriage.tasks.lge_certainty.certainty import CertaintyBand, SliceCall, band_slice
from radtriage.tasks.lge_certainty.prep import SlicePrep, prepare_slice, slice_pixel_spacing

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

TASK = "lge_certainty"
DEMO_NOTICE = "demo, not for clinical use"


@dataclass
class SliceScore:
    """One slice's answer: the banded call plus the raw logit."""

    call: SliceCall
    logit: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {**self.call.to_dict(), "logit": round(self.logit, 4)}


def calibration_of(meta_outputs: dict[str, Any]) -> float:
    """The stored temperature (``radtriage.outputs.calibration.temperature``), 1.0 when absent."""
    calib = meta_outputs.get("calibration") or {}
    t = float(calib.get("temperature", 1.0))
    if not t > 0:
        raise ValueError(f"bundle temperature must be positive, got {t}")
    return t


@dataclass
class LgeSliceScorer:
    """A ready-to-use slice scorer; build with :meth:`from_bundle` (or directly for tests/benchmarks)."""

    network: torch.nn.Module  # torch is imported only when a scorer is used, so listing tasks stays light
    temperature: float = 1.0
    band: CertaintyBand = field(default_factory=CertaintyBand)
    prep: SlicePrep = field(default_factory=SlicePrep)
    device: Any = "cpu"
    bundle_info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_bundle(
        cls, bundle: str | Path | None = None, device: str = "auto", certainty_band: Sequence[float] | None = None
    ) -> LgeSliceScorer:
        """Load the newest valid ``lge_certainty`` bundle (or the one named / the folder given).

        Raises :class:`radtriage.models.BundleNotFoundError` when none is installed.
        """
        from radtriage.models import load_bundle, resolve_bundle_path

        path = resolve_bundle_path(TASK, bundle)
        loaded = load_bundle(path, device, task=TASK)
        meta = loaded.meta
        spacing, patch = float(meta.inputs.spacing[0]), int(meta.inputs.patch_size[0])
        pp = dict(meta.outputs.get("preprocessing") or {})
        pp.update(fov_mm=spacing * patch, patch=patch)
        band = CertaintyBand.from_value(certainty_band if certainty_band is not None else meta.certainty_band)
        info = {"name": meta.name, "version": meta.version, "demo": meta.demo, "path": str(path)}
        return cls(
            loaded.network.eval(), calibration_of(meta.outputs), band, SlicePrep.from_dict(pp), loaded.device, info
        )

    def prepare(self, image2d: Image | np.ndarray, pixel_spacing: Sequence[float] | None = None) -> np.ndarray:
        """The network input for one slice: an :class:`Image` with one slice, or a ``(J, I)`` array with
        ``pixel_spacing`` = (i, j) mm (default: already at the model's pixel size)."""
        if isinstance(image2d, Image):
            if image2d.array.shape[0] != 1 or image2d.n_components != 1:
                raise ValueError(f"score_slice needs one scalar slice, got array shape {image2d.array.shape}")
            return prepare_slice(image2d.array[0], pixel_spacing or slice_pixel_spacing(image2d), self.prep)
        spacing = pixel_spacing or (self.prep.pixel_mm, self.prep.pixel_mm)
        return prepare_slice(np.asarray(image2d), spacing, self.prep)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits for prepared slices ``(B, patch, patch)``."""
        import torch

        from radtriage.runtime.device import inference_mode

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)[:, None]).to(self.device)
        with inference_mode(self.device, amp=False):
            out = self.network(x)
        return out.float().reshape(out.shape[0], -1)[:, 0].cpu().numpy().astype(np.float64)

    def call(self, logit: float) -> SliceScore:
        """Calibrate and band one logit."""
        likelihood = float(likelihood_from_logits(logit, self.temperature))
        return SliceScore(band_slice(likelihood, self.band), float(logit))

    def score_slice(self, image2d: Image | np.ndarray, pixel_spacing: Sequence[float] | None = None) -> SliceScore:
        """Likelihood 0-100, certainty, flag and hint for one slice (independent of every other slice)."""
        return self.call(float(self.logits(self.prepare(image2d, pixel_spacing)[None])[0]))

    def score_stack(self, stack: Image, batch_size: int = 16) -> list[SliceScore]:
        """Every slice along ``k`` scored independently (batched only for speed)."""
        spacing = slice_pixel_spacing(stack)
        prepared = [prepare_slice(stack.array[k], spacing, self.prep) for k in range(stack.array.shape[0])]
        scores: list[SliceScore] = []
        for start in range(0, len(prepared), batch_size):
            chunk = np.stack(prepared[start : start + batch_size])
            scores.extend(self.call(float(z)) for z in self.logits(chunk))
        return scores
