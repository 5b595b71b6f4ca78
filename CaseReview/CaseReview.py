"""CaseReview: go through a case list as one reader and label each case (3D Slicer scripted module).

Thin glue of this module's widgets on :mod:`RadTriageCommonLib.module_base` (life cycle, parameter node, job,
scoped shortcuts); the decisions live in the review core (:mod:`radtriage.review`: ``opening``, ``panel``,
``runs``, ``keys``, ``case_mrml``, ``mrml_views``), tested on a headless MRML scene and imported inside methods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import ctk
import qt
import slicer
from RadTriageCommonLib.module_base import ModuleLogicBase, ModuleTestBase, ModuleWidgetBase, describeModule
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

READER_SETTINGS_KEY = "RadTriage/CaseReview/readerId"
"""QSettings key of the reader id: a setting of this computer's user, never saved with the scene."""

CASE_LIST_CHOICES = ["folder", "CSV file", "DICOM folder", "DICOM database", "demo cases"]
"""The keys of ``radtriage.review.opening.CASE_LIST_KINDS`` (literal: the parameter node is built at import)."""
TASK_CHOICES = ["from case.json", "mri_triage", "cmb_detect", "lge_certainty", "body_region"]
"""``radtriage.review.opening.TASK_CHOICES``."""

#
# CaseReview
#


