"""Model bundles: writing, safe loading (hash, weights-only, allow-listed configs), compatibility, the registry."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from radtriage.models import (
    BundleError,
    BundleNotFoundError,
    UnsafeConfigError,
    default_metadata,
    find_bundle,
    inspect_bundle,
    list_bundles,
    load_bundle,
    model_search_dirs,
    read_metadata,
    register_network,
    sha256_file,
    write_bundle,
)
from radtriage.models import registry as registry_module
from radtriage.models.bundle import INFERENCE_FILE, METADATA_FILE, REQUIRED_MONAI_FIELDS

TINY = "test.TinyClassifier"
SMALL_UNET = {
    "_target_": "monai.networks.nets.BasicUNet",
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 2,
    "features": [4, 4, 8, 8, 16, 4],
}
"""A stock MONAI network, small enough for a unit test."""


class TinyClassifier(nn.Module):
    """A two-layer classifier small enough for tests."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, spatial_dims: int = 2, features: int = 4) -> None:
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.conv = conv(in_channels, features, 3, padding=1)
        self.head = nn.Linear(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(2).mean(-1))


register_network(TINY, TinyClassifier)


def _meta(task: str = "mri_triage", version: str = "0.1.0", name: str = "tiny", **overrides) -> dict:
    kwargs = {
        "version": version,
        "description": "tiny test network",
        "class_names": ["normal", "abnormal"],
        "inputs": {"contrasts": ["T1"], "modality": "MR", "spacing": [1.0, 1.0], "patch_size": [8, 8]},
        "thresholds": {"abnormal": {"balanced": 0.5, "high_sensitivity": 0.2}},
        "demo": True,
    }
    kwargs.update(overrides)
    return default_metadata(name, task, **kwargs)


def _tiny_bundle(folder: Path, *, version: str = "0.1.0", fmt: str = "safetensors", seed: int = 0, **meta) -> Path:
    torch.manual_seed(seed)
    net = TinyClassifier()
    name = meta.pop("name", folder.name)
    return write_bundle(
        folder,
        net,
        _meta(version=version, name=name, **meta),
        {"_target_": TINY, "in_channels": 1, "out_channels": 2, "spatial_dims": 2, "features": 4},
        weights_format=fmt,
    )


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# -- writing and loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "pytorch"])
def test_write_then_load_gives_the_same_network(tmp_path, fmt):
    torch.manual_seed(3)
    net = TinyClassifier()
    folder = write_bundle(
        tmp_path / "tiny",
        net,
        _meta(),
        {"_target_": TINY, "in_channels": "@channels", "out_channels": 2, "spatial_dims": 2, "features": 4},
        weights_format=fmt,
        extra_config={"channels": 1},
    )
    meta = read_metadata(folder)
    weights = folder / meta.weights.file
    assert weights.suffix == {"safetensors": ".safetensors", "pytorch": ".pt"}[fmt]
    assert meta.weights.sha256 == sha256_file(weights)
    assert set(REQUIRED_MONAI_FIELDS) <= set(json.loads((folder / METADATA_FILE).read_text()))
    assert "DEMO" in (folder / "docs" / "README.md").read_text()

    loaded = load_bundle(folder, "cpu", task="mri_triage", contrasts=["t1", "FLAIR"])
    assert not loaded.network.training
    assert loaded.device == torch.device("cpu")
    assert loaded.meta.class_names == ("normal", "abnormal")
    assert loaded.meta.thresholds["abnormal"]["high_sensitivity"] == 0.2
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.network(x), net.eval()(x))


def test_monai_network_bundle_is_readable_by_monai_config_parser(tmp_path):
    from monai.bundle import ConfigParser
    from monai.networks.nets import BasicUNet

    net_def = dict(SMALL_UNET)
    torch.manual_seed(0)
    net = BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(4, 4, 8, 8, 16, 4))
    folder = write_bundle(
        tmp_path / "unet",
        net,
        _meta(
            task="cmb_detect",
            inputs={"contrasts": ["SWI"], "modality": "MR", "spacing": [0.5, 0.5], "patch_size": [32, 32]},
        ),
        net_def,
    )

    parser = ConfigParser()
    parser.read_meta(folder / METADATA_FILE)
    parser.read_config(folder / INFERENCE_FILE)
    assert parser.get("_meta_")["radtriage"]["task"] == "cmb_detect"
    monai_built = parser.get_parsed_content("network_def")  # harmless here: the target is a MONAI class
    loaded = load_bundle(folder, "cpu")
    assert type(loaded.network) is type(monai_built) is BasicUNet
    assert loaded.network.state_dict().keys() == monai_built.state_dict().keys()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.network(x), net.eval()(x))


