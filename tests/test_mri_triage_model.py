"""MriTriageNet: 8 contrast channels + availability mask -> 4 logits; contrast dropout; bundle round trip."""

from __future__ import annotations

import pytest
import torch

from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.nets.mri_triage import (
    NETWORK_NAME,
    T2_CHANNEL,
    MriTriageNet,
    availability_from_input,
    drop_contrasts,
)

SMALL = {"channels": (4, 8, 8, 8), "region_features": 4, "hidden": 8}


def _net(**kw: object) -> MriTriageNet:
    torch.manual_seed(0)
    return MriTriageNet(**{**SMALL, **kw}).eval()


def test_channel_order_is_the_contrast_order() -> None:
    from radtriage.io.contrast import CONTRAST_ORDER

    assert [c.value for c in CONTRAST_ORDER] == list(MR_CONTRASTS)
    assert MR_CONTRASTS[T2_CHANNEL] == "T2"


def test_eight_channels_in_four_logits_out_any_grid() -> None:
    net = _net()
    for shape in [(32, 32, 32), (24, 40, 36)]:
        out = net(torch.randn(2, 8, *shape), torch.ones(2, 8))
        assert out.shape == (2, len(BRAIN_FINDINGS))
        assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="8"):
        net(torch.randn(1, 3, 16, 16, 16))
    with pytest.raises(ValueError, match="mask"):
        net(torch.randn(1, 8, 16, 16, 16), torch.ones(1, 5))


@pytest.mark.parametrize("present", [("T2",), ("T1", "FLAIR"), ("DWI", "ADC", "SWI"), MR_CONTRASTS])
def test_any_subset_runs_and_the_mask_changes_the_answer(present: tuple[str, ...]) -> None:
    net = _net()
    x = torch.randn(1, 8, 32, 32, 32)
    mask = torch.tensor([[float(c in present) for c in MR_CONTRASTS]])
    out = net(x * mask[..., None, None, None], mask)
    assert out.shape == (1, 4) and torch.isfinite(out).all()
    # a channel marked missing never leaks in, even when the caller forgot to zero it
    assert torch.allclose(net(x, mask), out, atol=1e-5)
    if len(present) < 8:
        assert not torch.allclose(net(x, torch.ones(1, 8)), out)


def test_mask_is_read_from_zero_channels_when_not_given() -> None:
    net = _net()
    x = torch.randn(1, 8, 32, 32, 32)
    x[:, [0, 1, 4, 5, 6, 7]] = 0
    mask = availability_from_input(x)
    assert mask.tolist() == [[0, 0, 1, 1, 0, 0, 0, 0]]
    assert torch.allclose(net(x), net(x, mask))


def test_contrast_dropout_keeps_at_least_one_and_t2_only_mode() -> None:
    torch.manual_seed(1)
    x = torch.ones(64, 8, 4, 4, 4)
    mask = torch.ones(64, 8)
    mask[:32, 3:] = 0  # half the batch has only T1, T1post, T2
    dropped, keep = drop_contrasts(x, mask, p=0.9, t2_only_prob=0.0)
    assert (keep.sum(1) >= 1).all()
    assert (keep <= mask).all()  # never adds a missing contrast
    assert torch.equal(dropped[:, :, 0, 0, 0], keep)
    assert 0 < keep.mean() < mask.mean()
    _, only = drop_contrasts(x, mask, p=0.0, t2_only_prob=1.0)
    assert torch.equal(only, torch.nn.functional.one_hot(torch.full((64,), T2_CHANNEL), 8).float())


def test_dropout_only_in_training_mode() -> None:
    net = _net(contrast_dropout=0.99, t2_only_prob=0.0)
    x = torch.randn(4, 8, 16, 16, 16)
    net.eval()
    assert torch.equal(net(x), net(x))  # deterministic in eval
    seen = []
    net.train()
    hook = net.encoder[0].register_forward_pre_hook(lambda m, args: seen.append(availability_from_input(args[0])))
    net(x)
    hook.remove()
    assert (seen[0].sum(1) < 8).all() and (seen[0].sum(1) >= 1).all()


def test_gradients_flow_and_size_is_small() -> None:
    net = MriTriageNet()
    assert 100_000 < sum(p.numel() for p in net.parameters()) < 1_000_000
    small = _net().train()
    loss = small(torch.randn(2, 8, 32, 32, 32)).sum()
    loss.backward()
    assert all(p.grad is not None for p in small.features.parameters())


def test_registered_and_bundle_round_trip(tmp_path) -> None:
    from radtriage.models import allowed_network_names, load_bundle
    from radtriage.tasks.mri_triage import write_untrained_bundle

    assert NETWORK_NAME in allowed_network_names()
    folder = write_untrained_bundle(tmp_path / "mri-triage-test")
    loaded = load_bundle(folder, "cpu", task="mri_triage")
    assert isinstance(loaded.network, MriTriageNet)
    assert loaded.meta.inputs.contrasts == MR_CONTRASTS and loaded.meta.class_names == BRAIN_FINDINGS
    out = loaded.network(torch.randn(1, 8, 32, 32, 32))
    assert out.shape == (1, 4)


def test_outputs_whose_needed_contrasts_were_dropped_get_no_gradient() -> None:
    """With output_requirements, a sample without DWI/ADC teaches the acute-infarct output nothing."""
    net = MriTriageNet(channels=(4, 8, 8, 8), region_features=4, hidden=8, contrast_dropout=0.0, t2_only_prob=0.0,
                       output_requirements=[[0, 1, 2, 3], [4, 5], [6], [0, 1, 2, 3]]).train()
    x = torch.randn(2, 8, 16, 16, 16)
    mask = torch.ones(2, 8)
    mask[0, 4:6] = 0  # sample 0 has no DWI/ADC
    last = list(net.head.parameters())[-1]  # the output bias: its gradient per output
    net(x, mask)[0, 1].backward()
    assert float(last.grad.abs().sum()) == 0.0
    net.zero_grad()
    net(x, mask)[1, 1].backward()  # sample 1 has them
    assert float(last.grad[1].abs()) > 0.0
    net.zero_grad()
    net(x, mask)[0, 0].backward()  # abnormal needs a structural contrast, which sample 0 has
    assert float(last.grad[0].abs()) > 0.0
    with pytest.raises(ValueError, match="one channel list per output"):
        MriTriageNet(output_requirements=[[0]])


def test_plain_encoder_keeps_a_small_bright_focus_and_gates_like_the_residual_one() -> None:
    """The plain encoder (conv + ReLU + max-pool, global max/mean pooling) answers [B, 4]; its output moves when a
    single 2-voxel focus is added to DWI (nothing normalises it away), and gating applies to it too."""
    torch.manual_seed(0)
    net = MriTriageNet(encoder="plain", channels=(4, 8, 8, 8), hidden=8, contrast_dropout=0.0, t2_only_prob=0.0,
                       output_requirements=[[0, 1, 2, 3], [4, 5], [6], [0, 1, 2, 3]]).eval()
    x = torch.randn(1, 8, 16, 16, 16) * 0.1
    focus = x.clone()
    focus[0, 4, 7:9, 7:9, 7:9] += 10.0
    with torch.no_grad():
        assert net(x).shape == (1, 4)
        assert not torch.allclose(net(x), net(focus))
    net.train()
    mask = torch.ones(1, 8)
    mask[0, 4:6] = 0
    net(x, mask)[0, 1].backward()
    assert float(list(net.head.parameters())[-1].grad.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="encoder must be"):
        MriTriageNet(encoder="vit")
