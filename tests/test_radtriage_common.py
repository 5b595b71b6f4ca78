"""RadTriageCommonLib's job controller and job files, outside Slicer: real child processes and the real
BackgroundJob, with stand-ins for the Qt widgets and a timer whose ticks the test delivers (as QTimer would).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "RadTriageCommon"))

from RadTriageCommonLib import job_files
from RadTriageCommonLib.job_controller import JobController, failureSummary

from radtriage.image import Image
from radtriage.io import read_volume
from radtriage.runtime.runner import BackgroundJob, radtriage_argv

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
mode = sys.argv[1]
out = os.environ["RADTRIAGE_JOB_OUTPUT_DIR"]
for step in range(5):
    print(json.dumps({"event": "progress", "fraction": step / 4, "message": f"step {step}"}), flush=True)
    time.sleep(0.02)
    if mode == "slow":
        time.sleep(60)
print("a plain line from the child", flush=True)
if mode == "fail":
    print("radtriage: error: the test task refuses this input", file=sys.stderr, flush=True)
    sys.exit(2)
path = os.path.join(out, "scores.csv")
with open(path, "w") as f:
    f.write("slice,score\n0,0.25\n")
print(json.dumps({"event": "result", "outputs": {"table": path}}), flush=True)
"""


class Signal:
    def __init__(self) -> None:
        self.slots: list = []

    def connect(self, slot) -> None:
        self.slots.append(slot)


class TickTimer:
    """QTimer stand-in: ``tick()`` runs the connected slots while the timer is active."""

    def __init__(self) -> None:
        self.timeout = Signal()
        self.active = False
        self.interval = None
        self.ticks = 0

    def setInterval(self, ms: int) -> None:
        self.interval = ms

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def tick(self) -> None:
        self.ticks += 1
        for slot in self.timeout.slots:
            slot()


