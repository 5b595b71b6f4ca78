"""The MRITriage Slicer module's pure Logic helpers, cut out of the module source and run without Slicer.

The fast tests cover the contrast table -> ``--input CONTRAST=PATH`` mapping, the ``--option`` that picks the
bundle's thresholds, the critical-finding banner and the notices. The slow test runs the module's real background
job (``radtriage infer`` on a phantom with the demo bundle) and puts its output in a headless slicer-core scene the
way the widget does: results table, heatmaps on the input's grid under the study, overlay colour map and opacity,
and an ``.mrb`` round trip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slicer_static as ss

from radtriage.cli import _parse_options, build_parser

ROOT = Path(__file__).resolve().parents[1]


LOGIC, CONSTANTS = ss.logic_static_methods(ROOT, "MRITriage")


def _finding(output: str, probability: float, threshold: float, critical: bool) -> dict:
    return {"output": output, "probability": probability, "decision": probability >= threshold,
            "threshold": threshold, "critical": critical}  # fmt: skip


def _outputs(probabilities: dict[str, float], threshold: float = 0.5) -> dict:
    findings = [_finding(name, p, threshold, name != "abnormal") for name, p in probabilities.items()]
    return {"findings": findings, "decisions": {f["output"]: f["decision"] for f in findings}}


# ----------------------------------------------------------------------------------------------- fast, pure


def test_module_critical_outputs_match_the_core() -> None:
    from radtriage.tasks.mri_triage import CRITICAL_OUTPUTS, DEMO_NOTICE

    assert tuple(CONSTANTS["CRITICAL_OUTPUTS"]) == tuple(CRITICAL_OUTPUTS)
    assert DEMO_NOTICE == "demo, not for clinical use"


def test_contrast_owners_follow_the_table_and_refuse_a_contrast_given_twice() -> None:
    ignore = CONSTANTS["IGNORE_CONTRAST"]
    assignment = {
        "vtkMRMLScalarVolumeNode1": "FLAIR",
        "vtkMRMLScalarVolumeNode2": "T1",
        "vtkMRMLScalarVolumeNode3": ignore,
    }
    assert LOGIC.contrastOwners(assignment) == {"FLAIR": "vtkMRMLScalarVolumeNode1", "T1": "vtkMRMLScalarVolumeNode2"}
    names = {"a": "sag T1 MPRAGE", "b": "ax T1 SE"}
    with pytest.raises(ValueError, match="ax T1 SE and sag T1 MPRAGE are both assigned T1"):
        LOGIC.contrastOwners({"a": "T1", "b": "T1"}, names)
    with pytest.raises(ValueError, match="no volume is assigned"):
        LOGIC.contrastOwners({"a": ignore})


def test_argv_sends_the_users_contrasts_and_the_chosen_thresholds(tmp_path: Path) -> None:
    from radtriage.cli import _parse_inputs
    from radtriage.tasks.mri_triage import key_overrides

    # The user corrected a volume the detector called T2 to FLAIR: the job gets it under the key FLAIR.
    paths = {"FLAIR": tmp_path / "FLAIR.nrrd", "T1post": tmp_path / "T1post.nrrd"}
    argv = LOGIC.buildArgv(paths, LOGIC.operatingPointFor(False))
    args = build_parser().parse_args(argv[3:])
    inputs = _parse_inputs(args.input)
    assert {key: Path(path) for key, path in inputs.items()} == paths
    assert key_overrides(inputs) == {"FLAIR": "FLAIR", "T1post": "T1post"}  # the core takes the key as the contrast
    assert _parse_options(args.option) == {"operating_point": "default"}
    assert "--option" not in LOGIC.buildArgv(paths)
    assert LOGIC.operatingPointFor(True) == "balanced"


def test_both_operating_points_exist_in_the_demo_bundle() -> None:
    from radtriage.models.bundle import read_metadata

    folders = sorted((ROOT / "radtriage" / "bundles").glob("mri-triage-demo-*"))
    assert folders, "the MRI triage demo bundle is not in the package"
    meta = read_metadata(folders[-1])
    assert set(meta.thresholds) == {"abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect"}
    for output, points in meta.thresholds.items():
        assert {LOGIC.operatingPointFor(True), LOGIC.operatingPointFor(False)} <= set(points), output
        assert points[LOGIC.operatingPointFor(False)] == 0.5


def test_critical_banner_lists_positive_critical_findings_only() -> None:
    quiet = _outputs({"abnormal": 0.9, "acute_infarct": 0.2, "acute_haemorrhage": 0.49, "mass_effect": 0.1})
    assert LOGIC.criticalBanner(quiet) == (CONSTANTS["NO_CRITICAL_TEXT"], False)
    loud = _outputs({"abnormal": 0.9, "acute_infarct": 0.2, "acute_haemorrhage": 0.8, "mass_effect": 0.5})
    text, critical = LOGIC.criticalBanner(loud)
    assert critical
    assert text == ("CRITICAL finding above threshold: acute haemorrhage (p = 0.80 >= 0.50), "
                    "mass effect (p = 0.50 >= 0.50)")  # fmt: skip
    assert [f["output"] for f in LOGIC.criticalFindings(loud)] == ["acute_haemorrhage", "mass_effect"]
    assert LOGIC.criticalBanner({"findings": []}) == (CONSTANTS["NO_CRITICAL_TEXT"], False)


def test_missing_contrasts_notices_and_reference() -> None:
    outputs = {"contrasts": {"used": ["T1", "T2"], "reference": "T1", "inputs": {"T1": "T1", "T2": "T2"}},
               "missing_contrasts": ["FLAIR", "SWI"]}  # fmt: skip
    assert LOGIC.missingContrastsText(outputs) == "Used: T1, T2. Missing contrasts: FLAIR, SWI."
    assert LOGIC.missingContrastsText({**outputs, "missing_contrasts": []}) == "Used: T1, T2. No contrast missing."
    assert LOGIC.noticesText({"notices": ["demo, not for clinical use", "T2-only mode"]}) == (
        "demo, not for clinical use\nT2-only mode"
    )
    assert LOGIC.referenceNodeID(outputs, {"n1": "T2", "n2": "T1"}) == "n2"
    assert LOGIC.referenceNodeID({}, {"n1": "T2"}) is None
    assert LOGIC.heatmapForOutput({"mass_effect": 1}, "mass_effect") == 1
    assert LOGIC.heatmapForOutput({"heatmap_abnormal": 2}, "abnormal") == 2
    assert LOGIC.heatmapForOutput({}, "abnormal") is None


# ------------------------------------------------------------- slow: the real job, results in a headless scene


@pytest.fixture(scope="module")
def job_result(tmp_path_factory: pytest.TempPathFactory):
    """The module's background job on a small T1 + FLAIR phantom whose FLAIR the user relabelled T2."""
    sys.path.insert(0, str(ROOT / "RadTriageCommon"))
    from RadTriageCommonLib.job_files import writeJobInputs

    from radtriage.phantoms import make_brain_case
    from radtriage.runtime.runner import BackgroundJob

    case = make_brain_case(3, "haemorrhage", shape=(32, 36, 24), spacing=(6.0, 6.0, 7.0), contrasts=["T1", "FLAIR"])
    images = {"T1": case.images["T1"], "T2": case.images["FLAIR"]}  # the table's (edited) contrasts
    paths, output_dir = writeJobInputs("mri_triage", images, tmp_path_factory.mktemp("jobs"))
    job = BackgroundJob(LOGIC.buildArgv(paths, LOGIC.operatingPointFor(False)), output_dir).start()
    state = job.wait(timeout=240)
    assert state.value == "succeeded", job.error
    return case, job.outputs


