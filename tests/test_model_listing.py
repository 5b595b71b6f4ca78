"""Bundle listing and default selection (issue 16 item 7): ``radtriage models`` checks the weights the way
loading does, and the default skips invalid bundles, saying which."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch
from test_bundles import _edit_json, _tiny_bundle

from radtriage.cli import main
from radtriage.models import find_bundle, inspect_bundle, list_bundles, load_bundle, sha256_file
from radtriage.models import registry as registry_module
from radtriage.models.bundle import METADATA_FILE


class _Payload:
    """A pickle that would create a file when loaded without weights_only."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def models(tmp_path, monkeypatch):
    """An isolated search path: only ``tmp_path/models``."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(registry_module, "default_bundle_dir", lambda: tmp_path / "none")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("RADTRIAGE_MODEL_DIR", str(folder))
    return folder


def _pickle_bundle(folder, marker, version="9.0.0"):
    bundle = _tiny_bundle(folder, name="tiny", version=version, fmt="pytorch")
    weights = bundle / "models" / "model.pt"
    state = torch.load(weights, weights_only=True)
    torch.save({**state, "evil": _Payload(str(marker))}, weights)
    _edit_json(bundle / METADATA_FILE, lambda m: m["radtriage"]["weights"].update(sha256=sha256_file(weights)))
    return bundle


def test_pickle_bundle_is_listed_invalid_with_the_reason_and_never_runs(models, tmp_path, capsys):
    marker = tmp_path / "pwned"
    bundle = _pickle_bundle(models / "evil", marker)
    info = inspect_bundle(bundle)
    assert not info.valid and "pickle holds objects other than tensors" in info.reason
    assert not marker.exists()
    assert main(["models"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if "tiny" in row)
    assert "INVALID" in line and "pickle" in line and " ok " not in line
    with pytest.raises(Exception, match="pickle holds objects other than tensors"):
        load_bundle(bundle, "cpu")  # the listing says exactly what loading says
    assert not marker.exists()


def test_default_skips_the_invalid_newer_bundle_and_says_so(models, tmp_path, caplog, capsys):
    good = _tiny_bundle(models / "good", name="tiny", version="0.1.0")
    _pickle_bundle(models / "evil", tmp_path / "pwned", version="9.0.0")
    with caplog.at_level(logging.WARNING, logger="radtriage.models.registry"):
        chosen = find_bundle("mri_triage")
    assert chosen.path == good and chosen.version == "0.1.0"
    assert any("skipped invalid bundle tiny 9.0.0" in r.getMessage() for r in caplog.records)
    assert main(["models", "--json"]) == 0
    rows = {row["version"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["0.1.0"]["default"] is True and rows["9.0.0"]["default"] is False
    assert rows["9.0.0"]["valid"] is False


def test_truncated_safetensors_with_matching_hash_is_invalid(models):
    bundle = _tiny_bundle(models / "cut", name="cut")
    weights = bundle / "models" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: os.path.getsize(weights) // 2])
    _edit_json(bundle / METADATA_FILE, lambda m: m["radtriage"]["weights"].update(sha256=sha256_file(weights)))
    info = inspect_bundle(bundle)
    assert not info.valid and "cannot read safetensors weights" in info.reason


def test_plain_state_dict_pt_bundle_stays_valid(models):
    bundle = _tiny_bundle(models / "plain", name="plain", fmt="pytorch")
    assert inspect_bundle(bundle).valid
    assert [b.name for b in list_bundles() if b.valid] == ["plain"]


def test_pt_file_that_is_not_a_state_dict_is_invalid(models):
    bundle = _tiny_bundle(models / "list", name="list", fmt="pytorch")
    weights = bundle / "models" / "model.pt"
    torch.save([torch.zeros(2)], weights)
    _edit_json(bundle / METADATA_FILE, lambda m: m["radtriage"]["weights"].update(sha256=sha256_file(weights)))
    info = inspect_bundle(bundle)
    assert not info.valid and "flat state dict" in info.reason


def test_a_result_says_which_invalid_newer_bundle_was_skipped(models, tmp_path, monkeypatch):
    """The skipped bundle is a notice in the result (every front end shows notices), not only a log line."""
    import numpy as np

    from radtriage.image import Image
    from radtriage.models.registry import skipped_bundle_notices
    from radtriage.tasks import _RUNNERS, available_tasks, register_runner, run_task
    from radtriage.tasks.result import TaskResult

    good = _tiny_bundle(models / "good", name="tiny", version="0.1.0")
    assert skipped_bundle_notices("mri_triage") == []  # only a valid bundle: nothing to say
    _pickle_bundle(models / "evil", tmp_path / "pwned", version="9.0.0")
    (notice,) = skipped_bundle_notices("mri_triage")
    assert notice.startswith("model bundle tiny 9.0.0") and "pickle holds objects other than tensors" in notice
    assert notice.endswith("tiny 0.1.0 was used instead")
    assert skipped_bundle_notices("mri_triage", good) == []  # a bundle folder given explicitly: no choice made
    assert skipped_bundle_notices("mri_triage", "other-name") == []

    available_tasks()  # the built-in runners registered before the test works on a copy of the table
    monkeypatch.setattr("radtriage.tasks._RUNNERS", dict(_RUNNERS))
    register_runner("mri_triage", lambda **kw: TaskResult("mri_triage", {}, {}, notices=["demo"]))
    t2 = Image(np.random.default_rng(2).normal(300.0, 60.0, (40, 64, 64)).astype(np.float32), (3.0, 3.0, 4.0))
    result = run_task("mri_triage", inputs={"T2": t2})
    assert result.notices[0] == "demo" and notice in result.notices


def test_the_torch_free_check_of_pt_archives_refuses_what_it_must_and_defers_what_it_cannot_read(tmp_path):
    import zipfile

    from radtriage.models.registry import torch_archive_problem

    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(2, dtype=torch.float16), "n": torch.zeros(3, dtype=torch.int64)}, plain)
    assert torch_archive_problem(plain) == ""
    deferred = {"protocol 4": ({"w": torch.zeros(2)}, {"pickle_protocol": 4}),
                "complex": ({"w": torch.zeros(2, dtype=torch.complex64)}, {})}
    for name, (state, kwargs) in deferred.items():  # not modelled here: torch's own weights-only load decides
        path = tmp_path / f"{name}.pt"
        torch.save(state, path, **kwargs)
        assert torch_archive_problem(path) is None, name
    with zipfile.ZipFile(plain) as source:
        members = [(m, source.read(m)) for m in source.infolist()]
    cut, packed = tmp_path / "cut.pt", tmp_path / "packed.pt"
    with zipfile.ZipFile(cut, "w") as out:
        for m, data in members:
            if "/data/" not in m.filename:
                out.writestr(m, data)
    assert "data of storage(s)" in torch_archive_problem(cut)
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for m, data in members:
            out.writestr(m.filename, data)
    assert "compressed member" in torch_archive_problem(packed)