class Button:
    """Records every text it is given (the controller swaps Apply -> Cancel -> Apply)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.text = "Apply"
        self.enabled = True

    def __setattr__(self, name: str, value) -> None:
        if name == "text":
            self.texts.append(value)
        super().__setattr__(name, value)


class ProgressBar:
    def __init__(self) -> None:
        self.range = (0, 100)
        self.ranges: list[tuple[int, int]] = []
        self.values: list[int] = []
        self.visible = False

    def setRange(self, low: int, high: int) -> None:
        self.range = (low, high)
        self.ranges.append(self.range)

    def setValue(self, value: int) -> None:
        self.values.append(value)

    def setVisible(self, visible: bool) -> None:
        self.visible = visible


class Label:
    text = ""


class Gui:
    """The widgets, timer and callbacks a module hands to JobController, recording what happens to them."""

    def __init__(self, on_finished=None) -> None:
        self.button, self.bar, self.label, self.timer = Button(), ProgressBar(), Label(), TickTimer()
        self.finished: list[dict] = []
        self.errors: list[tuple[str, str]] = []
        self.states: list[bool] = []
        self.controller = JobController(
            self.button,
            self.bar,
            self.label,
            on_finished or self.finished.append,
            failureMessage="Test task failed.",
            timer=self.timer,
            errorDisplay=lambda text, detailedText="": self.errors.append((text, detailedText)),
            onStateChanged=self.states.append,
        )

    def run_until_done(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.controller.running and time.monotonic() < deadline:
            time.sleep(0.02)
            if self.timer.active:
                self.timer.tick()
        assert not self.controller.running, f"job still running after {timeout} s"


def _job(mode: str, tmp_path: Path) -> BackgroundJob:
    _inputs, output_dir = job_files.newJobFolder("test", tmp_path)
    return BackgroundJob([sys.executable, "-c", CHILD, mode], output_dir).start()


def test_success_moves_the_bar_swaps_the_button_and_hands_over_the_outputs(tmp_path: Path) -> None:
    seen: list[tuple[dict, str]] = []
    gui = Gui(on_finished=lambda outputs: seen.append((outputs, Path(outputs["table"]).read_text())))
    job = _job("ok", tmp_path)
    gui.controller.follow(job)
    assert gui.button.texts[:2] == ["Apply", "Cancel"] and gui.bar.ranges[0] == (0, 0)  # busy until progress
    assert gui.timer.interval == 200 and gui.states[0] is True
    gui.run_until_done()
    assert gui.button.texts == ["Apply", "Cancel", "Apply"]
    assert gui.controller.lastState == "succeeded" and gui.errors == []
    assert gui.button.text == "Apply" and not gui.bar.visible and not gui.timer.active
    assert gui.bar.range == (0, 100) and gui.bar.values[-1] == 100 and gui.bar.values == sorted(gui.bar.values)
    assert gui.label.text.startswith("Done in ")
    ((outputs, table_text),) = seen
    assert Path(outputs["table"]).parent == job.output_dir and table_text.startswith("slice,score")
    assert "a plain line from the child" in gui.controller.log and "step 4" in gui.controller.log
    assert not job.output_dir.parent.exists(), "the whole job folder is removed once onFinished returned"
    assert list(tmp_path.iterdir()) == []
    assert gui.states == [True, False]


def test_failure_shows_the_childs_error_with_the_log(tmp_path: Path) -> None:
    gui = Gui()
    gui.controller.follow(_job("fail", tmp_path))
    gui.run_until_done()
    assert gui.controller.lastState == "failed" and gui.finished == []
    ((text, details),) = gui.errors
    assert text.startswith("Test task failed.\n\n")
    assert "exit code 2" in text and "radtriage: error: the test task refuses this input" in text
    assert "step 4" in details and "refuses this input" in details
    assert gui.button.text == "Apply" and gui.label.text == "Failed."
    assert list(tmp_path.iterdir()) == [], "a failed job's folder is removed (its log is in the dialog details)"


def test_cancel_stops_the_job_and_keeps_nothing(tmp_path: Path) -> None:
    gui = Gui()
    job = _job("slow", tmp_path)
    gui.controller.follow(job)
    deadline = time.monotonic() + 10
    while "step 0" not in gui.controller.log and time.monotonic() < deadline:
        time.sleep(0.02)
        gui.timer.tick()
    assert gui.controller.running
    started = time.monotonic()
    gui.controller.cancel()
    gui.run_until_done(timeout=15)
    assert time.monotonic() - started < 10
    assert gui.controller.lastState == "cancelled" and gui.finished == [] and gui.errors == []
    assert gui.button.text == "Apply" and not gui.bar.visible and "Cancelled" in gui.label.text
    assert not job.output_dir.parent.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="a child that ignores SIGTERM needs POSIX signals")
def test_cancel_returns_at_once_even_when_the_child_ignores_sigterm(tmp_path: Path) -> None:
    """Cancel never waits on the GUI thread: the timer's ticks see the SIGKILL that follows the grace period."""
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready'); time.sleep(60)"
    _inputs, output_dir = job_files.newJobFolder("test", tmp_path)
    gui = Gui()
    job = BackgroundJob([sys.executable, "-c", script], output_dir).start()
    gui.controller.follow(job)
    deadline = time.monotonic() + 10
    while "ready" not in gui.controller.log and time.monotonic() < deadline:
        time.sleep(0.02)
        gui.timer.tick()
    started = time.monotonic()
    gui.controller.cancel()
    assert time.monotonic() - started < 1.0, "cancel blocked the GUI thread"
    assert gui.controller.running and gui.label.text == "Cancelling..."
    gui.run_until_done(timeout=20)
    assert gui.controller.lastState == "cancelled" and job.returncode is not None
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_cannot_start_is_reported_at_once(tmp_path: Path) -> None:
    gui = Gui()
    _inputs, output_dir = job_files.newJobFolder("test", tmp_path)
    gui.controller.follow(BackgroundJob([str(tmp_path / "no-such-program")], output_dir).start())
    assert not gui.controller.running and gui.timer.ticks == 0
    ((text, _details),) = gui.errors
    assert "cannot start" in text and gui.button.text == "Apply"
    assert list(tmp_path.iterdir()) == []


def test_results_that_cannot_be_loaded_are_reported_like_a_failure(tmp_path: Path) -> None:
    def broken_import(outputs) -> None:
        raise ValueError("table has no rows")

    gui = Gui(on_finished=broken_import)
    gui.controller.follow(_job("ok", tmp_path))
    gui.run_until_done()
    ((text, details),) = gui.errors
    assert "could not be loaded: table has no rows" in text and "ValueError" in details
    assert gui.controller.lastState == "succeeded" and gui.button.text == "Apply"


def test_one_job_at_a_time(tmp_path: Path) -> None:
    gui = Gui()
    job = _job("slow", tmp_path)
    gui.controller.follow(job)
    with pytest.raises(RuntimeError, match="already running"):
        gui.controller.follow(_job("ok", tmp_path))
    gui.controller.cancel()
    gui.run_until_done(timeout=15)


