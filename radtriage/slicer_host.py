"""Where this process runs and how to start a child process there, standard library only (``radtriage doctor``
and the background jobs share it): inside the Slicer application or not, the interpreter to start
(``PythonSlicer`` in Slicer, as ``slicer.util.executePythonModule`` finds it), and the ``Popen`` arguments that
keep a console window from opening on Windows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

PYTHON_SLICER = "PythonSlicer"
# Windows process-creation constants (winbase.h); subprocess defines them only on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
STARTF_USESHOWWINDOW = 0x00000001
SW_HIDE = 0


class JobStartError(RuntimeError):
    """A background job cannot be started; the message says in one line what is missing and what to do."""


def _running_slicer_app() -> Any:
    """``slicer.app`` when this process is the Slicer application (None elsewhere); never imports slicer."""
    return getattr(sys.modules.get("slicer"), "app", None)


def job_python(app: Any = None) -> str:
    """The interpreter background jobs run with: Slicer's ``PythonSlicer`` inside Slicer, else ``sys.executable``.

    ``app`` is ``slicer.app`` (looked up in ``sys.modules`` when not given). Inside Slicer, ``PythonSlicer`` is
    searched in ``<slicerHome>/bin`` first, then beside ``sys.executable`` and on ``PATH``. Raises
    :class:`JobStartError` with a one-line message when no interpreter is found.
    """
    app = app if app is not None else _running_slicer_app()
    if app is None:
        if sys.executable:
            return sys.executable
        raise JobStartError(
            "cannot start the background job: this Python reports no interpreter path (sys.executable is empty); "
            "run it with a regular python executable"
        )
    home = str(getattr(app, "slicerHome", "") or "")
    folders = [os.path.join(home, "bin")] if home else []
    if sys.executable:
        folders.append(os.path.dirname(sys.executable))
    folders += os.environ.get("PATH", "").split(os.pathsep)
    found = shutil.which(PYTHON_SLICER, path=os.pathsep.join(f for f in folders if f))
    if found:
        return found
    where = os.path.join(home, "bin") if home else "Slicer's bin folder"
    raise JobStartError(
        f"cannot start the background job: the {PYTHON_SLICER} executable was not found in {where} or on PATH; "
        "start Slicer with its launcher (Slicer or Slicer.exe) or reinstall Slicer"
    )


def popen_options(os_name: str | None = None, startupinfo: Callable[[], Any] | None = None) -> dict[str, Any]:
    """The platform part of the job's ``Popen`` keyword arguments (``os_name`` defaults to ``os.name``).

    POSIX: a new session, so cancel reaches re-parented grandchildren through the process group. Windows: no
    console window (``CREATE_NO_WINDOW`` and a ``STARTUPINFO`` with ``SW_HIDE``, as Slicer's
    ``slicer.util.launchConsoleProcess`` hides it) in a new process group. ``startupinfo`` builds the
    STARTUPINFO object (default ``subprocess.STARTUPINFO``, which exists only on Windows).
    """
    if (os_name or os.name) != "nt":
        return {"start_new_session": True}
    info = (startupinfo or subprocess.STARTUPINFO)()  # type: ignore[attr-defined]  # Windows only
    info.dwFlags = getattr(info, "dwFlags", 0) | STARTF_USESHOWWINDOW
    info.wShowWindow = SW_HIDE
    return {"creationflags": CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP, "startupinfo": info}
