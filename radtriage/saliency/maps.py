"""Saliency heatmaps of 2D and 3D classifiers with ``monai.visualize``: Grad-CAM, Grad-CAM++ and occlusion, and
the evidence maps of networks that write their own (``forward_with_evidence``).

One entry point, :func:`saliency_map`, works for any ``torch.nn.Module`` that maps
``[B, C, *spatial]`` to class scores ``[B, N]`` (softmax or independent sigmoid outputs).
The map has the input's spatial size, is non-negative, and is higher where the image
carries more evidence for the chosen class.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.visualize import GradCAM, GradCAMpp, ModelWithHooks, OcclusionSensitivity, default_upsampler
from torch import nn

from radtriage.saliency.layers import check_target_layer, find_target_layer
from radtriage.saliency.state import network_state_kept

logger = logging.getLogger(__name__)

METHODS = ("gradcam", "gradcam++", "occlusion")
"""Methods :func:`saliency_map` runs on any classifier."""
EVIDENCE = "evidence"
"""The method for networks that write their own evidence maps (``forward_with_evidence``)."""

_ALIASES = {
    "gradcam": "gradcam",
    "grad-cam": "gradcam",
    "gradcam++": "gradcam++",
    "grad-cam++": "gradcam++",
    "gradcampp": "gradcam++",
    "occlusion": "occlusion",
    "occlusion_sensitivity": "occlusion",
    "evidence": "evidence",
}

OCCLUSION_FILLS = ("gaussian", "mean_patch", "mean_img")
"""What MONAI puts in an occluded patch (besides a constant number)."""

ACTIVATIONS = ("auto", "softmax", "sigmoid", None)
"""How occlusion turns class scores into probabilities (``None``: use the raw scores)."""


class _ClassScoreHooks(ModelWithHooks):
    """MONAI's hooked model, with a clear error for a bad class index or a non-classifier output."""

    def class_score(self, logits: torch.Tensor, class_idx: int) -> torch.Tensor:
        _check_scores(logits, class_idx)
        return super().class_score(logits, class_idx)


def _check_scores(scores: Any, class_index: int) -> None:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"the network returned {type(scores).__name__}; saliency needs a tensor of class scores [B, N]")
    if scores.ndim != 2:
        raise ValueError(f"the network returned shape {tuple(scores.shape)}; saliency needs class scores [B, N]")
    if not 0 <= class_index < scores.shape[1]:
        raise ValueError(f"class_index {class_index} is out of range for a network with {scores.shape[1]} outputs")


def _method_name(method: str) -> str:
    key = _ALIASES.get(str(method).strip().lower()) if isinstance(method, str) else None
    if key is None:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join((*METHODS, EVIDENCE))}")
    return key


