"""The loaded MRI triage model: its grid, preprocessing, operating points, prediction and saliency heatmaps."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.models.output_requirements import DEFAULT_REQUIREMENTS, REQUIREMENTS_KEY, output_requirements
from radtriage.preprocess import GridSpec
from radtriage.tasks.mri_triage.options import DEFAULT_SALIENCY, FALLBACK_SALIENCY

if TYPE_CHECKING:
    import torch

    from radtriage.preprocess import PreparedInputs
    from radtriage.preprocess.transforms import Preprocessing

logger = logging.getLogger(__name__)

TASK = "mri_triage"
DEMO_NOTICE = "demo, not for clinical use"
CRITICAL_OUTPUTS: tuple[str, ...] = ("acute_infarct", "acute_haemorrhage", "mass_effect")
"""Outputs whose positive decision makes a study critical (read first)."""
DEFAULT_OPERATING_POINT = "balanced"


def _threshold(value: Any, operating_point: str) -> float:
    if isinstance(value, Mapping):
        if operating_point not in value:
            from radtriage.tasks.options import OptionError

            raise OptionError(f"mri_triage option operating_point={operating_point!r} is not in the bundle: use one "
                              f"of {', '.join(sorted(value))}")
        return float(value[operating_point])
    return float(value)


@dataclass
class TriageModel:
    """A ready network with what inference needs; build with :meth:`from_bundle` (or directly in tests)."""

    network: torch.nn.Module
    contrasts: tuple[str, ...] = MR_CONTRASTS
    outputs: tuple[str, ...] = BRAIN_FINDINGS
    spacing: tuple[float, float, float] = (6.0, 6.0, 6.0)
    """Model grid spacing (i, j, k), mm."""
    size: tuple[int, int, int] = (32, 32, 32)
    """Model grid size (i, j, k)."""
    thresholds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BRAIN_FINDINGS, 0.5))
    operating_point: str = DEFAULT_OPERATING_POINT
    preprocessing: Preprocessing | None = None
    """The bundle's pipeline on the stacked contrasts (None: resize to the grid, z-score per contrast)."""
    device: Any = "cpu"
    bundle_info: dict[str, Any] = field(default_factory=dict)
    saliency_layer: str | None = None
    """Layer Grad-CAM reads (None: the last 3D convolution); a bundle may set ``radtriage.saliency_layer``."""
    requirements: dict[str, tuple[str, ...]] = field(default_factory=lambda: output_requirements(None, BRAIN_FINDINGS))
    """Contrasts (any of) each output needs to be assessable (``radtriage.output_requirements``)."""
    saliency_method: str | None = None
    """The bundle's heatmap method (``radtriage.saliency_method``); see :meth:`heatmap_method`."""

    @classmethod
    def from_bundle(
        cls, bundle: str | Path | None = None, device: str = "auto", operating_point: str = DEFAULT_OPERATING_POINT
    ) -> TriageModel:
        """Load the newest valid ``mri_triage`` bundle (or the one named, or the bundle folder given).

        Raises :class:`radtriage.models.BundleNotFoundError` when none is installed.
        """
        from radtriage.models import bundle_preprocessing, load_bundle, resolve_bundle_path

        path = resolve_bundle_path(TASK, bundle)
        loaded = load_bundle(path, device, task=TASK)
        meta = loaded.meta
        pipeline = bundle_preprocessing(loaded.config, path)
        patch_kji = tuple(int(p) for p in meta.inputs.patch_size)
        spacing = tuple(float(s) for s in meta.inputs.spacing)
        thresholds = {name: _threshold(meta.thresholds.get(name, 0.5), operating_point) for name in meta.class_names}
        info = {"name": meta.name, "version": meta.version, "demo": meta.demo, "path": str(path)}
        return cls(
            network=loaded.network.eval(),
            contrasts=tuple(meta.inputs.contrasts),
            outputs=tuple(meta.class_names),
            spacing=(spacing[0], spacing[1], spacing[2]),
            size=(patch_kji[2], patch_kji[1], patch_kji[0]),
            thresholds=thresholds,
            operating_point=operating_point,
            preprocessing=pipeline,
            device=loaded.device,
            bundle_info=info,
            saliency_layer=meta.raw.get("radtriage", {}).get("saliency_layer"),
            saliency_method=meta.raw.get("radtriage", {}).get("saliency_method"),
            requirements=output_requirements(meta.raw.get("radtriage", {}).get(REQUIREMENTS_KEY), meta.class_names),
        )

    # ------------------------------------------------------------------ geometry and input
    def grid_for(self, reference: Image) -> GridSpec:
        """The model grid (LPS-aligned, model spacing and size) centred on the reference volume."""
        if len(set(self.spacing)) == 1:
            return GridSpec.isotropic_around(reference, self.spacing[0], size=self.size)
        grid = GridSpec.isotropic_around(reference, 1.0, size=self.size)
        centre = grid.centre_lps()
        half = (np.asarray(self.size, dtype=float) - 1) / 2.0 * np.asarray(self.spacing)
        return GridSpec(self.size, self.spacing, tuple(centre - half), np.eye(3))

    def model_input(self, prepared: PreparedInputs) -> tuple[np.ndarray, np.ndarray]:
        """``[C, k, j, i]`` float32 network input (missing contrasts all zero) and the ``[C]`` availability mask,
        through the bundle's pipeline, exactly as in training (:func:`radtriage.preprocess.patch.apply_to_channels`)."""
        from radtriage.preprocess.patch import PreprocessConfig, apply_to_channels

        stacked, avail = prepared.stack(self.contrasts)
        pipeline = self.preprocessing or PreprocessConfig(tuple(reversed(self.size))).build()
        x = apply_to_channels(list(stacked), pipeline)
        x[~avail] = 0.0
        return x.astype(np.float32), avail

    # ------------------------------------------------------------------ inference
    def predict(self, x: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """Probability per output for one ``[C, k, j, i]`` input with its availability ``mask``."""
        import torch

        from radtriage.runtime.device import inference_mode

        xt = torch.from_numpy(np.ascontiguousarray(x)[None]).to(self.device)
        mt = torch.from_numpy(np.asarray(mask, dtype=np.float32)[None]).to(self.device)
        with inference_mode(self.device, amp=False):
            logits = self.network(xt, mt)
        probs = torch.sigmoid(logits.float())[0].cpu().numpy()
        return {name: float(p) for name, p in zip(self.outputs, probs, strict=True)}

    def decisions(self, probabilities: Mapping[str, float]) -> dict[str, bool]:
        """Positive where the probability reaches the output's threshold."""
        return {name: bool(p >= self.thresholds.get(name, 0.5)) for name, p in probabilities.items()}

    def heatmap_method(self, method: str = DEFAULT_SALIENCY) -> str:
        """``method``, with ``auto`` resolved: the bundle's method, else ``evidence`` for a network that writes
        evidence maps, else the fallback (occlusion)."""
        if method != "auto":
            return method
        from radtriage.saliency import EVIDENCE, has_evidence_maps

        if self.saliency_method:
            return str(self.saliency_method)
        return EVIDENCE if has_evidence_maps(self.network) else FALLBACK_SALIENCY

    def saliency(
        self, x: np.ndarray, outputs: Sequence[str] | None = None, method: str = DEFAULT_SALIENCY,
        target_layer: str | None = None,
    ) -> dict[str, np.ndarray]:
        """``[k, j, i]`` maps in [0, 1] on the model grid per output (:func:`radtriage.saliency.saliency_map`).

        The network reads the availability mask from the input (missing contrasts are zero channels)."""
        from radtriage.saliency import saliency_map

        method = self.heatmap_method(method)
        names = list(outputs or self.outputs)
        maps = {}
        for name in names:
            index = self.outputs.index(name)
            kwargs: dict[str, Any] = {"activation": "sigmoid"} if method == "occlusion" else {}
            layer = target_layer or (self.saliency_layer if method != "occlusion" else None)
            maps[name] = saliency_map(self.network, x[None], index, method, layer, **kwargs)[0]
        return maps


def write_untrained_bundle(
    folder: str | Path,
    *,
    size: int = 32,
    spacing: float = 6.0,
    network_args: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Path:
    """Write a valid ``mri_triage`` bundle with an *untrained* (randomly initialised) network.

    For tests and timing only: its outputs mean nothing. Marked ``demo`` so every result carries the notice.
    """
    import torch

    from radtriage.models import default_metadata, write_bundle
    from radtriage.nets.mri_triage import NETWORK_NAME, MriTriageNet
    from radtriage.preprocess.patch import PreprocessConfig

    args = {"channels": [4, 8, 8, 8], "region_features": 4, "hidden": 8, **dict(network_args or {})}
    torch.manual_seed(seed)
    network = MriTriageNet(**args)
    patch = [int(size)] * 3
    meta = default_metadata(
        Path(folder).name, TASK, version="0.0.1", demo=True, class_names=list(BRAIN_FINDINGS),
        description="untrained network for tests and timing; demo, not for clinical use",
        inputs={"contrasts": list(MR_CONTRASTS), "modality": "MR", "spacing": [float(spacing)] * 3,
                "patch_size": patch},
        outputs={"kind": "multilabel", "activation": "sigmoid", "channels": len(BRAIN_FINDINGS)},
        thresholds={k: {"balanced": float((thresholds or {}).get(k, 0.5))} for k in BRAIN_FINDINGS},
    )
    meta["radtriage"][REQUIREMENTS_KEY] = {k: list(v) for k, v in DEFAULT_REQUIREMENTS.items()}
    preprocessing = PreprocessConfig(tuple(int(p) for p in patch)).to_config()
    return write_bundle(folder, network, meta, {"_target_": NETWORK_NAME, **args},
                        extra_config={"preprocessing": preprocessing}, overwrite=True)
