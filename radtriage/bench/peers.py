"""Peer comparison for ``radtriage bench``: a published network rebuilt in plain torch, with random weights
(speed does not depend on the weights), timed on the same slices as our network, reported as a ratio.

Body region -- **BPR**, Body Part Regression (Schuhegger S., Jaeger P. F., et al., "Body Part Regression for CT
Images", 2021, arXiv:2110.09148; code: github.com/MIC-DKFZ/BodyPartRegression,
``bpreg/network_architecture/bpr_model.py``). Its network is the convolutional part of VGG16 (Simonyan &
Zisserman 2015: 13 3x3 convolutions in five blocks of 64, 128, 256, 512, 512 channels, each block ending in a
2x2 max-pool) with a one-channel, bias-free first convolution, then a 1x1 convolution 512->512 with ReLU, a
global mean over the feature map and one linear unit giving the slice score. It follows Yan et al.'s
self-supervised body-part regressor (SSBR, ISBI 2018, arXiv:1707.03891; github.com/rsummers11/CADLab
``body_part_regressor/readme.md``), whose documented input is an axial CT slice of 128 x 128 pixels; BPR
keeps that size. Our canonical 64 x 64 slices are resized to 128 x 128 for the peer (resizing not timed).

The ratio is ``ours / peer`` for time per slice: below 1 means our network is faster.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

BPR_INPUT_SIZE = 128
VGG16_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""(channels, 3x3 convolutions) of VGG16's five convolutional blocks."""
BPR_SOURCE = ("Schuhegger et al. 2021, Body Part Regression for CT Images (arXiv:2110.09148), "
              "MIC-DKFZ/BodyPartRegression; VGG16 features + 1x1 conv + mean + linear, 128x128 slices")


def bpr_network() -> Any:
    """The BPR slice-score network (VGG16 features, 1-channel input) with random weights, in eval mode."""
    import torch
    from torch import nn

    class BodyPartRegressionVGG(nn.Module):
        """VGG16 convolutional blocks -> 1x1 conv + ReLU -> spatial mean -> linear slice score."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            channels = 1
            for width, n_convs in VGG16_BLOCKS:
                for _ in range(n_convs):
                    layers += [nn.Conv2d(channels, width, 3, padding=1, bias=channels != 1), nn.ReLU(inplace=True)]
                    channels = width
                layers.append(nn.MaxPool2d(2))
            self.features = nn.Sequential(*layers)
            self.conv6 = nn.Conv2d(512, 512, 1)
            self.fc7 = nn.Linear(512, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv6(self.features(x)))
            return self.fc7(x.mean(dim=(2, 3)))

    torch.manual_seed(0)
    return BodyPartRegressionVGG().eval()


def _time_forward(network: Any, batches: list[Any], repeats: int) -> float:
    """Median seconds for one pass of ``network`` over all ``batches`` (after one warm-up batch)."""
    import torch

    times = []
    with torch.inference_mode():
        network(batches[0][:1])
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            for b in batches:
                network(b)
            times.append(time.perf_counter() - t)
    return float(statistics.median(times))


def compare_body_region(
    our_network: Any, slices: np.ndarray, device: Any = "cpu", repeats: int = 3, batch: int = 32
) -> dict[str, Any]:
    """Time our body-region network and the BPR peer on the same ``slices`` ``[n, H, W]``; per-slice ms + ratio."""
    import torch
    from torch.nn.functional import interpolate

    dev = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    ours_batches = [x[i:i + batch].to(dev) for i in range(0, x.shape[0], batch)]
    peer_input = interpolate(x, size=(BPR_INPUT_SIZE, BPR_INPUT_SIZE), mode="bilinear", align_corners=False)
    peer_batches = [peer_input[i:i + batch].to(dev) for i in range(0, x.shape[0], batch)]
    peer = bpr_network().to(dev)
    our_network = our_network.eval()
    ours_s = _time_forward(our_network, ours_batches, repeats)
    peer_s = _time_forward(peer, peer_batches, repeats)
    n = int(x.shape[0])
    return {
        "peer": "BPR (body part regression, VGG16-based)",
        "source": BPR_SOURCE,
        "weights": "random (timing only)",
        "n_slices": n,
        "batch": batch,
        "ours_input": list(slices.shape[1:]),
        "peer_input": [BPR_INPUT_SIZE, BPR_INPUT_SIZE],
        "ours_ms_per_slice": 1000.0 * ours_s / n,
        "peer_ms_per_slice": 1000.0 * peer_s / n,
        "ours_parameters": int(sum(p.numel() for p in our_network.parameters())),
        "peer_parameters": int(sum(p.numel() for p in peer.parameters())),
        "ratio_ours_over_peer": ours_s / peer_s,
    }


def format_peers(peers: dict[str, dict[str, Any]]) -> list[str]:
    """Report lines for a task's ``peers`` entry."""
    lines = []
    for name, p in peers.items():
        if "error" in p:
            lines.append(f"  peer {name}: FAILED {p['error']}")
            continue
        lines.append(f"  peer {name}: {p['peer']} at {p['peer_input'][0]}x{p['peer_input'][1]} on {p['n_slices']} "
                     f"slices: {p['peer_ms_per_slice']:.2f} ms/slice vs ours {p['ours_ms_per_slice']:.2f} "
                     f"-> ratio ours/peer {p['ratio_ours_over_peer']:.3f}")
        lines.append(f"    source: {p['source']}")
    return lines