@pytest.mark.slow
def test_job_output_goes_under_the_study_with_heatmaps_on_the_input_grid(job_result, tmp_path: Path) -> None:
    from radtriage.mrml import (
        create_headless_scene,
        image_to_volume_node,
        load_mrb,
        patient_and_study_of,
        place_under_study,
        rows_from_table,
        save_mrb,
        slice_composite_nodes,
        volume_node_to_image,
    )
    from radtriage.tasks.mri_triage.mrml import TABLE_NAME, table_rows

    case, outputs = job_result
    from RadTriageCommonLib.job_files import readJobResult

    result = readJobResult(outputs)
    out = result["outputs"]
    assert set(out["probabilities"]) == {"abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect"}
    assert all(0.0 <= p <= 1.0 for p in out["probabilities"].values())
    assert set(out["thresholds"].values()) == {0.5}  # --option operating_point=default reached the runner
    assert out["contrasts"]["inputs"] == {"T1": "T1", "T2": "T2"}  # the user's T2 label won over detection
    assert "FLAIR" in out["missing_contrasts"]
    assert "demo, not for clinical use" in LOGIC.noticesText(result)
    text, critical = LOGIC.criticalBanner(out)
    assert critical == any(out["decisions"][n] for n in CONSTANTS["CRITICAL_OUTPUTS"])
    assert critical or text == CONSTANTS["NO_CRITICAL_TEXT"]

    heatmaps = LOGIC.readHeatmaps(outputs)
    assert sorted(heatmaps) == sorted(f"heatmap_{name}" for name in out["probabilities"])

    headless = create_headless_scene()
    try:
        scene = headless.scene
        t1 = image_to_volume_node(scene, case.images["T1"], "T1 MPRAGE")
        t2 = image_to_volume_node(scene, case.images["FLAIR"], "ax FLAIR")
        place_under_study(scene, t1, "Anon 7", "MR brain")  # as loaded from DICOM
        assignment = {t1.GetID(): "T1", t2.GetID(): "T2"}
        background = scene.GetNodeByID(LOGIC.referenceNodeID(out, assignment))
        assert background is t1
        nodes = LOGIC.addResults(scene, result, heatmaps, background, [t1, t2], 0.4)

        for row, want in zip(rows_from_table(nodes["table"]), table_rows(out), strict=True):
            assert (row["output"], row["decision"]) == (want["output"], want["decision"])
            assert row["probability"] == pytest.approx(want["probability"], abs=1e-6)
            assert row["threshold"] == pytest.approx(0.5)
        for node in [nodes["table"], t1, t2, *nodes["heatmaps"].values()]:
            assert patient_and_study_of(scene, node) == ("Anon 7", "MR brain")
        for node in nodes["heatmaps"].values():
            image = volume_node_to_image(node)
            np.testing.assert_allclose(image.ijk_to_ras, case.images["T1"].ijk_to_ras, atol=1e-4)
            assert image.array.shape == case.images["T1"].array.shape

        heatmap = LOGIC.heatmapForOutput(nodes["heatmaps"], "acute_haemorrhage")
        LOGIC.showHeatmap(scene, background, heatmap, 0.3, "PET-Heat")
        assert heatmap.GetDisplayNode().GetColorNodeID() == "vtkMRMLPETProceduralColorNodePET-Heat"
        for composite in slice_composite_nodes(scene):
            assert composite.GetBackgroundVolumeID() == t1.GetID()
            assert composite.GetForegroundVolumeID() == heatmap.GetID()
            assert composite.GetForegroundOpacity() == pytest.approx(0.3)
        with pytest.raises(KeyError, match="NoSuchMap"):
            LOGIC.showHeatmap(scene, background, heatmap, 0.3, "NoSuchMap")
        with pytest.raises(ValueError, match="opacity"):
            LOGIC.showHeatmap(scene, background, heatmap, 1.5, "Iron")

        # Without a study in the hierarchy the results get a RadTriage patient and a study named after the volume.
        loose = image_to_volume_node(scene, case.images["FLAIR"], "ax FLAIR 2")
        assert LOGIC.studyNames(scene, loose) == (CONSTANTS["DEFAULT_PATIENT"], "MRI triage: ax FLAIR 2")

        path = save_mrb(scene, tmp_path / "triage.mrb")
    finally:
        headless.close()
    with load_mrb(path) as reloaded:
        table = reloaded.scene.GetFirstNodeByName(TABLE_NAME)
        assert table is not None
        assert patient_and_study_of(reloaded.scene, table) == ("Anon 7", "MR brain")
        node = reloaded.scene.GetFirstNodeByName("heatmap_acute_haemorrhage")
        assert node is not None and patient_and_study_of(reloaded.scene, node) == ("Anon 7", "MR brain")
