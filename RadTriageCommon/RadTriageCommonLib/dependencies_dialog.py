"""First-use install of the core's Python dependencies into Slicer's Python (5.12 or newer), after one dialog.

The decisions (what is missing, in which steps to install it, what to tell the user, what is still missing
afterwards) are made by the slicer-free :mod:`radtriage.dependencies`; ``radtriage doctor`` runs the same check
from a shell. This file only carries them out:

* the package sources pip's configuration names (mirrors, proxies, NO_PROXY: :mod:`radtriage.package_sources`)
  are probed in a worker thread while the GUI keeps processing events (busy cursor and a progress dialog), so an
  offline computer gets a clear message and an unchanged Python environment;
* torch through the PyTorch extension, skipped when ``torchInstalled()`` and its version meets the requirement:
  ``PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=">=2.8")``;
* the rest in one ``slicer.packaging.pip_install(..., blocking=False, logCallback=..., completedCallback=...)``
  call, so pip's output is kept and shown in the error dialog's details when it fails (the blocking call raises
  ``CalledProcessError`` without it); a restart prompt when a package already loaded was replaced.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

REQUESTER = "SlicerRadTriage"
T = TypeVar("T")


def _(text: str) -> str:
    """Translate with Slicer's translation function inside Slicer (the text as is elsewhere)."""
    if getattr(sys.modules.get("slicer"), "app", None) is None:
        return text
    from slicer.i18n import tr

    return tr(text)


# ---------------------------------------------------------------------------------------- slicer-free helpers


def callInWorker(work: Callable[[], T], pump: Callable[[], None], pollSeconds: float = 0.02) -> T:
    """Run ``work`` in a worker thread, calling ``pump`` (process GUI events) until it ends; its result or error."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name="RadTriage dependency check", daemon=True)
    worker.start()
    while worker.is_alive():
        pump()
        worker.join(pollSeconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class _Tee:
    """A text stream that writes to ``stream`` and keeps a copy."""

    def __init__(self, stream: Any, copy: list[str]) -> None:
        self._stream = stream
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.append(text)
        return self._stream.write(text) if self._stream is not None else len(text)

    def flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def keptOutput() -> Iterator[list[str]]:
    """Keep a copy of everything printed (Slicer prints each line of a blocking subprocess) while still printing it."""
    copy: list[str] = []
    with contextlib.redirect_stdout(_Tee(sys.stdout, copy)), contextlib.redirect_stderr(_Tee(sys.stderr, copy)):
        yield copy


def torchMeetsRequirement(requirement: str | None, versionOf: Callable[[str], str] | None = None) -> bool:
    """Whether the installed torch satisfies ``requirement`` (``>=2.8``; None: any); False when none is installed."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        version = Version((versionOf or importlib.metadata.version)("torch"))
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False
    return SpecifierSet(requirement or "").contains(version, prereleases=True)


