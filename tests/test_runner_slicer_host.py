"""Background jobs started as Slicer starts its helper processes: the interpreter (PythonSlicer inside Slicer,
a clear error when none is found), no console window on Windows, and a PYTHONPATH that finds the ``radtriage``
package of an installed extension, a build tree or a source checkout (Slicer puts those on ``sys.path`` only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from radtriage.runtime import runner
from radtriage.runtime.runner import (
    BackgroundJob,
    JobStartError,
    JobState,
    job_environment,
    job_python,
    popen_options,
    radtriage_argv,
)

ROOT = Path(__file__).resolve().parents[1]
EXE = ".exe" if os.name == "nt" else ""


def _executable(folder: Path, name: str = "PythonSlicer") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name + EXE)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def _slicer(monkeypatch, home: Path) -> types.SimpleNamespace:
    """Make this process look like the Slicer application (``slicer.app`` with its ``slicerHome``)."""
    app = types.SimpleNamespace(slicerHome=str(home))
    monkeypatch.setitem(sys.modules, "slicer", types.SimpleNamespace(app=app))
    return app


# -- the interpreter --------------------------------------------------------------------------------------------


def test_outside_slicer_jobs_run_with_this_interpreter():
    assert getattr(sys.modules.get("slicer"), "app", None) is None  # slicer-core only: not the application
    assert job_python() == sys.executable
    assert radtriage_argv("infer", "--help") == [sys.executable, "-m", "radtriage", "infer", "--help"]


def test_inside_slicer_jobs_run_with_pythonslicer_from_slicers_bin_folder_first(tmp_path, monkeypatch):
    home = tmp_path / "Slicer-5.12.3-linux-amd64"
    in_bin = _executable(home / "bin")
    on_path = _executable(tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setattr(sys, "executable", "")  # Slicer not started by its launcher
    _slicer(monkeypatch, home)
    assert radtriage_argv("infer")[:3] == [str(in_bin), "-m", "radtriage"]
    in_bin.unlink()
    assert job_python() == str(on_path)


def test_inside_slicer_without_pythonslicer_the_error_says_what_to_do(tmp_path, monkeypatch):
    home = tmp_path / "Slicer"
    (home / "bin").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", "")
    _slicer(monkeypatch, home)
    with pytest.raises(JobStartError) as caught:
        radtriage_argv("infer")
    message = str(caught.value)
    assert "\n" not in message and "PythonSlicer" in message and str(home / "bin") in message
    assert "launcher" in message and isinstance(caught.value, RuntimeError)


def test_an_empty_sys_executable_outside_slicer_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    with pytest.raises(JobStartError, match=r"sys\.executable is empty") as caught:
        radtriage_argv("infer")
    assert "\n" not in str(caught.value)


# -- no console window on Windows -------------------------------------------------------------------------------


def test_windows_jobs_get_no_console_window_and_their_own_process_group():
    options = popen_options("nt", startupinfo=types.SimpleNamespace)
    assert options["creationflags"] == 0x08000000 | 0x00000200  # CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP
    info = options["startupinfo"]
    assert info.dwFlags & 0x00000001 and info.wShowWindow == 0  # STARTF_USESHOWWINDOW, SW_HIDE
    assert set(options) == {"creationflags", "startupinfo"}
    if os.name == "nt":  # the numbers are Windows' own
        assert runner.CREATE_NO_WINDOW == subprocess.CREATE_NO_WINDOW
        assert runner.CREATE_NEW_PROCESS_GROUP == subprocess.CREATE_NEW_PROCESS_GROUP
        assert runner.STARTF_USESHOWWINDOW == subprocess.STARTF_USESHOWWINDOW and runner.SW_HIDE == subprocess.SW_HIDE
    assert popen_options("posix") == {"start_new_session": True}


def test_the_job_passes_the_platform_options_to_popen(tmp_path, monkeypatch):
    seen: dict = {}

    def fake_popen(argv, **kwargs):
        seen.update(kwargs)
        raise OSError("recorded")

    monkeypatch.setattr(runner, "popen_options", lambda: popen_options("nt", startupinfo=types.SimpleNamespace))
    monkeypatch.setattr(runner.subprocess, "Popen", fake_popen)
    job = BackgroundJob(["python", "-c", "pass"], tmp_path / "out").start()
    assert job.state is JobState.FAILED and "recorded" in job.error
    assert seen["creationflags"] == 0x08000200 and seen["startupinfo"].wShowWindow == 0


# -- the job's environment --------------------------------------------------------------------------------------


def test_job_environment_puts_the_package_folder_first_and_keeps_the_rest_once(tmp_path):
    here = str(ROOT)  # where this test process imports radtriage from
    base = {"PYTHONPATH": os.pathsep.join(["/keep/a", here, "/keep/b", "/keep/a"]), "OTHER": "1"}
    env = job_environment({"EXTRA": "2"}, base=base)
    assert env["PYTHONPATH"].split(os.pathsep) == [here, "/keep/a", "/keep/b"]
    assert env["OTHER"] == "1" and env["EXTRA"] == "2"
    assert job_environment(base={})["PYTHONPATH"] == here
    assert "PYTHONPATH" not in job_environment(base={}, packages=())
    assert job_environment({"PYTHONPATH": "/mine"}, base=base)["PYTHONPATH"].split(os.pathsep) == [here, "/mine"]


def test_a_package_installed_in_site_packages_needs_no_pythonpath_entry():
    assert runner.package_folders(("psutil",)) == []
    assert runner.package_folders(("no_such_package_here",)) == []


PARENT = """
import json, sys
sys.path.append({folder!r})  # what Slicer does for a scripted module's folder (never PYTHONPATH)
import radtriage
from radtriage.runtime.runner import BackgroundJob
child = "import os, radtriage; from radtriage.runtime.events import emit_result; " \\
        "emit_result({{'file': radtriage.__file__, 'pythonpath': os.environ['PYTHONPATH']}})"
job = BackgroundJob([sys.executable, "-c", child], {out!r}).start()
state = job.wait(timeout=60)
print(json.dumps({{"parent": radtriage.__file__, "state": state.value, "outputs": job.outputs, "error": job.error}}))
"""


@pytest.mark.parametrize(
    "layout",
    ["extension/lib/Slicer-5.12/qt-scripted-modules", "Slicer-build/lib/Slicer-5.12/qt-scripted-modules", "checkout"],
)
def test_the_child_imports_radtriage_from_where_slicer_found_it(tmp_path, layout):
    """Installed extension, build tree and a source checkout (Additional module paths): the GUI process has the
    folder on sys.path; a fresh child finds the same package through PYTHONPATH, other entries kept."""
    folder = tmp_path / layout
    shutil.copytree(ROOT / "radtriage", folder / "radtriage", ignore=shutil.ignore_patterns("__pycache__", "bundles"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "keep-me")
    code = textwrap.dedent(PARENT.format(folder=str(folder), out=str(tmp_path / "out")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert Path(report["parent"]).is_relative_to(folder), "the parent imported the copy (as Slicer would)"
    assert report["state"] == "succeeded", report["error"]
    assert Path(report["outputs"]["file"]).parent == folder / "radtriage"
    assert report["outputs"]["pythonpath"].split(os.pathsep) == [str(folder), str(tmp_path / "keep-me")]
