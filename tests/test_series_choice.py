"""Series handling (issue 16 item 5): --series, series_uid in case lists, one study-folder discovery shared by
triage and batch, unusable series skipped with the reason, frame of reference, implausible registrations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from test_io_dicom import write_series

from radtriage.cli import main
from radtriage.io import read_image, write_volume
from radtriage.tasks import _RUNNERS as RUNNERS
from radtriage.tasks import available_tasks, register_runner
from radtriage.tasks.result import TaskResult
from radtriage.tasks.study import find_study_series, read_study_series


def _mr_series(folder: Path, study_uid: str, **kw) -> str:
    files, _, _ = write_series(folder, modality="MR", rows=16, cols=16, n=6, study_uid=study_uid, **kw)
    return str(pydicom.dcmread(files[0]).SeriesInstanceUID)


def _break_series(folder: Path) -> None:
    """One file of the series gets another image size: the series can no longer be read as one volume."""
    first = sorted(folder.glob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    ds.Rows = 8
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.save_as(first)


@pytest.fixture
def seen(monkeypatch):
    """A fake body_region runner recording the images it gets (input contracts bypassed: not tested here)."""
    available_tasks()
    monkeypatch.setattr("radtriage.tasks._RUNNERS", dict(RUNNERS))
    monkeypatch.setattr("radtriage.validation.validate_inputs",
                        lambda task, inputs, **kw: type("Checked", (), {"inputs": inputs, "contract": None})(),
                        raising=False)
    got: dict = {}

    def runner(inputs, **kw):
        got.update(inputs)
        return TaskResult("body_region", {"name": "fake"}, {"n": len(inputs)})

    register_runner("body_region", runner)
    return got


@pytest.fixture
def two_series(tmp_path) -> tuple[Path, list[str]]:
    study = generate_uid()
    folder = tmp_path / "dicom"
    uids = [_mr_series(folder / "s1", study), _mr_series(folder / "s2", study, step=3.0)]
    return folder, uids


def test_infer_without_series_names_the_real_option(tmp_path, capsys, two_series, seen):
    folder, _ = two_series
    code = main(["infer", "--task", "body_region", "--input", str(folder), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "pick one with --series UID" in err and "series_uid column" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists() and seen == {}


@pytest.mark.parametrize("keyed", [False, True])
def test_infer_series_picks_that_series(tmp_path, capsys, two_series, seen, keyed):
    folder, uids = two_series
    choice = f"img={uids[1]}" if keyed else uids[1]
    code = main(["infer", "--task", "body_region", "--input", f"img={folder}", "--output", str(tmp_path / "o"),
                 "--series", choice])
    assert code == 0, capsys.readouterr().err
    assert seen["img"].metadata["series_uid"] == uids[1] and seen["img"].size[2] == 6


def test_infer_series_for_an_unknown_input_is_refused(tmp_path, capsys, two_series, seen):
    folder, uids = two_series
    code = main(["infer", "--task", "body_region", "--input", f"img={folder}", "--output", str(tmp_path / "o"),
                 "--series", f"other={uids[0]}"])
    assert code == 2 and "KEY must name an input" in capsys.readouterr().err and seen == {}


def test_volumes_plus_a_dicom_sub_folder_are_refused_as_ambiguous(tmp_path, capsys, seen):
    folder = tmp_path / "mixed"
    write_volume(read_image(_first_volume(tmp_path)), folder / "T1.nii.gz")
    _mr_series(folder / "dicom", generate_uid())
    code = main(["infer", "--task", "body_region", "--input", str(folder), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "ambiguous" in err and "T1.nii.gz" in err and seen == {}


def _first_volume(tmp_path: Path) -> Path:
    from radtriage.image import Image

    return write_volume(Image(np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)),
                        tmp_path / "vol.nii.gz")


def test_batch_finds_study_series_folders_exactly_as_triage(tmp_path):
    from radtriage.annotations import open_case_list
    from radtriage.batch.inputs import resolve_jobs
    from radtriage.tasks.mri_triage.inputs import load_study_series

    study = tmp_path / "cases" / "study-a"
    uids = {_mr_series(study / "series1", "1.2.3"), _mr_series(study / "series2", "1.2.3", step=3.0)}
    (job,) = resolve_jobs(open_case_list(tmp_path / "cases"), "mri_triage")
    assert job.problem == "" and {s.series_uid for s in job.inputs.values()} == uids
    assert set(job.inputs) == {s.key for s in find_study_series(study)}
    images, skipped = load_study_series(study)  # what `radtriage triage` reads
    assert set(images) == set(job.inputs) and skipped == {}


def test_batch_csv_series_uid_column_picks_one_series(tmp_path, two_series):
    from radtriage.annotations import open_case_list
    from radtriage.batch.inputs import resolve_jobs

    folder, uids = two_series
    table = tmp_path / "cases.csv"
    with table.open("w", newline="") as fh:
        csv.writer(fh).writerows([["case_id", "image", "series_uid"], ["c1", str(folder), uids[1]]])
    (job,) = resolve_jobs(open_case_list(table), "body_region")
    assert job.problem == "" and [s.series_uid for s in job.inputs.values()] == [uids[1]]


def test_case_json_input_may_name_a_series(tmp_path, two_series):
    from radtriage.batch.inputs import read_case_file

    folder, uids = two_series
    (folder / "case.json").write_text(json.dumps({"task": "body_region",
                                                  "inputs": {"ct": {"path": "s1", "series_uid": uids[0]}}}))
    task, inputs, _ = read_case_file(folder)
    assert task == "body_region" and inputs["ct"].series_uid == uids[0] and inputs["ct"].path.endswith("s1")
    (folder / "case.json").write_text(json.dumps({"inputs": {"ct": {"path": "s1", "series": uids[0]}}}))
    with pytest.raises(Exception, match="series_uid"):
        read_case_file(folder)


def test_one_unreadable_series_is_skipped_with_its_reason(tmp_path):
    study = tmp_path / "study"
    _mr_series(study / "good", "1.2.3")
    _mr_series(study / "bad", "1.2.3", step=3.0)
    _break_series(study / "bad")
    images, skipped = read_study_series(find_study_series(study))
    assert len(images) == 1 and len(skipped) == 1
    assert "inconsistent image size" in next(iter(skipped.values()))


def test_batch_dicom_study_with_one_bad_series_runs_on_the_others(tmp_path, monkeypatch):
    from radtriage.annotations import open_case_list
    from radtriage.batch.inputs import resolve_jobs
    from radtriage.batch.worker import decode_case, run_decoded

    root = tmp_path / "dicom"
    _mr_series(root / "t1", "1.2.3")
    _mr_series(root / "t2", "1.2.3", step=3.0)
    _mr_series(root / "colfa", "1.2.3", step=4.0)
    _break_series(root / "colfa")
    (job,) = resolve_jobs(open_case_list(root, "dicom"), "mri_triage")
    decoded = decode_case(job)
    assert decoded.error == "" and len(decoded.images) == 2 and len(decoded.skipped) == 1
    monkeypatch.setattr("radtriage.tasks.run_task",
                        lambda task, inputs, **kw: TaskResult(task, {"name": "fake"}, {"keys": sorted(inputs)}))
    row = run_decoded(decoded, tmp_path / "out")
    assert row["status"] == "ok" and "inconsistent image size" in row["skipped_series"]
    doc = json.loads((Path(row["result_dir"]) / "result.json").read_text())
    assert any("skipped" in n and "inconsistent image size" in n for n in doc["notices"])
    assert list(doc["outputs"]["skipped_series"]) == list(decoded.skipped)


def test_triage_runs_on_usable_series_lists_skipped_and_exits_1_on_a_failed_study(tmp_path, capsys):
    from radtriage.phantoms import make_brain_case

    case = make_brain_case(5, "normal", shape=(40, 40, 30), spacing=(5.0, 5.0, 5.0), contrasts=["T1", "FLAIR"])
    studies = tmp_path / "studies"
    for contrast in ("T1", "FLAIR"):
        write_volume(case.images[contrast], studies / "good" / f"{contrast}.nii.gz")
    _mr_series(studies / "good" / "colfa", "1.2.3")
    _break_series(studies / "good" / "colfa")
    (studies / "empty").mkdir()
    (studies / "empty" / "notes.txt").write_text("no images")
    code = main(["triage", str(studies), "--output", str(tmp_path / "wl"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 2 studies could not be triaged" in err and "Traceback" not in err
    doc = json.loads((tmp_path / "wl" / "worklist.json").read_text())
    by_study = {s["study"]: s for s in doc["studies"]}
    assert by_study["empty"]["status"] == "failed" and "no volume files or DICOM" in by_study["empty"]["error"]
    assert by_study["good"]["status"] == "incomplete"  # T1 + FLAIR: no DWI or SWI, so incomplete
    assert "inconsistent image size" in by_study["good"]["skipped_series"]
    assert any("skipped" in n for n in by_study["good"]["notices"])


# -- frame of reference and implausible registrations ------------------------------------------------------------
def test_frame_of_reference_is_stored_with_each_series(tmp_path):
    files, _, _ = write_series(tmp_path / "s", modality="MR", n=4)
    image = read_image(tmp_path / "s")
    assert image.metadata["frame_of_reference_uid"] == str(pydicom.dcmread(files[0]).FrameOfReferenceUID) != ""


def _study(frames: tuple[str, str]):
    from radtriage.phantoms import make_brain_case
    from radtriage.preprocess.resample import resample
    from radtriage.tasks.mri_triage.inputs import assign_study_contrasts

    a = make_brain_case(7, "normal", shape=(40, 40, 30), spacing=(5.0, 5.0, 5.0), contrasts=["T1", "FLAIR"])
    t1 = a.images["T1"]
    from radtriage.preprocess import GridSpec

    grid = GridSpec(size=(32, 32, 24), spacing=(6.0, 6.0, 6.0), origin=t1.origin, direction=t1.direction)
    flair = resample(a.images["FLAIR"], grid)  # another grid, same anatomy
    t1.metadata["frame_of_reference_uid"], flair.metadata["frame_of_reference_uid"] = frames
    return assign_study_contrasts({"T1": t1, "FLAIR": flair})


@pytest.mark.parametrize(("frames", "registered"), [(("1.2.3", "1.2.3"), []), (("1.2.3", "4.5.6"), ["FLAIR"]),
                                                    (("", ""), ["FLAIR"])])
def test_series_in_one_frame_of_reference_are_not_registered(frames, registered):
    from radtriage.tasks.mri_triage import TriageModel, prepare_study

    model = TriageModel.from_bundle(None, "cpu")
    prepared = prepare_study(model, _study(frames), "auto")
    assert sorted(prepared.registrations) == registered


def _euler(degrees: float, shift: float):
    import SimpleITK as sitk

    from radtriage.preprocess.register import RigidRegistration

    tx = sitk.Euler3DTransform()
    tx.SetRotation(0.0, 0.0, float(np.radians(degrees)))
    tx.SetTranslation((shift, 0.0, 0.0))
    return RigidRegistration(tx, -0.5, 10, "done", fixed_centre_lps=(0.0, 0.0, 0.0))


@pytest.mark.parametrize(("degrees", "shift", "flagged"), [(1.2, 1.7, False), (41.9, 0.0, True), (0.0, 72.8, True),
                                                            (9.9, 19.9, False)])
def test_implausible_registration_moves_are_flagged(degrees, shift, flagged):
    reg = _euler(degrees, shift)
    note = reg.implausible_move()
    assert (note is not None) == flagged
    assert reg.shift_mm == pytest.approx(shift, abs=1e-6)
    if flagged:
        assert f"{degrees:.1f} degrees" in note and "check the alignment" in note


def test_triage_result_carries_the_implausible_move_notice(monkeypatch):
    from radtriage.tasks.mri_triage import TriageModel
    from radtriage.tasks.mri_triage.pipeline import run

    monkeypatch.setattr("radtriage.preprocess.prepare.register_rigid", lambda moving, fixed, **kw: _euler(41.9, 5.0))
    study = _study(("1.2.3", "4.5.6"))
    result = run({"T1": study.channels["T1"], "FLAIR": study.channels["FLAIR"]},
                 model=TriageModel.from_bundle(None, "cpu"), heatmaps=False)
    assert result.outputs["registration"]["FLAIR"]["implausible"] is True
    assert any(n.startswith("FLAIR: registration moved the series by 41.9 degrees") for n in result.notices)