# -- refusing tampered, malicious and mismatched files --------------------------------------------------------------


def test_tampered_weights_are_refused(tmp_path):
    folder = _tiny_bundle(tmp_path / "tiny")
    weights = folder / "models" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256 mismatch") as err:
        load_bundle(folder, "cpu")
    assert str(weights) in str(err.value)
    info = inspect_bundle(folder)
    assert not info.valid and "SHA-256" in info.reason


class _Payload:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_pickle_that_would_run_a_command_is_refused_and_never_runs(tmp_path):
    folder = _tiny_bundle(tmp_path / "tiny", fmt="pytorch")
    weights = folder / "models" / "model.pt"
    marker = tmp_path / "pwned"
    state = torch.load(weights, weights_only=True)
    torch.save({**state, "evil": _Payload(f"touch {marker}")}, weights)
    _edit_json(folder / METADATA_FILE, lambda m: m["radtriage"]["weights"].update(sha256=sha256_file(weights)))

    with pytest.raises(BundleError, match="pickle holds objects other than tensors") as err:
        load_bundle(folder, "cpu")
    assert str(weights) in str(err.value)
    assert not marker.exists()
    # the payload is real: an unsafe load would have run the command
    torch.load(weights, weights_only=False)
    assert marker.exists()


UNSAFE_CONFIGS = {
    "os.system target": ({"network_def": {"_target_": "os.system", "command": "touch {marker}"}}, "os.system"),
    "Popen target": ({"network_def": {"_target_": "subprocess.Popen", "args": ["touch", "{marker}"]}}, "Popen"),
    "expression argument": (
        {"network_def": {"_target_": TINY, "features": "$__import__('os').system('touch {marker}')"}},
        "__import__",
    ),
    "expression item": ({"run": "$__import__('os').system('touch {marker}')", "network_def": {"_target_": TINY}}, "$"),
    "reference to code": (
        {
            "evil": {"_target_": "os.system", "command": "touch {marker}"},
            "network_def": {"_target_": TINY, "features": "@evil"},
        },
        "os.system",
    ),
    "dangling reference": ({"network_def": {"_target_": TINY, "features": "@os::system"}}, "@os::system"),
    "reference bomb": (
        {
            "a": ["@b"] * 50,
            "b": ["@c"] * 50,
            "c": ["@d"] * 50,
            "d": 1,
            "network_def": {"_target_": TINY, "features": "@a"},
        },
        "reference expansions",
    ),
    "circular reference": ({"a": "@b", "b": "@a", "network_def": {"_target_": TINY, "features": "@a"}}, "@"),
    "macro": ({"network_def": {"_target_": TINY, "features": "%other.json::x"}}, "%other.json"),
    "imports": ({"imports": ["$import os"], "network_def": {"_target_": TINY}}, "imports"),
    "requires": ({"network_def": {"_target_": TINY, "_requires_": "$print(1)"}}, "_requires_"),
    "callable mode": ({"network_def": {"_target_": TINY, "_mode_": "callable"}}, "_mode_"),
    "monai non-network": ({"network_def": {"_target_": "monai.bundle.ConfigParser"}}, "ConfigParser"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_CONFIGS))
def test_configs_that_could_run_code_are_refused(tmp_path, case):
    marker = tmp_path / "pwned"
    config, offending = UNSAFE_CONFIGS[case]
    config = json.loads(json.dumps(config).replace("{marker}", str(marker)))
    folder = _tiny_bundle(tmp_path / "evil-bundle")
    (folder / INFERENCE_FILE).write_text(json.dumps(config))

    with pytest.raises(UnsafeConfigError) as err:
        load_bundle(folder, "cpu")
    message = str(err.value)
    assert "evil-bundle" in message and offending in message and "refused" in message
    info = inspect_bundle(folder)
    assert not info.valid and offending in info.reason
    assert not marker.exists()


def test_write_bundle_refuses_unsafe_or_mismatched_network_def_before_writing(tmp_path):
    net = TinyClassifier()
    with pytest.raises(UnsafeConfigError, match=r"os\.system"):
        write_bundle(tmp_path / "a", net, _meta(), {"_target_": "os.system", "command": "true"})
    with pytest.raises(BundleError, match="shape mismatches"):
        write_bundle(tmp_path / "b", net, _meta(), {"_target_": TINY, "features": 8})
    assert not (tmp_path / "a" / "models").exists() and not (tmp_path / "b" / "models").exists()


