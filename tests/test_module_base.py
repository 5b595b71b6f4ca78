"""RadTriageCommonLib.module_base outside Slicer: the shared widget's job flow on a real headless MRML scene
(results attach to the volume the job RAN ON), the shortcut scoping decision with stand-in widgets, the
slice geometry of radtriage.mrml.geometry, results into a chosen output node, and the self-test dependency gate.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "RadTriageCommon"))

from RadTriageCommonLib import module_base as mb
from RadTriageCommonLib import testing as rt_testing
from RadTriageCommonLib.job_controller import JobController

from radtriage.image import Image
from radtriage.mrml import create_headless_scene, image_to_volume_node, table_node_from_rows
from radtriage.mrml import geometry as geo
from radtriage.mrml.outputs import into_chosen_node
from radtriage.tasks.body_region.mrml import add_body_region_outputs, slice_geometry
from radtriage.tasks.options import OptionError

# -- stand-ins ----------------------------------------------------------------------------------------------------


class Widget:
    """A Qt widget stand-in: ``inherits`` answers for its class and the Qt base classes listed."""

    def __init__(self, *classes: str, readOnly: bool = False, state: int = 0, parent: Widget | None = None):
        self.classes, self._readOnly, self._state, self._parent = set(classes), readOnly, state, parent

    def inherits(self, name: str) -> bool:
        return name in self.classes

    def isReadOnly(self) -> bool:
        return self._readOnly

    def state(self) -> int:
        return self._state

    def parentWidget(self) -> Widget | None:
        return self._parent


PANEL = Widget("QWidget")
TABLE = Widget("QTableWidget", "QAbstractItemView", parent=PANEL)


@pytest.mark.parametrize(
    ("focus", "key", "allowed"),
    [
        (None, "A", True),
        (PANEL, "A", True),
        (Widget("QPushButton", parent=PANEL), "Up", True),
        (Widget("QLineEdit", parent=PANEL), "A", False),  # typing a reader code
        (Widget("QLineEdit", readOnly=True, parent=PANEL), "A", True),
        (Widget("ctkComboBox", "QComboBox", parent=PANEL), "A", False),  # an "A" in the input combo
        (Widget("QLineEdit", parent=Widget("QComboBox", parent=PANEL)), "N", False),  # editable combo's line edit
        (Widget("QDoubleSpinBox", "QAbstractSpinBox", parent=PANEL), "5", False),
        (Widget("QPlainTextEdit", parent=PANEL), "R", False),
        (Widget("QTextEdit", readOnly=True, parent=PANEL), "R", True),
        (TABLE, "N", True),  # a table row is selected, not edited: N still means "next"
        (TABLE, "Down", False),  # the arrows move in the table
        (Widget("QTableWidget", "QAbstractItemView", state=mb.ITEM_VIEW_EDITING_STATE, parent=PANEL), "N", False),
        (Widget("QLineEdit", parent=TABLE), "A", False),  # a cell editor inside the table
        (Widget("ctkSliderWidget", parent=PANEL), "Left", True),
        (Widget("QSlider", "QAbstractSlider", parent=PANEL), "Left", False),
        (Widget("QSlider", "QAbstractSlider", parent=PANEL), "5", True),
    ],
)
def test_shortcut_fires_only_where_the_key_means_nothing_to_the_focus_widget(focus, key, allowed) -> None:
    assert mb.shortcutAllowed(focus, key) is allowed


@pytest.mark.parametrize(
    ("key", "scope"),
    [("Ctrl+PgDown", "window"), ("ctrl+shift+m", "window"), ("Alt+N", "window"), ("A", "panel"), ("Up", "panel"),
     ("Return", "panel"), ("5", "panel")],
)  # fmt: skip
def test_modified_keys_listen_window_wide_and_plain_keys_only_on_the_panel(key, scope) -> None:
    assert mb.shortcutScope(key) == scope


class Shortcut:
    """A QShortcut stand-in that remembers whether it is enabled."""

    enabled = None

    def setEnabled(self, value: bool) -> None:
        self.enabled = value


def test_window_wide_shortcuts_fire_only_while_the_module_is_shown() -> None:
    widget = object.__new__(mb.ModuleWidgetBase)
    window, panel = Shortcut(), Shortcut()
    widget._shortcuts, widget._entered = [("Ctrl+PgDown", window), ("A", panel)], False
    sliceView = Widget("qMRMLSliceView")
    widget._onFocusChanged(None, sliceView)  # another module is shown: its panel keys are hidden with it
    assert (window.enabled, panel.enabled) == (False, True)
    widget._entered = True
    widget._onFocusChanged(None, sliceView)  # the reader clicked into a slice view: Ctrl+PgDown still moves on
    assert (window.enabled, panel.enabled) == (True, True)
    widget._onFocusChanged(None, Widget("QLineEdit", parent=PANEL))
    assert (window.enabled, panel.enabled) == (False, False)


def test_apply_button_state_and_folder_text() -> None:
    assert mb.applyButtonState(True, "", "Run", "Stop") == (True, "Stop")
    assert mb.applyButtonState(False, "Select a volume", "Run", "Stop") == (False, "Select a volume")
    assert mb.applyButtonState(False, "", "Run", "Stop") == (True, "Run")
    assert [mb.pathFieldText(v) for v in (None, "", ".", Path(), "/data/store")] == ["", "", "", "", "/data/store"]


def test_infer_argv_reads_back_through_the_cli(tmp_path: Path) -> None:
    from radtriage.commands.common import parse_inputs, parse_options

    argv = mb.inferArgv("cmb_detect", {"magnitude": tmp_path / "m.nrrd", "phase": tmp_path / "p.nrrd"},
                        {"threshold": "0.75", "phase_sign": -1, "heatmap": None})  # fmt: skip
    assert argv[3:6] == ["infer", "--task", "cmb_detect"] and argv[argv.index("--output") + 1] == "{output_dir}"
    inputs = argv[argv.index("--input") + 1 : argv.index("--output")]
    assert parse_inputs(inputs) == {"magnitude": tmp_path / "m.nrrd", "phase": tmp_path / "p.nrrd"}
    options = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--option"]
    assert parse_options(options) == {"threshold": 0.75, "phase_sign": -1.0}  # typed by the task's declaration
    with pytest.raises(OptionError, match="cmb_detect has no option 'band'"):
        mb.inferArgv("cmb_detect", tmp_path / "m.nrrd", {"band": [20.0, 80.0]})


# -- the job flow on a real scene ---------------------------------------------------------------------------------


class Signal:
    def __init__(self) -> None:
        self.slots: list = []

    def connect(self, slot) -> None:
        self.slots.append(slot)


class Timer:
    def __init__(self) -> None:
        self.timeout, self.active = Signal(), False

    def setInterval(self, ms: int) -> None:
        pass

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False


class Bar:
    visible = False

    def setRange(self, low: int, high: int) -> None:
        pass

    def setValue(self, value: int) -> None:
        pass

    def setVisible(self, visible: bool) -> None:
        self.visible = visible


class FakeJob:
    """A started job that finishes when the test says so, with the given outputs."""

    def __init__(self, outputs: dict) -> None:
        self.outputs, self.done, self.cancelled = outputs, False, False

    def poll(self) -> list:
        if self.done:
            self.done = False
            return [SimpleNamespace(kind="finished", data={"state": "succeeded", "outputs": self.outputs})]
        return []

    def cancel(self, block: bool = True) -> None:
        self.cancelled = True


class SlicerWidgetStandIn:
    """What ScriptedLoadableModuleWidget and VTKObservationMixin give the base."""

    def __init__(self, parent=None) -> None:
        self.parent = parent or SimpleNamespace(isEntered=True)
        self.moduleName = "Test"

    def addObserver(self, *args) -> None:
        pass

    def removeObserver(self, *args) -> None:
        pass


class TaskWidget(mb.ModuleWidgetBase, SlicerWidgetStandIn):
    """A module on the base whose results are the body-region label layer over the volume the job ran on."""

    jobInputParameters = ("inputVolume", "phaseVolume")

    def __init__(self, scene, job: FakeJob) -> None:
        super().__init__()
        self.scene, self.job = scene, job
        self.errors: list[str] = []
        self.finished: list[dict] = []
        self.ui = SimpleNamespace(applyButton=SimpleNamespace(text="Apply", enabled=True, toolTip=""),
                                  progressBar=Bar(), statusLabel=SimpleNamespace(text=""))  # fmt: skip
        self._jobs = JobController(
            self.ui.applyButton, self.ui.progressBar, self.ui.statusLabel, self._onJobSucceeded, timer=Timer(),
            errorDisplay=lambda text, detailedText="": self.errors.append(text),
            onStateChanged=lambda running: self._checkCanApply(),
        )  # fmt: skip

    def ensureDependencies(self) -> bool:
        return True

    def startJob(self) -> FakeJob:
        return self.job

    def onJobFinished(self, outputs, inputs) -> None:
        volume = inputs["inputVolume"]
        labels = mb_label_image(volume)
        nodes = add_body_region_outputs(self.scene, outputs, labels, patient_name="P", study_name="S",
                                        reference_node=volume)  # fmt: skip
        self.finished.append({"inputs": dict(inputs), "nodes": nodes})


LABELSET = {"name": "test", "class_names": ["head", "chest"], "colours": [[255, 0, 0], [0, 255, 0]]}
OUTPUTS = {"labelset": LABELSET, "ranges": [], "slices": [], "header_qa": {"status": "ok"}, "slice_axis": "k"}


def _image(shape=(6, 5, 4), spacing=(1.0, 1.0, 2.0), direction=None) -> Image:
    rng = np.random.default_rng(0)
    return Image(rng.random(shape).astype(np.float32), spacing=spacing, origin=(0.0, 0.0, 0.0),
                 direction=np.eye(3) if direction is None else np.asarray(direction, float))  # fmt: skip


def mb_label_image(volume) -> Image:
    from radtriage.mrml.volumes import volume_node_to_image

    image = volume_node_to_image(volume, copy=False)
    return Image(np.ones(image.array.shape, np.uint8), spacing=image.spacing, origin=image.origin,
                 direction=image.direction)  # fmt: skip


@pytest.fixture
def scene():
    with create_headless_scene() as headless:
        yield headless.scene


def test_results_attach_to_the_volume_the_job_ran_on_after_the_selection_changes(scene) -> None:
    first = image_to_volume_node(scene, _image(), "first")
    second = image_to_volume_node(scene, _image((4, 4, 3)), "second")
    widget = TaskWidget(scene, FakeJob(dict(OUTPUTS)))
    widget._parameterNode = SimpleNamespace(inputVolume=first, phaseVolume=None)
    widget._checkCanApply()
    assert widget.ui.applyButton.enabled

    widget.onApplyButton()
    assert widget._jobs.running and widget.ui.applyButton.text == "Cancel"
    widget._parameterNode.inputVolume = second  # the user picks another volume while the job runs
    widget.job.done = True
    widget._jobs.poll()

    assert widget.errors == [] and len(widget.finished) == 1
    assert widget.finished[0]["inputs"] == {"inputVolume": first, "phaseVolume": None}
    label = widget.finished[0]["nodes"]["label_volume"]
    composites = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
                  for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]  # fmt: skip
    assert composites and all(c.GetBackgroundVolumeID() == first.GetID() for c in composites)
    assert all(c.GetLabelVolumeID() == label.GetID() for c in composites)
    assert label.GetImageData().GetDimensions() == first.GetImageData().GetDimensions()


def test_results_go_nowhere_when_the_volume_was_removed_during_the_job(scene) -> None:
    first = image_to_volume_node(scene, _image(), "first")
    second = image_to_volume_node(scene, _image(), "second")
    widget = TaskWidget(scene, FakeJob(dict(OUTPUTS)))
    widget._parameterNode = SimpleNamespace(inputVolume=first, phaseVolume=None)
    widget.onApplyButton()
    widget._parameterNode.inputVolume = second
    scene.RemoveNode(first)
    widget.job.done = True
    widget._jobs.poll()

    assert widget.finished == [] and not widget._jobs.running
    assert (
        len(widget.errors) == 1 and "inputVolume" in widget.errors[0] and "no longer in the scene" in widget.errors[0]
    )
    assert scene.GetNumberOfNodesByClass("vtkMRMLLabelMapVolumeNode") == 0


def test_apply_is_disabled_without_input_and_cancels_while_running(scene) -> None:
    widget = TaskWidget(scene, FakeJob({}))
    widget._parameterNode = SimpleNamespace(inputVolume=None, phaseVolume=None)
    widget._checkCanApply()
    assert not widget.ui.applyButton.enabled and widget.ui.applyButton.toolTip == "Select an input volume"
    widget._parameterNode.inputVolume = image_to_volume_node(scene, _image(), "v")
    widget.onApplyButton()
    widget.onApplyButton()  # Cancel
    assert widget.job.cancelled


def test_a_job_that_cannot_start_is_reported_and_nothing_is_captured(scene) -> None:
    class Failing(TaskWidget):
        def startJob(self):
            raise ValueError("the volume has no image data")

        def showError(self, message, error) -> None:
            self.errors.append(f"{message}: {error}")

    widget = Failing(scene, FakeJob({}))
    widget.startErrorMessage = "Cannot start."
    widget._parameterNode = SimpleNamespace(inputVolume=image_to_volume_node(scene, _image(), "v"), phaseVolume=None)
    widget.onApplyButton()
    assert widget.errors == ["Cannot start.: the volume has no image data"] and not widget._jobs.running
    assert widget._jobNodeIDs == {}


# -- geometry ---------------------------------------------------------------------------------------------------


def test_view_slice_follows_the_volume_axis_closest_to_the_view_normal(scene) -> None:
    """A volume stored sagittal (k along R): an axial view shows j-planes, not k-planes."""
    direction = [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]  # LPS columns: i->P, j->I, k->R
    volume = image_to_volume_node(scene, _image((8, 7, 6), (1.0, 2.0, 3.0), direction), "sagittal stack")
    ijk_to_ras = geo.ijk_to_ras_rows(volume)
    axial_normal = [0.0, 0.0, 1.0]
    axis = geo.slice_axis_for_normal(ijk_to_ras, axial_normal)
    column = [ijk_to_ras[r][axis] for r in range(3)]
    assert abs(column[2]) == pytest.approx(max(abs(ijk_to_ras[2][c]) for c in range(3)))
    assert axis == 1  # j runs head-feet: the axial view shows j-planes; k (left-right) would be wrong
    for index in range(geo.dimensions(volume)[axis]):
        ijk = [2.0, 3.0, 4.0]
        ijk[axis] = float(index)
        centre = geo.ijk_to_ras(volume, ijk)
        slice_to_ras = [
            [1.0, 0.0, 0.0, centre[0]],
            [0.0, 1.0, 0.0, centre[1]],
            [0.0, 0.0, 1.0, centre[2]],
            [0, 0, 0, 1],
        ]
        assert geo.view_slice(volume, slice_to_ras) == (axis, index)


def test_slice_geometry_reads_no_voxels_and_steps_by_the_spacing(scene, monkeypatch) -> None:
    volume = image_to_volume_node(scene, _image((7, 6, 5), (1.0, 1.0, 2.5)), "v")  # array is (k, j, i)
    import radtriage.mrml.volumes as volumes

    monkeypatch.setattr(volumes, "volume_node_to_image", lambda *a, **k: pytest.fail("voxels were copied"))
    rows = slice_geometry(volume)
    assert [r["slice"] for r in rows] == list(range(7))
    steps = np.diff([r["position_mm"] for r in rows])
    np.testing.assert_allclose(steps, 2.5, atol=1e-6)
    assert geo.dimensions(volume) == (5, 6, 7)


# -- output selectors and view text ---------------------------------------------------------------------------


def test_result_goes_into_the_chosen_table_node(scene) -> None:
    made = table_node_from_rows(scene, "made", [("a", int)], [{"a": 1}, {"a": 2}])
    made.SetAttribute("RadTriage.Role", "ranges")
    chosen = scene.AddNewNodeByClass("vtkMRMLTableNode", "My table")
    node = into_chosen_node(scene, made, chosen)
    assert node is chosen and chosen.GetName() == "My table" and chosen.GetNumberOfRows() == 2
    assert chosen.GetAttribute("RadTriage.Role") == "ranges" and scene.GetNodeByID(made.GetID()) is None
    other = table_node_from_rows(scene, "made 2", [("a", int)], [{"a": 1}])
    assert into_chosen_node(scene, other, None) is other
    with pytest.raises(ValueError, match="vtkMRMLMarkupsFiducialNode"):
        into_chosen_node(scene, other, scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "points"))


def test_view_text_survives_dataprobe_corner_annotations() -> None:
    """DataProbe's SliceViewAnnotations (v5.12.3) rewrites positions 0-3 on every slice change and clears them."""
    from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation

    corner = vtkCornerAnnotation()
    mb.setViewText(corner, "slice 12: chest (0.93)")
    for position in range(4):  # drawCornerAnnotations / updateCornerAnnotation
        corner.SetText(position, "")
    assert corner.GetText(vtkCornerAnnotation.UpperEdge) == "slice 12: chest (0.93)"


