"""The two-stage microbleed detector: working grid -> dense candidates -> patch discriminator -> merged detections.

:class:`CmbPipeline` holds the loaded networks and the settings (from the bundle's ``inference.json`` item
``cmb_detect``); :meth:`CmbPipeline.detect` returns every scored candidate (for FROC) and the operating
threshold decides which are reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from radtriage.anatomy.registration import MniRegistration
from radtriage.image import Image
from radtriage.preprocess.resample import block_mean
from radtriage.preprocess.transforms import Preprocessing
from radtriage.settings_keys import known_settings
from radtriage.tasks.cmb_detect.blobs import blob_radius_mm
from radtriage.tasks.cmb_detect.candidates import candidate_heatmap, extract_peaks
from radtriage.tasks.cmb_detect.location import locate_in_mni, location_class
from radtriage.tasks.cmb_detect.nms import merge_close
from radtriage.tasks.cmb_detect.prep import WorkingVolume, default_pipeline_config, prepare_working_volume

log = logging.getLogger(__name__)

TASK = "cmb_detect"
DEMO_NOTICE = "demo, not for clinical use"
SETTINGS_KEY = "cmb_detect"
THRESHOLD_FIELDS = {
    "detection_threshold": "operating",
    "detection_threshold_magnitude_only": "operating_magnitude_only",
}
"""Settings a bundle stores once, in its metadata's ``radtriage.thresholds.cmb`` (field -> key there), where every
task keeps its thresholds; never in ``inference.json``."""
LABEL_PREFIX = "CMB"
FOREGROUND_LEVEL = 0.1  # normalised magnitude above which a voxel is head (tissue ~ 1)


@dataclass(frozen=True)
class DetectSettings:
    """Pre/post-processing of the cascade (a bundle stores them in ``inference.json`` under ``cmb_detect``, but for
    the thresholds, which live in its metadata: :data:`THRESHOLD_FIELDS`).

    ``stage2_weight`` w sets the confidence: ``stage1_score ** (1 - w) * stage2_probability ** w`` (w = 1: the
    discriminator alone; chosen on validation phantoms by the training script). Without a phase image the
    cascade uses its own operating point when the bundle has one: ``stage2_weight_magnitude_only`` and
    ``detection_threshold_magnitude_only`` (calibrated on the validation phantoms run magnitude-only; None: the
    with-phase values). When the network has a magnitude-only discriminator it rescores inputs without phase on
    ``patch_size_magnitude_only`` patches (None: ``patch_size``). ``roi_size`` is the stage-1 tile
    (tiles do not overlap: valid convolutions read an exact halo); ``overlap`` applies only to networks without
    valid convolutions (MONAI sliding window).
    """

    working_spacing_mm: float = 1.0
    roi_size: tuple[int, int, int] = (64, 64, 64)
    overlap: float = 0.25
    candidate_threshold: float = 0.2
    min_distance_vox: int = 2
    max_candidates: int = 300
    patch_size: int = 16
    merge_mm: float = 3.0
    detection_threshold: float = 0.5
    echo_mode: str = "rss"
    stage2_weight: float = 1.0
    stage2_weight_magnitude_only: float | None = None
    detection_threshold_magnitude_only: float | None = None
    patch_size_magnitude_only: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DetectSettings:
        """From plain JSON (missing keys take the defaults; unknown ones are refused)."""
        known = known_settings(cls, values, f"inference.json {SETTINGS_KEY!r}")
        if "roi_size" in known:
            known["roi_size"] = tuple(int(v) for v in known["roi_size"])
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out = asdict(self)
        out["roi_size"] = list(self.roi_size)
        return out

    def bundle_config(self) -> dict[str, Any]:
        """What a bundle's ``inference.json`` stores: every setting but the thresholds (:data:`THRESHOLD_FIELDS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in THRESHOLD_FIELDS}

    def operating(self, phase_used: bool) -> tuple[float, float]:
        """``(stage2_weight, detection_threshold)`` for an input with or without phase."""
        if phase_used:
            return float(self.stage2_weight), float(self.detection_threshold)
        w = self.stage2_weight if self.stage2_weight_magnitude_only is None else self.stage2_weight_magnitude_only
        t = (self.detection_threshold if self.detection_threshold_magnitude_only is None
             else self.detection_threshold_magnitude_only)
        return float(w), float(t)


