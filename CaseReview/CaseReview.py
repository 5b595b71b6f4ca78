"""CaseReview: go through a case list as one reader and label each case (3D Slicer scripted module).

The widget only reads the GUI and calls the Logic. The decisions (which case, which labels, when the model's
outputs may be shown, the background job's command line, turning the panel's values into labels) live in the
Logic's static methods and in the slicer-free core (:class:`radtriage.review.ReviewSession`,
:mod:`radtriage.review.case_mrml`), so they run and are tested without Slicer. The core is imported inside
methods so that this file loads even before its dependencies are installed.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Annotated, Any

import ctk
import qt
import slicer
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

logger = logging.getLogger(__name__)

READER_SETTINGS_KEY = "RadTriage/CaseReview/readerId"
"""QSettings key remembering the last reader id on this computer."""

FROM_CASE_MANIFEST = "from case.json"
"""Task choice: each case's ``case.json`` names its task."""

CASE_LIST_KINDS = {
    "folder": "folder",
    "CSV file": "csv",
    "DICOM folder": "dicom",
    "DICOM database": "",
    "demo cases": "folder",
}
"""Case list choice in the panel -> ``open_case_list`` kind ('' = Slicer's DICOM database, not a path)."""

SHORTCUTS = {
    "next": ["Ctrl+Right"],
    "previous": ["Ctrl+Left"],
    "commit": ["Ctrl+Return", "Ctrl+Enter"],
    "addMissed": ["Ctrl+Shift+A"],
}
"""Review action -> key sequences (application-wide while the module is shown)."""

SHORTCUT_HELP = {
    "next": "next case",
    "previous": "previous case",
    "commit": "commit the labels of this case",
    "addMissed": "add a missed microbleed at the crosshair (Shift + mouse move places it)",
}

DEMO_CASES_FOLDER = "RadTriageDemoCases"
DEMO_PROJECT_FOLDER = "RadTriageDemoProject"

#
# CaseReview
#


