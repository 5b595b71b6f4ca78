"""The MRITriage module file itself, imported outside Slicer, on a real headless slicer-core scene.

Slicer's Qt-side modules (``qt``, ``slicer.i18n``, ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``)
are not in PyPI ``slicer-core``: they are replaced by the minimal stand-ins below, just enough to import the module
and drive its widget through the shared base's job flow (RadTriageCommonLib.module_base). Everything else is real:
the MRML scene, the module's Logic, the core it calls, the triage model (an untrained bundle) and ``result.json``.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from radtriage.cli import build_parser
from radtriage.commands.common import parse_options
from radtriage.mrml import (
    create_headless_scene,
    image_to_volume_node,
    patient_and_study_of,
    place_under_study,
    rows_from_table,
    slice_composite_nodes,
    volume_node_to_image,
)
from radtriage.phantoms import make_brain_case

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "MRITriage" / "MRITriage.py"
sys.path.insert(0, str(ROOT / "RadTriageCommon"))


# ------------------------------------------------------------------------------------- the module, imported
class _ScriptedStandIn:
    """ScriptedLoadableModule* stand-in: chains ``super().__init__()`` as Slicer's classes do."""

    def __init__(self, parent=None) -> None:
        super().__init__()
        self.parent = parent if parent is not None else SimpleNamespace(isEntered=True)
        self.moduleName = "MRITriage"


