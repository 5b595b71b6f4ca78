"""The lge_certainty runner through run_task / `radtriage infer`, score_slice, and its MRML outputs (.mrb)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radtriage.image import Image
from radtriage.models import BundleNotFoundError, default_metadata, write_bundle
from radtriage.nets.lge import NETWORK_NAME, LgeEfficientNetV2
from radtriage.phantoms import make_lge_slice, make_lge_stack
from radtriage.tasks import run_task
from radtriage.tasks.lge_certainty import LOW_CERTAINTY_HINT, LgeSliceScorer
from radtriage.tasks.result import write_result


def _bundle(folder, bias: float | None = None, temperature: float = 2.0, band=(30.0, 70.0)):
    """A small valid bundle; with ``bias`` the network outputs that constant logit (weights of the last layer 0)."""
    torch.manual_seed(0)
    net = LgeEfficientNetV2()
    if bias is not None:
        with torch.no_grad():
            net.classifier.weight.zero_()
            net.classifier.bias.fill_(bias)
    meta = default_metadata(
        folder.name,
        "lge_certainty",
        version="0.0.1",
        description="test bundle, demo, not for clinical use",
        class_names=["lge"],
        inputs={"contrasts": ["LGE"], "modality": "MR", "spacing": [2.0, 2.0], "patch_size": [48, 48]},
        demo=True,
        outputs={"channels": 1, "calibration": {"temperature": temperature}},
        certainty_band=band,
    )
    write_bundle(folder, net, meta, {"_target_": NETWORK_NAME, "spatial_dims": 2, "in_channels": 1, "out_channels": 1})
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Single small slices run fastest on one thread (and far faster than several on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("lge-bundles")
    return {
        "random": _bundle(root / "lge-test-random"),
        "uncertain": _bundle(root / "lge-test-uncertain", bias=0.0),
        "positive": _bundle(root / "lge-test-positive", bias=4.0, band=(20.0, 80.0)),
    }


def _axial_heart() -> Image:
    stack, _ = make_lge_stack(5, n_slices=24, size=(64, 64), spacing=(2.5, 2.5), slice_spacing=3.0, direction=np.eye(3))
    return stack


def test_runner_scores_every_slice_of_a_sax_stack(bundles, tmp_path):
    stack, _ = make_lge_stack(2, n_slices=6, size=(64, 64), spacing=(2.0, 2.0))
    progress = []
    result = run_task(
        "lge_certainty",
        inputs={"LGE": stack},
        bundle=str(bundles["random"]),
        device="cpu",
        progress=lambda f, m="": progress.append(f),
    )
    out = result.outputs
    assert len(out["slices"]) == 6 and not out["geometry"]["reformatted"] and not result.volumes
    assert out["certainty_band"] == [30.0, 70.0] and "inclusive" in out["band_rule"]
    for s in out["slices"]:
        assert 0.0 <= s["likelihood"] <= 100.0
        assert s["flag"] == (30.0 <= s["likelihood"] <= 70.0) == (s["certainty"] == "low")
        assert s["hint"] == (LOW_CERTAINTY_HINT if s["flag"] else "")
    assert result.bundle["demo"] and "demo, not for clinical use" in result.notices
    assert progress == sorted(progress)
    written = write_result(result, tmp_path)
    doc = json.loads(written["result"].read_text())
    assert doc["outputs"]["certainty_band"] == [30.0, 70.0]
    assert [s["likelihood"] for s in doc["outputs"]["slices"]] == [s["likelihood"] for s in out["slices"]]


def test_slices_are_scored_independently(bundles):
    scorer = LgeSliceScorer.from_bundle(bundles["random"], "cpu")
    stack, slices = make_lge_stack(4, n_slices=5, size=(64, 64), spacing=(2.0, 2.0))
    batch = scorer.score_stack(stack)
    one_by_one = [scorer.score_slice(s.image) for s in slices]
    np.testing.assert_allclose([b.logit for b in batch], [o.logit for o in one_by_one], rtol=1e-4, atol=1e-5)
    single = make_lge_slice(9, "clear", size=(80, 80), spacing=(1.6, 1.6))
    from_array = scorer.score_slice(single.image.array[0], pixel_spacing=(1.6, 1.6))
    assert from_array.logit == pytest.approx(scorer.score_slice(single.image).logit, rel=1e-5)
    assert scorer.prep.patch == 48 and scorer.prep.fov_mm == pytest.approx(96.0)


def test_constant_logits_give_the_expected_calibrated_calls(bundles):
    stack, _ = make_lge_stack(2, n_slices=3, size=(48, 48), spacing=(2.0, 2.0))
    low = run_task("lge_certainty", inputs={"lge": stack}, bundle=str(bundles["uncertain"]), device="cpu")
    assert {s["likelihood"] for s in low.outputs["slices"]} == {50.0}
    assert all(s["flag"] and s["reading"] == "uncertain" for s in low.outputs["slices"])
    assert low.outputs["summary"]["n_low_certainty"] == 3
    assert any(LOW_CERTAINTY_HINT in n for n in low.notices)
    high = run_task("lge_certainty", inputs={"lge": stack}, bundle=str(bundles["positive"]), device="cpu")
    expected = round(100 / (1 + np.exp(-4.0 / 2.0)), 2)  # temperature 2 from the bundle
    assert {s["likelihood"] for s in high.outputs["slices"]} == {expected}
    assert high.outputs["certainty_band"] == [20.0, 80.0]
    assert all(not s["flag"] and s["reading"] == "positive" for s in high.outputs["slices"])
    override = run_task(
        "lge_certainty",
        inputs={"lge": stack},
        bundle=str(bundles["positive"]),
        device="cpu",
        certainty_band=(10.0, 95.0),
    )
    assert override.outputs["certainty_band"] == [10.0, 95.0] and override.outputs["slices"][0]["flag"]


def test_axial_volume_is_reformatted_with_user_or_estimated_axis(bundles):
    volume = _axial_heart()
    centre = volume.index_to_lps((np.array(volume.size) - 1) / 2)[0]
    apex_ras = (-(centre[0] + 20), -(centre[1] - 16), centre[2] - 25)
    base_ras = (-(centre[0] - 20), -(centre[1] + 16), centre[2] + 25)
    user = run_task(
        "lge_certainty",
        inputs={"lge": volume},
        bundle=str(bundles["random"]),
        device="cpu",
        apex=apex_ras,
        base=base_ras,
        coordinates="RAS",
    )
    geo = user.outputs["geometry"]
    assert geo["reformatted"] and geo["long_axis"]["source"] == "user"
    sax = user.volumes["lge_sax"]
    assert len(user.outputs["slices"]) == sax.size[2]
    axis = np.subtract(geo["long_axis"]["apex_lps"], geo["long_axis"]["base_lps"])
    np.testing.assert_allclose(geo["slice_normal_lps"], axis / np.linalg.norm(axis), atol=1e-9)
    estimated = run_task("lge_certainty", inputs={"lge": volume}, bundle=str(bundles["random"]), device="cpu")
    assert estimated.outputs["geometry"]["long_axis"]["source"] == "estimated"
    assert any("estimated" in n for n in estimated.notices)
    never = run_task(
        "lge_certainty", inputs={"lge": volume}, bundle=str(bundles["random"]), device="cpu", reformat="never"
    )
    assert len(never.outputs["slices"]) == volume.size[2]


def test_refusals(bundles):
    stack, _ = make_lge_stack(2, n_slices=2, size=(32, 32))
    with pytest.raises(BundleNotFoundError):
        run_task("lge_certainty", inputs={"lge": stack}, bundle="no-such-lge-bundle", device="cpu")
    from radtriage.errors import InputError

    with pytest.raises(InputError, match="LGE=PATH"):
        run_task("lge_certainty", inputs={"a": stack, "b": stack}, bundle=str(bundles["random"]), device="cpu")
    with pytest.raises(InputError, match="apex and base"):
        run_task(
            "lge_certainty", inputs={"lge": _axial_heart()}, bundle=str(bundles["random"]), device="cpu", apex=(0, 0, 0)
        )


def test_radtriage_infer_writes_result_json(bundles, tmp_path):
    from radtriage.cli import main
    from radtriage.io import write_volume

    stack, _ = make_lge_stack(7, n_slices=4, size=(48, 48), spacing=(2.0, 2.0))
    path = write_volume(stack, tmp_path / "sax.nii.gz")
    code = main(
        [
            "infer",
            "--task",
            "lge_certainty",
            "--input",
            f"LGE={path}",
            "--output",
            str(tmp_path / "out"),
            "--bundle",
            str(bundles["random"]),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    assert doc["task"] == "lge_certainty" and len(doc["outputs"]["slices"]) == 4
    assert doc["outputs"]["certainty_band"] == [30.0, 70.0]
    assert {"likelihood", "certainty", "flag", "hint"} <= set(doc["outputs"]["slices"][0])


@pytest.mark.mrml
def test_mrml_table_under_study_survives_mrb(bundles, tmp_path):
    pytest.importorskip("slicer", reason="slicer-core is not installed")
    from radtriage.mrml import create_headless_scene, load_mrb, patient_and_study_of, rows_from_table, save_mrb
    from radtriage.tasks.lge_certainty.mrml import TABLE_NAME, add_lge_outputs

    volume = _axial_heart()
    result = run_task("lge_certainty", inputs={"lge": volume}, bundle=str(bundles["uncertain"]), device="cpu")
    with create_headless_scene() as headless:
        nodes = add_lge_outputs(headless.scene, result, "Anon^LGE", "MR Heart")
        assert nodes["sax_volume"] is not None
        path = save_mrb(headless.scene, tmp_path / "lge.mrb")
    with load_mrb(path) as reloaded:
        table = reloaded.scene.GetFirstNodeByName(TABLE_NAME)
        assert table is not None
        assert patient_and_study_of(reloaded.scene, table) == ("Anon^LGE", "MR Heart")
        rows = rows_from_table(table)
        assert len(rows) == len(result.outputs["slices"])
        for row, s in zip(rows, result.outputs["slices"], strict=True):
            assert row["likelihood"] == pytest.approx(s["likelihood"])
            assert row["certainty"] == s["certainty"] and row["flag"] == int(s["flag"])
            assert row["hint"] == LOW_CERTAINTY_HINT and row["certainty_by"] == "likelihood band 30-70"
        assert table.GetAttribute("RadTriage.CertaintyBand") == "30,70"
        assert table.GetAttribute("RadTriage.CertaintySource") == "likelihood_band"
        sax = reloaded.scene.GetFirstNodeByName("LGE short-axis reformat")
        assert patient_and_study_of(reloaded.scene, sax) == ("Anon^LGE", "MR Heart")


@pytest.mark.slow
def test_real_axial_lge_series_runs(bundles, shared_data):
    from radtriage.io import read_image

    folder = shared_data / "Seg3DData" / "example_dicom_LGE"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    result = run_task("lge_certainty", inputs={"lge": read_image(folder)}, bundle=str(bundles["random"]), device="cpu")
    assert result.outputs["geometry"]["reformatted"]
    assert len(result.outputs["slices"]) >= 5
    assert all(0 <= s["likelihood"] <= 100 for s in result.outputs["slices"])


def test_benchmark_reports_every_stage_with_targets():
    from radtriage.bench.lge_certainty import run_benchmark

    before = torch.get_num_threads()
    report = run_benchmark(repeats=1, device="cpu")
    assert torch.get_num_threads() == before
    assert set(report["stages_ms"]) >= {"decode", "preprocess", "inference", "post-process", "write"}
    assert all(v >= 0 for v in report["stages_ms"].values())
    assert report["target_ms"]["cpu"] == 20.0 and report["target_ms"]["gpu"] == 2.0
    assert report["per_slice_ms"] == pytest.approx(
        sum(report["stages_ms"][k] for k in ("preprocess", "inference", "post-process")), abs=0.01
    )
