"""The CaseReview module file itself, imported outside Slicer, driving a real background run through the shared
base's job flow (RadTriageCommonLib.module_base + JobController) on a headless slicer-core scene.

Slicer's Qt-side modules (``qt``, ``ctk``, ``slicer.i18n``, ``slicer.parameterNodeWrapper``,
``slicer.ScriptedLoadableModule``) are not in PyPI ``slicer-core``: minimal stand-ins replace them, just enough to
import the module. The job is a real ``radtriage infer`` child process; the sessions, stores and scene are real.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from radtriage.review import opening

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "CaseReview" / "CaseReview.py"
sys.path.insert(0, str(ROOT / "RadTriageCommon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class _Scripted:
    """ScriptedLoadableModule* stand-in: chains ``super().__init__()`` and gives ``parent`` and ``moduleName``."""

    def __init__(self, parent=None) -> None:
        super().__init__()
        self.parent, self.moduleName = parent or SimpleNamespace(isEntered=True), "CaseReview"


@pytest.fixture
def module(monkeypatch, tmp_path: Path):
    """CaseReview.py imported with the stand-ins; ``slicer.mrmlScene`` a headless scene, ``slicer.app`` a Slicer
    home whose ``bin/PythonSlicer`` runs this Python, and a temporary folder."""
    import slicer

    from radtriage.mrml import create_headless_scene

    headless = create_headless_scene()
    home = tmp_path / "Slicer"  # what the jobs need of an installed Slicer: bin/PythonSlicer
    (home / "bin").mkdir(parents=True)
    launcher = home / "bin" / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    launcher.chmod(0o755)
    app = SimpleNamespace(temporaryPath=str(tmp_path / "slicer-temp"), slicerHome=str(home))
    monkeypatch.setattr(slicer, "mrmlScene", headless.scene, raising=False)
    monkeypatch.setattr(slicer, "app", app, raising=False)
    stubs = {
        "qt": SimpleNamespace(),
        "ctk": SimpleNamespace(),
        "slicer.i18n": SimpleNamespace(tr=lambda text: text),
        "slicer.parameterNodeWrapper": SimpleNamespace(Choice=lambda *a: None, parameterNodeWrapper=lambda c: c),
        "slicer.ScriptedLoadableModule": SimpleNamespace(
            ScriptedLoadableModule=_Scripted, ScriptedLoadableModuleWidget=_Scripted,
            ScriptedLoadableModuleTest=_Scripted, ScriptedLoadableModuleLogic=type("Logic", (), {})),
    }  # fmt: skip
    for name, stub in stubs.items():
        monkeypatch.setitem(sys.modules, name, stub)
    loaded = SimpleNamespace(**runpy.run_path(str(MODULE_FILE), run_name="CaseReview"))
    yield loaded
    headless.close()


def _widget(module):
    """The module's widget with its real Logic and the real JobController on stand-in Qt widgets."""
    from RadTriageCommonLib.job_controller import JobController
    from test_module_base import Bar, Timer

    widget = module.CaseReviewWidget()
    widget.logic = module.CaseReviewLogic()
    widget.errors, widget.shown = [], []
    widget.ui = SimpleNamespace(applyButton=SimpleNamespace(text="Run", enabled=True, toolTip=""), progressBar=Bar(),
                                statusLabel=SimpleNamespace(text=""))  # fmt: skip
    widget._jobs = JobController(widget.ui.applyButton, widget.ui.progressBar, widget.ui.statusLabel,
                                 widget._onJobSucceeded, timer=Timer(),
                                 errorDisplay=lambda text, detailedText="": widget.errors.append(text + detailedText))
    widget.ensureDependencies = lambda: True
    widget._showCase = lambda: widget.shown.append(widget.session.current.case_id)  # the Qt panel is not here
    return widget


def _poll_until_done(widget, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while widget._jobs.running and time.monotonic() < deadline:
        widget._jobs.poll()
        time.sleep(0.2)
    assert not widget._jobs.running, "the run did not end"


@pytest.mark.mrml
@pytest.mark.slow
def test_run_result_lands_on_the_case_it_ran_on_after_the_reader_moved_and_reopened(module, tmp_path: Path) -> None:
    """Run on 05-body-ct of project A, move to another case, then open project B on the same list at 05-body-ct:
    the result is A's 05-body-ct, B is not reloaded, and the job folder is gone (read inside onJobFinished)."""
    widget = _widget(module)
    logic = widget.logic
    first = logic.openSession("demo cases", "", str(tmp_path / "A"), "r1", False, "from case.json")
    widget.session = first
    first.go_to("05-body-ct")
    widget._checkCanApply()
    assert widget.ui.applyButton.enabled
    widget.onApplyButton()
    assert widget._jobs.running and widget.errors == []
    job = widget._jobs.job
    assert Path(job.output_dir).parent.parent == tmp_path / "slicer-temp"  # a job folder, not in the project
    first.go_to("04-lge-stack")
    second = logic.openSession("demo cases", "", str(tmp_path / "B"), "r1", False, "from case.json")
    second.go_to("05-body-ct")
    widget.session = second
    try:
        _poll_until_done(widget)
        assert widget.errors == [] and widget._jobs.lastState == "succeeded"
        assert first.result("05-body-ct")["task"] == "body_region"
        assert second.result("05-body-ct") is None and widget.shown == []
        assert not Path(job.output_dir).parent.exists()  # the controller removed the job folder
        assert sorted(p.name for p in first.result_folder("05-body-ct").parent.iterdir()) == ["body_region"]
    finally:
        first.store.close()
        second.store.close()


@pytest.mark.mrml
@pytest.mark.slow
def test_run_result_reloads_the_case_when_it_is_still_shown(module, tmp_path: Path) -> None:
    widget = _widget(module)
    session = widget.logic.openSession("demo cases", "", str(tmp_path / "A"), "r1", False, "from case.json")
    widget.session = session
    try:
        session.go_to("05-body-ct")
        widget.onApplyButton()
        _poll_until_done(widget)
        assert widget.errors == [] and widget.shown == ["05-body-ct"]
        nodes = widget.logic.loadCase(session)
        assert nodes["shown"] and nodes["overlays"]["label_volume"] is not None
    finally:
        session.store.close()


def test_run_task_is_disabled_until_a_case_list_is_open(module) -> None:
    widget = _widget(module)
    widget._checkCanApply()
    assert not widget.ui.applyButton.enabled and widget.ui.applyButton.toolTip == "Open a case list first"
    assert module.CaseReviewWidget.jobInputParameters == () and module.CaseReviewWidget.autoSelectParameters == ()
    assert module.CaseReviewParameterNode.caseSource == "" and module.CaseReviewParameterNode.storeFolder == ""
    assert list(opening.CASE_LIST_KINDS) == module.CASE_LIST_CHOICES


def test_module_needs_radtriage_common_and_slicer_5_12(module) -> None:
    parent = SimpleNamespace()
    module.CaseReview(parent)
    assert parent.dependencies == ["RadTriageCommon"] and parent.categories == ["RadTriage"]
    assert "Needs 3D Slicer 5.12 or newer." in parent.helpText and "5.8" not in parent.helpText
    assert "Ctrl+PgDown next case" in parent.helpText and "demo, not for clinical use" in parent.helpText