def _stub(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


@pytest.fixture
def headless(monkeypatch):
    """A headless scene as ``slicer.mrmlScene`` (no DICOM database, no application)."""
    import slicer

    scene = create_headless_scene()
    monkeypatch.setattr(slicer, "mrmlScene", scene.scene, raising=False)
    yield scene
    scene.close()


@pytest.fixture
def module(monkeypatch, headless):
    """MRITriage.py imported with the stand-ins; its names as attributes."""
    stubs = {
        "qt": _stub("qt"),
        "slicer.i18n": _stub("slicer.i18n", tr=lambda text: text),
        "slicer.parameterNodeWrapper": _stub("slicer.parameterNodeWrapper", Choice=lambda *a: None,
                                             WithinRange=lambda *a: None, parameterNodeWrapper=lambda cls: cls),
        "slicer.ScriptedLoadableModule": _stub(
            "slicer.ScriptedLoadableModule", ScriptedLoadableModule=_ScriptedStandIn,
            ScriptedLoadableModuleWidget=_ScriptedStandIn, ScriptedLoadableModuleTest=_ScriptedStandIn,
            ScriptedLoadableModuleLogic=type("ScriptedLoadableModuleLogic", (), {})),
    }  # fmt: skip
    for name, stub in stubs.items():
        monkeypatch.setitem(sys.modules, name, stub)
    spec = importlib.util.spec_from_file_location("MRITriage", MODULE_FILE)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_module_file_is_thin_and_declares_what_slicer_needs() -> None:
    text = MODULE_FILE.read_text()
    assert len(text.splitlines()) <= 450
    tree = ast.parse(text)
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not top & {"torch", "monai", "psutil", "radtriage", "numpy"}
    assert 'self.parent.dependencies = ["RadTriageCommon"]' in text
    assert "Needs 3D Slicer 5.12 or newer" in text and "5.8" not in text
    ui = (ROOT / "MRITriage" / "Resources" / "UI" / "MRITriage.ui").read_text()
    assert "<string>studyFolder</string>" not in ui  # bound by the base (pathParameters): never shows "."


def test_study_folder_is_text_that_starts_empty(module) -> None:
    assert module.MRITriageParameterNode.studyFolder == ""  # pathlib.Path() would show "." until chosen
    assert module.MRITriageWidget.pathParameters == {"studyFolder": "studyFolderPathLineEdit"}


def test_argv_sends_the_users_contrasts_and_the_chosen_thresholds(module, tmp_path: Path) -> None:
    from radtriage.commands.common import parse_inputs
    from radtriage.tasks.mri_triage import key_overrides

    logic = module.MRITriageLogic
    paths = {"FLAIR": tmp_path / "FLAIR.nrrd", "T1post": tmp_path / "T1post.nrrd"}
    args = build_parser().parse_args(logic.buildArgv(paths, logic.operatingPointFor(False))[3:])
    inputs = parse_inputs(args.input)
    assert {key: Path(path) for key, path in inputs.items()} == paths
    assert key_overrides(inputs) == {"FLAIR": "FLAIR", "T1post": "T1post"}  # the core takes the key as the contrast
    assert parse_options(args.option) == {"operating_point": "default"}
    assert "--option" not in logic.buildArgv(paths)
    assert logic.operatingPointFor(True) == "balanced"


def test_both_operating_points_exist_in_the_demo_bundle(module) -> None:
    from radtriage.models.bundle import read_metadata

    folders = sorted((ROOT / "radtriage" / "bundles").glob("mri-triage-demo-*"))
    meta = read_metadata(folders[-1])
    logic = module.MRITriageLogic
    for output, points in meta.thresholds.items():
        assert {logic.operatingPointFor(True), logic.operatingPointFor(False)} <= set(points), output


def test_critical_banner_missing_contrasts_and_notices() -> None:
    from radtriage.tasks.mri_triage.mrml import NO_CRITICAL_TEXT, critical_banner, missing_contrasts_text, notices_text

    def outputs(probabilities: dict[str, float]) -> dict:
        return {"findings": [{"output": n, "probability": p, "decision": p >= 0.5, "threshold": 0.5,
                              "critical": n != "abnormal"} for n, p in probabilities.items()]}  # fmt: skip

    assert critical_banner(outputs({"abnormal": 0.9, "acute_infarct": 0.2})) == (NO_CRITICAL_TEXT, False)
    loud = outputs({"abnormal": 0.9, "acute_infarct": 0.2, "acute_haemorrhage": 0.8, "mass_effect": 0.5})
    assert critical_banner(loud) == ("CRITICAL finding above threshold: acute haemorrhage (p = 0.80 >= 0.50), "
                                     "mass effect (p = 0.50 >= 0.50)", True)  # fmt: skip
    used = {"contrasts": {"used": ["T1", "T2"]}, "missing_contrasts": ["FLAIR", "SWI"]}
    assert missing_contrasts_text(used) == "Used: T1, T2. Missing contrasts: FLAIR, SWI."
    assert missing_contrasts_text({**used, "missing_contrasts": []}) == "Used: T1, T2. No contrast missing."
    assert notices_text({"notices": ["demo, not for clinical use", "T2-only mode"]}) == (
        "demo, not for clinical use\nT2-only mode")  # fmt: skip


# ------------------------------------------------------------------------------- contrast detection in the scene
def test_logic_detects_contrasts_from_dicom_through_the_database(module, headless, tmp_path: Path, monkeypatch):
    """Before: every DICOM-loaded volume was "other, 0.00" (volume_node_to_image kept only the node name)."""
    import slicer
    from test_mrml_contrast import DicomDatabase, _write_series

    from radtriage.io import read_image

    case = make_brain_case(1, shape=(20, 22, 5), spacing=(9.0, 9.0, 9.0))
    files, nodes = {}, {}
    for i, (contrast, image) in enumerate(case.images.items()):
        written = _write_series(image, tmp_path / f"s{i}", contrast)
        files.update(written)
        nodes[contrast] = image_to_volume_node(headless.scene, read_image(tmp_path / f"s{i}"), f"{i + 2}: Series")
        nodes[contrast].SetAttribute("DICOM.instanceUIDs", " ".join(written))
    monkeypatch.setattr(slicer, "dicomDatabase", DicomDatabase(files), raising=False)
    logic = module.MRITriageLogic()
    table = logic.assignContrasts(logic.candidateVolumes())
    assert {contrast: table[node.GetID()]["choice"] for contrast, node in nodes.items()} == {c: c for c in nodes}
    monkeypatch.setattr(slicer, "dicomDatabase", None)
    blind = logic.assignContrasts(list(nodes.values()))  # no database: nothing is known, nothing is fed as "other"
    assert {row["choice"] for row in blind.values()} == {"(not used)"}


def test_load_study_shows_the_first_volume_and_detects_each_file(module, headless, tmp_path, monkeypatch) -> None:
    """Before: Load study added its volumes invisibly, and detection saw node names only."""
    import slicer

    from radtriage.io import write_volume

    monkeypatch.setattr(slicer, "app", SimpleNamespace(applicationLogic=lambda: headless.app_logic), raising=False)
    case = make_brain_case(0, shape=(24, 24, 12))
    names = {"T1": "t1_mprage", "T1post": "t1_mprage_post_gd", "FLAIR": "t2_flair_tra", "SWI": "swi_tra"}
    for contrast, name in names.items():  # the self-test's study
        write_volume(case.images[contrast], tmp_path / f"{name}.nii.gz")
    logic = module.MRITriageLogic()
    nodes = logic.loadStudyFolder(str(tmp_path))
    assert sorted(node.GetName() for node in nodes) == sorted(names.values())
    assert all(c.GetBackgroundVolumeID() == nodes[0].GetID() for c in slice_composite_nodes(headless.scene))
    guesses = logic.assignContrasts(nodes)
    assert {node.GetName(): guesses[node.GetID()]["contrast"] for node in nodes} == {n: c for c, n in names.items()}


# ------------------------------------------------------------- the job flow: results on the volumes it ran on
class Label(SimpleNamespace):
    text = ""

    def setStyleSheet(self, style: str) -> None:
        self.style = style


class Combo:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.currentText = ""

    def blockSignals(self, blocked: bool) -> bool:
        return False

    def clear(self) -> None:
        self.items, self.currentText = [], ""

    def addItems(self, items) -> None:
        self.items += list(items)
        self.currentText = self.currentText or (self.items[0] if self.items else "")

    def setCurrentText(self, text: str) -> None:
        self.currentText = text


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory: pytest.TempPathFactory):
    from radtriage.tasks.mri_triage import TriageModel, write_untrained_bundle

    return TriageModel.from_bundle(write_untrained_bundle(tmp_path_factory.mktemp("b") / "mri-untrained"), "cpu")


