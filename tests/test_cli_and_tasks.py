"""The command line, the task registry and the task-result contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from radtriage.cli import main
from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io import read_image
from radtriage.tasks import _RUNNERS as RUNNERS
from radtriage.tasks import TASKS, TaskNotAvailableError, available_tasks, register_runner, run_task
from radtriage.tasks.result import TaskResult, to_plain, write_result


def test_every_task_has_a_module_and_unknown_tasks_are_refused():
    assert set(TASKS) == {"mri_triage", "cmb_detect", "lge_certainty", "body_region"}
    assert {spec.module for spec in TASKS.values()} == {"MRITriage", "CMBDetect", "LGECertainty", "BodyRegion"}
    with pytest.raises(TaskNotAvailableError, match="unknown task"):
        run_task("liver_volumetry")
    with pytest.raises(KeyError):
        register_runner("liver_volumetry", lambda **_: None)


def test_a_registered_runner_is_called_and_unregistered_tasks_refuse(monkeypatch):
    available_tasks()  # every built-in task registered in the real table before the test works on a copy
    monkeypatch.setattr("radtriage.tasks._RUNNERS", dict(RUNNERS))
    for name in TASKS:
        if name not in available_tasks():
            with pytest.raises(TaskNotAvailableError, match="no result was produced"):
                run_task(name, inputs={})
    calls = []
    register_runner("body_region", lambda **kw: calls.append(kw) or "answer")
    ct = Image(np.random.default_rng(1).normal(40.0, 30.0, (20, 32, 32)), (2.0, 2.0, 5.0))
    assert run_task("body_region", inputs={"ct": ct}) == "answer"  # inputs pass the input contract unchanged
    assert len(calls) == 1 and list(calls[0]) == ["inputs"] and calls[0]["inputs"]["ct"] is ct
    with pytest.raises(InputError, match="'ct' is not an image"):
        run_task("body_region", inputs={"ct": 1})
    assert "body_region" in available_tasks()


def test_write_result_writes_json_and_volumes_with_geometry(tmp_path):
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    heat = Image(np.random.default_rng(0).random((4, 5, 6)).astype(np.float32), (0.5, 0.7, 2.0), (1, 2, 3), direction)
    result = TaskResult(
        task="mri_triage",
        bundle={"name": "x", "version": "0.1.0", "demo": True},
        outputs={"abnormal": np.float32(0.25), "ranges": (1, 2), "undefined": float("nan")},
        volumes={"heatmap_abnormal": heat},
        points=[{"ras": np.array([1.0, 2.0, 3.0])}],
        notices=["demo, not for clinical use"],
    )
    written = write_result(result, tmp_path / "out")
    doc = json.loads(written["result"].read_text())
    assert doc["outputs"] == {"abnormal": 0.25, "ranges": [1, 2], "undefined": None}
    assert doc["volumes"] == {"heatmap_abnormal": "heatmap_abnormal.nii.gz"}
    assert doc["points"] == [{"ras": [1.0, 2.0, 3.0]}]
    back = read_image(written["heatmap_abnormal"])
    assert back.same_geometry(heat, tol=1e-4)
    np.testing.assert_allclose(back.array, heat.array, atol=1e-6)
    with pytest.raises(ValueError, match="plain file name"):
        write_result(TaskResult("x", {}, {}, volumes={"../escape": heat}), tmp_path / "bad")


def test_to_plain_handles_nested_numpy():
    assert to_plain({"a": [np.int64(3), (np.float64(1.5), np.array([1, 2]))]}) == {"a": [3, [1.5, [1, 2]]]}


def test_phantom_command_writes_readable_cases_with_truth(tmp_path, capsys):
    assert main(["phantom", "brain", "--out", str(tmp_path), "--seed", "1", "--count", "2"]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 * 11
    truth = json.loads((tmp_path / "brain-0001" / "truth.json").read_text())
    assert truth["labels"]["acute_infarct"] == 1 and truth["labels"]["abnormal"] == 1
    t1 = read_image(tmp_path / "brain-0001" / "T1.nii.gz")
    flair = read_image(tmp_path / "brain-0001" / "FLAIR.nii.gz")
    assert t1.same_geometry(flair) and not np.array_equal(t1.array, flair.array)
    assert main(["phantom", "lge", "--out", str(tmp_path)]) == 0
    slices = json.loads((tmp_path / "lge-0000" / "truth.json").read_text())["slices"]
    stack = read_image(tmp_path / "lge-0000" / "lge_sax.nii.gz")
    assert len(slices) == stack.size[2]
    assert {s["certainty"] for s in slices} <= {"high", "low"}


def test_infer_refuses_clearly_when_the_task_is_not_installed(tmp_path, capsys):
    main(["phantom", "body-ct", "--out", str(tmp_path)])
    volume = next((tmp_path / "body-ct-0000").glob("*.nii.gz"))
    code = main(["infer", "--task", "body_region", "--input", str(volume), "--output", str(tmp_path / "out")])
    if "body_region" in available_tasks():
        assert code == 0
    else:
        assert code == 2
        assert "no result was produced" in capsys.readouterr().err
        assert not (tmp_path / "out" / "result.json").exists()


def test_infer_names_the_bad_input_file(tmp_path, capsys):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti")
    assert main(["infer", "--task", "mri_triage", "--input", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "broken.nii.gz" in capsys.readouterr().err


def test_two_inputs_with_the_same_name_are_refused(tmp_path, capsys):
    a = tmp_path / "a"
    b = tmp_path / "b"
    main(["phantom", "lge", "--out", str(a)])
    main(["phantom", "lge", "--out", str(b)])
    capsys.readouterr()
    files = [str(next(d.rglob("*.nii.gz"))) for d in (a, b)]
    assert main(["infer", "--task", "lge_certainty", "--input", *files, "--output", str(tmp_path / "o")]) == 2
    assert "two inputs are named" in capsys.readouterr().err


def test_info_describes_geometry_and_contrast(tmp_path, capsys):
    main(["phantom", "brain", "--out", str(tmp_path), "--seed", "0"])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "brain-0000" / "FLAIR.nii.gz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["contrast"] == "FLAIR"
    from radtriage.phantoms.brain_mni import ACQUISITION_GRID

    assert info["size_ijk"] == list(ACQUISITION_GRID["shape"])
    assert info["spacing_mm"] == list(ACQUISITION_GRID["spacing"])
    assert info["orientation"] == "LPS" and info["oblique"] is False


def test_scan_lists_series_without_patient_identity(tmp_path, capsys):
    from pydicom.data import get_testdata_file

    src = Path(get_testdata_file("MR_small.dcm"))
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "mr.dcm").write_bytes(src.read_bytes())
    assert main(["scan", str(tmp_path / "dicom"), "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["modality"] == "MR"
    import pydicom

    ds = pydicom.dcmread(src)
    assert str(ds.PatientName) not in out and str(ds.PatientID) not in out


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "radtriage", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "infer" in proc.stdout and "demo" in proc.stdout


def test_infer_passes_typed_options_to_the_task(tmp_path, monkeypatch):
    available_tasks()  # every built-in task registered in the real table before the test works on a copy
    monkeypatch.setattr("radtriage.tasks._RUNNERS", dict(RUNNERS))
    seen = {}

    def runner(inputs, **kw):
        seen.update(kw, inputs=inputs)
        return TaskResult("body_region", {"name": "t"}, {"n": len(inputs)})

    register_runner("body_region", runner)
    main(["phantom", "lge", "--out", str(tmp_path)])
    volume = str(next(tmp_path.rglob("*.nii.gz")))
    argv = ["infer", "--task", "body_region", "--input", f"ct={volume}", "--output", str(tmp_path / "o"),
            "--option", "modality=CT", "--option", "mean_region_mm=80", "--option", "min_confidence=0.5"]
    assert main(argv) == 0
    assert seen["modality"] == "CT" and seen["mean_region_mm"] == 80.0 and seen["min_confidence"] == 0.5
    assert list(seen["inputs"]) == ["ct"] and seen["device"] == "auto"
    assert json.loads((tmp_path / "o" / "result.json").read_text())["outputs"] == {"n": 1}
    assert main([*argv[:-2], "--option", "not an option"]) == 2
    assert main([*argv[:-2], "--option", "band=[30, 70]"]) == 2  # not a declared body_region option


def test_evaluate_ratings_writes_agreement_with_the_known_bias(tmp_path, capsys):
    from radtriage.tasks.lge_certainty.ratings import RatingSheet

    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 100, 30)
    a, b = RatingSheet("reader-a"), RatingSheet("reader-b")
    for k, value in enumerate(truth):
        a.rate(k, float(value))
        b.rate(k, float(np.clip(value - 5.0, 0, 100)))
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    argv = ["evaluate", "ratings", "--a", str(tmp_path / "a.json"), "--b", str(tmp_path / "b.json"),
            "--out", str(tmp_path / "agree")]
    assert main(argv) == 0
    report = json.loads((tmp_path / "agree" / "agreement.json").read_text())
    clipped = np.clip(truth - 5.0, 0, 100)
    assert report["bland_altman"]["bias"] == pytest.approx(float(np.mean(truth - clipped)), abs=1e-6)
    assert report["certainty_band"] == [30.0, 70.0] and report["n"] == 30
    assert report["icc"]["icc3_1"]["value"] > 0.95
    assert (tmp_path / "agree" / "bland_altman.png").stat().st_size > 5000


def test_evaluate_classification_from_a_predictions_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    scores = np.round(np.clip(truth * 0.35 + rng.uniform(0, 0.65, 200), 0, 1), 4)
    rows = "".join(f"c{i},{t},{s:.4f}\n" for i, (t, s) in enumerate(zip(truth, scores, strict=True)))
    csv_path = tmp_path / "pred.csv"
    csv_path.write_text("case,y,p\n" + rows)
    out = tmp_path / "eval"
    argv = ["evaluate", "classification", str(csv_path), "--truth", "y", "--score", "p", "--out", str(out),
            "--bootstrap", "200"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    from sklearn.metrics import roc_auc_score

    auc = metrics["roc_auc"]
    assert auc["value"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-9)
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    assert metrics["n_positive"] == int(truth.sum())
    assert list(out.glob("*.png"))
    bad = tmp_path / "bad.csv"
    bad.write_text("y,p\n1,high\n")
    assert main(["evaluate", "classification", str(bad), "--truth", "y", "--score", "p", "--out", str(out)]) == 2
    assert "row 2, column p" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_with_a_crash_log_not_a_traceback(monkeypatch, capsys, tmp_path):
    """A bug inside a command (not a refusal of the input) exits 3 with one line naming a log that holds the
    traceback; the user's terminal never shows a traceback."""
    import argparse
    import tempfile

    from radtriage import cli

    def broken(args):
        raise ZeroDivisionError("division by zero in a runner")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args",
                        lambda self, words: argparse.Namespace(verbose=False, func=broken))  # fmt: skip
    assert cli.main(["info", "x.nii.gz"]) == 3
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert err.startswith("radtriage: internal error: ZeroDivisionError: division by zero in a runner")
    log = Path(err.rsplit(" ", 1)[1])
    assert log.parent == tmp_path and "Traceback" in log.read_text() and "def broken" not in err


@pytest.mark.parametrize(("words", "option", "problem"), [
    (["train", "--task", "body_region", "dl.json", "--out", "o", "--batch-size", "0"], "--batch-size", "must be >= 1"),
    (["train", "--task", "body_region", "dl.json", "--out", "o", "--epochs", "x"], "--epochs", "not an integer"),
    (["train", "--task", "body_region", "dl.json", "--out", "o", "--evidence-weight", "nan"], "--evidence-weight",
     "must be >= 0.0"),
    (["finetune", "export", "--base", "b", "--bootstrap", "0"], "--bootstrap", "must be >= 1"),
    (["batch", "cases.csv", "--task", "body_region", "--out", "o", "--workers", "0"], "--workers", "must be >= 1"),
])
def test_numeric_options_out_of_range_are_refused_before_anything_runs(words, option, problem, capsys, tmp_path,
                                                                       monkeypatch):
    """A count or weight out of range is one usage line naming the option (exit 2), before any file is read or
    written, instead of an internal error from deep inside training."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(words)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {problem}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