class CaseReview(ScriptedLoadableModule):
    """What Slicer's module panel says about CaseReview (the shared ``describeModule`` adds the rest)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        describeModule(self.parent, _("Case Review"), anchor="casereview", helpText=_(
            "Read a case list (a folder of cases, a CSV file, a DICOM folder, Slicer's DICOM database or the demo "
            "cases) as one reader: the module resumes at the first case you have not labelled, shows the case's "
            "images and the task modules' overlays, and records your labels (normal / abnormal and critical "
            "findings, a 0-100 LGE likelihood per slice, accept / reject / add per microbleed, the body region "
            "per slice range) in the project's append-only annotation store. In blind mode the model's outputs "
            "stay hidden until you have committed your own read of the case. Keyboard, anywhere in the window while "
            "this module is shown (slice views included), except in a text field: Ctrl+PgDown next case, "
            "Ctrl+PgUp previous case, Ctrl+Return commit, Ctrl+Shift+M add a missed microbleed at the crosshair "
            "(Shift + mouse move places it)."
        ))  # fmt: skip


#
# CaseReviewParameterNode
#


@parameterNodeWrapper
class CaseReviewParameterNode:
    """The parameters saved with the scene (not the reader id: that is this computer user's, in QSettings).

    caseListKind - where the case list comes from; caseSource - its folder or CSV file ("" until chosen);
    task - the task reviewed on every case, or "from case.json"; storeFolder - the project folder (annotation
    store and task results; "" until chosen); blindMode - hide the model's outputs until the reader commits.
    """

    caseListKind: Annotated[str, Choice(CASE_LIST_CHOICES)] = "demo cases"
    caseSource: str = ""
    task: Annotated[str, Choice(TASK_CHOICES)] = "from case.json"
    storeFolder: str = ""
    blindMode: bool = True


#
# CaseReviewWidget
#


class CaseReviewWidget(ModuleWidgetBase, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: the case list fields, the case box, the label panel; life cycle and job: the base's."""

    failureMessage = _("The task run failed.")
    startErrorMessage = _("Cannot start the task.")
    applyToolTip = _("Run the case's task in a background process; the overlays load when it ends")
    runningToolTip = _("Stop the running task")
    jobInputParameters = ()
    autoSelectParameters = ()
    offersDicomExport = False  # review runs write into the case list's result folders
    pathParameters: ClassVar[dict[str, str]] = {
        "caseSource": "caseSourcePathLineEdit", "storeFolder": "storeFolderPathLineEdit"}  # fmt: skip

    session = None
    _run = None
    _panel = None
    _controls: list | tuple = ()
    _getters: list | tuple = ()
    _added: list | tuple = ()

    def createLogic(self) -> CaseReviewLogic:
        return CaseReviewLogic()

    def setupWidgets(self) -> None:
        """Connect the case list fields, navigation and label buttons; the reader id this computer remembers."""
        self._panelLayout = qt.QVBoxLayout(self.ui.labelsWidget)
        self.ui.openButton.connect("clicked(bool)", self.onOpenButton)
        self.ui.previousButton.connect("clicked(bool)", self.onPrevious)
        self.ui.nextButton.connect("clicked(bool)", self.onNext)
        self.ui.commitButton.connect("clicked(bool)", self.onCommit)
        self.ui.addMissedButton.connect("clicked(bool)", self.onAddMissed)
        self.ui.readerIdLineEdit.text = str(qt.QSettings().value(READER_SETTINGS_KEY, "") or "")
        self._showSession()

    def shortcuts(self) -> dict[str, Any]:
        """The review keys (``radtriage.review.keys``: none of them is one of Slicer's own)."""
        from radtriage.review.keys import shortcut_bindings

        callbacks = {"next": self.onNext, "previous": self.onPrevious, "commit": self.onCommit,
                     "addMissed": self.onAddMissed}  # fmt: skip
        return {key: callbacks[action] for action, keys in shortcut_bindings().items() for key in keys}

    def cleanupWidgets(self) -> None:
        if self.session is not None:
            self.session.store.close()  # the application is closing: the scene goes with it

    def applyProblem(self) -> str:
        return "" if self.session is not None else _("Open a case list first")

    def onSceneEndClose(self, caller=None, event=None) -> None:
        """After a scene close the case's nodes are gone: load the current case again."""
        super().onSceneEndClose(caller, event)
        if self.session is not None:
            self._showCase()

    def onParameterNodeModified(self) -> None:
        """The path field is for folders and CSV files only."""
        from radtriage.review import opening

        kind = self._parameterNode.caseListKind
        field, wantsFile = self.ui.caseSourcePathLineEdit, opening.case_list_wants_file(kind)
        field.enabled = opening.case_list_needs_path(kind)
        field.filters = (ctk.ctkPathLineEdit.Files if wantsFile else ctk.ctkPathLineEdit.Dirs) | (
            ctk.ctkPathLineEdit.Readable)  # fmt: skip
        field.nameFilters = ["*.csv"] if wantsFile else []

    def onOpenButton(self) -> None:
        """Open the case list for the reader and go to the first case they have not done."""
        node = self._parameterNode
        readerId = self.ui.readerIdLineEdit.text.strip()
        if not self.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot open the case list."), waitCursor=True):
            session = self.logic.openSession(node.caseListKind, node.caseSource, node.storeFolder, readerId,
                                             node.blindMode, node.task)  # fmt: skip
            if self.session is not None:  # the previous list's, once the new one has opened
                self.logic.clearCases()
                self.session.store.close()
            self.session = session
            qt.QSettings().setValue(READER_SETTINGS_KEY, readerId)
            text = _("Opened {n} case(s); store: {where}")
            self.ui.reviewStatusLabel.text = text.format(n=len(session.cases), where=session.store.location)
            self._showCase()

    def _showSession(self) -> None:
        """Enable what needs an open session; show the reading progress."""
        from radtriage.review import panel

        for widget in (self.ui.previousButton, self.ui.nextButton, self.ui.commitButton, self.ui.addMissedButton):
            widget.enabled = self.session is not None
        self._checkCanApply()
        if self.session is None:
            self.ui.caseIdLabel.text = _("No case list open.")
            self.ui.progressLabel.text = ""
            self.ui.readingProgressBar.setValue(0)
            self._buildPanel([])
            return
        header = panel.case_header(self.session)
        self.ui.caseIdLabel.text = header["title"]
        self.ui.progressLabel.text = header["progress"]
        self.ui.readingProgressBar.setValue(header["percent"])

    def _showCase(self) -> None:
        """Load the current case into the scene (overlays only when allowed) and build its label panel."""
        from radtriage.review import panel

        with slicer.util.tryWithErrorDisplay(_("Cannot load the case."), waitCursor=True):
            nodes = self.logic.loadCase(self.session)
            slicer.util.resetSliceViews()
            self._added = []
            self._buildPanel(self.session.controls())
            visible, hasResult = self.session.outputs_visible(), nodes["result"] is not None
            self.ui.overlayLabel.text = panel.overlay_text(nodes["shown"], visible, hasResult)
        self._showSession()

    def onNext(self) -> None:
        if self.session is not None and self.session.next() is not None:
            self._showCase()

    def onPrevious(self) -> None:
        if self.session is not None and self.session.previous() is not None:
            self._showCase()

    def _buildPanel(self, controls, values=None) -> None:
        """One row per label control: radio buttons, checkboxes, a 0-100 slider, accept / reject, a region.
        ``values``: unsaved answers to show instead of the committed ones (None entries keep those)."""
        from radtriage.review import panel

        if self._panel is not None:
            self._panel.setParent(None)
            self._panel.deleteLater()
        self._panel = qt.QWidget()
        form = qt.QFormLayout(self._panel)
        self._panelLayout.addWidget(self._panel)
        self._controls = list(controls)
        self._getters = []
        rows = panel.panel_rows(self._controls)
        for row, value in zip(rows, values or [None] * len(rows), strict=True):
            row["initial"] = row["initial"] if value is None else value
            editor, getter = self._editor(row)
            title = qt.QLabel(row["title"])
            title.toolTip = row["hint"]
            form.addRow(title, editor)
            if row["hint"]:
                hint = qt.QLabel(row["hint"])
                hint.wordWrap = True
                form.addRow("", hint)
            self._getters.append(getter)
        for index, ras in enumerate(self._added):
            form.addRow(qt.QLabel(_("Missed microbleed {n}").format(n=index + 1)),
                        qt.QLabel(panel.ras_text(ras) + " " + _("(committed with the case)")))  # fmt: skip
        if not self._controls and not self._added:
            form.addRow(qt.QLabel(panel.empty_panel_text(self.session)))
        task = self.session.task_of() if self.session is not None else ""
        self.ui.addMissedButton.visible = panel.accepts_added_microbleeds(task)

    def _editor(self, row: dict[str, Any]):
        """A widget for one panel row and a function returning its value (None while unanswered)."""
        kind, choices, initial = row["kind"], row["choices"], row["initial"]
        box = qt.QWidget()
        layout = qt.QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        if kind in ("choice", "cmb"):
            group, buttons = qt.QButtonGroup(box), {choice: qt.QRadioButton(choice) for choice in choices}
            for choice, button in buttons.items():
                button.checked = choice == initial
                group.addButton(button)
                layout.addWidget(button)
            if kind == "cmb" and row.get("ras") is not None:
                show = qt.QPushButton(_("Show"))
                show.connect("clicked(bool)", lambda _checked=False, ras=row["ras"]: self.onShow(ras))
                layout.addWidget(show)
            return box, lambda: next((c for c, b in buttons.items() if b.checked), None)
        if kind == "multilabel":
            boxes = {choice: qt.QCheckBox(choice) for choice in choices}
            for choice, check in boxes.items():
                check.checked = choice in initial
                layout.addWidget(check)
            return box, lambda: [c for c, b in boxes.items() if b.checked]
        if kind == "rating":
            slider = qt.QSlider(qt.Qt.Horizontal)
            slider.setRange(int(row["minimum"]), int(row["maximum"]))
            value = qt.QLabel(_("not rated") if initial is None else f"{initial:.0f}")
            touched = {"rated": initial is not None}
            if initial is not None:
                slider.setValue(round(initial))

            def rated(v, label=value, state=touched):
                state["rated"] = True
                label.text = str(v)

            slider.connect("valueChanged(int)", rated)
            layout.addWidget(slider)
            layout.addWidget(value)
            return box, lambda: float(slider.value) if touched["rated"] else None
        combo = qt.QComboBox()  # region
        combo.addItems(["", *choices])
        combo.currentIndex = max(0, combo.findText(initial)) if initial else 0
        layout.addWidget(combo)
        return box, lambda: combo.currentText or None

    def onShow(self, ras) -> None:
        """Centre the slice views on a candidate (RAS mm)."""
        from radtriage.review.mrml_views import jump_slices_to

        jump_slices_to(self.mrmlScene(), ras)

    def onAddMissed(self) -> None:
        """Note a missed microbleed at the crosshair; it is committed with the case's labels."""
        from radtriage.review import panel
        from radtriage.review.mrml_views import crosshair_ras

        if self.session is None or not panel.accepts_added_microbleeds(self.session.task_of()):
            return
        values = [getter() for getter in self._getters]
        self._added = [*self._added, crosshair_ras(self.mrmlScene())]
        self._buildPanel(self._controls, values)
        text = _("Missed microbleed noted at {ras}; press Commit to store it.")
        self.ui.reviewStatusLabel.text = text.format(ras=panel.ras_text(self._added[-1]))

    def onCommit(self) -> None:
        """Commit the panel as one submission; in blind mode the case is then reloaded with the overlays."""
        if self.session is None:
            return
        values = [getter() for getter in self._getters]
        with slicer.util.tryWithErrorDisplay(_("Cannot store the labels."), waitCursor=True):
            submission, reload = self.logic.commitValues(self.session, self._controls, values, self._added)
            if submission is None:
                self.ui.reviewStatusLabel.text = _("Nothing new to commit on this case.")
                return
            text = _("Stored {n} label(s) on {case}.")
            self.ui.reviewStatusLabel.text = text.format(n=len(submission.entries), case=submission.case_id)
            if reload:
                self._showCase()  # blind mode: the model's outputs may now be shown
            else:
                self._added = []
                self._buildPanel(self.session.controls())
                self._showSession()

    def startJob(self):
        """Run the current case's task; the case and its result folder are fixed now, whatever is shown later."""
        self._run = self.logic.startJob(self.session)
        return self._run.job

    def onJobFinished(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Make the run's output the result of the case it ran on (the job folder goes away after this), then
        reload that case if it is still the one shown."""
        run, self._run = self._run, None
        if run is None:
            return
        run.install()
        if run.shown_in(self.session):
            self._showCase()


#
# CaseReviewLogic
#


class CaseReviewLogic(ModuleLogicBase, ScriptedLoadableModuleLogic):
    """The module's actions on Slicer's scene and DICOM database; the decisions are the review core's."""

    parameterNodeClass = CaseReviewParameterNode

    def openSession(self, choice: str, source: str, storeFolder: str, readerId: str, blind: bool, task: str):
        """The review session of the panel's fields (``radtriage.review.opening.open_review``)."""
        from radtriage.review.opening import open_review

        database = slicer.dicomDatabase if choice == "DICOM database" else None
        return open_review(choice, source, storeFolder, readerId, blind, task, slicer.app.temporaryPath, database)

    def loadCase(self, session, caseId: str | None = None) -> dict[str, Any]:
        """Replace the review case shown in the scene by the session's current case (or ``caseId``)."""
        from radtriage.review.case_mrml import show_case

        return show_case(slicer.mrmlScene, session, caseId)

    def clearCases(self) -> int:
        """Remove every node a loaded review case added to the scene."""
        from radtriage.review.case_mrml import clear_case

        return clear_case(slicer.mrmlScene)

    @staticmethod
    def commitValues(session, controls, values, addedRas=()):
        """Commit the panel's values on the current case (``radtriage.review.panel.commit_values``)."""
        from radtriage.review.panel import commit_values

        return commit_values(session, controls, values, addedRas)

    def startJob(self, session, caseId: str | None = None, device: str = "auto"):
        """Start the case's task in a new job folder; the ReviewRun has captured the case and its result folder."""
        from RadTriageCommonLib.job_files import newJobFolder

        from radtriage.review.runs import plan_run

        run = plan_run(session, caseId, device)
        return run.start(newJobFolder(run.task)[1])



#
# CaseReviewTest
#


class CaseReviewTest(ModuleTestBase, ScriptedLoadableModuleTest):
    """Self-test: a blind review of the phantom demo cases in the real scene, and a background task run."""

    @contextlib.contextmanager
    def _session(self, blind: bool):
        """A review of the demo cases in a temporary project, closed at the end."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            session = CaseReviewLogic().openSession("demo cases", "", folder, "selftest", blind, "from case.json")
            try:
                yield session
            finally:
                session.store.close()

    def test_CaseReview_blindReview(self) -> None:
        """Blind mode hides the microbleed markups until the reader commits."""
        logic = CaseReviewLogic()
        with self._session(blind=True) as session:
            session.go_to("03-swi-microbleeds")
            session.run_task()
            self.assertFalse(logic.loadCase(session)["shown"])
            self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLMarkupsFiducialNode")), 0)
            controls = session.controls()
            self.assertTrue(controls and all(c.suggestion is None for c in controls))
            values = ["reject"] + [None] * (len(controls) - 1)
            submission, reload = logic.commitValues(session, controls, values, [[1.0, 2.0, 3.0]])
            self.assertEqual((len(submission.entries), reload), (2, True))
            self.assertTrue(logic.loadCase(session)["shown"])
            self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLMarkupsFiducialNode")), 1)
            self.assertEqual(session.progress()["done"], 1)

    def test_CaseReview_backgroundRun(self) -> None:
        """The run's result goes to the case it ran on, even after the reader moved on."""
        from RadTriageCommonLib.job_files import removeJobFolder

        logic = CaseReviewLogic()
        with self._session(blind=False) as session:
            session.go_to("05-body-ct")
            run = logic.startJob(session)
            self.assertEqual(run.job.argv[3:6], ["infer", "--task", "body_region"])
            session.go_to("04-lge-stack")
            state = run.job.wait(timeout=300)
            self.assertEqual(state.value, "succeeded", run.job.error or run.job.stderr_tail)
            self.assertFalse(run.shown_in(session))
            run.install()
            removeJobFolder(run.job.output_dir)  # what the job controller does once onJobFinished returned
            nodes = logic.loadCase(session, "05-body-ct")
            self.assertTrue(nodes["shown"] and nodes["overlays"].get("label_volume") is not None)