# -- self-test dependency gate ----------------------------------------------------------------------------------


def _missing(*names: str) -> list:
    return [SimpleNamespace(dependency=SimpleNamespace(requirement=name)) for name in names]


def test_self_test_skips_with_the_missing_packages_named() -> None:
    printed: list[str] = []
    with pytest.raises(unittest.SkipTest, match=r"torch>=2\.1.*RADTRIAGE_TEST_INSTALL_DEPENDENCIES=1"):
        rt_testing.requireDependencies({}, lambda: _missing("torch>=2.1", "monai>=1.3"), printFunction=printed.append)
    assert printed and printed[0].startswith(rt_testing.SKIP_MARKER)


def test_self_test_installs_when_the_runner_allows_and_fails_if_still_missing() -> None:
    state = {"missing": _missing("psutil>=5")}
    installed: list = []

    def install(missing) -> None:
        installed.append([m.dependency.requirement for m in missing])
        state["missing"] = []

    env = {rt_testing.INSTALL_ENVIRONMENT_VARIABLE: "1"}
    rt_testing.requireDependencies(env, lambda: state["missing"], install)
    assert installed == [["psutil>=5"]]
    with pytest.raises(AssertionError, match="left monai missing"):
        rt_testing.requireDependencies(env, lambda: _missing("monai"), lambda missing: None)
    rt_testing.requireDependencies({}, list)  # nothing missing: runs


def test_cmake_tells_ctest_the_skip_marker() -> None:
    root = Path(__file__).resolve().parents[1]
    for module in ("BodyRegion", "LGECertainty", "CMBDetect"):
        text = (root / module / "CMakeLists.txt").read_text()
        assert f'SKIP_REGULAR_EXPRESSION "{rt_testing.SKIP_MARKER}"' in text, module


def test_a_job_that_cannot_start_leaves_no_job_folder(tmp_path, monkeypatch) -> None:
    """No PythonSlicer (or any other start error) after the inputs were written: the job folder goes again."""
    import tempfile

    from radtriage.runtime.runner import JobStartError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    logic = type("Logic", (mb.ModuleLogicBase,), {"taskName": "body_region"})()
    image = Image(np.ones((4, 5, 6), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), {})

    def no_interpreter(paths):
        assert all(path.is_file() for path in paths.values())  # the inputs were written first
        raise JobStartError("PythonSlicer was not found")

    with pytest.raises(JobStartError, match="PythonSlicer"):
        logic.startTaskJob({"image": image}, no_interpreter)
    assert list(tmp_path.iterdir()) == []
