"""Task options (issue 16 item 3): declared once per task, validated before any work, and each one real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radtriage.cli import main
from radtriage.io import write_volume
from radtriage.tasks import _RUNNERS, TASKS, available_tasks
from radtriage.tasks.options import Option, OptionError, declared_options, validate_options


@pytest.fixture(scope="module")
def lge_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from radtriage.phantoms.cardiac import make_lge_stack

    stack = make_lge_stack(2, n_slices=6)
    stack = stack[0] if isinstance(stack, tuple) else stack
    return write_volume(stack, tmp_path_factory.mktemp("lge") / "lge.nii.gz")


# (task, option text, words the refusal must contain)
BAD_OPTIONS = [
    ("mri_triage", "decision_threshold=2", "a number in [0, 1]"),  # the help text's own example, out of range
    ("mri_triage", "decision_threshold=abc", "a number in [0, 1]"),
    ("mri_triage", "foo=1", "its options are: contrasts, decision_threshold"),
    ("mri_triage", "operating_point=bogus", "one of balanced, default"),
    ("mri_triage", "register=sometimes", "one of auto, always, never"),
    ("mri_triage", "saliency=bogus", "one of auto, evidence, gradcam, gradcam++, occlusion, none"),
    ("mri_triage", "heatmaps=maybe", "true or false"),
    ("mri_triage", "contrasts=FLAIR", "{input: value}"),
    ("cmb_detect", "threshold=abc", "a number in [0, 1]"),
    ("cmb_detect", "threshold=2", "a number in [0, 1]"),
    ("cmb_detect", "phase_sign=0", "one of 1, -1"),
    ("cmb_detect", "heatmap=2", "true or false"),
    ("lge_certainty", "certainty_band=[70,30]", "0 <= lo < hi <= 100"),  # reversed band
    ("lge_certainty", "certainty_band=[10]", "0 <= lo < hi <= 100"),
    ("lge_certainty", "certainty_band=[-5,50]", "0 <= lo < hi <= 100"),
    ("lge_certainty", "reformat=bogus", "one of auto, always, never"),
    ("lge_certainty", "coordinates=XYZ", "one of LPS, RAS"),
    ("lge_certainty", "apex=[1,2]", "[x, y, z] in mm"),
    ("lge_certainty", "base=[1,2,NaN]", "[x, y, z] in mm"),
    ("body_region", "min_confidence=2", "a number in [0, 1]"),
    ("body_region", "modality=PET", "one of CT, MR"),
    ("body_region", "mean_region_mm=0", "a number in [1, 2000]"),
    ("body_region", "band=[30,70]", "its options are: label_volume"),
]


@pytest.mark.parametrize(("task", "option", "allowed"), BAD_OPTIONS, ids=[f"{t}:{o}" for t, o, _ in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_work(tmp_path, capsys, task, option, allowed):
    missing = tmp_path / "never-read.nii.gz"  # refused before the input is even looked at
    out = tmp_path / "out"
    code = main(["infer", "--task", task, "--input", str(missing), "--output", str(out), "--option", option])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert option.split("=")[0] in err and allowed in err and "never-read" not in err
    assert not out.exists()


def test_options_listing_and_infer_help_come_from_the_declaration(capsys):
    assert main(["options", "lge_certainty"]) == 0
    text = capsys.readouterr().out
    assert all(o.name in text for o in declared_options("lge_certainty"))
    assert "[lo, hi] with 0 <= lo < hi <= 100" in text
    assert main(["options", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == set(TASKS)
    assert {o["name"] for o in doc["mri_triage"]} == {o.name for o in declared_options("mri_triage")}
    with pytest.raises(SystemExit) as exit_info:
        main(["infer", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for task in TASKS:
        assert f"{task} options" in help_text
        assert all(o.name in help_text for o in declared_options(task))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_default_is_allowed_by_its_own_declaration(task):
    for opt in declared_options(task):
        assert opt.parse(task, opt.default) == opt.default or (opt.default is None and opt.nullable)
    assert validate_options(task, {}) == {}


def test_values_are_converted_to_their_declared_types():
    assert validate_options("mri_triage", {"decision_threshold": "0.25", "heatmaps": "off", "saliency": "GradCAM"}) \
        == {"decision_threshold": 0.25, "heatmaps": False, "saliency": "gradcam"}
    assert validate_options("lge_certainty", {"certainty_band": (10, 90), "apex": "[1, 2, 3]"}) == {
        "certainty_band": [10.0, 90.0], "apex": [1.0, 2.0, 3.0]}
    assert validate_options("body_region", {"modality": "ct"}) == {"modality": "CT"}
    assert validate_options("cmb_detect", {"phase_sign": -1}) == {"phase_sign": -1.0}
    with pytest.raises(OptionError, match="true or false"):
        validate_options("cmb_detect", {"heatmap": 1.5})
    with pytest.raises(ValueError, match="kind must be one of"):
        Option("x", "colour", None, "help")


def test_bad_option_in_batch_is_refused_before_any_case(tmp_path, capsys):
    cases = tmp_path / "cases"
    cases.mkdir()
    code = main(["batch", str(cases), "--task", "lge_certainty", "--out", str(tmp_path / "out"),
                 "--option", "certainty_band=[80,20]", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2 and "0 <= lo < hi <= 100" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_option_in_case_json_fails_that_case_with_the_reason(tmp_path, lge_file):
    from radtriage.annotations import open_case_list
    from radtriage.batch.inputs import resolve_jobs

    for name, options in (("good", {"reformat": "never"}), ("bad", {"reformat": "sideways"})):
        folder = tmp_path / "cases" / name
        folder.mkdir(parents=True)
        (folder / "lge.nii.gz").write_bytes(lge_file.read_bytes())
        (folder / "case.json").write_text(json.dumps({"task": "lge_certainty", "inputs": {"lge": "lge.nii.gz"},
                                                      "options": options}))
    jobs = {j.case_id: j for j in resolve_jobs(open_case_list(tmp_path / "cases"), "auto")}
    assert jobs["good"].problem == "" and jobs["good"].options == {"reformat": "never"}
    assert "reformat=\"sideways\"" in jobs["bad"].problem and "one of auto, always, never" in jobs["bad"].problem


# -- every declared option changes the result where it should (runners called with validated options) ----------
def _run(task: str, inputs: dict, **raw: object):
    available_tasks()
    return _RUNNERS[task](inputs, device="cpu", **validate_options(task, raw))


@pytest.fixture(scope="module")
def brain() -> dict:
    from radtriage.phantoms import make_brain_case

    case = make_brain_case(3, "acute_infarct", shape=(40, 40, 30), spacing=(5.0, 5.0, 5.0), contrasts=["T1", "FLAIR"])
    return {"T1": case.images["T1"], "FLAIR": case.images["FLAIR"]}


def test_mri_triage_options_change_the_result(brain):
    base = _run("mri_triage", brain)
    assert base.volumes and base.outputs["operating_point"] == "balanced"
    low = _run("mri_triage", brain, decision_threshold="0")
    high = _run("mri_triage", brain, decision_threshold="1")
    assert all(low.outputs["decisions"].values()) and set(low.outputs["thresholds"].values()) == {0.0}
    assert not any(high.outputs["decisions"].values()) and low.outputs["decision_threshold"] == 0.0
    assert low.outputs["probabilities"] == base.outputs["probabilities"]  # only the decisions move
    fixed = _run("mri_triage", brain, operating_point="default")
    assert set(fixed.outputs["thresholds"].values()) == {0.5} and fixed.outputs["thresholds"] != \
        base.outputs["thresholds"]
    assert _run("mri_triage", brain, saliency="none").volumes == {}
    assert _run("mri_triage", brain, heatmaps="false").volumes == {}
    occlusion = _run("mri_triage", brain, saliency="occlusion")
    assert occlusion.outputs["heatmaps"]["method"] == "occlusion" and set(occlusion.volumes) == set(base.volumes)
    assert _run("mri_triage", brain, register="always").outputs["registration"]  # same grid, registered anyway
    assert base.outputs["registration"] == {} and base.outputs["not_registered"] == ["FLAIR"]
    swapped = _run("mri_triage", {"scan1": brain["T1"], "scan2": brain["FLAIR"]},
                   contrasts={"scan1": "FLAIR", "scan2": "T1"})
    assert swapped.outputs["contrasts"]["inputs"] == {"T1": "scan2", "FLAIR": "scan1"}


def test_cmb_detect_options_change_the_result():
    from radtriage.phantoms.swi import make_swi_case

    case = make_swi_case(1, shape=(64, 64, 24), spacing=(1.0, 1.0, 2.0))
    phase = np.asarray(case.phase.array, dtype=np.float32)
    inputs = {"magnitude": case.magnitude, "phase": case.phase.with_array(phase / np.abs(phase).max() * 3.0)}
    base = _run("cmb_detect", inputs)
    everything = _run("cmb_detect", inputs, threshold="0")
    nothing = _run("cmb_detect", inputs, threshold=1.0)
    assert everything.outputs["n_detections"] == everything.outputs["n_candidates_scored"] > base.outputs[
        "n_detections"]
    assert nothing.outputs["n_detections"] == 0 and nothing.outputs["threshold"] == 1.0
    assert "cmb_heatmap" in base.volumes and _run("cmb_detect", inputs, heatmap=False).volumes == {}
    flipped = _run("cmb_detect", inputs, phase_sign=-1)
    assert [d["confidence"] for d in flipped.outputs["detections"]] != [d["confidence"] for d in
                                                                        base.outputs["detections"]]


def test_lge_certainty_options_change_the_result(lge_file):
    from radtriage.io import read_image

    inputs = {"lge": read_image(lge_file)}
    base = _run("lge_certainty", inputs)
    wide = _run("lge_certainty", inputs, certainty_band="[0, 100]")
    assert wide.outputs["summary"]["n_low_certainty"] == wide.outputs["summary"]["n_slices"]
    assert wide.outputs["certainty_band"] == [0.0, 100.0] != base.outputs["certainty_band"]
    always = _run("lge_certainty", inputs, reformat="always")
    assert always.outputs["geometry"]["reformatted"] and "lge_sax" in always.volumes and not base.volumes
    centre = inputs["lge"].index_to_lps((np.asarray(inputs["lge"].size) - 1) / 2)[0]
    apex, base_pt = (centre + np.array([0, 0, -30])).tolist(), (centre + np.array([0, 0, 30])).tolist()
    lps = _run("lge_certainty", inputs, apex=apex, base=base_pt)
    ras = _run("lge_certainty", inputs, apex=apex, base=base_pt, coordinates="RAS")
    assert lps.outputs["geometry"]["long_axis"]["source"] == "user"
    assert lps.outputs["geometry"]["long_axis"] != ras.outputs["geometry"]["long_axis"]


def test_body_region_options_change_the_result():
    from radtriage.phantoms.body import make_body_case

    inputs = {"ct": make_body_case(3, "CT").image}
    base = _run("body_region", inputs)  # the declared default min_confidence is 0.5
    assert base.outputs["uncertain_slices"] == [r["index"] for r in base.outputs["slices"] if r["confidence"] < 0.5]
    assert "region_labels" in base.volumes
    assert _run("body_region", inputs, min_confidence=0).outputs["uncertain_slices"] == []
    strict = _run("body_region", inputs, min_confidence="1")
    below = [r["index"] for r in strict.outputs["slices"] if r["confidence"] < 1.0]
    assert strict.outputs["uncertain_slices"] == below and len(below) > 0
    assert _run("body_region", inputs, label_volume="no").volumes == {}
    mr = _run("body_region", inputs, modality="mr")
    assert (mr.outputs["modality"], mr.outputs["modality_source"]) == ("MR", "option")
    rough = _run("body_region", inputs, mean_region_mm=1)
    assert [r["confidence"] for r in rough.outputs["slices"]] != [r["confidence"] for r in base.outputs["slices"]]


def test_triage_validates_its_options_before_reading_any_study(tmp_path, capsys):
    studies = tmp_path / "studies"
    (studies / "s1").mkdir(parents=True)
    code = main(["triage", str(studies), "--output", str(tmp_path / "wl"), "--option", "decision_threshold=2"])
    err = capsys.readouterr().err
    assert code == 2 and "a number in [0, 1]" in err and "Traceback" not in err
    assert not (tmp_path / "wl").exists()