class CaseReview(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Case Review")
        self.parent.categories = ["RadTriage"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerRadTriage contributors"]
        keys = "; ".join(f"{' or '.join(SHORTCUTS[a])}: {SHORTCUT_HELP[a]}" for a in SHORTCUTS)
        self.parent.helpText = _(
            "Read a case list (a folder of cases, a CSV file, a DICOM folder, Slicer's DICOM database or the demo "
            "cases) as one reader: the module resumes at the first case you have not labelled, shows the case's "
            "images and the task modules' overlays, and records your labels (normal / abnormal and critical "
            "findings, a 0-100 LGE likelihood per slice, accept / reject / add per microbleed, the body region "
            "per slice range) in the project's append-only annotation store. In blind mode the model's outputs "
            "stay hidden until you have committed your own read of the case. Keyboard: {keys}. "
            "The bundled models are demo models trained on phantoms: demo, not for clinical use. "
            'See the <a href="https://github.com/SlicerRadTriage/SlicerRadTriage#casereview">documentation</a>.'
        ).format(keys=keys)
        self.parent.acknowledgementText = _(
            "Part of SlicerRadTriage. Built on 3D Slicer; the module layout follows Slicer's scripted-module template."
        )


#
# CaseReviewParameterNode
#


@parameterNodeWrapper
class CaseReviewParameterNode:
    """The parameters of the module, saved with the scene.

    caseListKind - where the case list comes from (folder, CSV file, DICOM folder, DICOM database, demo cases).
    caseSource - the folder or CSV file of the case list.
    task - the task reviewed on every case, or "from case.json".
    storeFolder - the project folder holding the annotation store and the task results.
    readerId - the reader's pseudonym (letters, digits, '_', '.', ':', '-'); labels are stored under it.
    blindMode - hide the model's outputs on a case until the reader has committed a label on it.
    """

    caseListKind: Annotated[str, Choice(list(CASE_LIST_KINDS))] = "demo cases"
    caseSource: pathlib.Path
    task: Annotated[str, Choice([FROM_CASE_MANIFEST, "mri_triage", "cmb_detect", "lge_certainty", "body_region"])] = (
        FROM_CASE_MANIFEST
    )
    storeFolder: pathlib.Path
    readerId: str = ""
    blindMode: bool = True


#
# CaseReviewWidget
#


class CaseReviewWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI of the module: reads the .ui file, holds the open session and calls the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._jobs = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.session = None
        self._controls = []
        self._getters = []
        self._added = []
        self._panel = None
        self._shortcuts = []
        self._job = None

    def setup(self) -> None:
        """Build the GUI from Resources/UI/CaseReview.ui and connect it."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CaseReview.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = CaseReviewLogic()

        from RadTriageCommonLib.job_controller import JobController

        self._jobs = JobController(
            self.ui.runTaskButton,
            self.ui.jobProgressBar,
            self.ui.jobStatusLabel,
            self.onJobFinished,
            failureMessage=_("The task run failed."),
            onStateChanged=self.onJobStateChanged,
        )

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self._panelLayout = qt.QVBoxLayout(self.ui.labelsWidget)
        self.ui.caseListKindComboBox.connect("currentIndexChanged(int)", self.onCaseListKindChanged)
        self.ui.openButton.connect("clicked(bool)", self.onOpenButton)
        self.ui.previousButton.connect("clicked(bool)", self.onPrevious)
        self.ui.nextButton.connect("clicked(bool)", self.onNext)
        self.ui.commitButton.connect("clicked(bool)", self.onCommit)
        self.ui.addMissedButton.connect("clicked(bool)", self.onAddMissed)
        self.ui.runTaskButton.connect("clicked(bool)", self.onRunTaskButton)
        self.ui.jobProgressBar.setVisible(False)
        self._createShortcuts()

        self.initializeParameterNode()
        self._showSession()

    # ------------------------------------------------------------------ shortcuts
    def _createShortcuts(self) -> None:
        """Review keys on the main window, enabled while this module is shown (see SHORTCUTS)."""
        callbacks = {"next": self.onNext, "previous": self.onPrevious, "commit": self.onCommit,
                     "addMissed": self.onAddMissed}  # fmt: skip
        mainWindow = slicer.util.mainWindow()
        for action, keys in self.logic.shortcutBindings().items():
            for key in keys:
                shortcut = qt.QShortcut(qt.QKeySequence(key), mainWindow or self.parent)
                shortcut.connect("activated()", callbacks[action])
                shortcut.setEnabled(False)
                self._shortcuts.append(shortcut)

    def _enableShortcuts(self, enabled: bool) -> None:
        for shortcut in self._shortcuts:
            shortcut.setEnabled(enabled)

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._jobs is not None:
            self._jobs.cancel()
        for shortcut in self._shortcuts:
            shortcut.setEnabled(False)
            shortcut.setParent(None)
        self._shortcuts = []
        self._closeSession()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()
        self._enableShortcuts(True)

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        self._enableShortcuts(False)
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed (the case's nodes are gone: reload it)."""
        if self.parent.isEntered:
            self.initializeParameterNode()
        if self.session is not None:
            self._showCase()

    def initializeParameterNode(self) -> None:
        """Ensure the parameter node exists and is shown; the reader id defaults to the remembered one."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.readerId:
            self._parameterNode.readerId = str(qt.QSettings().value(READER_SETTINGS_KEY, "") or "")

    def setParameterNode(self, inputParameterNode: CaseReviewParameterNode | None) -> None:
        """Connect the GUI to ``inputParameterNode`` (widgets carry a SlicerParameterName property)."""
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.onCaseListKindChanged()

    def onCaseListKindChanged(self, index=None) -> None:
        """The path field is for folders and CSV files only."""
        kind = self.ui.caseListKindComboBox.currentText
        self.ui.caseSourcePathLineEdit.enabled = self.logic.caseListNeedsPath(kind)
        readable = ctk.ctkPathLineEdit.Readable
        if self.logic.caseListWantsFile(kind):
            self.ui.caseSourcePathLineEdit.filters = ctk.ctkPathLineEdit.Files | readable
            self.ui.caseSourcePathLineEdit.nameFilters = ["*.csv"]
        else:
            self.ui.caseSourcePathLineEdit.filters = ctk.ctkPathLineEdit.Dirs | readable
            self.ui.caseSourcePathLineEdit.nameFilters = []

    # ------------------------------------------------------------------ opening a case list
    def _caseList(self):
        kind = self._parameterNode.caseListKind
        if kind == "DICOM database":
            return self.logic.dicomDatabaseCases(self.logic.dicomDatabaseRows())
        if kind == "demo cases":
            return self.logic.openCaseList(self.logic.buildDemoCases(slicer.app.temporaryPath), "folder")
        return self.logic.openCaseList(str(self._parameterNode.caseSource), self.logic.caseListOpenKind(kind))

    def onOpenButton(self) -> None:
        """Open the case list for the reader and go to the first case they have not done."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        readerId = self._parameterNode.readerId.strip()
        problem = self.logic.readerIdProblem(readerId)
        if problem:
            slicer.util.errorDisplay(problem)
            return
        if not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot open the case list."), waitCursor=True):
            cases = self._caseList()
            storeFolder = self.logic.storeFolderFor(
                str(self._parameterNode.storeFolder or ""), slicer.app.temporaryPath,
                self._parameterNode.caseListKind == "demo cases",
            )  # fmt: skip
            session = self.logic.openSession(
                cases, storeFolder, readerId, self._parameterNode.blindMode,
                self.logic.sessionTask(self._parameterNode.task),
            )  # fmt: skip
            self._closeSession()
            self.session = session
            qt.QSettings().setValue(READER_SETTINGS_KEY, readerId)
            self.ui.statusLabel.text = _("Opened {n} case(s); store: {where}").format(
                n=len(cases), where=session.store.location
            )
            self._showCase()

    def _closeSession(self) -> None:
        if self.session is not None:
            self.logic.clearCases(slicer.mrmlScene)
            self.session.store.close()
            self.session = None
        self._showSession()

    # ------------------------------------------------------------------ the current case
    def _showSession(self) -> None:
        """Enable what needs an open session; show the reading progress."""
        hasSession = self.session is not None
        for widget in (self.ui.previousButton, self.ui.nextButton, self.ui.commitButton, self.ui.addMissedButton):
            widget.enabled = hasSession
        self.ui.runTaskButton.enabled = hasSession or (self._jobs is not None and self._jobs.running)
        if not hasSession:
            self.ui.caseIdLabel.text = _("No case list open.")
            self.ui.progressLabel.text = ""
            self.ui.readingProgressBar.setValue(0)
            self._buildPanel([])
            return
        header = self.logic.caseHeader(self.session)
        self.ui.caseIdLabel.text = header["title"]
        self.ui.progressLabel.text = header["progress"]
        self.ui.readingProgressBar.setValue(header["percent"])

    def _showCase(self) -> None:
        """Load the current case into the scene (overlays only when allowed) and build its label panel."""
        if self.session is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot load the case."), waitCursor=True):
            nodes = self.logic.loadCase(slicer.mrmlScene, self.session)
            slicer.util.resetSliceViews()
            self._added = []
            self._buildPanel(self.session.controls())
            self.ui.overlayLabel.text = self.logic.overlayText(
                nodes["shown"], self.session.outputs_visible(), nodes["result"] is not None
            )
        self._showSession()

    def onNext(self) -> None:
        """Go to the next case."""
        if self.session is not None and self.session.next() is not None:
            self._showCase()

    def onPrevious(self) -> None:
        """Go to the previous case."""
        if self.session is not None and self.session.previous() is not None:
            self._showCase()

    # ------------------------------------------------------------------ the label panel
    def _buildPanel(self, controls, values=None) -> None:
        """One row per label control: radio buttons, checkboxes, a 0-100 slider, accept / reject, a region.
        ``values``: unsaved answers to show instead of the committed ones (None entries keep those)."""
        if self._panel is not None:
            self._panel.setParent(None)
            self._panel.deleteLater()
        self._panel = qt.QWidget()
        form = qt.QFormLayout(self._panel)
        self._panelLayout.addWidget(self._panel)
        self._controls = list(controls)
        self._getters = []
        rows = self.logic.panelRows(self._controls)
        for row, value in zip(rows, values or [None] * len(rows), strict=True):
            if value is not None:
                row["initial"] = value
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
                        qt.QLabel(self.logic.rasText(ras) + " " + _("(committed with the case)")))  # fmt: skip
        if not self._controls and not self._added:
            form.addRow(qt.QLabel(self.logic.emptyPanelText(self.session)))
        self.ui.addMissedButton.visible = self.session is not None and self.logic.acceptsAddedMicrobleeds(
            self.session.task_of()
        )

    def _editor(self, row: dict[str, Any]):
        """A widget for one panel row and a function returning its value (None while unanswered)."""
        kind, choices, initial = row["kind"], row["choices"], row["initial"]
        box = qt.QWidget()
        layout = qt.QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        if kind in ("choice", "cmb"):
            group = qt.QButtonGroup(box)
            buttons = {}
            for choice in choices:
                button = qt.QRadioButton(choice)
                button.checked = choice == initial
                group.addButton(button)
                layout.addWidget(button)
                buttons[choice] = button
            if kind == "cmb" and row.get("ras") is not None:
                show = qt.QPushButton(_("Show"))
                show.connect("clicked(bool)", lambda _checked=False, ras=row["ras"]: self.logic.jumpTo(ras))
                layout.addWidget(show)
            return box, lambda: next((c for c, b in buttons.items() if b.checked), None)
        if kind == "multilabel":
            boxes = {}
            for choice in choices:
                check = qt.QCheckBox(choice)
                check.checked = choice in initial
                layout.addWidget(check)
                boxes[choice] = check
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
        combo.addItem("")
        combo.addItems(list(choices))
        combo.currentIndex = max(0, combo.findText(initial)) if initial else 0
        layout.addWidget(combo)
        return box, lambda: combo.currentText or None

    def onAddMissed(self) -> None:
        """Note a missed microbleed at the crosshair; it is committed with the case's labels."""
        if self.session is None or not self.logic.acceptsAddedMicrobleeds(self.session.task_of()):
            return
        values = [getter() for getter in self._getters]
        self._added.append(self.logic.crosshairRas())
        self._buildPanel(self._controls, values)
        self.ui.statusLabel.text = _("Missed microbleed noted at {ras}; press Commit to store it.").format(
            ras=self.logic.rasText(self._added[-1])
        )

    def onCommit(self) -> None:
        """Commit the panel as one submission; in blind mode the case is then reloaded with the overlays."""
        if self.session is None:
            return
        values = [getter() for getter in self._getters]
        with slicer.util.tryWithErrorDisplay(_("Cannot store the labels."), waitCursor=True):
            submission, reload = self.logic.commitValues(self.session, self._controls, values, self._added)
            if submission is None:
                self.ui.statusLabel.text = _("Nothing new to commit on this case.")
                return
            self.ui.statusLabel.text = _("Stored {n} label(s) on {case}.").format(
                n=len(submission.entries), case=submission.case_id
            )
            if reload:
                self._showCase()  # blind mode: the model's outputs may now be shown
            else:
                self._added = []
                self._buildPanel(self.session.controls())
                self._showSession()

    # ------------------------------------------------------------------ running the task
    def onRunTaskButton(self) -> None:
        """Run the current case's task in a background process (or cancel it); its overlays load at the end."""
        from RadTriageCommonLib.dependencies_dialog import ensureDependencies

        if self._jobs.running:
            self._jobs.cancel()
            return
        if self.session is None or not ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Cannot start the task."), waitCursor=True):
            job, caseId = self.logic.startJob(self.session)
            self._job = {"caseId": caseId, "folder": job.output_dir}
            self._jobs.follow(job)

    def onJobStateChanged(self, running: bool) -> None:
        """When a run ends without success, remove its empty job folder."""
        self._showSession()
        if not running and self._job is not None and self._jobs.lastState != "succeeded":
            self.logic.discardJobFolder(self._job["folder"])
            self._job = None

    def onJobFinished(self, outputs) -> None:
        """Put the run's outputs in place as the case's result and reload the case if it is still shown."""
        job, self._job = self._job, None
        if job is None or self.session is None:
            return
        self.logic.installJobResult(job["folder"], self.session.result_folder(job["caseId"]))
        current = self.session.current
        if current is not None and current.case_id == job["caseId"]:
            self._showCase()


#
# CaseReviewLogic
#


class CaseReviewLogic(ScriptedLoadableModuleLogic):
    """Everything the module decides, usable without the GUI; the static methods run without Slicer too."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self) -> CaseReviewParameterNode:
        """The module's typed parameter node (created in the scene when missing)."""
        return CaseReviewParameterNode(super().getParameterNode())

    # ------------------------------------------------------------------ Slicer-side helpers
    def dicomDatabaseRows(self) -> list[dict[str, Any]]:
        """One row per series of Slicer's DICOM database: PatientID, study and series UIDs, files."""
        database = slicer.dicomDatabase
        if database is None or not database.isOpen:
            raise ValueError(_("No DICOM database is open: open the DICOM module and import the studies first."))
        rows = []
        for patient in database.patients():
            for study in database.studiesForPatient(patient):
                for series in database.seriesForStudy(study):
                    files = list(database.filesForSeries(series))
                    if files:
                        patientId = database.fileValue(files[0], "0010,0020")
                        rows.append({"patientId": patientId, "studyUid": study, "seriesUid": series, "files": files})
        return rows

    def crosshairRas(self) -> list[float]:
        """The crosshair position (RAS mm)."""
        crosshair = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
        return [float(v) for v in crosshair.GetCrosshairRAS()]

    def jumpTo(self, ras) -> None:
        """Centre the slice views on ``ras`` (mm)."""
        slicer.modules.markups.logic().JumpSlicesToLocation(float(ras[0]), float(ras[1]), float(ras[2]), True)

    # ------------------------------------------------------------------ pure helpers (tested without Slicer)
    @staticmethod
    def shortcutBindings() -> dict[str, list[str]]:
        """Review action -> key sequences; every key is bound to one action only."""
        seen: dict[str, str] = {}
        for action, keys in SHORTCUTS.items():
            for key in keys:
                if key in seen:
                    raise ValueError(f"key {key} is bound to both {seen[key]} and {action}")
                seen[key] = action
        return {action: list(keys) for action, keys in SHORTCUTS.items()}

    @staticmethod
    def shortcutRows() -> list[tuple[str, str]]:
        """(keys, what they do) for the help text."""
        return [(" / ".join(keys), SHORTCUT_HELP[action]) for action, keys in SHORTCUTS.items()]

    @staticmethod
    def readerIdProblem(readerId: str) -> str:
        """Why ``readerId`` cannot be used ('' when it can): the store's rule for a pseudonymous identifier."""
        from radtriage.annotations import AnnotationError
        from radtriage.annotations.records import check_identifier

        if not readerId.strip():
            return "Enter your reader id (a pseudonym, not your name) first."
        try:
            check_identifier(readerId, "Reader id")
        except AnnotationError as exc:
            return str(exc)
        return ""

    @staticmethod
    def sessionTask(choice: str) -> str | None:
        """The session's task for the panel's task choice (None: each case's case.json names it)."""
        return None if choice in ("", FROM_CASE_MANIFEST) else choice

    @staticmethod
    def caseListOpenKind(choice: str) -> str:
        """``open_case_list`` kind of a case list choice."""
        if choice not in CASE_LIST_KINDS or not CASE_LIST_KINDS[choice]:
            raise ValueError(f"case list {choice!r} is not opened from a path")
        return CASE_LIST_KINDS[choice]

    @staticmethod
    def caseListNeedsPath(choice: str) -> bool:
        """Whether the case list choice reads the path field."""
        return choice not in ("DICOM database", "demo cases")

    @staticmethod
    def caseListWantsFile(choice: str) -> bool:
        """Whether the path field takes a file (a CSV case list) rather than a folder."""
        return choice == "CSV file"

    @staticmethod
    def storeFolderFor(folder: str, temporaryPath: str, demo: bool = False) -> pathlib.Path:
        """The project folder: the chosen one, else (demo cases) a demo project in Slicer's temporary folder."""
        if folder.strip() not in ("", "."):
            return pathlib.Path(folder)
        if demo:
            return pathlib.Path(temporaryPath) / DEMO_PROJECT_FOLDER
        raise ValueError("Choose a project folder: the annotation store and the task results are kept there.")

    @staticmethod
    def buildDemoCases(temporaryPath: str) -> pathlib.Path:
        """Write the phantom demo cases (once) under Slicer's temporary folder; returns the case list folder."""
        from radtriage.review import build_demo_cases

        return build_demo_cases(pathlib.Path(temporaryPath) / DEMO_CASES_FOLDER)

    @staticmethod
    def openCaseList(source: str | pathlib.Path, kind: str = "auto"):
        """The case list of a folder, CSV file or DICOM folder (InputError names a bad file)."""
        from radtriage.annotations import open_case_list

        if str(source).strip() in ("", "."):
            raise ValueError("Choose the folder or CSV file of the case list.")
        return open_case_list(source, kind)

    @staticmethod
    def dicomDatabaseCases(rows: list[dict[str, Any]]):
        """A case list with one case per (patient, study) of DICOM database rows (see ``dicomDatabaseRows``).

        Cases carry a hashed patient key and the UIDs, never the PatientID; each series is read from the folder
        holding its files (the same grouping as a DICOM folder: ``radtriage.annotations.caselist.study_cases``).
        """
        from radtriage.annotations.caselist import study_cases
        from radtriage.io.dicom import patient_key

        series = [(patient_key(row.get("patientId")), str(row["studyUid"]), str(row["seriesUid"]), row["files"])
                  for row in rows]  # fmt: skip
        if not series:
            raise ValueError("The DICOM database holds no series: import studies in the DICOM module first.")
        return study_cases(series, "Slicer DICOM database")

    @staticmethod
    def openSession(cases, storeFolder: str | pathlib.Path, readerId: str, blind: bool, task: str | None = None):
        """Check the reader id and every case, then open the project's store and a review session resumed at the
        reader's first undone case. Nothing is written when a case is bad (``radtriage.review.open_session``)."""
        from radtriage.review import open_session

        problem = CaseReviewLogic.readerIdProblem(readerId)
        if problem:
            raise ValueError(problem)
        session = open_session(cases, storeFolder, readerId, task=task, blind=bool(blind))
        session.resume()
        return session

    @staticmethod
    def clearCases(scene) -> int:
        """Remove every node a loaded review case added to ``scene``."""
        from radtriage.review.case_mrml import clear_case

        return clear_case(scene)

    @staticmethod
    def loadCase(scene, session, caseId: str | None = None) -> dict[str, Any]:
        """Replace the review case shown in ``scene`` by the session's current case (or ``caseId``): its images,
        and the overlays when the reader may see them (see ``load_case``)."""
        from radtriage.review.case_mrml import load_case

        CaseReviewLogic.clearCases(scene)
        return load_case(scene, session, caseId)

    @staticmethod
    def progressText(progress: dict[str, int]) -> str:
        """ "3 done / 2 remaining - case 4 of 5"."""
        text = f"{progress['done']} done / {progress['remaining']} remaining"
        if progress["total"]:
            text += f" - case {progress['index'] + 1} of {progress['total']}"
        return text

    @staticmethod
    def caseHeader(session) -> dict[str, Any]:
        """What the case box shows: title (case id, task, done or not), progress text and percent done."""
        progress = session.progress()
        case = session.current
        title = "-"
        if case is not None:
            title = f"{case.case_id} ({session.task_of()})" + (" - labelled" if session.is_done() else "")
        percent = round(100 * progress["done"] / progress["total"]) if progress["total"] else 0
        return {"title": title, "progress": CaseReviewLogic.progressText(progress), "percent": percent,
                "caseId": case.case_id if case is not None else None}  # fmt: skip

    @staticmethod
    def overlayText(shown: bool, visible: bool, hasResult: bool) -> str:
        """Why the model's overlays are or are not on screen."""
        if shown:
            return "Model outputs shown (demo model: demo, not for clinical use)."
        if not hasResult:
            return "No model result for this case yet: Run task computes it."
        if not visible:
            return "Blind mode: the model's outputs appear once you commit your read."
        return "Model outputs hidden."

    @staticmethod
    def emptyPanelText(session) -> str:
        """What the label panel says when it has no control."""
        if session is None:
            return "Open a case list."
        if session.task_of() == "cmb_detect":
            return "No candidate yet (run the task), or add missed microbleeds at the crosshair."
        if session.task_of() == "lge_certainty":
            return "Run the task to list the slices to rate."
        return "Run the task to list the slice ranges to correct."

    @staticmethod
    def acceptsAddedMicrobleeds(task: str) -> bool:
        """Whether the reader may add missed lesions on the task's cases."""
        return task == "cmb_detect"

    @staticmethod
    def rasText(ras) -> str:
        """ "R 1.0, A -2.0, S 3.0 mm"."""
        return "R {:.1f}, A {:.1f}, S {:.1f} mm".format(*(float(v) for v in ras))

    @staticmethod
    def committedValue(control) -> Any:
        """The reader's committed value of a control in the panel's terms (None when not labelled yet)."""
        current = control.current
        if current is None:
            return None
        if control.kind == "multilabel":
            return [c for c in control.choices if c in current]
        if control.kind == "cmb":
            return current.get("decision") if isinstance(current, dict) else current
        if control.kind == "rating":
            return float(current)
        return current

    @staticmethod
    def panelRows(controls) -> list[dict[str, Any]]:
        """One row per control: kind, title, choices, initial value (the committed one), bounds and a hint with
        the model's suggestion and context (only what the session lets the reader see)."""
        rows = []
        for control in controls:
            initial = CaseReviewLogic.committedValue(control)
            choices = tuple(control.choices)
            if control.kind == "cmb" and initial == "add":
                choices = ("add", "reject")  # a lesion the reader added: keep it or withdraw it
            if control.kind == "multilabel" and initial is None:
                initial = []
            ras = control.context.get("ras_mm") if control.kind == "cmb" else None
            hint = CaseReviewLogic.hintText(control)
            rows.append({"kind": control.kind, "title": control.title, "target": control.target,
                         "choices": choices, "initial": initial, "minimum": control.minimum,
                         "maximum": control.maximum, "ras": ras, "hint": hint})  # fmt: skip
        return rows

    @staticmethod
    def hintText(control) -> str:
        """The model's suggestion and the context of a control, as one line ('' when there is none)."""
        parts = []
        suggestion, context = control.suggestion, dict(control.context)
        if suggestion is not None:
            if control.kind == "multilabel":
                parts.append("model: " + (", ".join(suggestion) or "no finding"))
            elif control.kind == "cmb":
                parts.append(f"model confidence {float(suggestion):.2f}")
            elif control.kind == "rating":
                parts.append(f"model likelihood {float(suggestion):.0f}")
            else:
                parts.append(f"model: {suggestion}")
        if context.get("probability") is not None:
            parts.append(f"p = {float(context['probability']):.2f}")
        if context.get("ras_mm") is not None:
            parts.append("at " + CaseReviewLogic.rasText(context["ras_mm"]))
        if context.get("location") not in (None, "unknown"):
            parts.append(str(context["location"]))
        if context.get("certainty") is not None:
            parts.append(f"certainty {context['certainty']}")
        if context.get("flag"):
            parts.append("low certainty: look again")
        return "; ".join(parts)

    @staticmethod
    def labelsFromValues(controls, values: list[Any], addedRas=()) -> list[Any]:
        """The labels to commit: one per control whose panel value (None = unanswered) differs from the committed
        one, plus one ``add`` per missed microbleed at ``addedRas`` (RAS mm, new ``candidate:reader-N`` targets)."""
        from radtriage.review import added_cmb_label

        if len(values) != len(controls):
            raise ValueError(f"{len(values)} panel values for {len(controls)} label controls")
        labels = []
        for control, value in zip(controls, values, strict=True):
            if value is None:
                continue
            if control.kind == "multilabel":
                value = [c for c in control.choices if c in value]
            elif control.kind == "rating":
                value = float(value)
            if value == CaseReviewLogic.committedValue(control):
                continue
            labels.append(control.label(value))
        existing = [c.target for c in controls]
        for ras in addedRas:
            label = added_cmb_label(ras, existing)
            existing.append(label.target)
            labels.append(label)
        return labels

    @staticmethod
    def unansweredChoices(controls, values: list[Any]) -> list[str]:
        """Titles of the whole-case choices (e.g. normal / abnormal) left without an answer, committed or new: a
        commit must not mark the case done without them."""
        return [control.title for control, value in zip(controls, values, strict=True)
                if control.kind == "choice" and value is None and control.current is None]  # fmt: skip

    @staticmethod
    def commitValues(session, controls, values: list[Any], addedRas=()):
        """Commit the panel on the current case in one submission; ValueError when a whole-case choice is left
        unanswered. Returns (submission or None when nothing changed, whether the case must be reloaded: blind
        mode and its outputs just became visible)."""
        missing = CaseReviewLogic.unansweredChoices(controls, values)
        if missing:
            raise ValueError(f"Answer {', '.join(repr(t) for t in missing)} before committing this case.")
        labels = CaseReviewLogic.labelsFromValues(controls, values, addedRas)
        if not labels:
            return None, False
        visibleBefore = session.outputs_visible()
        submission = session.commit(labels)
        return submission, (not visibleBefore) and session.outputs_visible()

    @staticmethod
    def buildArgv(task: str, inputs: dict[str, Any], device: str = "auto") -> list[str]:
        """``python -m radtriage infer`` of the case's task on its input files (``KEY=PATH``); the job's output
        folder replaces ``{output_dir}``."""
        from radtriage.runtime.runner import OUTPUT_DIR_PLACEHOLDER, radtriage_argv

        pairs = []
        for key, path in inputs.items():
            if not key or "=" in key:
                raise ValueError(f"input name {key!r} cannot be passed as KEY=PATH")
            pairs.append(f"{key}={path}")
        return radtriage_argv(
            "infer", "--task", task, "--input", *pairs, "--output", OUTPUT_DIR_PLACEHOLDER, "--device", device
        )

    @staticmethod
    def jobFolderFor(resultFolder: str | pathlib.Path) -> pathlib.Path:
        """A new hidden run folder beside the case's result folder (see ``radtriage.review.new_run_folder``)."""
        from radtriage.review import new_run_folder

        return new_run_folder(resultFolder)

    @staticmethod
    def installJobResult(jobFolder: str | pathlib.Path, resultFolder: str | pathlib.Path) -> pathlib.Path:
        """Make a finished run's folder the case's result folder as a whole; returns the new ``result.json``."""
        from radtriage.review import install_result_folder

        return install_result_folder(jobFolder, resultFolder)

    @staticmethod
    def discardJobFolder(jobFolder: str | pathlib.Path) -> bool:
        """Remove a run folder that was not installed (failed or cancelled run); returns whether it existed."""
        import shutil

        jobFolder = pathlib.Path(jobFolder)
        if not jobFolder.name.startswith(".") or not jobFolder.is_dir():
            return False
        shutil.rmtree(jobFolder, ignore_errors=True)
        return True

    @staticmethod
    def startJob(session, caseId: str | None = None, device: str = "auto"):
        """Start the case's task on its inputs in a background process writing into a new run folder beside the
        case's result folder; returns (the started BackgroundJob, the case id)."""
        from radtriage.runtime.runner import BackgroundJob

        case = session.cases[caseId] if caseId else session.current
        if case is None:
            raise ValueError("no current case")
        argv = CaseReviewLogic.buildArgv(session.task_of(case), session.inputs(case), device)
        job = BackgroundJob(argv, CaseReviewLogic.jobFolderFor(session.result_folder(case)))
        return job.start(), case.case_id


#
# CaseReviewTest
#


class CaseReviewTest(ScriptedLoadableModuleTest):
    """Self-test: a blind review of the phantom demo cases in the real scene, and a background task run."""

    def setUp(self) -> None:
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        """Run every test of the module."""
        self.setUp()
        self.test_CaseReview_blindReview()
        self.setUp()
        self.test_CaseReview_backgroundRun()

    def _session(self, folder: str, blind: bool = True):
        logic = CaseReviewLogic
        cases = logic.openCaseList(logic.buildDemoCases(slicer.app.temporaryPath), "folder")
        return logic.openSession(cases, pathlib.Path(folder) / "project", "selftest", blind)

    def test_CaseReview_blindReview(self) -> None:
        """Blind mode hides the microbleed markups until the reader commits; resume skips the done case."""
        import tempfile

        from radtriage.review.case_mrml import case_nodes

        self.delayDisplay("CaseReview: blind review")
        logic = CaseReviewLogic
        with tempfile.TemporaryDirectory() as folder:
            session = self._session(folder)
            try:
                self.assertEqual(session.progress()["done"], 0)
                session.go_to("03-swi-microbleeds")
                session.run_task()
                nodes = logic.loadCase(slicer.mrmlScene, session)
                self.assertFalse(nodes["shown"])
                self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLMarkupsFiducialNode")), 0)
                controls = session.controls()
                self.assertGreater(len(controls), 0)
                self.assertTrue(all(c.suggestion is None for c in controls))
                values = ["reject"] + [None] * (len(controls) - 1)
                submission, reload = logic.commitValues(session, controls, values, [[1.0, 2.0, 3.0]])
                self.assertEqual(len(submission.entries), 2)
                self.assertTrue(reload)
                nodes = logic.loadCase(slicer.mrmlScene, session)
                self.assertTrue(nodes["shown"])
                self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLMarkupsFiducialNode")), 1)
                self.assertGreater(len(case_nodes(slicer.mrmlScene, "03-swi-microbleeds")), 0)
                self.assertEqual(session.progress()["done"], 1)
            finally:
                session.store.close()
        self.delayDisplay("Test passed")

    def test_CaseReview_backgroundRun(self) -> None:
        """startJob runs ``radtriage infer`` on the case's inputs; the result lands in the case's result folder."""
        import tempfile

        from RadTriageCommonLib.testing import assertJobRunsTask

        from radtriage.io import read_image

        self.delayDisplay("CaseReview: background run")
        logic = CaseReviewLogic
        with tempfile.TemporaryDirectory() as folder:
            session = self._session(folder, blind=False)
            try:
                session.go_to("05-body-ct")
                job, caseId = logic.startJob(session)
                expected = {key: read_image(path).array for key, path in session.inputs().items()}
                assertJobRunsTask(self, job, "body_region", expected)
                logic.installJobResult(job.output_dir, session.result_folder(caseId))
                self.assertIsNotNone(session.result())
                nodes = logic.loadCase(slicer.mrmlScene, session)
                self.assertTrue(nodes["shown"])
                self.assertIsNotNone(nodes["overlays"].get("label_volume"))
            finally:
                session.store.close()
        self.delayDisplay("Test passed")