def test_state_dict_that_does_not_fit_the_network_is_refused(tmp_path):
    folder = _tiny_bundle(tmp_path / "tiny")
    _edit_json(folder / INFERENCE_FILE, lambda c: c["network_def"].update(features=8))
    with pytest.raises(BundleError, match=r"shape mismatches.*conv\.weight") as err:
        load_bundle(folder, "cpu")
    assert "model.safetensors" in str(err.value)

    net_def = dict(SMALL_UNET)
    _edit_json(folder / INFERENCE_FILE, lambda c: c.update(network_def=net_def))
    with pytest.raises(BundleError, match=r"missing keys: .*unexpected keys: .*conv\.weight"):
        load_bundle(folder, "cpu")


@pytest.mark.parametrize(
    ("change", "kwargs", "pattern"),
    [
        (lambda m: m.update(monai_version="9.0.0"), {}, "needs MONAI 9.0.0"),
        (lambda m: m.update(monai_version="0.9.1"), {}, "needs MONAI 0.9.1"),
        (lambda m: m.update(monai_version="1.99.0"), {}, "needs MONAI 1.99.0"),
        (None, {"task": "cmb_detect"}, "for task 'mri_triage', not 'cmb_detect'"),
        (None, {"contrasts": ["T2", "FLAIR"]}, "needs contrast"),
        (lambda m: m["radtriage"]["inputs"].update(contrasts=["T1", "T2"]), {}, "in_channels=1 contradicts"),
        (lambda m: m["radtriage"]["inputs"].update(patch_size=[8, 8, 8]), {}, "spatial_dims=2 contradicts"),
        (lambda m: m["radtriage"].update(class_names=["a", "b", "c"]), {}, "out_channels=2 contradicts"),
    ],
)
def test_incompatible_bundles_are_refused(tmp_path, change, kwargs, pattern):
    folder = _tiny_bundle(tmp_path / "tiny")
    if change is not None:
        _edit_json(folder / METADATA_FILE, change)
    with pytest.raises(BundleError, match=pattern):
        load_bundle(folder, "cpu", **kwargs)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda m: m.pop("copyright"), "missing MONAI bundle metadata field.*copyright"),
        (lambda m: m.pop("required_packages_version"),
         "missing MONAI bundle metadata field.*optional_packages_version or required_packages_version"),
        (lambda m: m.pop("radtriage"), "missing the 'radtriage' section"),
        (lambda m: m["radtriage"].update(task="fortune_telling"), "radtriage.task must be one of mri_triage"),
        (lambda m: m["radtriage"].update(task="lge_certainty"), "certainty_band"),
        (lambda m: m["radtriage"].update(demo="yes"), "demo must be true or false"),
        (lambda m: m["radtriage"]["weights"].update(file="../../etc/passwd.safetensors"), "inside the bundle"),
        (lambda m: m["radtriage"]["weights"].update(sha256="abc"), "64 lower-case hex"),
        (lambda m: m["radtriage"]["inputs"].update(spacing=[1, -1]), "spacing"),
        (lambda m: m["radtriage"]["thresholds"].update(bad="high"), "thresholds"),
    ],
)
def test_malformed_metadata_is_reported_with_the_file(tmp_path, change, pattern):
    folder = _tiny_bundle(tmp_path / "tiny")
    _edit_json(folder / METADATA_FILE, change)
    with pytest.raises(BundleError, match=pattern) as err:
        load_bundle(folder, "cpu")
    assert str(folder / METADATA_FILE) in str(err.value)


def test_lge_bundle_keeps_its_certainty_band(tmp_path):
    folder = _tiny_bundle(tmp_path / "lge", task="lge_certainty", certainty_band=[0.35, 0.65])
    assert load_bundle(folder, "cpu").meta.certainty_band == (0.35, 0.65)


# -- the registry ---------------------------------------------------------------------------------------------------


@pytest.fixture
def search_env(tmp_path, monkeypatch):
    """Isolated search folders: package dir, user dir (via XDG_DATA_HOME), two $RADTRIAGE_MODEL_DIR entries."""
    package, xdg, env1, env2 = (tmp_path / n for n in ("package", "xdg", "env1", "env2"))
    monkeypatch.setattr(registry_module, "default_bundle_dir", lambda: package)
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    monkeypatch.setenv("RADTRIAGE_MODEL_DIR", os.pathsep.join([str(env1), str(env2)]))
    return {"package": package, "user": xdg / "radtriage" / "models", "env1": env1, "env2": env2}


