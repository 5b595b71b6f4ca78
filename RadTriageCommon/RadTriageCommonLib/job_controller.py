"""Follow a ``radtriage`` background job from a module's GUI without blocking it.

:class:`JobController` owns the running :class:`radtriage.runtime.runner.BackgroundJob` and a ``qt.QTimer``
that polls it every 200 ms: progress events move the progress bar and the status label, the Apply button reads
"Cancel" while the job runs (and cancels it when pressed), and when the job ends the controller calls
``onFinished(outputs)`` or shows the error with the job's log. There is no waiting loop anywhere: Cancel signals
the job's process tree and the timer picks up its end. Once the job has ended and ``onFinished`` has returned
(or the error was shown), the job's temporary folder is removed (:func:`.job_files.removeJobFolder`).

The widgets, the timer and the error display are passed in (defaults: ``qt.QTimer`` and
``slicer.util.errorDisplay``), so the controller also runs, unchanged, under plain Python with stand-ins.
"""

from __future__ import annotations

import collections
import logging
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .job_files import removeJobFolder

logger = logging.getLogger(__name__)

POLL_INTERVAL_MS = 200
LOG_LINES = 400
STDERR_SEPARATOR = "--- last stderr lines ---"
"""What BackgroundJob puts between its failure reason and the child's last stderr lines."""


def _(text: str) -> str:
    """Translate with Slicer's translation function inside Slicer (the text as is elsewhere)."""
    if getattr(sys.modules.get("slicer"), "app", None) is None:
        return text
    from slicer.i18n import tr

    return tr(text)


def _qtTimer() -> Any:
    import qt

    return qt.QTimer()


def _slicerErrorDisplay(text: str, detailedText: str = "") -> None:
    import slicer

    slicer.util.errorDisplay(text, detailedText=detailedText)


def failureSummary(message: str) -> str:
    """One line for the error dialog: the runner's reason, plus the job's last stderr line when there is one."""
    head, _sep, tail = message.partition(STDERR_SEPARATOR)
    head = head.strip() or "the job failed"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    last = (errors or lines or [""])[-1]
    return f"{head}: {last}" if last else head


class JobController:
    """Runs one background job at a time for a module: Apply/Cancel button, progress bar, status label.

    ``onFinished(outputs)`` receives the job's ``outputs`` mapping (paths already in the final output folder)
    when it succeeds; an exception raised there is shown like a job failure.
    """

    def __init__(
        self,
        applyButton: Any,
        progressBar: Any,
        statusLabel: Any,
        onFinished: Callable[[Mapping[str, Any]], None],
        *,
        failureMessage: str = "",
        intervalMs: int = POLL_INTERVAL_MS,
        timer: Any = None,
        errorDisplay: Callable[..., None] | None = None,
        onStateChanged: Callable[[bool], None] | None = None,
    ) -> None:
        self.applyButton = applyButton
        self.progressBar = progressBar
        self.statusLabel = statusLabel
        self.onFinished = onFinished
        self.onStateChanged = onStateChanged
        self.failureMessage = failureMessage or _("The job failed.")
        self.errorDisplay = errorDisplay or _slicerErrorDisplay
        self.timer = timer if timer is not None else _qtTimer()
        self.timer.setInterval(intervalMs)
        self.timer.timeout.connect(self.poll)
        self.job: Any = None
        self.lastState: str | None = None
        self.lastOutputs: dict[str, Any] | None = None
        self._running = False
        self._applyText = ""
        self._log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)

    # -- public API ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`follow` until the job's ``finished`` event has been handled."""
        return self._running

    @property
    def log(self) -> str:
        """The job's progress messages, log lines and errors so far (the last lines)."""
        return "\n".join(self._log)

    def follow(self, job: Any, failureMessage: str | None = None) -> None:
        """Show ``job`` (a started BackgroundJob) in the GUI and poll it until it ends."""
        if self._running:
            raise RuntimeError("a job is already running; cancel it first")
        self.job = job
        self.lastState = None
        self.lastOutputs = None
        if failureMessage:
            self.failureMessage = failureMessage
        self._log.clear()
        self._running = True
        self._applyText = self.applyButton.text
        self.applyButton.text = _("Cancel")
        self.applyButton.enabled = True
        self.progressBar.setRange(0, 0)  # busy until the first progress fraction arrives
        self.progressBar.setValue(0)
        self.progressBar.setVisible(True)
        self.statusLabel.text = _("Starting...")
        if self.onStateChanged is not None:
            self.onStateChanged(True)
        self.timer.start()
        self.poll()  # a command that could not start is reported at once

    def cancel(self) -> None:
        """Stop the running job (its whole process tree) and discard its partial outputs; returns at once (the
        timer reports the end)."""
        if not self._running or self.job is None:
            return
        self.statusLabel.text = _("Cancelling...")
        self.job.cancel(block=False)
        self.poll()

    def poll(self) -> None:
        """Handle the job's new events (called by the timer; never blocks)."""
        if self.job is None or not self._running:
            self.timer.stop()
            return
        for event in self.job.poll():
            self._handle(event)
            if not self._running:
                break

    # -- events -------------------------------------------------------------------------------------------------

    def _handle(self, event: Any) -> None:
        if event.kind == "progress":
            fraction = event.fraction
            if fraction is not None:
                self.progressBar.setRange(0, 100)
                self.progressBar.setValue(round(100 * fraction))
            if event.message:
                self.statusLabel.text = event.message
            self._log.append(f"[{100 * (fraction or 0.0):5.1f}%] {event.message}")
        elif event.kind == "log":
            self._log.append(event.message)
        elif event.kind == "error":
            self._log.append(f"ERROR: {event.message}")
        elif event.kind == "finished":
            self._finish(event.data)

    def _finish(self, data: Mapping[str, Any]) -> None:
        self.timer.stop()
        self._running = False
        self.lastState = str(data.get("state"))
        self.applyButton.text = self._applyText
        self.progressBar.setVisible(False)
        seconds = self._elapsed()
        if self.onStateChanged is not None:
            self.onStateChanged(False)
        try:
            if self.lastState == "succeeded":
                self.lastOutputs = dict(data.get("outputs") or {})
                self.statusLabel.text = _("Done in {seconds:.1f} s.").format(seconds=seconds)
                self._deliver(self.lastOutputs)
            elif self.lastState == "cancelled":
                self.statusLabel.text = _("Cancelled; nothing was kept.")
            else:
                summary = failureSummary(str(data.get("message") or ""))
                self._log.append(summary)
                self.statusLabel.text = _("Failed.")
                self.errorDisplay(self.failureMessage + "\n\n" + summary, detailedText=self.log)
        finally:
            self._removeJobFolder()

    def _deliver(self, outputs: dict[str, Any]) -> None:
        try:
            self.onFinished(outputs)
        except Exception as error:
            logger.exception("importing the job's results failed")
            self.statusLabel.text = _("The results could not be loaded.")
            self.errorDisplay(
                self.failureMessage + "\n\n" + _("The job finished, but its results could not be loaded: ")
                + str(error),
                detailedText=traceback.format_exc() + "\n" + self.log,
            )  # fmt: skip

    def _elapsed(self) -> float:
        started = getattr(self.job, "started_at", None)
        finished = getattr(self.job, "finished_at", None)
        return float(finished - started) if started is not None and finished is not None else 0.0

    def _removeJobFolder(self) -> None:
        outputDir = getattr(self.job, "output_dir", None)
        if outputDir is not None and removeJobFolder(outputDir):
            logger.info("removed the job folder of %s", outputDir)
