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
from radtriage.preprocess.transforms import Preprocessing
from radtriage.tasks.lge_certainty.calibration import likelihood_from_logits
from radtriage.tasks.lge_certainty.certainty import CertaintyBand, SliceCall, band_slice, head_slice
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
    certainty_logit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out = {**self.call.to_dict(), "logit": round(self.logit, 4)}
        if self.certainty_logit is not None:
            out["certainty_logit"] = round(self.certainty_logit, 4)
        return out


def certainty_head_of(meta_outputs: dict[str, Any]) -> dict[str, Any] | None:
    """The bundle's certainty head (``radtriage.outputs.certainty_head``: channel, threshold, rule) or None."""
    head = meta_outputs.get("certainty_head")
    if not isinstance(head, dict):
        return None
    threshold = float(head.get("threshold", 0.5))
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"certainty head threshold must lie in (0, 1), got {threshold}")
    return {**head, "channel": int(head.get("channel", 1)), "threshold": threshold}


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
    certainty_head: dict[str, Any] | None = None
    """``{"channel", "threshold", "rule"}`` when the network has a certainty head; else the band decides."""
    band_forced: bool = False
    """True when the caller asked for a band: the band then decides even if a certainty head exists."""
    pipeline: Preprocessing | None = None
    """The bundle's preprocessing on each resampled slice (None: ``prep``'s percentile scaling)."""

    def __post_init__(self) -> None:
        if self.pipeline is None:
            self.pipeline = Preprocessing(self.prep.pipeline_config())

    def preprocessing_summary(self) -> dict[str, Any]:
        """What a result reports: the slice geometry and the pipeline that ran on it."""
        geometry = {k: v for k, v in self.prep.to_dict().items() if k in ("fov_mm", "patch", "pixel_mm", "resample")}
        assert self.pipeline is not None
        return {**geometry, "pipeline": self.pipeline.config}

    @property
    def certainty_source(self) -> str:
        """``"certainty_head"`` or ``"likelihood_band"``: what produces the flag."""
        return "certainty_head" if self.certainty_head is not None and not self.band_forced else "likelihood_band"

    @classmethod
    def from_bundle(
        cls, bundle: str | Path | None = None, device: str = "auto", certainty_band: Sequence[float] | None = None
    ) -> LgeSliceScorer:
        """Load the newest valid ``lge_certainty`` bundle (or the one named / the folder given).

        Raises :class:`radtriage.models.BundleNotFoundError` when none is installed.
        """
        from radtriage.models import BundleError, bundle_preprocessing, load_bundle, resolve_bundle_path

        path = resolve_bundle_path(TASK, bundle)
        loaded = load_bundle(path, device, task=TASK)
        meta = loaded.meta
        spacing, patch = float(meta.inputs.spacing[0]), int(meta.inputs.patch_size[0])
        pp = dict(meta.outputs.get("preprocessing") or {})
        pp.update(fov_mm=spacing * patch, patch=patch)
        band = CertaintyBand.from_value(certainty_band if certainty_band is not None else meta.certainty_band)
        info = {"name": meta.name, "version": meta.version, "demo": meta.demo, "path": str(path)}
        head = certainty_head_of(meta.outputs)
        use_head = head is not None and certainty_band is None
        info["certainty_source"] = "certainty_head" if use_head else "likelihood_band"
        try:
            prep = SlicePrep.from_dict(pp)
        except (TypeError, ValueError) as exc:
            raise BundleError(path, str(exc)) from exc
        return cls(
            loaded.network.eval(), calibration_of(meta.outputs), band, prep, loaded.device, info, head,
            certainty_band is not None, bundle_preprocessing(loaded.config, path, legacy=prep.pipeline_config()),
        )

    def prepare(self, image2d: Image | np.ndarray, pixel_spacing: Sequence[float] | None = None) -> np.ndarray:
        """The network input for one slice: an :class:`Image` with one slice, or a ``(J, I)`` array with
        ``pixel_spacing`` = (i, j) mm (default: already at the model's pixel size)."""
        if isinstance(image2d, Image):
            if image2d.array.shape[0] != 1 or image2d.n_components != 1:
                raise ValueError(f"score_slice needs one scalar slice, got array shape {image2d.array.shape}")
            return prepare_slice(image2d.array[0], pixel_spacing or slice_pixel_spacing(image2d), self.prep,
                                 self.pipeline)
        spacing = pixel_spacing or (self.prep.pixel_mm, self.prep.pixel_mm)
        return prepare_slice(np.asarray(image2d), spacing, self.prep, self.pipeline)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw likelihood logits for prepared slices ``(B, patch, patch)``."""
        return self.all_logits(batch)[:, 0]

    def all_logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw ``(B, channels)`` logits: channel 0 the likelihood, the certainty head's channel when present."""
        import torch

        from radtriage.runtime.device import inference_mode

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)[:, None]).to(self.device)
        with inference_mode(self.device, amp=False):
            out = self.network(x)
        return out.float().reshape(out.shape[0], -1).cpu().numpy().astype(np.float64)

    def call(self, logit: float | Sequence[float] | np.ndarray) -> SliceScore:
        """Calibrate one slice's logits (likelihood first); the certainty head (when present and its logit is
        given) or else the band gives the class."""
        row = np.atleast_1d(np.asarray(logit, dtype=np.float64))
        likelihood = float(likelihood_from_logits(row[0], self.temperature))
        head = self.certainty_head
        if self.certainty_source == "certainty_head" and head is not None and row.size > int(head["channel"]):
            c = float(row[int(self.certainty_head["channel"])])
            p_low = float(likelihood_from_logits(c, 1.0)) / 100.0
            return SliceScore(head_slice(likelihood, p_low, self.certainty_head["threshold"]), float(row[0]), c)
        return SliceScore(band_slice(likelihood, self.band), float(row[0]))

    def score_slice(self, image2d: Image | np.ndarray, pixel_spacing: Sequence[float] | None = None) -> SliceScore:
        """Likelihood 0-100, certainty, flag and hint for one slice (independent of every other slice)."""
        return self.call(self.all_logits(self.prepare(image2d, pixel_spacing)[None])[0])

    def score_stack(self, stack: Image, batch_size: int = 16) -> list[SliceScore]:
        """Every slice along ``k`` scored independently (batched only for speed)."""
        spacing = slice_pixel_spacing(stack)
        prepared = [prepare_slice(stack.array[k], spacing, self.prep, self.pipeline)
                    for k in range(stack.array.shape[0])]
        scores: list[SliceScore] = []
        for start in range(0, len(prepared), batch_size):
            chunk = np.stack(prepared[start : start + batch_size])
            scores.extend(self.call(z) for z in self.all_logits(chunk))
        return scores