def _widget(module, untrained_model, tmp_path: Path):
    """The module's widget on stand-in Qt widgets; its Logic starts a job that runs the core on the images."""
    from RadTriageCommonLib.job_controller import JobController
    from test_module_base import Bar, FakeJob, Timer

    from radtriage.tasks.mri_triage import run
    from radtriage.tasks.result import write_result

    widget = module.MRITriageWidget()
    widget.logic = module.MRITriageLogic()
    widget.errors, widget.started = [], []
    widget.ui = SimpleNamespace(
        applyButton=SimpleNamespace(text="Apply", enabled=True, toolTip=""),
        progressBar=Bar(),
        statusLabel=SimpleNamespace(text=""),
        loadStudyButton=SimpleNamespace(enabled=False),
        criticalBannerLabel=Label(),
        missingContrastsLabel=Label(),
        noticesLabel=Label(),
        heatmapOutputComboBox=Combo(),
        resultsTableView=SimpleNamespace(setMRMLTableNode=lambda node: None),
    )
    widget._jobs = JobController(
        widget.ui.applyButton,
        widget.ui.progressBar,
        widget.ui.statusLabel,
        widget._onJobSucceeded,
        timer=Timer(),
        errorDisplay=lambda text, detailedText="": widget.errors.append(text),
        onStateChanged=lambda running: widget._checkCanApply(),
    )
    widget._parameterNode = SimpleNamespace(studyFolder="", useBundleThresholds=False, outputTable=None,
                                            heatmapOpacity=0.4, heatmapColormap="Iron")  # fmt: skip
    widget.ensureDependencies = lambda: True

    def start_task_job(images, argv_for):  # the job: argv for the inputs, the core's answer written as a job does
        argv_for({key: tmp_path / f"{key}.nrrd" for key in images})
        widget.started.append(dict(images))
        outputs = write_result(run(images, model=untrained_model), tmp_path / f"out{len(widget.started)}")
        return FakeJob({key: str(path) for key, path in outputs.items()})

    widget.logic.startTaskJob = start_task_job
    return widget


def test_results_attach_to_the_volumes_the_job_ran_on_when_the_table_changes_mid_run(
    module, headless, untrained_model, tmp_path: Path
) -> None:
    scene = headless.scene
    case = make_brain_case(4, "haemorrhage", shape=(30, 34, 22), spacing=(6.0, 6.0, 7.0), contrasts=["T1", "FLAIR"])
    other = make_brain_case(5, shape=(24, 24, 16), spacing=(8.0, 8.0, 8.0), contrasts=["T1"])
    t1 = image_to_volume_node(scene, case.images["T1"], "sag T1")
    flair = image_to_volume_node(scene, case.images["FLAIR"], "ax FLAIR")
    later = image_to_volume_node(scene, other.images["T1"], "another patient's T1")
    for node in (t1, flair):
        place_under_study(scene, node, "Anon 7", "MR brain")
    place_under_study(scene, later, "Anon 8", "MR brain 2")
    widget = _widget(module, untrained_model, tmp_path)
    table = {t1.GetID(): "T1", flair.GetID(): "T2"}  # the user relabelled the FLAIR volume T2
    widget._assignmentFromTable = lambda: dict(table)
    widget._checkCanApply()
    assert widget.ui.applyButton.enabled

    widget.onApplyButton()
    assert widget._jobs.running and sorted(widget.started[0]) == ["T1", "T2"]
    np.testing.assert_array_equal(widget.started[0]["T2"].array, case.images["FLAIR"].array)
    table.clear()
    table[later.GetID()] = "T1"  # while it runs, the user detects contrasts on another study
    widget.job = widget._jobs.job
    widget.job.done = True
    widget._jobs.poll()

    assert widget.errors == [] and not widget._jobs.running
    result_table = scene.GetFirstNodeByName("MRI triage results")
    assert patient_and_study_of(scene, result_table) == ("Anon 7", "MR brain")
    heatmaps = [n for n in scene.GetNodesByClass("vtkMRMLScalarVolumeNode") if n.GetAttribute("RadTriage.Role")]
    # T1 + T2 only: no heatmap for acute infarct (needs DWI/ADC) and acute haemorrhage (needs SWI)
    assert len(heatmaps) == 2 and sorted(widget.ui.heatmapOutputComboBox.items) == sorted(
        n.GetAttribute("RadTriage.Output") for n in heatmaps)  # fmt: skip
    for node in heatmaps:
        assert patient_and_study_of(scene, node) == ("Anon 7", "MR brain")
        np.testing.assert_allclose(volume_node_to_image(node).ijk_to_ras, case.images["T1"].ijk_to_ras, atol=1e-4)
    assert all(c.GetBackgroundVolumeID() == t1.GetID() for c in slice_composite_nodes(scene))
    assert patient_and_study_of(scene, later) == ("Anon 8", "MR brain 2")
    assert widget.ui.missingContrastsLabel.text.startswith("Used: T1, T2.")
    assert widget._parameterNode.outputTable is result_table


