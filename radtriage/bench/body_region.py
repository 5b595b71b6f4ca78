"""Benchmark of the body-region task: per-slice network throughput and a 500-slice CT end to end.

The CT is a whole-body phantom (head to feet, 500 axial slices) brought to a realistic 512 x 512 matrix
(int16 HU) and written as uncompressed NIfTI, so ``decode`` measures reading a clinical-size volume.
Stages: decode (``read_image``), model load, preprocess (canonical slices), inference, post-process
(smoothing, ranges, header QA, label volume) and write (``result.json`` + label volume). The installed
CT bundle is used; without one, an untrained network of the same architecture (speed does not depend
on the weights). Targets: >= 200 slices/s on CPU for the network, < 3 s end to end.

Peer: the published BPR network (VGG16-based, 128 x 128 slices; see :mod:`radtriage.bench.peers`) with random
weights, timed against ours on the same ``peer_slices`` canonical slices of this CT; reported as ``peers``.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TARGET_SLICES_PER_S = 200.0
TARGET_END_TO_END_S = 3.0
N_SLICES = 500
MATRIX = 512
PEER_SLICES = 64
"""Slices (evenly spread over the CT) both networks are timed on for the peer ratio."""


def make_benchmark_ct(folder: Path, n_slices: int = N_SLICES, matrix: int = MATRIX, seed: int = 0) -> Path:
    """Write a head-to-feet CT phantom with ``n_slices`` slices of ``matrix`` x ``matrix`` (int16) as ``.nii``."""
    from radtriage.io import write_volume
    from radtriage.phantoms import make_body_case
    from radtriage.preprocess import GridSpec, resample

    case = make_body_case(seed, "CT", n_slices=n_slices, start_region="head", end_region="foot", size=(128, 128))
    img = case.image
    spacing = (img.spacing[0] * 128 / matrix, img.spacing[1] * 128 / matrix, img.spacing[2])
    first = -0.5 + 0.5 * 128 / matrix  # same outer edges as the 128 x 128 phantom
    origin = img.index_to_lps(np.array([[first, first, 0.0]]))[0]
    grid = GridSpec((matrix, matrix, n_slices), spacing, tuple(origin), img.direction)
    big = resample(img, grid, default=-1024.0)
    big = big.with_array(np.round(big.array).astype(np.int16))
    return write_volume(big, folder / "ct_500.nii")


def _bundle_for_speed(folder: Path) -> tuple[str, bool]:
    """The installed CT bundle, or an untrained one written to ``folder``; returns (bundle, trained)."""
    from radtriage.models import BundleNotFoundError, write_bundle
    from radtriage.nets.body_region import BodyRegionNet
    from radtriage.tasks.body_region import find_body_region_bundle
    from radtriage.tasks.body_region.bundle_meta import body_region_metadata, inference_extra, network_def

    try:
        return str(find_body_region_bundle("CT")), True
    except BundleNotFoundError:
        nd = network_def("CT")
        net = BodyRegionNet(**{k: v for k, v in nd.items() if k != "_target_"}).eval()
        meta = body_region_metadata("CT", version="0.0.0", demo=True, name="bench-body-region-ct")
        return str(write_bundle(folder / "bench-body-region-ct", net, meta, nd,
                                extra_config=inference_extra("CT"))), False


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _peer_comparison(network: Any, image: Any, device: Any, n_slices: int, repeats: int) -> dict[str, Any]:
    """Our network against the BPR peer on ``n_slices`` canonical slices of ``image`` (errors reported, not raised)."""
    from radtriage.bench.peers import compare_body_region
    from radtriage.tasks.body_region.runner import prepare_slices

    try:
        _, canonical = prepare_slices(image, "CT")
        idx = np.unique(np.linspace(0, len(canonical) - 1, max(1, n_slices)).round().astype(int))
        return compare_body_region(network, canonical[idx], device, repeats=repeats)
    except Exception as exc:  # the peer is context; it never fails the task's benchmark
        logger.warning("peer comparison failed: %s", exc)
        return {"error": f"{type(exc).__name__}: {exc}"}


def run_benchmark(repeats: int = 5, device: str = "cpu", peer_slices: int = PEER_SLICES) -> dict[str, Any]:
    """Time the body-region task ``repeats`` times; per-stage medians (seconds) and the targets beside them.

    ``peer_slices`` > 0 also times the BPR peer network on that many slices (0: no peer comparison)."""
    import torch

    from radtriage.io import read_image
    from radtriage.tasks import run_task
    from radtriage.tasks.body_region.runner import predict_probabilities
    from radtriage.tasks.result import write_result

    with tempfile.TemporaryDirectory(prefix="radtriage-bench-body-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        path = make_benchmark_ct(folder)
        setup_s = time.perf_counter() - t
        bundle, trained = _bundle_for_speed(folder)
        stages: dict[str, list[float]] = {k: [] for k in
                                          ("decode", "load_model", "preprocess", "inference", "postprocess", "write",
                                           "end_to_end")}
        result = None
        for r in range(max(1, int(repeats))):
            t0 = time.perf_counter()
            image = read_image(path)
            t1 = time.perf_counter()
            result = run_task("body_region", inputs={"ct": image}, bundle=bundle, device=device, modality="CT")
            t2 = time.perf_counter()
            write_result(result, folder / f"out{r}")
            t3 = time.perf_counter()
            stages["decode"].append(t1 - t0)
            for key in ("load_model", "preprocess", "inference", "postprocess"):
                stages[key].append(float(result.outputs["timing_s"][key]))
            stages["write"].append(t3 - t2)
            stages["end_to_end"].append(t3 - t0)

        # Network throughput alone, on a fixed batch of canonical slices.
        from radtriage.models import load_bundle

        loaded = load_bundle(bundle, device)
        x = np.random.default_rng(0).normal(size=(N_SLICES, 64, 64)).astype(np.float32)
        predict_probabilities(loaded.network, x[:64], loaded.device)  # warm-up
        net_times = []
        for _ in range(max(1, int(repeats))):
            t = time.perf_counter()
            predict_probabilities(loaded.network, x, loaded.device)
            net_times.append(time.perf_counter() - t)
        peers = ({"body_region": _peer_comparison(loaded.network, image, loaded.device, peer_slices,
                                                  min(3, max(1, int(repeats))))} if peer_slices > 0 else {})

    medians = {k: _median(v) for k, v in stages.items()}
    slices_per_s = N_SLICES / _median(net_times)
    assert result is not None
    return {
        "task": "body_region",
        "model": f"{Path(bundle).name}{'' if trained else ' (untrained stand-in: no bundle installed)'}",
        "device": str(loaded.device),
        "torch_threads": torch.get_num_threads(),
        "repeats": int(repeats),
        "volume": {"slices": N_SLICES, "matrix": [MATRIX, MATRIX], "dtype": "int16", "format": "NIfTI (.nii)",
                   "setup_s": setup_s},
        "bundle": {"path": bundle, "trained": trained},
        "stages_ms": {k: round(1000.0 * v, 3) for k, v in medians.items() if k != "end_to_end"},
        "end_to_end_s": medians["end_to_end"],
        "network_slices_per_s": slices_per_s,
        "end_to_end_slices_per_s": N_SLICES / medians["end_to_end"],
        "targets": {"network_slices_per_s": TARGET_SLICES_PER_S, "end_to_end_s": TARGET_END_TO_END_S},
        "meets_target": bool(slices_per_s >= TARGET_SLICES_PER_S and medians["end_to_end"] < TARGET_END_TO_END_S),
        "regions_found": result.outputs["regions_present"],
        "peers": peers,
    }
