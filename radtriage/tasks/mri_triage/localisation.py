"""``radtriage evaluate localisation``: does a heatmap point at the lesion? The pointing game on fresh phantoms.

For each fresh lesion phantom (seeds the demo model never saw), the heatmap of the finding's output is computed
with each saliency method (and Grad-CAM layer) asked for; its peak is a hit when it lies within ``hit_mm``
(default 15 mm) of the lesion (distance to the nearest lesion voxel, in mm). Reported per output and method:
the hit rate with its Wilson interval (the pointing-game score) and the median peak distance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from radtriage.image import Image

logger = logging.getLogger(__name__)

HIT_MM = 15.0
FINDING_OUTPUT = {"infarct": "acute_infarct", "haemorrhage": "acute_haemorrhage", "mass_effect": "mass_effect"}
"""Phantom finding -> the model output whose heatmap must point at it."""
DEFAULT_METHODS = ("gradcam", "gradcam++", "occlusion")
"""Methods tried for every network; one that writes evidence maps is tried with ``evidence`` first."""


def default_methods(model: Any) -> tuple[str, ...]:
    """``evidence`` (when the network writes evidence maps) and :data:`DEFAULT_METHODS`."""
    from radtriage.saliency import EVIDENCE, has_evidence_maps

    return ((EVIDENCE,) if has_evidence_maps(model.network) else ()) + DEFAULT_METHODS


def peak_distance_mm(heatmap: Image, lesion: Image) -> float:
    """Distance (mm) from the heatmap's peak voxel to the nearest lesion voxel (0 inside the lesion), both on one
    grid; infinite when the heatmap is empty or there is no lesion."""
    from scipy import ndimage

    heat, mask = np.asarray(heatmap.array), np.asarray(lesion.array) > 0
    if heat.shape != mask.shape:
        raise ValueError(f"heatmap {heat.shape} and lesion mask {mask.shape} are not on one grid")
    if not mask.any() or not np.isfinite(heat).any() or float(np.nanmax(heat)) <= 0.0:
        return float("inf")
    peak = np.unravel_index(int(np.nanargmax(heat)), heat.shape)
    spacing_kji = tuple(reversed(heatmap.spacing))
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing_kji)
    return float(distance[peak])


def method_specs(model: Any, methods: Sequence[str]) -> list[tuple[str, str | None]]:
    """``(method, layer)`` pairs: ``gradcam@LAYER`` picks a layer; ``gradcam@all`` every 3D convolution."""
    from radtriage.saliency.layers import conv_layer_names

    specs: list[tuple[str, str | None]] = []
    for text in methods:
        method, _, layer = text.partition("@")
        if layer == "all":
            specs += [(method, name) for name in conv_layer_names(model.network, 3)]
        else:
            specs.append((method, layer or None))
    return specs


def pointing_game(model: Any, seeds: Sequence[int], methods: Sequence[str] | None = None,
                  findings: Sequence[str] = tuple(FINDING_OUTPUT), hit_mm: float = HIT_MM) -> dict[str, Any]:
    """The pointing-game score per output and saliency method over fresh lesion phantoms (see the module doc)."""
    from radtriage.evaluation.classification import proportion
    from radtriage.phantoms.brain_mni import ACQUISITION_GRID, make_mni_brain_case
    from radtriage.saliency import heatmap_image
    from radtriage.tasks.mri_triage.inputs import assign_study_contrasts
    from radtriage.tasks.mri_triage.pipeline import prepare_study

    specs = method_specs(model, methods or default_methods(model))
    distances: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        for finding in findings:
            output = FINDING_OUTPUT[finding]
            case = make_mni_brain_case(int(seed), finding, **ACQUISITION_GRID)
            study = assign_study_contrasts(dict(case.images))
            prepared = prepare_study(model, study)
            x, _ = model.model_input(prepared)
            for method, layer in specs:
                key = method if layer is None else f"{method}@{layer}"
                grid_map = model.saliency(x, [output], method, target_layer=layer)[output]
                native = heatmap_image(grid_map, prepared)
                d = peak_distance_mm(native, case.lesion_mask)
                distances.setdefault(output, {}).setdefault(key, []).append(d)
    table: dict[str, Any] = {}
    for output, by_method in distances.items():
        table[output] = {}
        for key, ds in by_method.items():
            hits = int(sum(d <= hit_mm for d in ds))
            finite = [d for d in ds if np.isfinite(d)]
            table[output][key] = {"pointing_game": proportion(hits, len(ds), what="lesion phantoms"),
                                  "median_peak_distance_mm": float(np.median(finite)) if finite else None}
    return {"hit_mm": hit_mm, "seeds": [int(s) for s in seeds], "bundle": dict(model.bundle_info),
            "rule": f"hit when the heatmap peak lies within {hit_mm:g} mm of the lesion", "outputs": table}


def markdown(result: dict[str, Any]) -> str:
    """The pointing-game table of :func:`pointing_game`'s result (model-card markdown)."""
    lines = ["| output | method | pointing game | median peak distance |", "|---|---|---|---|"]
    for output, by_method in result["outputs"].items():
        for key, row in by_method.items():
            game, median = row["pointing_game"], row["median_peak_distance_mm"]
            lines.append(f"| {output} | {key} | {game['count']}/{game['of']} = {game['value']:.2f} "
                         f"({game['ci_low']:.2f}-{game['ci_high']:.2f}) | "
                         + ("n/a" if median is None else f"{median:.0f} mm") + " |")
    return "\n".join(lines) + "\n"