@pytest.mark.parametrize(
    ("message", "summary"),
    [
        ("job failed: exit code 2\n--- last stderr lines ---\nTraceback ...\nradtriage: error: bad input\n",
         "job failed: exit code 2: radtriage: error: bad input"),
        ("job failed: the model bundle is missing", "job failed: the model bundle is missing"),
        ("", "the job failed"),
    ],
)  # fmt: skip
def test_failure_summary(message: str, summary: str) -> None:
    assert failureSummary(message) == summary


# ------------------------------------------------------------------------------------------------- job files


def test_write_job_inputs_keeps_geometry_and_safe_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    image = Image(rng.normal(size=(3, 4, 5)).astype(np.float32), (0.5, 0.7, 2.0), (10.0, -5.0, 3.0), direction)
    paths, output_dir = job_files.writeJobInputs("mri_triage", {"T2*": image, "FLAIR": image}, tmp_path)
    assert set(paths) == {"T2*", "FLAIR"} and paths["T2*"].name == "T2_.nrrd"
    assert output_dir.name == "output" and output_dir.is_dir() and paths["FLAIR"].parent == output_dir.parent / "input"
    back = read_volume(paths["T2*"])
    np.testing.assert_array_equal(back.array, image.array)
    np.testing.assert_allclose(back.spacing, image.spacing)
    np.testing.assert_allclose(back.origin, image.origin)
    np.testing.assert_allclose(back.direction, image.direction, atol=1e-6)
    assert job_files.removeJobInputs(output_dir) and not paths["FLAIR"].exists()


def _stale(folder: Path, age_s: float = 2 * 86400) -> Path:
    """Set the modification time of ``folder`` and everything in it to ``age_s`` seconds ago."""
    when = time.time() - age_s
    for path in [*sorted(folder.rglob("*"), reverse=True), folder]:
        os.utime(path, (when, when), follow_symlinks=False)
    return folder


def _job_folder(parent: Path, name: str, files: dict[str, str] | None = None) -> Path:
    folder = parent / name
    (folder / "input").mkdir(parents=True)
    (folder / "output").mkdir()
    for rel, text in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def test_a_job_folder_that_is_not_ours_is_never_deleted(tmp_path: Path) -> None:
    """The controller removes only a folder made by newJobFolder: name and layout, no extra files, no links."""
    mine = tmp_path / "mine" / "output"
    mine.mkdir(parents=True)
    gui = Gui()
    gui.controller.follow(BackgroundJob([sys.executable, "-c", CHILD, "ok"], mine).start())
    gui.run_until_done()
    assert gui.controller.lastState == "succeeded" and (mine / "scores.csv").is_file()

    extra = _job_folder(tmp_path, "RadTriage-test-abcd1234", {"notes.txt": "the user's notes"})
    assert not job_files.removeJobFolder(extra / "output") and (extra / "notes.txt").is_file()
    target = _job_folder(tmp_path / "elsewhere", "RadTriage-test-zzzz9999", {"output/keep.nrrd": "data"})
    link = tmp_path / "RadTriage-test-link0000"
    link.symlink_to(target, target_is_directory=True)
    assert not job_files.removeJobFolder(link / "output") and (target / "output" / "keep.nrrd").is_file()
    plain = _job_folder(tmp_path, "RadTriage-study")
    assert not job_files.removeJobFolder(plain / "output") and plain.is_dir()
    assert not job_files.removeJobFolder(extra / "input") and (extra / "input").is_dir()


def test_new_job_folder_sweeps_only_stale_job_folders(tmp_path: Path) -> None:
    stale = _stale(_job_folder(tmp_path, "RadTriage-cmb_detect-a1b2c3d_", {"output/heatmap.nrrd": "x"}))
    stale_no_inputs = _job_folder(tmp_path, "RadTriage-mri-triage-q9w8e7r6")
    (stale_no_inputs / "input").rmdir()  # as an older version left them
    _stale(stale_no_inputs)
    fresh = _job_folder(tmp_path, "RadTriage-lge_certainty-zxcvbnm0")
    busy = _job_folder(tmp_path, "RadTriage-body_region-poiuytr1", {"output/.radtriage-partial-x/a.nii": "x"})
    _stale(busy)
    (busy / "output" / ".radtriage-partial-x" / "a.nii").write_text("still writing")
    foreign = _stale(_job_folder(tmp_path, "RadTriage-test-abcd1234", {"notes.txt": "the user's notes"}))
    other_name = _stale(_job_folder(tmp_path, "RadTriage-study"))
    not_prefixed = _stale(_job_folder(tmp_path, "Other-test-abcd1234"))
    a_file = tmp_path / "RadTriage-test-file0000"
    a_file.write_text("a file")
    _stale(a_file)
    target = _stale(_job_folder(tmp_path / "elsewhere", "RadTriage-test-zzzz9999"))
    link = tmp_path / "RadTriage-test-link0000"
    link.symlink_to(target, target_is_directory=True)
    _stale(link)

    _inputs, output_dir = job_files.newJobFolder("test", tmp_path)
    assert not stale.exists() and not stale_no_inputs.exists()
    for kept in (fresh, busy, foreign, other_name, not_prefixed, a_file, link, target, output_dir.parent):
        assert kept.exists(), kept
    assert (foreign / "notes.txt").read_text() == "the user's notes"
    assert job_files.sweepStaleJobFolders(tmp_path) == []
    assert job_files.sweepStaleJobFolders(tmp_path, maxAgeS=0, now=time.time() + 10) == sorted(
        [busy, fresh, output_dir.parent]
    )