def test_search_dirs_are_package_user_then_env(search_env, monkeypatch, tmp_path):
    assert model_search_dirs() == [search_env[k] for k in ("package", "user", "env1", "env2")]
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_search_dirs()[1] == tmp_path / "home" / ".radtriage" / "models"


def test_list_bundles_overrides_by_identity_and_lists_invalid_ones(search_env):
    _tiny_bundle(search_env["package"] / "triage", name="triage", seed=0)
    _tiny_bundle(search_env["user"] / "triage-copy", name="triage", seed=1)
    _tiny_bundle(search_env["env2"] / "triage", name="triage", seed=2)
    _tiny_bundle(search_env["env1"] / "triage-v2", name="triage", version="0.2.0")
    broken = search_env["env1"] / "broken"
    (broken / "configs").mkdir(parents=True)
    (broken / "configs" / "metadata.json").write_text("{not json")
    (search_env["env1"] / "notes").mkdir()  # not a bundle: ignored

    bundles = list_bundles()
    by_version = {(b.name, b.version): b for b in bundles if b.valid}
    assert set(by_version) == {("triage", "0.1.0"), ("triage", "0.2.0")}
    assert by_version["triage", "0.1.0"].path == search_env["env2"] / "triage"  # the last folder wins
    invalid = [b for b in bundles if not b.valid]
    assert [b.path for b in invalid] == [broken]
    assert "not valid JSON" in invalid[0].reason and str(broken) in invalid[0].reason
    row = by_version["triage", "0.2.0"].to_dict()
    assert row["demo"] is True and row["task"] == "mri_triage" and json.dumps(row)


def test_find_bundle_picks_the_newest_valid(search_env):
    _tiny_bundle(search_env["user"] / "a-0.2", name="a", version="0.2.0")
    _tiny_bundle(search_env["user"] / "a-0.10", name="a", version="0.10.0")
    bad = _tiny_bundle(search_env["env1"] / "a-1.0", name="a", version="1.0.0")
    (bad / "models" / "model.safetensors").write_bytes(b"tampered")
    _tiny_bundle(search_env["env1"] / "b", name="b", version="5.0.0", task="cmb_detect")

    assert find_bundle("mri_triage").version == "0.10.0"
    assert find_bundle("mri_triage", name="a", version="0.2.0").path == search_env["user"] / "a-0.2"
    assert find_bundle("cmb_detect").name == "b"
    with pytest.raises(BundleNotFoundError, match=r"invalid ones found: .*a-1\.0.*SHA-256"):
        find_bundle("mri_triage", version="1.0.0")
    with pytest.raises(BundleNotFoundError, match="no model bundle for task 'body_region'"):
        find_bundle("body_region")


def test_resolve_bundle_path_takes_a_folder_or_a_name_and_refuses_unknown(tmp_path, monkeypatch):
    from radtriage.models import BundleNotFoundError, resolve_bundle_path

    assert resolve_bundle_path("body_region", tmp_path) == tmp_path
    monkeypatch.setenv("RADTRIAGE_MODEL_DIR", str(tmp_path))
    with pytest.raises(BundleNotFoundError):
        resolve_bundle_path("body_region", "no-such-bundle")
    assert resolve_bundle_path("body_region", "body-region-ct").name.startswith("body-region-ct")


def test_builtin_networks_are_allowed_without_import_and_register_when_built():
    import importlib
    import subprocess
    import sys

    from radtriage.models.networks import _REGISTERED
    from radtriage.nets import BUILTIN_NETWORKS

    code = (
        "import sys\n"
        "from radtriage.models import list_bundles\n"
        "infos = list_bundles()\n"
        "assert infos and all(i.valid for i in infos), [(i.name, i.reason) for i in infos]\n"
        "print('torch' in sys.modules, 'monai' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]  # listing bundles imports neither torch nor MONAI
    for name in BUILTIN_NETWORKS:
        importlib.import_module(name.rsplit(".", 1)[0])
        assert name in _REGISTERED, f"{name} is declared built-in but its module does not register it"


def test_the_monai_version_checked_is_the_one_running(monkeypatch) -> None:
    """Once MONAI is imported, bundles are checked against the imported module's version (what will run; no
    package metadata read per bundle)."""
    import monai

    from radtriage.models.bundle import BundleError, check_monai_version, running_monai_version

    meta = SimpleNamespace(monai_version=monai.__version__)
    check_monai_version(meta, "m")  # the running MONAI made it: accepted
    monkeypatch.setattr(monai, "__version__", "0.8.0")
    assert running_monai_version() == "0.8.0"
    with pytest.raises(BundleError, match=r"MONAI 0\.8\.0 is installed"):
        check_monai_version(meta, "m")
