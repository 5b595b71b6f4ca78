"""The mri_triage pipeline: contrast assignment, missing-contrast reporting, grid, outputs, native heatmaps, CLI.

Uses an untrained bundle written into a temp folder (``write_untrained_bundle``), so nothing depends on the
demo bundle being installed; what is checked is plumbing and geometry, not accuracy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dicom_series import write_mr_series

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.labelsets import BRAIN_FINDINGS, MR_CONTRASTS
from radtriage.phantoms import make_brain_case
from radtriage.preprocess import GridSpec
from radtriage.tasks.mri_triage import (
    HEATMAP_PREFIX,
    TriageModel,
    assign_study_contrasts,
    load_study,
    run,
    urgency,
    write_untrained_bundle,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_untrained_bundle(tmp_path_factory.mktemp("bundles") / "mri-triage-untrained")


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> TriageModel:
    return TriageModel.from_bundle(bundle_dir, "cpu")


@pytest.fixture(scope="module")
def case():
    # anisotropic voxels, off-centre origin: the heatmaps must come back on exactly this grid
    return make_brain_case(3, "haemorrhage", shape=(40, 44, 30), spacing=(4.5, 4.2, 5.5), origin=(-95.0, -80.0, -70.0),
                           contrasts=["T1", "T2", "FLAIR", "SWI"])


def test_assignment_uses_key_names_metadata_and_overrides(case) -> None:
    unnamed = Image(case.images["FLAIR"].array, case.images["FLAIR"].spacing, case.images["FLAIR"].origin)
    inputs = {"t2": Image(case.images["T2"].array, case.images["T2"].spacing), "scan7": unnamed,
              "x": case.images["T1"]}  # metadata says contrast T1
    study = assign_study_contrasts(inputs)
    assert study.inputs == {"T1": "x", "T2": "t2"}
    assert "scan7" in study.unused and "FLAIR" in study.missing
    study = assign_study_contrasts(inputs, {"scan7": "FLAIR"})
    assert study.inputs["FLAIR"] == "scan7" and study.reference == "T1"
    with pytest.raises(InputError, match="no input could be identified"):
        assign_study_contrasts({"scan7": unnamed})
    flat = Image(np.zeros((4, 4, 4)), metadata={"contrast": "T2"})
    with pytest.raises(InputError):
        assign_study_contrasts({"T2": flat})


def test_run_reports_outputs_decisions_and_missing_contrasts(model, case) -> None:
    result = run(dict(case.images), model=model)
    out = result.outputs
    # no DWI or ADC: acute infarct is not assessable (no probability, no decision), the others are
    assert list(out["probabilities"]) == ["abnormal", "acute_haemorrhage", "mass_effect"]
    assert out["not_assessable"] == {"acute_infarct": "needs DWI or ADC; the study has FLAIR, SWI, T1, T2"}
    for f in out["findings"]:
        if f["output"] == "acute_infarct":
            assert (f["probability"], f["decision"], f["assessable"]) == (None, None, False)
            continue
        assert 0.0 <= f["probability"] <= 1.0
        assert f["decision"] == (f["probability"] >= f["threshold"])
    assert any("acute_infarct: not assessable — needs DWI or ADC" in n for n in result.notices)
    assert out["missing_contrasts"] == ["T1post", "DWI", "ADC", "other"]
    assert out["availability"] == {c: c in ("T1", "T2", "FLAIR", "SWI") for c in MR_CONTRASTS}
    assert out["contrasts"]["reference"] == "T1"
    assert "demo, not for clinical use" in result.notices
    assert any("missing contrasts: T1post, DWI, ADC, other" in n for n in result.notices)
    assert result.bundle["demo"] is True
    u = out["urgency"]
    assert u["critical"] == any(out["decisions"][n] for n in ("acute_haemorrhage", "mass_effect"))
    assert u["not_assessable"] == ["acute_infarct"] and u["complete"] is False
    json.dumps(result.to_dict())  # plain JSON


def test_heatmaps_are_on_the_native_grid_and_inside_the_head(model, case) -> None:
    result = run(dict(case.images), model=model)
    ref = case.images["T1"]
    assert sorted(result.volumes) == sorted(f"{HEATMAP_PREFIX}{n}" for n in BRAIN_FINDINGS if n != "acute_infarct")
    from scipy import ndimage

    head = ndimage.binary_dilation(case.tissue.array > 0, iterations=2)  # point-spread blur of the phantom
    far = ~ndimage.binary_dilation(head, iterations=3)
    for name, heat in result.volumes.items():
        assert GridSpec.from_image(ref).same_as(heat), name
        assert heat.array.shape == ref.array.shape
        assert heat.array.min() >= 0.0 and heat.array.max() <= 1.0
        assert heat.array.max() > 0.0
        p = result.outputs["probabilities"][heat.metadata["output"]]  # absolute scale: the map peaks at p
        assert 0.5 * p <= heat.array.max() <= p + 1e-6, (name, heat.array.max(), p)
        high = heat.array >= 0.5 * heat.array.max()
        assert (high & ~head).sum() <= 0.02 * high.sum(), name  # the hot spots lie on the head
        assert not heat.array[far].any()  # nothing in the air around it


def test_t2_only_mode_and_no_heatmaps(model, case) -> None:
    result = run({"T2": case.images["T2"]}, model=model, heatmaps=False)
    assert result.outputs["contrasts"]["used"] == ["T2"]
    assert len(result.outputs["missing_contrasts"]) == 7
    assert any("T2-only" in n for n in result.notices)
    assert result.volumes == {}


def test_different_grids_are_resampled_into_the_reference_space(model, case) -> None:
    t2 = case.images["T2"]
    coarse = Image(t2.array[::2, ::2, ::2], tuple(s * 2 for s in t2.spacing),
                   tuple(np.asarray(t2.origin) + 0.5 * np.asarray(t2.spacing)), t2.direction, dict(t2.metadata))
    result = run({"T1": case.images["T1"], "T2": coarse}, model=model, register="never", heatmaps=False)
    assert result.outputs["contrasts"]["used"] == ["T1", "T2"]
    assert result.outputs["registration"] == {}
    registered = run({"T1": case.images["T1"], "T2": coarse}, model=model, register="always", heatmaps=False)
    assert set(registered.outputs["registration"]) == {"T2"}
    assert registered.outputs["registration"]["T2"]["rotation_deg"] < 5.0


def test_urgency_puts_critical_first() -> None:
    crit = urgency({"abnormal": 0.3, "acute_infarct": 0.9}, {"abnormal": False, "acute_infarct": True})
    routine = urgency({"abnormal": 0.95, "acute_infarct": 0.1}, {"abnormal": True, "acute_infarct": False})
    assert crit["critical"] and crit["critical_findings"] == ["acute_infarct"]
    assert crit["score"] > routine["score"] > 0.9


def test_no_bundle_is_a_clear_error(case) -> None:
    from radtriage.models import BundleNotFoundError

    with pytest.raises(BundleNotFoundError):
        run({"T2": case.images["T2"]}, bundle="no-such-mri-triage-bundle", device="cpu")


def test_study_folder_with_dicom_and_volume_files(tmp_path, model, case) -> None:
    from radtriage.io import write_volume

    study = tmp_path / "study1"
    write_mr_series(case.images["T2"], study / "dicom", "AX T2 TSE",
                    {"EchoTime": "100", "RepetitionTime": "5000", "ScanningSequence": "SE"}, max_value=4000)
    write_volume(case.images["FLAIR"], study / "ax_flair.nii.gz")
    images = load_study(study)
    assert set(images) == {"AX_T2_TSE", "ax_flair"}
    result = run(images, model=model, heatmaps=False)
    assert result.outputs["contrasts"]["inputs"] == {"T2": "AX_T2_TSE", "FLAIR": "ax_flair"}
    assert result.outputs["contrasts"]["classification"]["AX_T2_TSE"]["source"] == "dicom"
    with pytest.raises(InputError):
        load_study(tmp_path / "absent")


@pytest.mark.slow
def test_cli_infer_writes_result_and_heatmaps(tmp_path, bundle_dir, case) -> None:
    from radtriage.io import read_image, write_volume

    t1 = write_volume(case.images["T1"], tmp_path / "in" / "sub-01_T1w.nii.gz")
    t2 = write_volume(case.images["T2"], tmp_path / "in" / "t2.nii.gz")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "radtriage", "infer", "--task", "mri_triage", "--input", f"T1={t1}", f"T2={t2}",
           "--output", str(out), "--bundle", str(bundle_dir), "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "result.json").read_text())
    assert doc["task"] == "mri_triage" and doc["outputs"]["contrasts"]["inputs"] == {"T1": "T1", "T2": "T2"}
    # T1 + T2 only: acute infarct (no DWI/ADC) and acute haemorrhage (no SWI) are not assessable, no heatmap
    assert set(doc["volumes"]) == {f"{HEATMAP_PREFIX}{n}" for n in ("abnormal", "mass_effect")}
    assert set(doc["outputs"]["not_assessable"]) == {"acute_infarct", "acute_haemorrhage"}
    heat = read_image(out / doc["volumes"]["heatmap_abnormal"])
    assert GridSpec.from_image(read_image(t1)).same_as(heat, tol=1e-4)


def test_single_contrast_pip_shipped_volume(model) -> None:
    """nibabel's test anatomical (a 2 mm T1 head, no contrast in its name): the user names it T1."""
    import nibabel.testing

    from radtriage.io import read_image

    path = Path(nibabel.testing.data_path) / "anatomical.nii"
    image = read_image(path)
    with pytest.raises(InputError):
        run({"anatomical": image}, model=model)
    result = run({"anatomical": image}, model=model, contrasts={"anatomical": "T1"})
    assert result.outputs["contrasts"]["used"] == ["T1"]
    heat = result.volumes["heatmap_abnormal"]
    assert GridSpec.from_image(image).same_as(heat)
    signal = image.array > image.array.min() + 0.1 * np.ptp(image.array)
    high = heat.array >= 0.5 * heat.array.max()
    assert high.any() and (high & ~signal).sum() <= 0.05 * high.sum()  # hot spots where the head is