class StepFailedError(RuntimeError):
    """An install step failed; ``log`` is the installer's output."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


# ---------------------------------------------------------------------------------------------- inside Slicer


def torchUtilsLogic() -> Any:
    """``PyTorchUtilsLogic()`` of the PyTorch extension, or None when the extension is not installed."""
    try:
        import PyTorchUtils
    except ImportError:
        return None
    logicClass = getattr(PyTorchUtils, "PyTorchUtilsLogic", None)
    return logicClass() if logicClass is not None else None


def dependenciesReady() -> bool:
    """Whether the core and all its dependencies can be used now (no dialog; cheap enough for any signal)."""
    try:
        from radtriage import dependencies as deps
    except ImportError:
        return False
    return not deps.missing_requirements()


def whileBusy(work: Callable[[], T], label: str) -> T:
    """Run ``work`` off the GUI thread behind a busy cursor and a modal progress dialog; returns its result."""
    import qt
    import slicer

    dialog = qt.QProgressDialog(label, "", 0, 0, slicer.util.mainWindow())
    dialog.setCancelButton(None)
    dialog.setWindowModality(qt.Qt.WindowModal)
    dialog.show()
    qt.QApplication.setOverrideCursor(qt.Qt.BusyCursor)
    try:
        return callInWorker(work, slicer.app.processEvents)
    finally:
        qt.QApplication.restoreOverrideCursor()
        dialog.close()


def checkSources(plan: Any) -> list[Any]:
    """The package sources the plan cannot do without that do not answer (probed off the GUI thread)."""
    from radtriage import package_sources as sources

    def probe() -> list[Any]:
        found = sources.package_sources(sources.pip_settings(), torch=plan.needs_torch_extension)
        return sources.unreachable(sources.probe_sources(found))

    return whileBusy(probe, _("Checking the package servers..."))


def _installTorch(step: Any) -> str:
    logic = torchUtilsLogic()
    if logic is None:
        raise StepFailedError("the PyTorch extension is not installed")
    requirement = step.torch_version_requirement
    if logic.torchInstalled() and torchMeetsRequirement(requirement):
        logger.info("torch already meets %s: not reinstalled", requirement)
        return ""
    with keptOutput() as output:
        try:
            torch = logic.installTorch(askConfirmation=False, torchVersionRequirement=requirement)
        except Exception as error:
            raise StepFailedError(f"{type(error).__name__}: {error}", "".join(output)) from error
    if torch is None:
        raise StepFailedError("PyTorch was not installed (the PyTorch extension's installTorch returned None)",
                         "".join(output))  # fmt: skip
    return "".join(output)


def _pipInstall(step: Any, requester: str) -> str:
    import qt
    import slicer
    import slicer.packaging

    lines: list[str] = []
    done: dict[str, int] = {}

    def onLine(line: str) -> None:
        lines.append(line)
        print(line)

    def onDone(code: int) -> None:
        done["code"] = code

    slicer.packaging.pip_install(list(step.requirements), blocking=False, show_progress=True, requester=requester,
                                 logCallback=onLine, completedCallback=onDone)  # fmt: skip
    dialog = qt.QProgressDialog(_("Installing Python packages..."), "", 0, 0, slicer.util.mainWindow())
    dialog.setCancelButton(None)
    dialog.setWindowModality(qt.Qt.WindowModal)
    dialog.show()
    try:
        while "code" not in done:
            if lines:
                dialog.setLabelText(lines[-1][:120])
            slicer.app.processEvents()
            qt.QThread.msleep(20)
    finally:
        dialog.close()
    log = "\n".join(lines)
    if done["code"] != 0:
        raise StepFailedError(f"pip install returned {done['code']}", log)
    return log


def runPlan(plan: Any, requester: str = REQUESTER) -> list[Any]:
    """Run the plan's steps in order, stopping at the first failure; returns one StepOutcome per step run."""
    from radtriage.dependencies import StepKind, StepOutcome

    outcomes = []
    for step in plan.steps:
        logger.info("installing: %s", step.description)
        try:
            log = _installTorch(step) if step.kind is StepKind.TORCH_EXTENSION else _pipInstall(step, requester)
        except StepFailedError as error:
            logger.warning("install step failed: %s: %s", step.description, error)
            outcomes.append(StepOutcome(step, str(error), error.log))
            break
        except Exception as error:
            logger.warning("install step failed: %s: %s", step.description, error)
            outcomes.append(StepOutcome(step, f"{type(error).__name__}: {error}"))
            break
        outcomes.append(StepOutcome(step, None, log))
    return outcomes


def ensureDependencies(requester: str = REQUESTER) -> bool:
    """True when the core and every dependency can be used now; otherwise asks, installs, and reports.

    Shows at most one confirmation dialog (packages and sizes); returns False when the user declines, the
    computer is offline, an install step failed (the dialog says exactly what is still missing, with pip's
    output in its details) or Slicer must restart first.
    """
    import slicer

    try:
        from radtriage import dependencies as deps
        from radtriage import package_sources as sources
    except ImportError as error:
        slicer.util.errorDisplay(
            _("The SlicerRadTriage core package (radtriage) cannot be imported in Slicer's Python.") + "\n\n"
            + _("Install the extension again from the Extensions Manager."),
            detailedText=str(error),
        )  # fmt: skip
        return False

    missing = deps.missing_requirements()
    if not missing:
        return True
    plan = deps.install_plan(missing, has_torch_extension=torchUtilsLogic() is not None, requester=requester)
    title = _("{requester} - Install Python packages").format(requester=requester)
    if slicer.app.testingEnabled():  # tests never change Slicer's Python environment
        logger.warning("testing mode: not installing %s", ", ".join(m.dependency.requirement for m in plan.missing))
        return False
    if not slicer.util.confirmOkCancelDisplay(plan.dialog_text, windowTitle=title):
        logger.info("the user declined installing %d package(s)", len(plan.missing))
        return False

    blocking = checkSources(plan)
    if blocking:
        details = "\n".join(f"{s.source.url}: {s.error}" for s in blocking)
        slicer.util.errorDisplay(sources.offline_message(blocking), windowTitle=title, detailedText=details)
        return False

    report = deps.verify_after_install(plan, runPlan(plan, requester))
    if not report.ok:
        slicer.util.errorDisplay(report.message, windowTitle=title, detailedText=report.details)
        return False
    if report.needs_restart:
        if slicer.util.confirmYesNoDisplay(report.message + "\n\n" + _("Restart Slicer now?"), windowTitle=title):
            slicer.util.restart()
        return False
    slicer.util.showStatusMessage(report.message, 5000)
    return True
