"""Saliency heatmaps for 2D and 3D classifiers (MONAI Grad-CAM, Grad-CAM++, occlusion) in patient geometry.

:func:`saliency_map` computes ``[B, *spatial]`` maps in [0, 1] on the model's input grid;
:func:`heatmap_image` puts one on the model grid and back on the native volume through
:class:`~radtriage.preprocess.PreparedInputs`; :func:`slice_heatmap_image` does the same
for one slice of a 2D slice classifier.
"""

from __future__ import annotations

from radtriage.saliency.images import heatmap_image, slice_heatmap_image
from radtriage.saliency.layers import conv_layer_names, find_target_layer
from radtriage.saliency.maps import (
    ACTIVATIONS,
    EVIDENCE,
    METHODS,
    OCCLUSION_FILLS,
    default_mask_size,
    has_evidence_maps,
    saliency_map,
)
from radtriage.saliency.state import network_state_kept

__all__ = [
    "ACTIVATIONS",
    "EVIDENCE",
    "METHODS",
    "OCCLUSION_FILLS",
    "conv_layer_names",
    "default_mask_size",
    "find_target_layer",
    "has_evidence_maps",
    "heatmap_image",
    "network_state_kept",
    "saliency_map",
    "slice_heatmap_image",
]
