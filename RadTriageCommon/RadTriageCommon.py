"""RadTriageCommon: hidden library module shipping the Slicer-side code the RadTriage modules share.

``RadTriageCommonLib`` holds the first-use dependency install (:mod:`RadTriageCommonLib.dependencies_dialog`), the
background-job controller that drives a module's Apply/Cancel button and progress bar from a QTimer
(:mod:`RadTriageCommonLib.job_controller`), and the job folder / result import helpers
(:mod:`RadTriageCommonLib.job_files`). The task modules import them inside methods.
"""

from __future__ import annotations

import logging
import sys
import time

import qt
import slicer
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest

logger = logging.getLogger(__name__)


def addSourceCheckoutCore(moduleFile: str = __file__) -> str | None:
    """Make a source checkout's core package importable; returns the folder put on ``sys.path`` (None if none).

    Slicer appends each scripted module's own folder to ``sys.path``
    (``Base/QTGUI/qSlicerScriptedLoadableModuleFactory.cxx``, ``ctkFactoryScriptedItem::load``, v5.12.3). In an
    installed extension or a build tree ``radtriage/`` sits in that same qt-scripted-modules folder; in a source
    checkout added through *Additional module paths* it sits one level up, beside the module folders.
    """
    import os

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(moduleFile)))
    if not os.path.isfile(os.path.join(checkout, "radtriage", "__init__.py")) or checkout in sys.path:
        return None
    sys.path.append(checkout)
    return checkout


addSourceCheckoutCore()


class RadTriageCommon(ScriptedLoadableModule):
    """Module description (hidden: it has no GUI of its own)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("RadTriage Common")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.hidden = True
        self.parent.contributors = ["SlicerRadTriage contributors"]
        self.parent.helpText = _(
            "Shared code of the RadTriage modules: installs their Python dependencies on first use and runs their "
            "computations in a background process with progress and Cancel. The bundled models are demo models: "
            "demo, not for clinical use."
        )
        self.parent.acknowledgementText = _("Part of SlicerRadTriage.")

        # Additional initialization step after application startup is complete
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """Add the phantom cases to the Sample Data module (category RadTriage); each is generated on first use."""
    import SampleData
    from RadTriageCommonLib import sample_data

    cacheDir = slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()
    SampleData.SampleDataLogic.registerCustomSampleDataCategory(sample_data.SAMPLE_CATEGORY, title=_("RadTriage"))
    for sample in sample_data.PHANTOM_SAMPLES:
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            customDownloader=loadPhantomSample, **sample_data.source_arguments(sample, cacheDir)
        )


def loadPhantomSample(source) -> list:
    """Sample Data button: write the phantom into Slicer's cache folder (once), then let Sample Data load it."""
    import SampleData
    from RadTriageCommonLib import sample_data

    cacheDir = slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()
    try:
        with slicer.util.WaitCursor():
            sample_data.write_sample(sample_data.sample_named(source.sampleName), cacheDir)
    except Exception as exc:  # one line for the user; the phantom code's own errors are already specific
        slicer.util.errorDisplay(
            _(
                "RadTriage sample {name}: could not write it into {folder}: {error}. Make the cache folder writable "
                "(Application Settings, Cache) and try again."
            ).format(name=source.sampleName, folder=cacheDir, error=exc)
        )
        return []
    return SampleData.SampleDataLogic().downloadFromSource(source)


CHILD_SCRIPT = r"""
import json, os, sys, time
mode = sys.argv[1]
out = os.environ["RADTRIAGE_JOB_OUTPUT_DIR"]
def emit(**event):
    print(json.dumps(event), flush=True)
for step in range(5):
    emit(event="progress", fraction=step / 4, message=f"step {step}")
    time.sleep(0.05)
    if mode == "slow":
        time.sleep(30)
if mode == "fail":
    print("radtriage: error: the test task refuses this input", file=sys.stderr, flush=True)
    sys.exit(2)
path = os.path.join(out, "scores.csv")
with open(path, "w") as f:
    f.write("slice,score\n0,0.25\n1,0.75\n")
emit(event="result", outputs={"table": path})
"""