def _as_batch(network: nn.Module, inputs: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(inputs)
    if hasattr(x, "as_tensor"):  # a MONAI MetaTensor: drop the metadata tracking
        x = x.as_tensor()
    if x.ndim not in (4, 5) or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"inputs must be a batch [B, C, H, W] (2D) or [B, C, D, H, W] (3D), got shape {tuple(x.shape)}"
        )
    param = next((p for p in network.parameters() if p.is_floating_point()), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None else torch.float32
    return x.detach().to(device=device, dtype=dtype)


def _normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each map of the batch by its maximum into [0, 1] (all-zero maps stay zero)."""
    out = np.clip(maps.astype(np.float32), 0.0, None)
    for b in range(out.shape[0]):
        peak = float(out[b].max())
        out[b] = out[b] / peak if peak > 1e-12 else 0.0
    return out


# ------------------------------------------------------------------- Grad-CAM
def _class_activation_maps(
    network: nn.Module, x: torch.Tensor, class_index: int, target_layer: str | None, plus: bool
) -> np.ndarray:
    layer = target_layer if target_layer is not None else find_target_layer(network, x.ndim - 2)
    module = check_target_layer(network, layer)
    hooks = _ClassScoreHooks(network, layer, register_forward=False, register_backward=False)
    # Register the hooks here (MONAI keeps no handle to them) so they come off the network afterwards.
    hooks.register_forward = hooks.register_backward = True
    handles = [
        module.register_forward_hook(hooks.forward_hook(layer)),
        module.register_full_backward_hook(hooks.backward_hook(layer)),
    ]
    cam = (GradCAMpp if plus else GradCAM)(hooks, layer, upsampler=default_upsampler, postprocessing=lambda m: m)
    try:
        # Grad-CAM++ weighs by exp(score) without a batch axis, so samples go one at a time.
        chunks = [x[b : b + 1] for b in range(x.shape[0])] if plus else [x]
        maps = []
        with torch.enable_grad():
            for chunk in chunks:
                hooks.activations.clear()
                hooks.gradients.clear()
                try:
                    with warnings.catch_warnings():  # MONAI warns before failing on an unused layer
                        warnings.filterwarnings("ignore", message="Backward hook for", category=UserWarning)
                        maps.append(cam(chunk.clone().requires_grad_(True), class_idx=class_index).detach())
                except (IndexError, KeyError) as exc:
                    if layer not in hooks.activations or layer not in hooks.gradients:
                        raise ValueError(f"layer {layer!r} takes no part in the class score; pick another") from exc
                    raise
    finally:
        for handle in handles:
            handle.remove()
    out = torch.cat(maps, dim=0)[:, 0]
    logger.debug("%s map from layer %s: %s", "Grad-CAM++" if plus else "Grad-CAM", layer, tuple(out.shape))
    return out.cpu().numpy()


# ------------------------------------------------------------------ occlusion
def _activation(activation: str | Callable[[torch.Tensor], torch.Tensor] | None) -> Callable[..., torch.Tensor]:
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {ACTIVATIONS} or give a callable")
    if activation is None:
        return lambda scores: scores
    if activation == "sigmoid":
        return torch.sigmoid
    if activation == "softmax":
        return lambda scores: torch.softmax(scores, dim=1)
    return lambda scores: torch.sigmoid(scores) if scores.shape[1] == 1 else torch.softmax(scores, dim=1)


def default_mask_size(spatial: Sequence[int]) -> tuple[int, ...]:
    """Occlusion patch size when none is given: a quarter of each axis, between 1 and 16 voxels."""
    return tuple(int(min(s, max(1, min(16, round(s / 4))))) for s in spatial)


def _mask_size(mask_size: int | Sequence[int] | None, spatial: Sequence[int]) -> tuple[int, ...]:
    if mask_size is None:
        return default_mask_size(spatial)
    sizes = (mask_size,) * len(spatial) if isinstance(mask_size, (int, np.integer)) else tuple(mask_size)
    if len(sizes) != len(spatial) or any(int(m) < 1 for m in sizes):
        raise ValueError(f"mask_size must be a positive int or one per spatial axis {tuple(spatial)}, got {mask_size}")
    if any(int(m) > s for m, s in zip(sizes, spatial, strict=True)):
        raise ValueError(f"mask_size {sizes} is larger than the image {tuple(spatial)}")
    return tuple(int(m) for m in sizes)


def _occlusion_maps(
    network: nn.Module,
    x: torch.Tensor,
    class_index: int,
    mask_size: int | Sequence[int] | None,
    overlap: float,
    fill: str | float,
    activation: str | Callable[[torch.Tensor], torch.Tensor] | None,
    n_batch: int,
) -> np.ndarray:
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if isinstance(fill, str) and fill not in OCCLUSION_FILLS:
        raise ValueError(f"unknown occlusion fill {fill!r}; choose one of {OCCLUSION_FILLS} or a number")
    mode = fill if isinstance(fill, str) else float(fill)
    activate = _activation(activation)
    mask = _mask_size(mask_size, x.shape[2:])
    occlusion = OcclusionSensitivity(
        network,
        mask_size=mask,
        n_batch=int(n_batch),
        verbose=False,
        mode=mode,
        overlap=float(overlap),
        activate=activate,
    )
    maps = []
    with torch.no_grad():
        for b in range(x.shape[0]):
            sample = x[b : b + 1]
            scores = network(sample)
            _check_scores(scores, class_index)
            baseline = activate(scores)[0, class_index]
            with warnings.catch_warnings():  # MONAI 1.6 indexes with lists, which torch warns about
                warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
                occluded, _ = occlusion(sample)
            occluded = occluded.as_tensor() if hasattr(occluded, "as_tensor") else occluded
            # Importance = how much the class probability drops when the neighbourhood is hidden.
            drop = (baseline - occluded[0, class_index]).clamp_min(0.0)
            if float(drop.max()) <= 1e-7:
                logger.warning(
                    "occlusion changed the output %d of sample %d nowhere (probability %.4g, saturated?); "
                    "activation=None measures the drop of the raw class score instead",
                    class_index,
                    b,
                    float(baseline),
                )
            maps.append(drop)
    logger.debug("occlusion maps with mask %s, overlap %.2f", mask, overlap)
    return torch.stack(maps).cpu().numpy()


# ------------------------------------------------------------ evidence maps
def has_evidence_maps(network: nn.Module) -> bool:
    """Whether ``network`` writes its own evidence maps (``has_evidence_maps``, ``forward_with_evidence`` and the
    pooling ``pool_scale`` / ``pool_bias`` of :class:`radtriage.nets.mri_triage.MriTriageNet`)."""
    return bool(getattr(network, "has_evidence_maps", False))


def _evidence_maps(network: nn.Module, x: torch.Tensor, class_index: int) -> np.ndarray:
    """The network's own evidence map for the class as per-cell probabilities (``sigmoid`` of the cell logit
    through the network's pooling scale and bias, so the peak equals the output's probability), upsampled
    linearly to the input size."""
    if not has_evidence_maps(network):
        raise ValueError(f"{type(network).__name__} writes no evidence maps; use gradcam, gradcam++ or occlusion")
    network.eval()
    with torch.no_grad():
        logits, maps = network.forward_with_evidence(x)
        _check_scores(logits, class_index)
        cell = maps[:, class_index:class_index + 1] * network.pool_scale[class_index] + network.pool_bias[class_index]
        mode = "trilinear" if x.ndim == 5 else "bilinear"
        up = nn.functional.interpolate(torch.sigmoid(cell), size=tuple(x.shape[2:]), mode=mode, align_corners=False)
    return up[:, 0].float().cpu().numpy()


# --------------------------------------------------------------------- public
def saliency_map(
    network: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    class_index: int,
    method: str = "gradcam",
    target_layer: str | None = None,
    *,
    normalize: bool = True,
    mask_size: int | Sequence[int] | None = None,
    overlap: float = 0.5,
    fill: str | float = "gaussian",
    activation: str | Callable[[torch.Tensor], torch.Tensor] | None = "auto",
    n_batch: int = 16,
) -> np.ndarray:
    """Heatmaps ``[B, *spatial]`` (float32) of where ``inputs`` ``[B, C, *spatial]`` supports class ``class_index``.

    ``class_index`` picks the output (a softmax class or one sigmoid logit). ``method``:

    * ``"gradcam"``, ``"gradcam++"``: MONAI ``GradCAM``/``GradCAMpp`` on ``target_layer`` (default:
      the last Conv2d/Conv3d, see :func:`find_target_layer`), upsampled linearly to the input size.
    * ``"occlusion"``: MONAI ``OcclusionSensitivity``, the drop of the class probability when a
      ``mask_size`` patch around each voxel is hidden (default: a quarter of each axis, 1 to 16
      voxels; ``overlap`` between patches; ``fill`` = ``"gaussian"``, ``"mean_patch"``,
      ``"mean_img"`` or a number). ``activation``: ``"auto"`` (sigmoid for one output, softmax
      otherwise), ``"softmax"``, ``"sigmoid"`` (multi-label outputs), ``None`` (raw class scores)
      or a callable. A very confident network saturates its probability, which then drops
      nowhere (all-zero map, a warning is logged): ``activation=None`` measures the score drop.
      ``target_layer`` is not used.
    * ``"evidence"``: the network's own per-cell evidence map (networks with ``forward_with_evidence``, e.g.
      :class:`radtriage.nets.mri_triage.MriTriageNet` with the ``evidence`` encoder), as probabilities,
      upsampled linearly; with ``normalize=False`` the values are absolute (peak = the output's probability).

    With ``normalize`` each map is divided by its maximum, so it lies in [0, 1] (0: no evidence);
    otherwise the raw non-negative values come back. The network's train/eval modes,
    ``requires_grad`` flags, gradients and hooks are left as they were, and no gradient graph
    outlives the call (it also works inside ``torch.no_grad()``).
    """
    key = _method_name(method)
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) or class_index < 0:
        raise ValueError(f"class_index must be a non-negative int, got {class_index!r}")
    if not isinstance(network, nn.Module):
        raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
    x = _as_batch(network, inputs)
    with network_state_kept(network, freeze_parameters=True):
        if key == "evidence":
            raw = _evidence_maps(network, x, int(class_index))
        elif key == "occlusion":
            raw = _occlusion_maps(network, x, int(class_index), mask_size, overlap, fill, activation, n_batch)
        else:
            raw = _class_activation_maps(network, x, int(class_index), target_layer, plus=key == "gradcam++")
    if raw.shape != (x.shape[0], *x.shape[2:]):
        raise RuntimeError(f"saliency map shape {raw.shape} does not match the input {tuple(x.shape)}")
    return _normalise(raw) if normalize else raw.astype(np.float32)