def test_results_go_nowhere_when_a_job_volume_was_removed(module, headless, untrained_model, tmp_path) -> None:
    scene = headless.scene
    case = make_brain_case(4, shape=(24, 24, 16), spacing=(8.0, 8.0, 8.0), contrasts=["T1", "T2"])
    t1 = image_to_volume_node(scene, case.images["T1"], "T1")
    t2 = image_to_volume_node(scene, case.images["T2"], "T2")
    widget = _widget(module, untrained_model, tmp_path)
    widget._assignmentFromTable = lambda: {t1.GetID(): "T1", t2.GetID(): "T2"}
    widget.onApplyButton()
    scene.RemoveNode(t1)
    widget._jobs.job.done = True
    widget._jobs.poll()
    assert len(widget.errors) == 1 and "T1 the job ran on" in widget.errors[0]
    assert scene.GetFirstNodeByName("MRI triage results") is None


def test_results_fill_the_output_table_the_user_added(module, headless, untrained_model, tmp_path) -> None:
    scene = headless.scene
    case = make_brain_case(4, shape=(24, 24, 16), spacing=(8.0, 8.0, 8.0), contrasts=["T2"])
    t2 = image_to_volume_node(scene, case.images["T2"], "T2")
    widget = _widget(module, untrained_model, tmp_path)
    widget._parameterNode.outputTable = mine = scene.AddNewNodeByClass("vtkMRMLTableNode", "my table")
    widget._assignmentFromTable = lambda: {t2.GetID(): "T2"}
    widget.onApplyButton()
    widget._jobs.job.done = True
    widget._jobs.poll()
    assert widget.errors == [] and widget._parameterNode.outputTable is mine
    assert [row["output"] for row in rows_from_table(mine)] == ["abnormal", "acute_infarct", "acute_haemorrhage",
                                                               "mass_effect"]  # fmt: skip
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1 and mine.GetName() == "my table"


@pytest.mark.slow
def test_background_job_runs_the_demo_bundle_on_the_users_contrasts(module, headless) -> None:
    """The Logic's real job (``radtriage infer`` in a child process) on a T1 + FLAIR study relabelled T2."""
    from RadTriageCommonLib.job_files import readJobResult, removeJobFolder

    case = make_brain_case(3, "haemorrhage", shape=(32, 36, 24), spacing=(6.0, 6.0, 7.0), contrasts=["T1", "FLAIR"])
    t1 = image_to_volume_node(headless.scene, case.images["T1"], "T1 MPRAGE")
    flair = image_to_volume_node(headless.scene, case.images["FLAIR"], "ax FLAIR")
    logic = module.MRITriageLogic()
    job = logic.startJob({t1.GetID(): "T1", flair.GetID(): "T2"}, logic.operatingPointFor(False))
    try:
        assert job.wait(timeout=240).value == "succeeded", job.error
        out = readJobResult(job.outputs)["outputs"]
        assert out["contrasts"]["inputs"] == {"T1": "T1", "T2": "T2"}  # the user's T2 label won over detection
        assert set(out["thresholds"].values()) == {0.5}  # --option operating_point=default reached the runner
        assert sorted(logic.readHeatmaps(job.outputs)) == sorted(f"heatmap_{name}" for name in out["probabilities"])
    finally:
        removeJobFolder(job.output_dir)
