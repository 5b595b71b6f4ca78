"""Evidence maps: the MRI triage network's ``evidence`` encoder, its dense (lesion-mask) supervision through
``radtriage train`` (datalist ``label_map``), and the ``evidence`` heatmap method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radtriage.errors import InputError
from radtriage.nets.mri_triage import MriTriageNet
from radtriage.saliency import saliency_map
from radtriage.tasks.mri_triage.model import TriageModel
from radtriage.training import read_datalist, train_from_args

NET = "radtriage.nets.mri_triage.MriTriageNet"
SIZE = 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _net(**kwargs) -> MriTriageNet:
    torch.manual_seed(0)
    args = {"encoder": "evidence", "channels": [4, 4, 6, 6], "contrast_dropout": 0.0, "t2_only_prob": 0.0,
            "evidence_labels": [[1, 2], [1], [2], [3]], **kwargs}
    return MriTriageNet(**args)


def test_the_evidence_encoder_pools_the_maximum_of_one_12mm_map_per_output() -> None:
    net = _net().eval()
    x = torch.randn(2, 8, SIZE, SIZE, SIZE)
    logits, maps = net.forward_with_evidence(x)
    assert maps.shape == (2, 4, SIZE // 4, SIZE // 4, SIZE // 4)  # 3 mm input -> 12 mm cells
    expected = maps.flatten(2).amax(dim=2) * net.pool_scale + net.pool_bias
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(net(x), logits)
    with pytest.raises(ValueError, match="no evidence maps"):
        MriTriageNet(encoder="plain", channels=[4, 4, 4, 4]).forward_with_evidence(x)
    with pytest.raises(ValueError, match="one label list per output"):
        MriTriageNet(encoder="evidence", channels=[4, 4, 4, 4], evidence_labels=[[1]])
    with pytest.raises(ValueError, match="encoder must be one of"):
        MriTriageNet(encoder="unet")


def test_the_fine_path_carries_a_single_3mm_voxel_to_its_cell_and_widens_a_warm_start() -> None:
    coarse = _net().eval()
    fine = _net(fine_features=3).eval()
    x = torch.randn(1, 8, SIZE, SIZE, SIZE)
    fine.load_state_dict(fine.adapt_init_state(coarse.state_dict()))
    with torch.no_grad():
        torch.testing.assert_close(fine.forward_with_evidence(x), coarse.forward_with_evidence(x))
    assert fine.adapt_init_state(fine.state_dict()) is not None  # its own state passes through
    with torch.no_grad():  # the head reads the fine path only
        fine.evidence_head.weight.zero_()
        fine.evidence_head.weight[:, -3:] = 1.0
    x.requires_grad_(True)
    _, maps = fine.forward_with_evidence(x)
    maps[0, 1, 0, 0, 3].backward()  # one 12 mm cell: voxels 0-3, 0-3, 12-15 of the 3 mm input
    reach = x.grad[0].abs().sum(dim=0).nonzero()
    assert reach.numel() > 0 and reach[:, 2].min() >= 12 and reach[:, 0].max() <= 3  # that cell only
    with pytest.raises(ValueError, match="needs the 'evidence' encoder"):
        MriTriageNet(encoder="plain", channels=[4, 4, 4, 4], fine_features=2)


def test_the_evidence_loss_pushes_up_the_lesion_cell_of_its_own_output_only() -> None:
    net = _net()
    maps = torch.zeros(1, 4, 4, 4, 4, requires_grad=True)
    lesion = torch.zeros(1, 1, SIZE, SIZE, SIZE, dtype=torch.long)
    lesion[0, 0, 1, 2, 13] = 1  # one infarct voxel: cell (0, 0, 3) of the 4x4x4 map
    net.evidence_loss(maps, lesion).backward()
    grad = maps.grad[0]
    assert grad[1, 0, 0, 3] < 0 and grad[0, 0, 0, 3] < 0  # acute infarct and abnormal: raise that cell
    assert (grad[1] > 0).sum() == 63  # every other cell: lower
    assert (grad[2] > 0).all() and (grad[3] > 0).all()  # no haemorrhage, no mass: lower everywhere
    with pytest.raises(ValueError, match="without evidence_labels"):
        MriTriageNet(encoder="evidence", channels=[4, 4, 4, 4]).evidence_loss(maps, lesion)


def test_an_output_whose_contrasts_were_dropped_gets_no_evidence_gradient() -> None:
    needs = [[], [4, 5], [6], []]  # acute infarct needs DWI or ADC; haemorrhage needs SWI
    net = _net(output_requirements=needs).train()
    x = torch.randn(1, 8, SIZE, SIZE, SIZE)
    mask = torch.ones(1, 8)
    mask[0, 4:6] = 0  # no DWI, no ADC
    _, maps = net.forward_with_evidence(x, mask)
    maps[:, 1].sum().backward(retain_graph=True)
    assert net.evidence_head.weight.grad.abs().sum() == 0  # acute infarct is not assessable here
    maps[:, 2].sum().backward()
    assert net.evidence_head.weight.grad[2].abs().sum() > 0  # haemorrhage (SWI present) learns


def test_evidence_heatmaps_are_the_networks_cell_probabilities() -> None:
    net = _net().eval()
    x = torch.randn(1, 8, SIZE, SIZE, SIZE)
    with torch.no_grad():
        prob = torch.sigmoid(net(x))[0]
    for output in range(4):
        raw = saliency_map(net, x, output, "evidence", normalize=False)
        assert raw.shape == (1, SIZE, SIZE, SIZE)
        assert raw.max() <= float(prob[output]) + 1e-5  # linear upsampling never overshoots the peak cell
        assert raw.max() > 0.5 * float(prob[output])
        norm = saliency_map(net, x, output, "evidence")
        assert norm.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no evidence maps"):
        saliency_map(MriTriageNet(encoder="plain", channels=[4, 4, 4, 4]), x, 0, "evidence")


def test_auto_heatmaps_use_the_bundles_method_else_evidence_else_occlusion() -> None:
    assert TriageModel(network=_net()).heatmap_method("auto") == "evidence"
    assert TriageModel(network=MriTriageNet(encoder="plain", channels=[4, 4, 4, 4])).heatmap_method() == "occlusion"
    assert TriageModel(network=_net(), saliency_method="gradcam").heatmap_method("auto") == "gradcam"
    assert TriageModel(network=_net()).heatmap_method("occlusion") == "occlusion"


# ------------------------------------------------------------------ dense supervision through radtriage train
def _blob_case(rng: np.random.Generator, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    image = rng.normal(0.0, 1.0, (2, SIZE, SIZE, SIZE)).astype(np.float32)
    labels = np.zeros((SIZE, SIZE, SIZE), np.uint8)
    if positive:
        c = rng.integers(3, SIZE - 3, 3)
        zz, yy, xx = np.mgrid[:SIZE, :SIZE, :SIZE]
        blob = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < 5
        image[1][blob] += 4.0  # visible in the second channel only
        labels[blob] = 1
    return image, labels


def _items(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        image, labels = _blob_case(rng, i % 2 == 0)
        items.append({"image": list(image), "label_map": labels, "label": [int(i % 2 == 0)],
                      "patient_id": f"p{i:03d}"})
    return items


FAST = {"kind": "multilabel", "class_names": ["blob"], "patch_size": [SIZE] * 3, "n_bootstrap": 20,
        "progress": "none", "learning_rate": 0.01, "batch_size": 8, "device": "cpu", "max_epochs": 12,
        "patience": 0, "balance": False,
        "augment": {"affine_prob": 0.3, "rotate_deg": 5.0, "intensity_prob": 0.0, "noise_prob": 0.0},
        "network_args": {"in_channels": 2, "encoder": "evidence", "channels": [6, 8, 8, 8],
                         "contrast_dropout": 0.0, "t2_only_prob": 0.0, "evidence_labels": [[1]]}}


def test_label_maps_in_the_datalist_teach_the_evidence_map_where_the_blob_is(tmp_path) -> None:
    result = train_from_args(_items(48, 0), "mri_triage", NET, tmp_path, **FAST)
    from radtriage.models import load_bundle

    net = load_bundle(result.bundle_path, "cpu", task="mri_triage").network.eval()
    rng = np.random.default_rng(99)
    hits, probs = 0, []
    for i in range(8):
        image, labels = _blob_case(rng, i % 2 == 0)
        x = torch.from_numpy((image - image.mean(axis=(1, 2, 3), keepdims=True))
                             / image.std(axis=(1, 2, 3), keepdims=True))[None]
        with torch.no_grad():
            probs.append(float(torch.sigmoid(net(x))[0, 0]))
        if labels.any():
            heat = saliency_map(net, x, 0, "evidence")[0]
            peak = np.unravel_index(int(heat.argmax()), heat.shape)
            hits += int(np.linalg.norm(np.subtract(peak, np.argwhere(labels).mean(axis=0))) <= 4.0)
    assert hits >= 3  # of 4 blobs, the map peaks within 4 voxels (one 12 mm cell) of the blob
    assert min(probs[0::2]) > max(probs[1::2])  # blobs rank above empty images


def test_a_network_with_a_fine_path_warm_starts_from_a_bundle_without_one(tmp_path) -> None:
    one_epoch = {**FAST, "max_epochs": 1}
    first = train_from_args(_items(16, 3), "mri_triage", NET, tmp_path / "first", **one_epoch)
    widened = {**one_epoch, "init_bundle": first.bundle_path,
               "network_args": {**FAST["network_args"], "fine_features": 2}}
    second = train_from_args(_items(16, 3), "mri_triage", NET, tmp_path / "second", **widened)
    from radtriage.models import load_bundle

    net = load_bundle(second.bundle_path, "cpu", task="mri_triage").network
    assert net.fine_features == 2 and net.evidence_head.weight.shape[1] == 8 + 2 + 2
    wrong = {**widened, "network_args": {**FAST["network_args"], "channels": [6, 8, 8, 4]}}
    with pytest.raises(Exception, match="shape mismatches"):
        train_from_args(_items(16, 3), "mri_triage", NET, tmp_path / "wrong", **wrong)


def test_label_maps_must_be_given_for_all_cases_or_none_and_need_an_evidence_network(tmp_path) -> None:
    items = _items(16, 1)
    del items[3]["label_map"]
    with pytest.raises(InputError, match=r"item\[3\]: has no label_map"):
        train_from_args(items, "mri_triage", NET, tmp_path, **FAST)
    with pytest.raises(InputError, match="does not exist"):
        read_datalist([{"image": np.zeros((4, 4)), "label": 1, "label_map": str(tmp_path / "none.nii.gz")}])
    plain = {**FAST, "max_epochs": 1, "network_args": {**FAST["network_args"], "encoder": "plain",
                                                       "evidence_labels": None}}
    with pytest.raises(InputError, match="writes no evidence maps to supervise"):
        train_from_args(_items(16, 2), "mri_triage", NET, tmp_path / "plain", **plain)
    train_from_args(_items(16, 2), "mri_triage", NET, tmp_path / "off", **{**plain, "evidence_weight": 0.0})
