"""Every bundle's preprocessing is one allow-listed MONAI ``Compose`` in ``inference.json``: checked before anything
is built, the same pipeline in training and inference, readable by MONAI's own ConfigParser, and bundles written
before it (preprocessing kept elsewhere) still give the same answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from radtriage.errors import InputError
from radtriage.models import bundle_preprocessing, check_config, inspect_bundle
from radtriage.preprocess.patch import PreprocessConfig, apply_to_channels, preprocess_label_map
from radtriage.preprocess.transforms import Preprocessing, compose_config

BUNDLES = Path(__file__).resolve().parents[1] / "radtriage" / "bundles"
SHIPPED = sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "inference.json").is_file())


def _inference(name: str) -> dict:
    return json.loads((BUNDLES / name / "configs" / "inference.json").read_text())


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "models" / name
    shutil.copytree(BUNDLES / name, target)
    return target


def _edit(folder: Path, file: str, change) -> None:
    path = folder / "configs" / file
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_bundle_keeps_its_preprocessing_in_one_compose_item(name):
    config = _inference(name)
    item = config["preprocessing"]
    assert item["_target_"] == "Compose" and item["transforms"]
    check_config(config, name)
    assert bundle_preprocessing(config, name).config == item
    meta = json.loads((BUNDLES / name / "configs" / "metadata.json").read_text())["radtriage"]
    assert "preprocessing" not in meta and "preprocessing" not in meta["outputs"]  # nowhere else


@pytest.mark.parametrize(("step", "problem"), [
    ({"_target_": "LoadImage"}, "not an allowed transform"),
    ({"_target_": "monai.transforms.Lambda", "func": "abs"}, "not an allowed transform"),
    ({"_target_": "builtins.eval"}, "not an allowed transform"),
    ({"_target_": "ScaleIntensity", "minv": "$__import__('os').system('true')"}, "expression"),
    ({"_target_": "ScaleIntensity", "minv": "@network_def"}, "config syntax"),
    ({"_target_": "ScaleIntensity", "_requires_": "os"}, "could run code"),
    ({"_target_": "ScaleIntensity", "_disabled_": True}, "unknown special key"),
])
def test_a_pipeline_that_could_run_code_is_refused_before_anything_is_built(tmp_path, step, problem):
    folder = _copy("body-region-ct-0.3.0", tmp_path)
    _edit(folder, "inference.json", lambda c: c["preprocessing"]["transforms"].append(step))
    info = inspect_bundle(folder)
    assert not info.valid
    assert "inference.json" in info.reason and problem in info.reason, info.reason


def test_steps_outside_a_compose_or_with_bad_arguments_are_refused_in_one_line():
    with pytest.raises(ValueError, match="must be"):
        Preprocessing({"_target_": "ScaleIntensity"})
    with pytest.raises(ValueError, match="besides _target_ and transforms"):
        Preprocessing({"_target_": "Compose", "transforms": [], "map_items": False})
    with pytest.raises(ValueError, match="cannot build Resize"):
        Preprocessing(compose_config([{"_target_": "Resize", "no_such_argument": 1}]))
    config = {"network_def": {"_target_": "radtriage.nets.body_region.BodyRegionNet"},
              "preprocessing": {"_target_": "Compose", "transforms": [{"_target_": "Compose", "transforms": []}]}}
    with pytest.raises(InputError, match="not an allowed"):
        check_config(config, "inference.json")


def test_monai_config_parser_builds_the_same_pipeline_as_radtriage():
    """The item is the model zoo's shape: MONAI's own ConfigParser instantiates it and gets our numbers."""
    from monai.bundle import ConfigParser

    rng = np.random.default_rng(3)
    for name, shape in (("mri-triage-demo-0.4.0", (8, 40, 50, 30)), ("body-region-mr-0.2.0", (5, 64, 64)),
                        ("body-region-ct-0.3.0", (5, 64, 64)), ("lge-certainty-demo-0.3.1", (64, 64))):
        x = rng.gamma(2.0, 200.0, shape).astype(np.float32) - 500.0
        ours = bundle_preprocessing(_inference(name), name)(x)
        theirs = np.asarray(ConfigParser(_inference(name)).get_parsed_content("preprocessing")(x))
        assert ours.shape == theirs.shape and np.allclose(ours, theirs, atol=1e-6), name


def test_the_shipped_pipelines_are_the_documented_scalings():
    rng = np.random.default_rng(0)
    ct = rng.uniform(-3000, 3000, (4, 64, 64)).astype(np.float32)
    assert np.allclose(bundle_preprocessing(_inference("body-region-ct-0.3.0"), "ct")(ct),
                       np.clip(ct / 1024.0, -1.0, 1.5), atol=1e-6)
    mr = rng.gamma(2.0, 100.0, (4, 64, 64)).astype(np.float32)
    mr[:, :20] = 0.0
    fg = mr[mr > 0]
    hi = np.percentile(fg[fg > 0.05 * np.percentile(fg, 99.0)], 99.0)
    assert np.allclose(bundle_preprocessing(_inference("body-region-mr-0.2.0"), "mr")(mr),
                       np.clip(mr / hi, 0.0, 2.0), atol=1e-6)
    lge = rng.normal(100.0, 30.0, (64, 64)).astype(np.float32)
    lo, up = np.percentile(lge, [1.0, 99.0])
    assert np.allclose(bundle_preprocessing(_inference("lge-certainty-demo-0.3.1"), "lge")(lge),
                       np.clip((lge - lo) / (up - lo), 0.0, 1.0), atol=1e-6)
    head = np.zeros((1, 30, 30, 30), np.float32)
    head[0, 5:25, 5:25, 5:25] = rng.normal(400.0, 20.0, (20, 20, 20))
    scaled = bundle_preprocessing(_inference("cmb-detect-demo-0.3.0"), "cmb")(head)
    assert abs(float(np.median(scaled[0, 5:25, 5:25, 5:25])) - 1.0) < 0.01 and scaled[0, 0, 0, 0] == 0.0


def test_training_and_inference_share_the_pipeline_and_label_maps_take_its_spatial_steps():
    config = PreprocessConfig((16, 16, 16))
    assert config.to_config() == _inference("mri-triage-demo-0.4.0")["preprocessing"] | {
        "transforms": [{"_target_": "Resize", "spatial_size": [16, 16, 16], "mode": "area"},
                       {"_target_": "NormalizeIntensity", "channel_wise": True}]}
    rng = np.random.default_rng(1)
    channels = [rng.normal(5.0, 2.0, (32, 32, 32)).astype(np.float32) for _ in range(2)]
    x = apply_to_channels(channels, config.build())
    assert x.shape == (2, 16, 16, 16) and np.allclose(x.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    labels = np.zeros((32, 32, 32), np.float32)
    labels[8:24, 8:24, 8:24] = 3
    out = preprocess_label_map(labels, config)
    assert out.shape == (1, 16, 16, 16) and set(np.unique(out)) == {0, 3}  # nearest: no mixed labels
    # a bundle's own pipeline is used as it is (fine-tuning keeps its base's)
    custom = compose_config([{"_target_": "ResizeWithPadOrCrop", "spatial_size": [16, 16, 16]}])
    kept = PreprocessConfig((16, 16, 16), pipeline=custom)
    assert kept.to_config() == custom
    assert np.allclose(apply_to_channels(channels, kept.build())[0], channels[0][8:24, 8:24, 8:24])


def test_a_bundle_s_pipeline_is_what_inference_runs(tmp_path):
    """Change the pipeline in inference.json and the network input changes with it (nothing is hard-coded)."""
    from radtriage.tasks.lge_certainty.scoring import LgeSliceScorer

    folder = _copy("lge-certainty-demo-0.3.1", tmp_path)
    step = {"_target_": "ScaleIntensityRangePercentiles", "lower": 10.0, "upper": 90.0, "b_min": -1.0,
            "b_max": 1.0, "clip": True}
    _edit(folder, "inference.json", lambda c: c.update(preprocessing=compose_config([step])))
    scorer = LgeSliceScorer.from_bundle(folder, device="cpu")
    patch = scorer.prep.patch
    slice2d = np.random.default_rng(2).normal(100.0, 30.0, (patch, patch)).astype(np.float32)
    x = scorer.prepare(slice2d)
    lo, hi = np.percentile(x, [0.0, 100.0])
    assert (lo, hi) == (-1.0, 1.0)
    assert scorer.preprocessing_summary()["pipeline"]["transforms"] == [step]


def test_bundles_written_before_the_compose_still_load_and_give_the_same_answers(tmp_path):
    """Body region kept its intensity rule in metadata, LGE in outputs.preprocessing, MRI a plain dict, CMB none."""
    from radtriage.phantoms import make_body_case
    from radtriage.tasks.body_region.runner import run as run_body_region

    old = _copy("body-region-ct-0.3.0", tmp_path)
    _edit(old, "inference.json", lambda c: c.update(preprocessing={
        "patch_size": [64, 64], "resize": "resize", "normalize": "none", "array_order": "kji", "channel_first": True}))
    _edit(old, "metadata.json", lambda m: m["radtriage"].update(preprocessing={
        "slice_size": 64, "fov_mm": 512.0, "intensity": "ct_hu_over_1024"}))
    assert inspect_bundle(old).valid
    case = make_body_case(3, n_slices=40)
    new_rows = run_body_region({"CT": case.image}, bundle=str(BUNDLES / "body-region-ct-0.3.0"),
                               device="cpu").outputs["slices"]
    old_rows = run_body_region({"CT": case.image}, bundle=str(old), device="cpu").outputs["slices"]
    assert [r["region"] for r in old_rows] == [r["region"] for r in new_rows]
    assert np.allclose([r["confidence"] for r in old_rows], [r["confidence"] for r in new_rows], atol=1e-5)

    legacy_mri = {"preprocessing": {"patch_size": [64, 64, 64], "resize": "resize", "normalize": "zscore"}}
    assert bundle_preprocessing(legacy_mri, "old").config == _inference("mri-triage-demo-0.4.0")["preprocessing"]
    with pytest.raises(InputError, match="no 'preprocessing' item"):
        bundle_preprocessing({}, "inference.json")
