"""The ``lge_certainty`` task runner: pick the LGE input, reformat to short axis when needed, score every slice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.tasks.lge_certainty.certainty import BAND_RULE, LOW_CERTAINTY_HINT, READER_RULE
from radtriage.tasks.lge_certainty.reformat import (
    LongAxis,
    estimate_long_axis,
    is_short_axis_like,
    reformat_to_short_axis,
)
from radtriage.tasks.lge_certainty.scoring import DEMO_NOTICE, TASK, LgeSliceScorer
from radtriage.tasks.options import validate_options
from radtriage.tasks.result import TaskResult

log = logging.getLogger(__name__)

REFORMAT_MODES = ("auto", "always", "never")
_PREFERRED_KEYS = ("lge", "psir", "magnitude", "mag", "image")
SAX_VOLUME = "lge_sax"


def pick_lge_input(inputs: dict[str, Image]) -> tuple[str, Image]:
    """The LGE image among ``inputs``: the only one, or the one keyed lge/psir/magnitude/mag/image."""
    if not inputs:
        raise InputError(None, "lge_certainty needs one LGE image (short-axis stack or 3D volume); none was given")
    if len(inputs) == 1:
        key, image = next(iter(inputs.items()))
    else:
        lowered = {k.lower(): k for k in inputs}
        key = next((lowered[k] for k in _PREFERRED_KEYS if k in lowered), "")
        if not key:
            raise InputError(None, f"lge_certainty takes one LGE image; got {sorted(inputs)} — name it LGE=PATH")
        image = inputs[key]
    where = image.metadata.get("source_path")
    if image.n_components != 1:
        raise InputError(
            where,
            f"input {key!r} has {image.n_components} components per voxel; give one LGE image "
            "(PSIR or magnitude) at a time",
        )
    return key, image  # values, grid and tags are checked by the lge_certainty input contract (run_task)


def resolve_long_axis(
    image: Image, apex: Sequence[float] | None, base: Sequence[float] | None, coordinates: str
) -> LongAxis:
    """The user's long axis when both points are given, else the (rough) estimate."""
    if (apex is None) != (base is None):
        raise InputError(image.metadata.get("source_path"), "give both apex and base (mitral-valve centre) or neither")
    if apex is not None and base is not None:
        return LongAxis.from_points(apex, base, coordinates, source="user")
    return estimate_long_axis(image)


def with_pixel_size(image: Image, pixel_mm: float) -> Image:
    """``image`` with in-plane spacing ``pixel_mm`` (for a 2D slice read without a pixel size)."""
    if not (np.isfinite(pixel_mm) and pixel_mm > 0):
        raise InputError(image.metadata.get("source_path"), f"pixel_mm must be positive, got {pixel_mm}")
    spacing = (float(pixel_mm), float(pixel_mm), float(image.spacing[2]))
    meta = {k: v for k, v in image.metadata.items() if k != "spacing_unknown"}
    return replace(image, spacing=spacing, metadata=meta)


def _slice_centres(stack: Image) -> np.ndarray:
    ni, nj, nk = stack.size
    idx = np.column_stack([np.full(nk, (ni - 1) / 2.0), np.full(nk, (nj - 1) / 2.0), np.arange(nk, dtype=float)])
    return stack.index_to_lps(idx)


