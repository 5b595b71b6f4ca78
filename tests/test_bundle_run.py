"""Every shipped bundle runs with MONAI's own bundle runner (``python -m monai.bundle run``), through the one
workflow item its inference.json carries, and that item cannot be used to run anything else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from radtriage.models import list_bundles
from radtriage.models.bundle import INFERENCE_FILE, METADATA_FILE
from radtriage.models.networks import (
    RUN_KEY,
    WORKFLOW_CONFIG,
    WORKFLOW_TARGET,
    UnsafeConfigError,
    build_network,
    check_config,
)
from radtriage.phantom_export import export_phantom

pytestmark = pytest.mark.filterwarnings("ignore:parsing config_file:UserWarning")  # MONAI's own trust notice

SHIPPED = sorted((b for b in list_bundles() if b.valid and "radtriage/bundles" in Path(b.path).as_posix()),
                 key=lambda b: b.name)


def _inputs(bundle, folder: Path) -> object:
    """A phantom input for the bundle's task, in the three shapes ``--image`` takes."""
    if bundle.task == "mri_triage":
        (case,) = {p.parent for p in export_phantom("brain", folder)}
        return sorted(str(p) for p in case.glob("*.nii.gz") if not p.name.endswith("_mask.nii.gz"))  # T1.nii.gz ...
    if bundle.task == "cmb_detect":
        swi = next(p for p in export_phantom("swi", folder) if p.name == "swi_magnitude.nii.gz")
        return {"MAGNITUDE": str(swi)}
    kind = {"lge_certainty": "lge", "body_region": f"body-{bundle.meta.inputs.modality.lower()}"}[bundle.task]
    return str(next(p for p in export_phantom(kind, folder) if p.suffix == ".gz"))


def test_shipped_bundles_are_all_found():
    assert {b.task for b in SHIPPED} == {"mri_triage", "cmb_detect", "lge_certainty", "body_region"}
    assert len(SHIPPED) == 5


@pytest.mark.parametrize("bundle", SHIPPED, ids=lambda b: b.name)
def test_monai_bundle_run_gives_the_task_result(bundle, tmp_path):
    """MONAI's ``run`` (in process) over a phantom writes the same result.json as ``radtriage infer``."""
    from monai.bundle import run

    root = Path(bundle.path)
    out = tmp_path / "out"
    run(config_file=str(root / INFERENCE_FILE), meta_file=str(root / METADATA_FILE), bundle_root=str(root),
        image=_inputs(bundle, tmp_path / "in"), output_dir=str(out), device="cpu")
    doc = json.loads((out / "result.json").read_text())
    assert doc["task"] == bundle.task
    assert (doc["bundle"]["name"], doc["bundle"]["version"]) == (bundle.name, bundle.version)


def test_monai_command_line_and_a_refusal(tmp_path):
    """The documented command works from another folder; a bad input is refused by radtriage infer's own check
    and MONAI's run fails (non-zero exit), writing nothing."""
    root = Path(next(b.path for b in SHIPPED if b.task == "body_region"))
    image = _inputs(next(b for b in SHIPPED if b.task == "body_region"), tmp_path / "in")
    base = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(root / INFERENCE_FILE),
            "--meta_file", str(root / METADATA_FILE), "--bundle_root", str(root), "--device", "cpu"]
    done = subprocess.run([*base, "--image", image, "--output_dir", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "result.json").read_text())["task"] == "body_region"
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    failed = subprocess.run([*base, "--image", str(bad), "--output_dir", str(tmp_path / "out2")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0
    assert "radtriage: error:" in failed.stderr and "bad.nii.gz" in failed.stderr
    assert not (tmp_path / "out2" / "result.json").exists()


def test_run_bundle_needs_an_image_and_an_output(tmp_path):
    from radtriage.bundle_run import run_bundle

    root = next(b.path for b in SHIPPED if b.task == "body_region")
    with pytest.raises(ValueError, match="--image"):
        run_bundle(root, "", tmp_path / "out")


def test_the_workflow_target_is_allowed_only_as_the_run_item():
    network = {"_target_": "radtriage.nets.body_region.BodyRegionNet", "in_channels": 1, "out_channels": 17}
    check_config({**WORKFLOW_CONFIG, "network_def": network})  # the shipped shape
    elsewhere = {"network_def": network, "later": {"_target_": WORKFLOW_TARGET}}
    with pytest.raises(UnsafeConfigError, match="not an allowed network"):
        check_config(elsewhere)
    other = {**WORKFLOW_CONFIG, RUN_KEY: {"_target_": "os.system", "command": "true"}, "network_def": network}
    with pytest.raises(UnsafeConfigError, match="not an allowed network"):
        check_config(other)
    as_network = {"network_def": {"_target_": WORKFLOW_TARGET}}
    with pytest.raises(UnsafeConfigError, match="not an allowed network"):
        check_config(as_network)
    via_reference = {**WORKFLOW_CONFIG, "network_def": {**network, "spatial_dims": "@run"}}
    check_config(via_reference)  # the reference points at the allowed item ...
    with pytest.raises(UnsafeConfigError, match="not an allowed network"):
        build_network(via_reference)  # ... but this package never builds it