def test_loaded_outputs_are_marked_for_saving(tmp_path: Path, monkeypatch) -> None:
    """A node read from the job folder (removed afterwards) must be saved by Slicer's Save dialog, which checks
    only nodes whose GetModifiedSinceRead() is true."""
    slicer = pytest.importorskip("slicer", reason="slicer-core (the MRML libraries) is not installed")
    from radtriage.io import write_volume
    from radtriage.mrml import create_headless_scene

    headless = create_headless_scene()
    image = Image(np.zeros((3, 4, 5), np.float32), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    path = write_volume(image, tmp_path / "heatmap.nrrd")

    def load_volume(filename: str, properties: dict):
        node = headless.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", properties["name"])
        storage = headless.scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
        storage.SetFileName(filename)
        node.SetAndObserveStorageNodeID(storage.GetID())
        assert storage.ReadData(node) and not node.GetModifiedSinceRead()
        return node

    monkeypatch.setattr(slicer.util, "loadVolume", load_volume, raising=False)
    try:
        nodes = job_files.loadOutputs({"heatmap": str(path)}, namePrefix="CMB ")
        assert nodes["heatmap"].GetName() == "CMB heatmap" and nodes["heatmap"].GetModifiedSinceRead()
    finally:
        headless.close()


def test_remove_job_inputs_touches_only_job_folders(tmp_path: Path) -> None:
    (tmp_path / "mine" / "input").mkdir(parents=True)
    (tmp_path / "mine" / "output").mkdir()
    assert not job_files.removeJobInputs(tmp_path / "mine" / "output")
    assert (tmp_path / "mine" / "input").is_dir()


def test_classify_outputs(tmp_path: Path) -> None:
    names = ["result.json", "scores.csv", "heatmap.nii.gz", "lesion_label.nrrd", "cmb.mrk.json", "notes.txt"]
    for name in names:
        (tmp_path / name).write_text("x")
    outputs = {
        "result": str(tmp_path / "result.json"),
        "table": str(tmp_path / "scores.csv"),
        "volumes": {"heatmap": str(tmp_path / "heatmap.nii.gz"), "lesion_label": str(tmp_path / "lesion_label.nrrd")},
        "detections": [str(tmp_path / "cmb.mrk.json")],
        "notes": str(tmp_path / "notes.txt"),
        "missing": str(tmp_path / "gone.nrrd"),
        "count": 3,
    }
    kinds = {f.key: f.kind for f in job_files.classifyOutputs(outputs)}
    assert kinds == {
        "result": "json",
        "table": "table",
        "volumes.heatmap": "volume",
        "volumes.lesion_label": "labelmap",
        "detections[0]": "markups",
        "notes": "other",
    }
    assert job_files.classifyOutputs(None) == []


def test_the_real_cli_job_ends_with_results_or_its_own_error(tmp_path: Path) -> None:
    """A module's Apply path end to end outside Slicer: volume written, ``radtriage infer`` run, outcome shown."""
    image = Image(np.zeros((4, 8, 8), np.float32), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    paths, output_dir = job_files.writeJobInputs("cmb_detect", {"image": image}, tmp_path)
    argv = radtriage_argv("infer", "--task", "cmb_detect", "--input", str(paths["image"]), "--output", "{output_dir}")
    gui = Gui()
    gui.controller.follow(BackgroundJob(argv, output_dir, cwd=ROOT).start())
    gui.run_until_done(timeout=120)
    if gui.controller.lastState == "succeeded":
        assert gui.errors == [] and isinstance(gui.finished[0], dict)
    else:
        ((text, details),) = gui.errors
        assert "error" in text.lower() and details, "a failed job shows the CLI's own message and its log"
    assert not output_dir.parent.exists(), "the job folder is removed once the outcome was shown"


def test_shared_self_test_check_passes_a_real_job_and_fails_a_wrong_input(tmp_path):
    """RadTriageCommonLib.testing.assertJobRunsTask, used by every module's self-test, on a real infer job."""
    import unittest

    from RadTriageCommonLib.testing import assertJobRunsTask, jobInputs

    from radtriage.io import write_volume
    from radtriage.phantoms import make_lge_slice

    image = make_lge_slice(0, "clear").image
    path = write_volume(image, tmp_path / "slice.nrrd")
    argv = radtriage_argv("infer", "--task", "lge_certainty", "--input", str(path), "--output", "{output_dir}")
    assert jobInputs(argv) == {"image": str(path)}
    assert jobInputs(["x", "--input", "T1=a.nrrd", "T2=b.nrrd", "--output", "o"]) == {"T1": "a.nrrd", "T2": "b.nrrd"}
    case = unittest.TestCase()
    result = assertJobRunsTask(case, BackgroundJob(argv, tmp_path / "out").start(), "lge_certainty",
                               {"image": image.array})
    assert len(result["outputs"]["slices"]) == 1
    wrong = BackgroundJob(argv, tmp_path / "out2").start()
    try:
        with pytest.raises(AssertionError):
            assertJobRunsTask(case, wrong, "lge_certainty", {"image": image.array + 1.0})
    finally:
        wrong.cancel()


def test_export_to_dicom_job_references_the_instance_of_each_node_slice(tmp_path: Path, monkeypatch) -> None:
    """*Export to DICOM*: a node as Slicer's DICOM plugin leaves it (slices reversed to right-handed, instance UIDs
    in its k order) → the job copies its files from the database and its SR references, per slice of the node,
    that slice's instance; a node that was not loaded from DICOM is refused before anything is written."""
    import tempfile

    import highdicom as hd
    import pydicom
    from RadTriageCommonLib import module_base as mb
    from RadTriageCommonLib.dicom_export import DicomExportError
    from test_dicom_out import reversed_slices

    from radtriage.dicom_node.phantom_series import write_lge_series
    from radtriage.io import read_image
    from radtriage.mrml import create_headless_scene, image_to_volume_node
    from radtriage.mrml.volumes import INSTANCE_UIDS_ATTRIBUTE

    files = {str(pydicom.dcmread(f).SOPInstanceUID): str(f) for f in write_lge_series(tmp_path / "db", n_slices=5)}
    flipped = reversed_slices(read_image(tmp_path / "db"))
    origin, normal = np.asarray(flipped.origin), flipped.direction[:, 2]
    by_position = {round(float((np.asarray(pydicom.dcmread(f).ImagePositionPatient) - origin) @ normal), 3): uid
                   for uid, f in files.items()}
    uids = [by_position[round(k * flipped.spacing[2], 3)] for k in range(5)]
    scene = create_headless_scene()
    node = image_to_volume_node(scene.scene, flipped, "Volume 1")
    node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join(uids))

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "jobs"))
    (tmp_path / "jobs").mkdir()
    logic = type("Logic", (mb.ModuleLogicBase,), {"taskName": "lge_certainty"})()
    logic.exportDicom, logic.dicomFileForInstance = True, files.get
    seen: dict = {}

    def on_finished(outputs: dict) -> None:
        dicom = [v for k, v in outputs.items() if k.startswith("dicom_")]
        seen["sr"] = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(dicom[0]))

    gui = Gui(on_finished)
    gui.controller.follow(logic.startTaskJob({"image": logic.volumeImage(node)},
                                             lambda paths: mb.inferArgv("lge_certainty", paths["image"])))
    gui.run_until_done(timeout=180)
    assert gui.errors == [] and "sr" in seen
    groups = [g for g in seen["sr"].content.get_image_measurement_groups() if g.tracking_identifier.startswith("slice")]
    assert [g.source_images[0].referenced_sop_instance_uid for g in groups] == uids

    node.RemoveAttribute(INSTANCE_UIDS_ATTRIBUTE)
    with pytest.raises(DicomExportError, match="loaded from the DICOM database"):
        logic.startTaskJob({"image": logic.volumeImage(node)},
                           lambda paths: mb.inferArgv("lge_certainty", paths["image"]))
    assert list((tmp_path / "jobs").iterdir()) == []
    scene.close()