def run(
    inputs: dict[str, Image],
    *,
    bundle: str | None = None,
    device: str = "auto",
    progress: Callable[[float, str], None] | None = None,
    apex: Sequence[float] | None = None,
    base: Sequence[float] | None = None,
    coordinates: str = "LPS",
    reformat: str = "auto",
    certainty_band: Sequence[float] | None = None,
    pixel_mm: float | None = None,
    scorer: LgeSliceScorer | None = None,
    **options: Any,
) -> TaskResult:
    """Per-slice LGE likelihood (0-100), certainty (high/low), flag and hint for a SAX stack or a 3D volume.

    ``reformat``: ``"auto"`` reformats to short axis when apex/base are given or the stack's slices are axial,
    coronal or sagittal (then with the estimated axis and a notice); ``"always"``/``"never"`` force it.
    ``apex``/``base`` are in ``coordinates`` (``"LPS"`` or ``"RAS"``). ``certainty_band`` overrides the bundle's
    (and then the band, not a certainty head, gives the flag). ``pixel_mm`` sets the in-plane pixel size of an
    input without one (a 2D PNG slice); it replaces the image's in-plane spacing.
    Raises :class:`radtriage.models.BundleNotFoundError` when no bundle is installed.
    """
    if options:
        validate_options(TASK, options)  # refuses the first unknown option
    report = progress or (lambda fraction, message="": None)
    if reformat not in REFORMAT_MODES:
        raise ValueError(f"reformat must be one of {REFORMAT_MODES}, got {reformat!r}")
    notices: list[str] = []
    key, image = pick_lge_input(inputs)
    if pixel_mm is not None:
        image = with_pixel_size(image, float(pixel_mm))
    elif image.metadata.get("spacing_unknown"):
        notices.append("the slice has no pixel size; assumed 1 mm (pass --option pixel_mm=MM)")
    report(0.05, "loading the LGE model")
    scorer = scorer or LgeSliceScorer.from_bundle(bundle, device, certainty_band)
    if scorer.bundle_info.get("demo"):
        notices.append(DEMO_NOTICE)
    points_given = apex is not None or base is not None
    single_slice = image.array.shape[0] == 1
    do_reformat = (
        reformat == "always"
        or points_given
        or (reformat == "auto" and not single_slice and not is_short_axis_like(image))
    )
    if reformat == "never" and points_given:
        raise InputError(image.metadata.get("source_path"), "apex/base were given but reformat='never'")
    axis: LongAxis | None = None
    stack = image
    if do_reformat:
        axis = resolve_long_axis(image, apex, base, coordinates)
        report(0.15, f"reformatting to short axis ({axis.source} long axis)")
        stack = reformat_to_short_axis(image, axis)
        if axis.source == "estimated":
            notices.append(axis.note)
    report(0.3, f"scoring {stack.array.shape[0]} slice(s)")
    scores = scorer.score_stack(stack)
    centres = _slice_centres(stack)
    slices = []
    for k, (score, centre) in enumerate(zip(scores, centres, strict=True)):
        slices.append(
            {
                "index": k,
                **score.to_dict(),
                "centre_lps": centre.tolist(),
                "centre_ras": [-centre[0], -centre[1], centre[2]],
            }
        )
    likelihoods = [s["likelihood"] for s in slices]
    n_low = sum(s["flag"] for s in slices)
    if n_low:
        notices.append(f"{n_low} low-certainty slice(s): {LOW_CERTAINTY_HINT}")
    outputs = {
        "input": key,
        "certainty_band": scorer.band.as_list(),
        "band_rule": BAND_RULE,
        "certainty_source": scorer.certainty_source,
        "certainty_rule": (
            BAND_RULE if scorer.certainty_source == "likelihood_band"
            else "learned certainty head: low when p(low) >= threshold; trained on readers' ratings, "
            + READER_RULE
        ),
        "certainty_head": scorer.certainty_head if scorer.certainty_source == "certainty_head" else None,
        "low_certainty_hint": LOW_CERTAINTY_HINT,
        "temperature": scorer.temperature,
        "likelihood_scale": [0, 100],
        "slices": slices,
        "summary": {
            "n_slices": len(slices),
            "n_low_certainty": n_low,
            "n_positive": sum(s["reading"] == "positive" for s in slices),
            "n_negative": sum(s["reading"] == "negative" for s in slices),
            "max_likelihood": max(likelihoods),
            "low_certainty_slices": [s["index"] for s in slices if s["flag"]],
        },
        "geometry": {
            "reformatted": do_reformat,
            "long_axis": None if axis is None else axis.to_dict(),
            "input_size": list(image.size),
            "stack_size": list(stack.size),
            "slice_normal_lps": (stack.direction[:, 2] / np.linalg.norm(stack.direction[:, 2])).tolist(),
        },
        "preprocessing": scorer.preprocessing_summary(),
    }
    report(0.95, "scored")
    volumes = {SAX_VOLUME: stack} if do_reformat else {}
    return TaskResult(TASK, dict(scorer.bundle_info), outputs, volumes=volumes, notices=notices)
