"""Device choice, mixed precision on GPU only, and bit-identical CPU runs after set_deterministic."""

from __future__ import annotations

import pytest
import torch

from radtriage.runtime.device import (
    DEVICE_ENV,
    DeviceUnavailableError,
    autocast_context,
    inference_mode,
    select_device,
    set_deterministic,
)
from radtriage.runtime.device import _mps_available as mps_available


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend a CUDA GPU exists (device selection only looks at availability)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)


def test_cpu_is_always_available(no_env):
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("radtriage.runtime.device._mps_available", lambda: False)
    assert select_device() == torch.device("cpu")
    monkeypatch.setattr("radtriage.runtime.device._mps_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(None) == torch.device("cuda")


def test_env_variable_replaces_auto_but_not_an_explicit_choice(monkeypatch, fake_gpu):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert select_device("auto") == torch.device("cpu")
    assert select_device("cuda") == torch.device("cuda")
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(DeviceUnavailableError, match=f"'tpu' \\(from \\${DEVICE_ENV}\\)"):
        select_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error(no_env):
    with pytest.raises(DeviceUnavailableError, match="CUDA is unavailable"):
        select_device("cuda")


@pytest.mark.skipif(mps_available(), reason="this machine has MPS")
def test_missing_mps_is_a_clear_error(no_env):
    with pytest.raises(DeviceUnavailableError, match="MPS is unavailable"):
        select_device("mps")


def test_bad_device_names_are_refused(no_env, fake_gpu):
    for name in ("gpu", "cuda:x", "cpu:0", "mps:1"):
        with pytest.raises(DeviceUnavailableError, match="unknown device"):
            select_device(name)
    with pytest.raises(DeviceUnavailableError, match="only 1 CUDA device"):
        select_device("cuda:3")


def test_autocast_is_a_no_op_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_context(torch.device("cpu"), enabled=True):
        assert (a @ b).dtype == torch.float32
    with inference_mode("cpu"):
        assert (a @ b).dtype == torch.float32 and torch.is_inference_mode_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_autocast_uses_half_precision_on_cuda():
    a, b = torch.randn(8, 8, device="cuda"), torch.randn(8, 8, device="cuda")
    with autocast_context("cuda", enabled=True):
        assert (a @ b).dtype in (torch.bfloat16, torch.float16)
    with autocast_context("cuda", enabled=False):
        assert (a @ b).dtype == torch.float32


def _run_small_monai_net(seed: int) -> torch.Tensor:
    from monai.networks.nets import BasicUNet

    set_deterministic(seed)
    net = BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(4, 4, 8, 8, 16, 4), dropout=0.2)
    net.train()  # dropout active: the output depends on the random state too
    x = torch.randn(2, 1, 32, 32)
    return net(x).detach()


def test_set_deterministic_gives_bit_identical_cpu_runs(restore_determinism):
    first, second = _run_small_monai_net(7), _run_small_monai_net(7)
    assert torch.equal(first, second)
    assert not torch.equal(first, _run_small_monai_net(8))
