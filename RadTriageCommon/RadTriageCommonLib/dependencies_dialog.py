"""First-use install of the core's Python dependencies into Slicer's Python, after one confirmation dialog.

The decisions (what is missing, in which steps to install it, what to tell the user, what is still missing
afterwards) are made by the slicer-free :mod:`radtriage.dependencies`; this file only carries them out:

* torch through the PyTorch extension: ``PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
  torchVersionRequirement="==2.13.0")`` (light-the-torch picks the CUDA or CPU build; returns None when it
  did not install);
* the rest in one pip call: ``slicer.packaging.pip_ensure(requirements, prompt_install=False,
  prompt_restart=False, requester=...)`` where the running Slicer has it (5.12+; ``slicer.pydeps`` in 5.11),
  else ``slicer.util.pip_install(requirements)``;
* a reachability check of the package servers first, so an offline computer gets a clear message and an
  unchanged Python environment; a restart prompt when a package that is already loaded was replaced.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

REQUESTER = "SlicerRadTriage"


def _(text: str) -> str:
    """Translate with Slicer's translation function inside Slicer (the text as is elsewhere)."""
    if getattr(sys.modules.get("slicer"), "app", None) is None:
        return text
    from slicer.i18n import tr

    return tr(text)


def pipEnsureFunction() -> Any:
    """``pip_ensure`` of the running Slicer (``slicer.packaging``, or ``slicer.pydeps`` in 5.11), else None."""
    for moduleName in ("slicer.packaging", "slicer.pydeps"):
        try:
            module = importlib.import_module(moduleName)
        except ImportError:
            continue
        function = getattr(module, "pip_ensure", None)
        if callable(function):
            return function
    return None


def torchUtilsLogic() -> Any:
    """``PyTorchUtilsLogic()`` of the PyTorch extension, or None when the extension is not installed."""
    try:
        import PyTorchUtils
    except ImportError:
        return None
    logicClass = getattr(PyTorchUtils, "PyTorchUtilsLogic", None)
    return logicClass() if logicClass is not None else None


def slicerVersion() -> tuple[int, int]:
    """(major, minor) of the running Slicer."""
    import slicer

    return int(slicer.app.majorVersion), int(slicer.app.minorVersion)


def dependenciesReady() -> bool:
    """Whether the core and all its dependencies can be used now (no dialog; cheap enough for any signal)."""
    try:
        from radtriage import dependencies as deps
    except ImportError:
        return False
    return not deps.missing_requirements()


def _runStep(step: Any, requester: str) -> None:
    """Carry out one install step; raises when it did not install."""
    import slicer

    from radtriage.dependencies import StepKind

    if step.kind is StepKind.TORCH_EXTENSION:
        logic = torchUtilsLogic()
        if logic is None:
            raise RuntimeError("the PyTorch extension is not installed")
        torch = logic.installTorch(askConfirmation=False, torchVersionRequirement=step.torch_version_requirement)
        if torch is None:
            raise RuntimeError("PyTorch was not installed (the PyTorch extension's installTorch returned None)")
    elif step.kind is StepKind.PIP_ENSURE:
        pipEnsure = pipEnsureFunction()
        if pipEnsure is None:
            raise RuntimeError("this Slicer has no pip_ensure")
        pipEnsure(list(step.requirements), prompt_install=False, prompt_restart=False, requester=requester)
    else:
        import qt

        qt.QApplication.setOverrideCursor(qt.Qt.WaitCursor)
        try:
            slicer.util.pip_install(list(step.requirements))
        finally:
            qt.QApplication.restoreOverrideCursor()


def runPlan(plan: Any, requester: str = REQUESTER) -> list[Any]:
    """Run the plan's steps in order, stopping at the first failure; returns one StepOutcome per step run."""
    from radtriage.dependencies import StepOutcome

    outcomes = []
    for step in plan.steps:
        logger.info("installing: %s", step.description)
        try:
            _runStep(step, requester)
        except Exception as error:
            output = getattr(error, "output", None) or getattr(error, "stderr", None) or ""
            if isinstance(output, bytes):
                output = output.decode("utf-8", "replace")
            logger.warning("install step failed: %s: %s", step.description, error)
            outcomes.append(StepOutcome(step, f"{type(error).__name__}: {error}", str(output)))
            break
        outcomes.append(StepOutcome(step))
    return outcomes


def ensureDependencies(requester: str = REQUESTER) -> bool:
    """True when the core and every dependency can be used now; otherwise asks, installs, and reports.

    Shows at most one confirmation dialog (packages and sizes); returns False when the user declines, the
    computer is offline, an install step failed (the dialog says exactly what is still missing) or Slicer
    must restart first.
    """
    import slicer

    try:
        from radtriage import dependencies as deps
    except ImportError as error:
        slicer.util.errorDisplay(
            _("The SlicerRadTriage core package (radtriage) cannot be imported in Slicer's Python.") + "\n\n"
            + _("Install the extension again, or for a source checkout run in Slicer's Python console:")
            + '\n  slicer.util.pip_install("-e /path/to/SlicerRadTriage")',
            detailedText=str(error),
        )  # fmt: skip
        return False

    missing = deps.missing_requirements()
    if not missing:
        return True
    plan = deps.install_plan(
        missing,
        slicer_version=slicerVersion(),
        has_pip_ensure=pipEnsureFunction() is not None,
        has_torch_extension=torchUtilsLogic() is not None,
        requester=requester,
    )
    title = _("{requester} - Install Python packages").format(requester=requester)
    if slicer.app.testingEnabled():  # tests never change Slicer's Python environment
        logger.warning("testing mode: not installing %s", ", ".join(m.dependency.requirement for m in plan.missing))
        return False
    if not slicer.util.confirmOkCancelDisplay(plan.dialog_text, windowTitle=title):
        logger.info("the user declined installing %d package(s)", len(plan.missing))
        return False

    unreachable = deps.unreachable_hosts(plan.hosts)
    if unreachable:
        slicer.util.errorDisplay(deps.offline_message(unreachable), windowTitle=title)
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
