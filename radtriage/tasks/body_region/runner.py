"""The body-region task runner: per-slice labels, smoothed contiguous ranges and header QA for one volume.

Steps: pick the modality (option, DICOM, or an intensity guess), find the bundle for it, resample every
slice along the head-feet axis to the canonical grid, classify the slices with the 2D CNN, smooth the
per-slice probabilities head to feet (:mod:`.smoothing`), turn them into ranges (:mod:`.ranges`), compare
with the DICOM header (:mod:`.header_qa`) and build a per-slice label volume for display.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.labelsets import body_region_labelset
from radtriage.preprocess.transforms import Preprocessing
from radtriage.tasks.body_region.bundle_meta import DEMO_NOTICE, FOV_MM, SLICE_SIZE, TASK, labelset_metadata
from radtriage.tasks.body_region.header_qa import header_qa
from radtriage.tasks.body_region.intensity import determine_modality, fill_value, intensity_config, scale_slices
from radtriage.tasks.body_region.ranges import region_ranges, slice_rows
from radtriage.tasks.body_region.score import body_part_score, score_jumps
from radtriage.tasks.body_region.slices import SliceGeometry, canonical_slices, slice_geometry
from radtriage.tasks.body_region.smoothing import smooth_slice_probabilities
from radtriage.tasks.options import option_default, validate_options
from radtriage.tasks.result import TaskResult

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
LABEL_VOLUME = "region_labels"
LABEL_VOLUME_IN_PLANE = 16
"""In-plane voxels of the label volume (it is constant within a slice; full resolution along the slices)."""


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(fraction), message)


def _single_input(inputs: Mapping[str, Image]) -> tuple[str, Image]:
    images = {k: v for k, v in (inputs or {}).items() if v is not None}
    if len(images) != 1:
        raise InputError(None, f"the body-region task reads exactly one CT or MR volume; got {len(images)} input(s)"
                         + (f" ({', '.join(sorted(images))})" if images else ""))
    key, image = next(iter(images.items()))
    if not isinstance(image, Image):
        raise InputError(None, f"input {key!r} is not an image")
    return key, image  # values, grid and modality are checked by the body_region input contract (run_task)


def find_body_region_bundle(modality: str, bundle: str | Path | None = None) -> Path:
    """The folder of the newest valid body-region bundle for ``modality`` (optionally by name or folder path).

    Raises :class:`radtriage.models.BundleNotFoundError` naming the modality and what was found instead.
    """
    from packaging.version import InvalidVersion, Version

    from radtriage.models import BundleNotFoundError, inspect_bundle, list_bundles

    def newest(info: Any) -> tuple[int, Any]:
        try:
            return (1, Version(info.version))
        except InvalidVersion:
            return (0, info.version)

    mod = body_region_labelset(modality).modality
    if bundle is not None and (Path(bundle) / "configs" / "metadata.json").is_file():
        info = inspect_bundle(Path(bundle))
        if not info.valid:
            raise BundleNotFoundError(f"body-region bundle {bundle} is not valid: {info.reason}")
        if info.task != TASK or info.meta.inputs.modality != mod:
            raise BundleNotFoundError(
                f"bundle {bundle} is for {info.task} {info.meta.inputs.modality}, not body_region {mod}")
        return info.path
    found = [b for b in list_bundles() if b.task == TASK and (bundle is None or b.name == str(bundle))]
    usable = [b for b in found if b.valid and b.meta is not None and b.meta.inputs.modality == mod]
    if usable:
        best = max(usable, key=newest)
        for b in found:  # say which newer bundles the default passed over, and why
            same_modality = b.meta is None or b.meta.inputs.modality == mod
            if not b.valid and same_modality and newest(b) > newest(best):
                logger.warning("skipped invalid bundle %s %s (newer than %s %s): %s", b.name, b.version, best.name,
                               best.version, b.reason)
        return best.path
    what = f"body_region {mod}" + (f" named {bundle!r}" if bundle else "")
    others = ", ".join(f"{b.name} {b.version} ({b.meta.inputs.modality if b.meta else '?'}"
                       f"{'' if b.valid else ', invalid: ' + b.reason})" for b in found) or "none"
    raise BundleNotFoundError(
        f"no model bundle for {what} is installed (body-region bundles found: {others}); "
        "train one with scripts/train_demo_body_region.py or install one; no result was produced"
    )


def predict_probabilities(network: Any, x: np.ndarray, device: Any, batch: int | None = None) -> np.ndarray:
    """Softmax probabilities ``[n, K]`` for network inputs ``x`` ``[n, H, W]`` (batched, no gradients).

    Default batch: 128 slices on one CPU thread (stays in cache), 512 otherwise (fewer thread hand-offs).
    """
    import torch

    from radtriage.runtime.device import inference_mode

    if batch is None:
        batch = 128 if torch.device(device).type == "cpu" and torch.get_num_threads() == 1 else 512

    out = []
    with inference_mode(device):
        for start in range(0, x.shape[0], batch):
            chunk = torch.from_numpy(np.ascontiguousarray(x[start:start + batch, None])).to(device)
            out.append(torch.softmax(network(chunk).float(), dim=1).cpu().numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), dtype=np.float32)


def prepare_slices(image: Image, modality: str, geometry: SliceGeometry | None = None,
                   size: int = SLICE_SIZE, fov_mm: float = FOV_MM,
                   pipeline: Preprocessing | None = None) -> tuple[SliceGeometry, np.ndarray]:
    """The slice geometry and the network input ``[n_slices, size, size]``: canonical slices through the
    bundle's ``pipeline`` (default: the modality's :func:`~radtriage.tasks.body_region.intensity.intensity_config`)."""
    geo = geometry if geometry is not None else slice_geometry(image)
    raw = canonical_slices(image, geo, size=size, fov_mm=fov_mm, fill=fill_value(modality))
    return geo, scale_slices(raw, modality, pipeline)


def region_label_image(image: Image, geometry: SliceGeometry, labels: np.ndarray,
                       in_plane: int = LABEL_VOLUME_IN_PLANE) -> Image:
    """A uint8 label volume (class index + 1; 0 = none) over the input's extent, one value per slice.

    Same direction, slice positions and outer extent as the input; coarse in-plane (``in_plane`` voxels
    per side) because the label is constant within a slice.
    """
    size = np.asarray(image.size)
    spacing = np.asarray(image.spacing, dtype=float)
    new_size = size.copy()
    new_spacing = spacing.copy()
    for a in range(3):
        if a != geometry.axis:
            new_size[a] = min(in_plane, size[a])
            new_spacing[a] = size[a] * spacing[a] / new_size[a]
    origin = np.asarray(image.origin) + image.direction @ ((new_spacing - spacing) / 2.0)
    shape = (new_size[2], new_size[1], new_size[0])
    values = (np.asarray(labels, dtype=np.uint8) + 1)
    bshape = [1, 1, 1]
    bshape[2 - geometry.axis] = geometry.n_slices
    arr = np.broadcast_to(values.reshape(bshape), shape).copy()
    return Image(arr, tuple(new_spacing), tuple(origin), image.direction.copy(),
                 {"description": "body region per slice (class index + 1)"})


def run(
    inputs: Mapping[str, Image],
    *,
    bundle: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    modality: str | None = None,
    **options: Any,
) -> TaskResult:
    """Label every slice of one CT or MR volume with its body region and report contiguous ranges.

    ``modality`` ("CT"/"MR") overrides DICOM and the intensity guess. Options: ``mean_region_mm``
    (smoothing strength), ``label_volume`` (False to skip the label volume), ``min_confidence`` (slices whose
    smoothed confidence is below it are marked ``uncertain`` and listed in ``uncertain_slices``). Raises
    :class:`~radtriage.models.BundleNotFoundError` when no bundle for the modality is installed.
    """
    from radtriage.models import bundle_preprocessing, load_bundle

    options = validate_options(TASK, options)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    key, image = _single_input(inputs)
    mod, mod_source = determine_modality(image, modality)
    labelset = body_region_labelset(mod)
    _report(progress, 0.05, f"loading the {mod} body-region model")
    folder = find_body_region_bundle(mod, bundle)
    loaded = load_bundle(folder, device, task=TASK)
    if tuple(loaded.meta.class_names) != labelset.names:
        raise InputError(folder, f"bundle classes {list(loaded.meta.class_names)} are not the {mod} body-region "
                                 f"label set {list(labelset.names)}")
    pipeline = bundle_preprocessing(loaded.config, folder, legacy=intensity_config(mod))
    size = int(loaded.meta.inputs.patch_size[0])
    times["load_model"] = time.perf_counter() - t0

    t = time.perf_counter()
    _report(progress, 0.2, "resampling slices to the canonical grid")
    geo, x = prepare_slices(image, mod, size=size, fov_mm=float(loaded.meta.inputs.spacing[0]) * size,
                            pipeline=pipeline)
    times["preprocess"] = time.perf_counter() - t

    t = time.perf_counter()
    _report(progress, 0.4, f"classifying {geo.n_slices} slices")
    probs = predict_probabilities(loaded.network, x, loaded.device)
    times["inference"] = time.perf_counter() - t

    t = time.perf_counter()
    _report(progress, 0.8, "smoothing along the head-feet axis")
    kwargs = {"mean_region_mm": float(options["mean_region_mm"])} if "mean_region_mm" in options else {}
    sm = smooth_slice_probabilities(probs, labelset.names, geo.head_to_feet(), geo.spacing, **kwargs)
    ranges = region_ranges(sm.labels, sm.confidence, geo, labelset)
    rows = slice_rows(sm.labels, sm.confidence, sm.raw_labels, sm.raw_confidence, geo, labelset)
    min_confidence = float(options.get("min_confidence", option_default(TASK, "min_confidence")))
    for row in rows:
        row["uncertain"] = bool(row["confidence"] < min_confidence)
    uncertain = [row["index"] for row in rows if row["uncertain"]]
    score = body_part_score(probs, labelset)
    for row, value in zip(rows, score, strict=True):
        row["body_part_score"] = float(value)
    jumps = score_jumps(score, geo.head_to_feet(), geo.spacing)
    qa = header_qa(ranges, image.metadata.get("dicom_tags"), labelset)
    volumes = {}
    if options.get("label_volume", True):
        volumes[LABEL_VOLUME] = region_label_image(image, geo, sm.labels)
    times["postprocess"] = time.perf_counter() - t

    notices: list[str] = []
    meta = loaded.meta
    if meta.demo:
        notices.append(f"{DEMO_NOTICE}: the {meta.name} model was trained on synthetic phantoms and will not "
                       "label real scans reliably")
    if mod_source == "intensity":
        notices.append(f"modality not in the input's metadata; taken as {mod} from its intensities "
                       "(pass modality='CT' or 'MR' to set it)")
    if geo.axis != 2:
        notices.append(f"the volume's slices are not axial; results are per plane along its {geo.axis_name} axis, "
                       "the axis nearest to head-feet")
    if image.n_components > 1:
        notices.append("multi-component volume: the first component was used")
    if qa["flag"]:
        notices.append(f"header QA: {qa['message']}")
    if uncertain:
        notices.append(f"{len(uncertain)} slice(s) labelled with confidence below {min_confidence:.2f}: check them")
    if jumps:
        notices.append(f"body-part score jumps at {len(jumps)} slice(s) (e.g. slice {jumps[0]}): check the labels "
                       "there")
    outputs = {
        "input": key,
        "modality": mod,
        "modality_source": mod_source,
        "labelset": labelset_metadata(labelset),
        "slice_axis": geo.axis_name,
        "n_slices": geo.n_slices,
        "slice_spacing_mm": geo.spacing,
        "slice_tilt_degrees": geo.tilt_degrees,
        "index_direction": "head_to_feet" if geo.superior_first else "feet_to_head",
        "regions_present": [r["region"] for r in ranges],
        "ranges": ranges,
        "slices": rows,
        "min_confidence": min_confidence,
        "uncertain_slices": uncertain,
        "score_jumps": jumps,
        "header_qa": qa,
        "timing_s": times,
    }
    _report(progress, 0.95, f"{len(ranges)} region range(s) over {geo.n_slices} slices")
    bundle_info = {"name": meta.name, "version": meta.version, "demo": meta.demo, "path": str(folder)}
    return TaskResult(task=TASK, bundle=bundle_info, outputs=outputs, volumes=volumes, notices=notices)
