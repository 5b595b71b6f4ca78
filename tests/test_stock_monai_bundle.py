"""A bundle made with stock MONAI tooling runs for its task once its metadata has a ``radtriage`` section: a stock
``monai.networks.nets`` class, weights at MONAI's default ``models/model.pt`` (a plain state dict), metadata with
only the MONAI specification's mandatory fields, and ``radtriage.weights`` giving only the weights' SHA-256."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from radtriage.io import write_volume
from radtriage.models import inspect_bundle, sha256_file
from radtriage.phantoms import make_body_case

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "radtriage" / "bundles").glob("body-region-ct-*"))[-1]
STOCK = {
    "DenseNet121": {"spatial_dims": 2, "in_channels": 1, "out_channels": 17},
    "ResNet": {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [8, 16, 32, 64], "spatial_dims": 2,
               "n_input_channels": 1, "num_classes": 17},
}


def _stock_bundle(folder: Path, network: str) -> Path:
    """A body-region bundle as MONAI tooling writes one, plus the task section a user adds."""
    from monai.bundle import ConfigParser

    shipped = json.loads((SHIPPED / "configs" / "metadata.json").read_text())
    optional = ("changelog", "intended_use", "required_packages_version", "schema")
    meta = {k: v for k, v in shipped.items() if k not in optional and k != "radtriage"}
    meta.update(name=f"body-region-{network.lower()}", version="9.0.0", optional_packages_version={})
    net_def = {"_target_": f"monai.networks.nets.{network}", **STOCK[network]}
    preprocessing = json.loads((SHIPPED / "configs" / "inference.json").read_text())["preprocessing"]
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "configs" / "inference.json").write_text(
        json.dumps({"network_def": net_def, "preprocessing": preprocessing}))
    torch.manual_seed(0)
    parser = ConfigParser({"network_def": net_def})
    torch.save(parser.get_parsed_content("network_def").state_dict(), folder / "models" / "model.pt")
    task = {k: shipped["radtriage"][k] for k in ("task", "inputs", "outputs", "class_names", "demo")}
    meta["radtriage"] = {**task, "weights": {"sha256": sha256_file(folder / "models" / "model.pt")}}
    (folder / "configs" / "metadata.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("network", sorted(STOCK))
def test_a_stock_monai_network_bundle_runs_for_its_task(tmp_path, network):
    bundle = _stock_bundle(tmp_path / "models" / f"body-region-{network.lower()}", network)
    info = inspect_bundle(bundle)
    assert info.valid, info.reason
    assert (info.meta.weights.file, info.meta.weights.format) == ("models/model.pt", "pytorch")
    image = tmp_path / "ct.nii.gz"
    write_volume(make_body_case(0).image, image)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "radtriage", "infer", "--task", "body_region", "--input", str(image),
                          "--bundle", str(bundle), "--output", str(out), "--device", "cpu", "--progress", "none"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["bundle"]["name"] == f"body-region-{network.lower()}"
    assert len(result["outputs"]["slices"]) == make_body_case(0).image.size[2]


def test_a_stock_bundle_without_the_weights_sha256_is_refused_naming_what_to_add(tmp_path):
    bundle = _stock_bundle(tmp_path / "b", "DenseNet121")
    path = bundle / "configs" / "metadata.json"
    meta = json.loads(path.read_text())
    del meta["radtriage"]["weights"]
    path.write_text(json.dumps(meta))
    info = inspect_bundle(bundle)
    assert not info.valid and "sha256" in info.reason and "models/model.pt" in info.reason


def test_the_models_command_lists_the_network_classes_a_bundle_may_name(capsys):
    from radtriage.cli import main

    assert main(["models", "--networks", "--json"]) == 0
    names = json.loads(capsys.readouterr().out)
    assert {f"monai.networks.nets.{n}" for n in STOCK} <= set(names)
    assert "radtriage.nets.body_region.BodyRegionNet" in names and "torch.nn.Module" not in names


@pytest.mark.parametrize("bundle", sorted(SHIPPED.parent.iterdir()), ids=lambda p: p.name)
def test_every_shipped_bundle_loads_with_monai_bundle_defaults(bundle):
    """``monai.bundle.load`` with its defaults (``models/model.pt``, ``torch.load(weights_only=True)``, the network of
    ``configs/inference.json``) gives the network the project's safe loader gives."""
    import warnings

    import monai.bundle

    from radtriage.models import load_bundle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI's note that its own config parser has no allow list
        net = monai.bundle.load(bundle.name, bundle_dir=str(bundle.parent), workflow_type="inference", device="cpu")
    ours = load_bundle(bundle, "cpu").network.state_dict()
    theirs = net.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)