class RadTriageCommonTest(ScriptedLoadableModuleTest):
    """Self-test: real child processes followed by the JobController under Slicer's event loop."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_RadTriageCommon_jobSucceeds()
        self.setUp()
        self.test_RadTriageCommon_jobFailsAndCancels()
        self.setUp()
        self.test_RadTriageCommon_dependencyCheck()

    def _controller(self):
        from RadTriageCommonLib.job_controller import JobController
        from RadTriageCommonLib.job_files import loadOutputs

        widgets = {"button": qt.QPushButton("Apply"), "bar": qt.QProgressBar(), "label": qt.QLabel()}
        seen = {"values": [], "errors": [], "nodes": []}
        widgets["bar"].connect("valueChanged(int)", seen["values"].append)
        controller = JobController(
            widgets["button"],
            widgets["bar"],
            widgets["label"],
            lambda outputs: seen["nodes"].append(loadOutputs(outputs)),
            errorDisplay=lambda text, detailedText="": seen["errors"].append((text, detailedText)),
        )
        return controller, widgets, seen

    def _start(self, mode: str):
        from RadTriageCommonLib.job_files import newJobFolder

        from radtriage.runtime.runner import BackgroundJob, job_python

        _inputDir, outputDir = newJobFolder("selftest")
        return BackgroundJob([job_python(), "-c", CHILD_SCRIPT, mode], outputDir).start()

    def _waitWhileRunning(self, controller, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while controller.running and time.monotonic() < deadline:
            slicer.app.processEvents()
            qt.QThread.msleep(20)

    def test_RadTriageCommon_jobSucceeds(self) -> None:
        """Apply reads Cancel while the job runs, the bar reaches 100, the CSV result becomes a table node."""
        self.delayDisplay("Background job: success")
        controller, widgets, seen = self._controller()
        controller.follow(self._start("ok"))
        self.assertEqual(widgets["button"].text, "Cancel")
        self.assertTrue(controller.running)
        self._waitWhileRunning(controller)
        self.assertFalse(controller.running)
        self.assertEqual(controller.lastState, "succeeded", controller.log)
        self.assertEqual(widgets["button"].text, "Apply")
        self.assertIn(100, seen["values"])
        self.assertEqual(seen["errors"], [])
        table = seen["nodes"][0]["table"]
        self.assertEqual(table.GetNumberOfRows(), 2)
        self.delayDisplay("Test passed")

    def test_RadTriageCommon_jobFailsAndCancels(self) -> None:
        """A failing job shows the child's error with its log; Cancel stops a running job and keeps nothing."""
        self.delayDisplay("Background job: failure and cancel")
        controller, widgets, seen = self._controller()
        controller.follow(self._start("fail"))
        self._waitWhileRunning(controller)
        self.assertEqual(controller.lastState, "failed")
        self.assertEqual(len(seen["errors"]), 1)
        self.assertIn("refuses this input", seen["errors"][0][0])

        job = self._start("slow")
        controller.follow(job)
        deadline = time.monotonic() + 10
        while not controller.log and time.monotonic() < deadline:
            slicer.app.processEvents()
            qt.QThread.msleep(20)
        controller.cancel()
        self._waitWhileRunning(controller, timeout=15)
        self.assertEqual(controller.lastState, "cancelled")
        self.assertEqual(widgets["button"].text, "Apply")
        self.assertFalse(job.output_dir.parent.exists())  # the job folder is removed once the job ended
        self.delayDisplay("Test passed")

    def test_RadTriageCommon_dependencyCheck(self) -> None:
        """The dependency check runs in Slicer's Python and any plan it makes names every missing package."""
        from RadTriageCommonLib import dependencies_dialog

        from radtriage import dependencies as deps

        self.delayDisplay("Dependency check")
        missing = deps.missing_requirements()
        plan = deps.install_plan(
            missing,
            has_torch_extension=dependencies_dialog.torchUtilsLogic() is not None,
        )
        for item in missing:
            self.assertIn(item.dependency.requirement, plan.dialog_text)
        self.assertEqual(plan.empty, not missing)
        self.delayDisplay("Test passed")