@dataclass
class CmbDetection:
    """One scored candidate after merging: native RAS/LPS centre, apparent radius, confidence and location."""

    center_lps: tuple[float, float, float]
    center_ras: tuple[float, float, float]
    center_native_ijk: tuple[float, float, float]
    radius_mm: float
    confidence: float
    candidate_score: float
    location: str
    stage2_probability: float = float("nan")
    merged: int = 1
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (rounded to 0.01 mm / 1e-4)."""
        return {
            "label": self.label,
            "center_ras": [round(float(v), 3) for v in self.center_ras],
            "center_lps": [round(float(v), 3) for v in self.center_lps],
            "center_native_ijk": [round(float(v), 3) for v in self.center_native_ijk],
            "radius_mm": round(float(self.radius_mm), 2),
            "confidence": round(float(self.confidence), 4),
            "candidate_score": round(float(self.candidate_score), 4),
            "stage2_probability": round(float(self.stage2_probability), 4),
            "location": self.location,
            "merged_candidates": int(self.merged),
        }


@dataclass
class DetectionRun:
    """What :meth:`CmbPipeline.detect` found: all merged candidates (strongest first), the threshold, timings."""

    candidates: list[CmbDetection]
    threshold: float
    registration: MniRegistration | None
    location_note: str
    working: WorkingVolume
    heatmap: np.ndarray
    n_peaks: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    phase_used: bool = False
    stage2_weight: float = float("nan")

    @property
    def detections(self) -> list[CmbDetection]:
        """Candidates at or above the operating threshold, labelled ``CMB-1``, ``CMB-2``... by confidence."""
        kept = [c for c in self.candidates if c.confidence >= self.threshold]
        for n, det in enumerate(kept, start=1):
            det.label = f"{LABEL_PREFIX}-{n}"
        return kept

    def heatmap_image(self) -> Image:
        """The stage-1 heatmap on the working grid (an Image with exact geometry)."""
        g = self.working.grid
        return Image(self.heatmap.astype(np.float32), g.spacing, g.origin, g.direction.copy(),
                     {"description": "CMB candidate heatmap (stage 1)"})


def head_mask(magnitude: np.ndarray, level: float = 0.1, block: int = 4) -> np.ndarray:
    """Voxels ``[k, j, i]`` whose ``block``-cubed block mean (normalised magnitude) exceeds ``level``: the head
    without the isolated noise voxels in the air around it (block averaging divides the noise by ``block ** 1.5``)."""
    m = np.asarray(magnitude, dtype=np.float32)
    pad = [(0, (-n) % block) for n in m.shape]
    padded = np.pad(m, pad, mode="edge")
    low = block_mean(padded, (block, block, block)) > level
    full = low.repeat(block, 0).repeat(block, 1).repeat(block, 2)
    return full[: m.shape[0], : m.shape[1], : m.shape[2]]


def foreground_box(mask: np.ndarray, margin: int = 10) -> tuple[slice, ...] | None:
    """Bounding box (slices, [k, j, i]) of a boolean ``mask`` grown by ``margin`` voxels (None when empty)."""
    idx = [np.flatnonzero(np.asarray(mask).any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    if any(not len(v) for v in idx):
        return None
    return tuple(slice(max(int(v[0]) - margin, 0), min(int(v[-1]) + margin + 1, n))
                 for v, n in zip(idx, np.asarray(mask).shape, strict=True))


def extract_patches(stack: np.ndarray, voxels: np.ndarray, size: int) -> np.ndarray:
    """``(N, C, size, size, size)`` patches of a ``[C, k, j, i]`` stack centred on ``voxels`` ([k, j, i]);
    channel 0 is edge-padded, the others zero-padded."""
    half = size // 2
    pad = [(0, 0)] + [(half, half)] * 3
    first = np.pad(stack[:1], pad, mode="edge")
    rest = np.pad(stack[1:], pad, mode="constant") if stack.shape[0] > 1 else np.zeros((0, *first.shape[1:]))
    padded = np.concatenate([first, rest]).astype(np.float32, copy=False)
    out = np.zeros((len(voxels), stack.shape[0], size, size, size), dtype=np.float32)
    for n, (k, j, i) in enumerate(np.asarray(voxels, dtype=int)):
        out[n] = padded[:, k : k + size, j : j + size, i : i + size]
    return out


@dataclass
class CmbPipeline:
    """The loaded cascade. Build with :meth:`from_bundle` (or directly, e.g. with untrained networks)."""

    network: Any  # radtriage.nets.cmb.CmbDetector
    settings: DetectSettings = field(default_factory=DetectSettings)
    device: Any = "cpu"
    bundle_info: dict[str, Any] = field(default_factory=dict)
    pipeline: Preprocessing | None = None
    """The bundle's preprocessing of the magnitude on the working grid (None: the default, foreground median)."""

    @classmethod
    def from_bundle(cls, bundle: str | Path | None = None, device: str = "auto") -> CmbPipeline:
        """Load the newest valid ``cmb_detect`` bundle (or the one named, or the folder given).

        Raises :class:`radtriage.models.BundleNotFoundError` when none is installed.
        """
        from radtriage.models import BundleError, bundle_preprocessing, load_bundle, resolve_bundle_path

        path = resolve_bundle_path(TASK, bundle)
        loaded = load_bundle(path, device, task=TASK)
        meta = loaded.meta
        config = loaded.config.get(SETTINGS_KEY) or {}
        twice = sorted(set(config) & set(THRESHOLD_FIELDS))
        if twice:
            raise BundleError(path, f"inference.json {SETTINGS_KEY!r} carries {', '.join(twice)}: thresholds are "
                                    "stored once, in the metadata's radtriage.thresholds.cmb "
                                    f"({', '.join(THRESHOLD_FIELDS[k] for k in twice)})")
        try:
            settings = DetectSettings.from_dict(config)
        except (TypeError, ValueError) as exc:
            raise BundleError(path, str(exc)) from exc
        ops = meta.thresholds.get("cmb") or {}
        settings = replace(settings, **{field: float(ops[key]) for field, key in THRESHOLD_FIELDS.items()
                                        if ops.get(key) is not None})
        info = {"name": meta.name, "version": meta.version, "demo": meta.demo, "path": str(path)}
        pipeline = bundle_preprocessing(loaded.config, path, legacy=default_pipeline_config())
        return cls(loaded.network.eval(), settings, loaded.device, info, pipeline)

    def magnitude_only_stage2(self, phase_used: bool) -> bool:
        """Whether stage 2 runs the network's own magnitude-only discriminator (no phase, and the bundle has one)."""
        return not phase_used and getattr(self.network, "discriminator_magnitude_only", None) is not None

    def stage2_patches(self, stack: np.ndarray, voxels: np.ndarray, phase_used: bool) -> np.ndarray:
        """Stage-2 patches around ``voxels``: magnitude + phase (phase zero when absent), or magnitude alone for
        the magnitude-only discriminator."""
        if self.magnitude_only_stage2(phase_used):
            return extract_patches(stack[:1], voxels, self.settings.patch_size_magnitude_only
                                   or self.settings.patch_size)
        return extract_patches(stack, voxels, self.settings.patch_size)

    def discriminate(self, patches: np.ndarray, batch_size: int = 64, phase_used: bool = True) -> np.ndarray:
        """Stage-2 probabilities for ``(N, C, P, P, P)`` patches (see :meth:`stage2_patches`)."""
        import torch

        from radtriage.runtime.device import inference_mode

        if not len(patches):
            return np.zeros(0)
        net = (self.network.discriminator_magnitude_only if self.magnitude_only_stage2(phase_used)
               else self.network.discriminator)
        out = []
        with inference_mode(self.device, amp=False):
            for s in range(0, len(patches), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(patches[s : s + batch_size])).to(self.device)
                out.append(torch.sigmoid(net(x).float()).reshape(-1).cpu().numpy())
        return np.concatenate(out).astype(float)

    def detect(
        self,
        magnitude: Image,
        phase: Image | None = None,
        *,
        key: str = "magnitude",
        threshold: float | None = None,
        phase_sign: float = 1.0,
        progress: Callable[[float, str], None] | None = None,
    ) -> DetectionRun:
        """Run the cascade on one magnitude (optionally with its phase). ``threshold`` overrides the bundle's
        operating threshold (the magnitude-only one when no phase is given, see :meth:`DetectSettings.operating`)."""
        report = progress or (lambda fraction, message="": None)
        s = self.settings
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        work = prepare_working_volume(magnitude, phase, key=key, spacing=s.working_spacing_mm,
                                      echo_mode=s.echo_mode, phase_sign=phase_sign, pipeline=self.pipeline)
        stack = work.stack()
        t1 = time.perf_counter()
        timings["preprocess"] = (t1 - t0) * 1000
        report(0.2, "stage 1: screening for candidates")
        fg = head_mask(work.magnitude, FOREGROUND_LEVEL)
        box = foreground_box(fg)
        heat = np.zeros(work.magnitude.shape, dtype=np.float32)
        if box is not None:  # screen only the head's bounding box, skipping tiles of air inside it
            heat[box] = candidate_heatmap(self.network.candidate, stack[(slice(0, 1), *box)], self.device,
                                          s.roi_size, s.overlap, mask=fg[box])
        peaks = extract_peaks(heat, s.candidate_threshold, s.min_distance_vox, s.max_candidates)
        t2 = time.perf_counter()
        timings["stage1"] = (t2 - t1) * 1000
        report(0.6, f"stage 2: rescoring {len(peaks)} candidate(s)")
        phase_used = work.phase is not None
        probs = self.discriminate(self.stage2_patches(stack, peaks.voxels, phase_used), phase_used=phase_used)
        t3 = time.perf_counter()
        timings["stage2"] = (t3 - t2) * 1000
        w, operating = s.operating(phase_used)
        confidence = np.clip(peaks.scores, 1e-6, 1) ** (1.0 - w) * np.clip(probs, 1e-6, 1) ** w
        frame, note = locate_in_mni(work.magnitude, work.grid, work.native)
        lps = work.index_to_lps(peaks.ijk) if len(peaks) else np.zeros((0, 3))
        radii = np.array([blob_radius_mm(work.magnitude, v, s.working_spacing_mm) for v in peaks.voxels])
        keep, groups = merge_close(lps, confidence, s.merge_mm, radii)
        native_ijk = work.native.lps_to_index(lps) if len(lps) else np.zeros((0, 3))
        found = []
        for i, group in zip(keep, groups, strict=True):
            p = lps[i]
            found.append(CmbDetection(
                center_lps=tuple(float(v) for v in p),  # type: ignore[arg-type]
                center_ras=(-float(p[0]), -float(p[1]), float(p[2])),
                center_native_ijk=tuple(float(v) for v in native_ijk[i]),  # type: ignore[arg-type]
                radius_mm=float(radii[i]),
                confidence=float(confidence[i]),
                candidate_score=float(peaks.scores[i]),
                location=location_class(p, frame),
                stage2_probability=float(probs[i]),
                merged=len(group),
            ))
        timings["postprocess"] = (time.perf_counter() - t3) * 1000
        report(0.9, f"{len(found)} candidate(s) scored")
        return DetectionRun(found, operating if threshold is None else float(threshold), frame, note,
                            work, heat, len(peaks), timings, phase_used, w)
