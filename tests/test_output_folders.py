"""Output folders (issue 16 item 4): checked before any work; a run replaces the folder as a whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from radtriage.cli import main
from radtriage.image import Image
from radtriage.io import write_volume
from radtriage.tasks import _RUNNERS as RUNNERS
from radtriage.tasks import available_tasks, register_runner
from radtriage.tasks.result import TaskResult, check_output_folder, write_result_staged


@pytest.fixture
def fake_tasks(monkeypatch):
    """Runners that record their calls: mri_triage writes 4 heatmaps, lge_certainty none."""
    available_tasks()
    monkeypatch.setattr("radtriage.tasks._RUNNERS", dict(RUNNERS))
    calls: list[str] = []
    heat = Image(np.zeros((4, 4, 4), dtype=np.float32))

    def mri(inputs, **kw):
        calls.append("mri_triage")
        return TaskResult("mri_triage", {"name": "fake"}, {"n": 1},
                          volumes={f"heatmap_{n}": heat for n in ("a", "b", "c", "d")})

    def lge(inputs, **kw):
        calls.append("lge_certainty")
        if kw.get("reformat") == "never":
            raise RuntimeError("the run failed half-way")
        return TaskResult("lge_certainty", {"name": "fake"}, {"n": 2})

    register_runner("mri_triage", mri)
    register_runner("lge_certainty", lge)
    # the input contracts (another layer, tested on their own) are not what these tests are about
    monkeypatch.setattr("radtriage.validation.validate_inputs",
                        lambda task, inputs, **kw: type("Checked", (), {"inputs": inputs, "contract": None})(),
                        raising=False)
    return calls


@pytest.fixture
def volume(tmp_path) -> Path:
    return write_volume(Image(np.arange(4096, dtype=np.float32).reshape(16, 16, 16)), tmp_path / "in" / "T1.nii.gz")


def _infer(task: str, volume: Path, out: str | Path, *extra: str) -> list[str]:
    return ["infer", "--task", task, "--input", str(volume), "--output", str(out), *extra]


def _one_clean_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, volume, fake_tasks):
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    assert main(_infer("lge_certainty", volume, target)) == 2
    assert "is a file, not a folder" in _one_clean_line(capsys)
    assert target.read_text() == "keep me" and fake_tasks == []


def test_output_under_a_file_is_refused_and_nothing_is_created(tmp_path, capsys, volume, fake_tasks):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(_infer("lge_certainty", volume, blocker / "a" / "b")) == 2
    assert "which is a file" in _one_clean_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "in"] and fake_tasks == []


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="no /sys on this system")
def test_output_in_sys_is_refused(capsys, volume, fake_tasks):
    assert main(_infer("lge_certainty", volume, "/sys/radtriage-test-out")) == 2
    assert "cannot write there" in _one_clean_line(capsys)
    assert not Path("/sys/radtriage-test-out").exists() and fake_tasks == []


def test_read_only_output_folder_is_refused(tmp_path, capsys, volume, fake_tasks, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_access = os.access
    # root ignores permission bits: make the check see what an ordinary user sees
    monkeypatch.setattr("radtriage.tasks.result.os.access",
                        lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    try:
        assert main(_infer("lge_certainty", volume, locked / "out")) == 2
        assert "read-only" in _one_clean_line(capsys)
        assert list(locked.iterdir()) == [] and fake_tasks == []
    finally:
        locked.chmod(0o755)


def test_folder_with_other_files_is_not_replaced(tmp_path, capsys, volume, fake_tasks):
    folder = tmp_path / "my-documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    assert main(_infer("lge_certainty", volume, folder)) == 2
    assert "files other than an earlier result" in _one_clean_line(capsys)
    assert (folder / "notes.txt").read_text() == "precious" and fake_tasks == []


def test_output_folder_holding_the_input_is_refused(tmp_path, capsys, volume, fake_tasks):
    assert main(_infer("lge_certainty", volume, volume.parent)) == 2
    assert "holds the input" in _one_clean_line(capsys)
    assert volume.is_file() and fake_tasks == []


def test_folder_reused_by_another_task_keeps_no_stale_heatmaps(tmp_path, capsys, volume, fake_tasks):
    out = tmp_path / "out"
    assert main(_infer("mri_triage", volume, out)) == 0
    assert len(list(out.glob("heatmap_*.nii.gz"))) == 4
    assert main(_infer("lge_certainty", volume, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["result.json"]
    assert json.loads((out / "result.json").read_text())["task"] == "lge_certainty"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no run folder left behind
    assert fake_tasks == ["mri_triage", "lge_certainty"]


def test_failed_run_keeps_the_previous_result_whole(tmp_path, capsys, volume, fake_tasks, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the crash log goes
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out"
    assert main(_infer("mri_triage", volume, out)) == 0
    before = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    assert main(_infer("lge_certainty", volume, out, "--option", "reformat=never")) == 3  # a crash, not a refusal
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("radtriage:")] == [
        next(line for line in err.splitlines() if "internal error: RuntimeError: the run failed half-way" in line)]
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "result.json").read_text())["task"] == "mri_triage"


def test_staged_write_returns_the_final_paths(tmp_path):
    result = TaskResult("body_region", {}, {"n": 1}, volumes={"region_labels": Image(np.ones((2, 2, 2)))})
    written = write_result_staged(result, tmp_path / "r")
    assert written == {"region_labels": tmp_path / "r" / "region_labels.nii.gz", "result": tmp_path / "r" /
                       "result.json"}
    assert all(p.is_file() for p in written.values())
    assert check_output_folder(tmp_path / "r") == tmp_path / "r"  # an earlier result may be replaced


def test_batch_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "cases").mkdir()
    target = tmp_path / "out.csv"
    target.write_text("x")
    code = main(["batch", str(tmp_path / "cases"), "--task", "lge_certainty", "--out", str(target),
                 "--progress", "none"])
    assert code == 2 and "is a file" in _one_clean_line(capsys)
    assert target.read_text() == "x"
