"""The core in a replica of Slicer 5.12.3's Python: Python 3.12 with exactly the packages Slicer ships.

``setup.sh`` builds ``.venv-slicer-5.12/`` from ``constraints/slicer-5.12.3.txt`` when a Python 3.12 is found;
radtriage is not installed there (``PYTHONPATH`` = this checkout, as in Slicer). The plan's packages are added
into a separate ``--target`` folder so the replica itself stays bare; torch is left out unless a cp312 torch
wheel is on this computer's disk, and the modules that fail only for want of torch are listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from radtriage import dependencies as deps
from radtriage import doctor
from radtriage import package_sources as sources

ROOT = Path(__file__).resolve().parents[1]
REPLICA = ROOT / ".venv-slicer-5.12"
PYTHON = REPLICA / "bin" / "python"
MODULE_DIRS = ("MRITriage", "CMBDetect", "LGECertainty", "BodyRegion", "CaseReview", "RadTriageCommon", "radtriage")
UNTOUCHABLE = {"numpy", "scipy", "simpleitk", "pydicom", "highdicom", "pillow", "requests"}

NO_REPLICA = ("no Slicer 5.12.3 replica: ./setup.sh builds .venv-slicer-5.12/ when a Python 3.12 is found "
              "(python3.12 on PATH or under ~/.pyenv/versions)")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PYTHON.exists(), reason=NO_REPLICA)]


def _replica(args: list[str], *, path: tuple[Path, ...] = (ROOT,), timeout: float = 600, **env: str) -> Any:
    """Run the replica's Python with ``path`` (default: this checkout, as the extension's folder in Slicer)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environ.update(PYTHONPATH=os.pathsep.join(map(str, path)), PYTHONNOUSERSITE="1", **env)
    return subprocess.run([str(PYTHON), *args], capture_output=True, text=True, timeout=timeout, env=environ,
                          cwd=REPLICA)  # fmt: skip


@pytest.fixture(scope="module")
def report() -> dict:
    # --torch-extension yes: the extension declares PyTorch as a dependency (CMakeLists.txt EXTENSION_DEPENDS)
    done = _replica(["-m", "radtriage", "doctor", "--json", "--no-network", "--torch-extension", "yes"])
    assert done.returncode == 1, done.stderr  # torch & co. are missing in a bare Slicer
    return json.loads(done.stdout)


def _non_torch(report: dict) -> list[str]:
    planned = [r for step in report["plan"]["steps"] for r in step["requirements"]]
    return [r for r in planned if canonicalize_name(Requirement(r).name) != "torch"]


def _local_torch_wheels() -> list[Path]:
    """cp312 torch wheels in the local folders pip's configuration names (find-links, file: indexes)."""
    local = [s for s in sources.package_sources(sources.pip_settings(str(PYTHON))) if s.local]
    wheels: list[Path] = []
    for source in local:
        folder = Path(source.probe)
        for pattern in ("torch-*-cp312-*.whl", "torch/torch-*-cp312-*.whl", "../files/torch-*-cp312-*.whl"):
            wheels += folder.glob(pattern)
    return wheels


@pytest.fixture(scope="module")
def plan_packages(report: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plan's packages (no torch, unless a cp312 wheel is on disk) in a --target folder beside the replica."""
    target = tmp_path_factory.mktemp("plan-packages")
    wheels = _local_torch_wheels()
    requirements = _non_torch(report) + [str(w) for w in wheels[:1]]
    done = _replica(["-m", "pip", "install", "-q", "--no-deps", "--target", str(target), *requirements])
    if done.returncode != 0:
        pytest.skip(f"cannot download the plan's packages {requirements}: {done.stderr.strip()[-300:]}")
    return target


def test_the_replica_is_exactly_slicers_python() -> None:
    code = ("import json, sys, importlib.metadata as m; print(json.dumps([sys.version_info[:2], "
            "{d.metadata['Name']: d.version for d in m.distributions()}]))")  # fmt: skip
    version, installed = json.loads(_replica(["-c", code], path=()).stdout)
    assert version == [3, 12]
    assert {canonicalize_name(n): v for n, v in installed.items()} == doctor.SLICER_BUNDLED


def test_doctor_in_the_replica_replaces_nothing_slicer_ships(report: dict) -> None:
    assert report["python"].startswith("3.12.") and not report["ok"]
    assert report["replaces_bundled"] == []
    expected = [d.requirement for d in deps.DEPENDENCIES if d.name not in doctor.SLICER_BUNDLED]
    assert report["missing"] == expected
    planned = {canonicalize_name(Requirement(r).name) for s in report["plan"]["steps"] for r in s["requirements"]}
    assert planned == {d.name for d in deps.DEPENDENCIES if d.name not in doctor.SLICER_BUNDLED}
    assert not planned & UNTOUCHABLE
    assert [s["kind"] for s in report["plan"]["steps"]] == ["torch_extension", "pip"]
    print(f"\ndoctor in the replica: missing {report['missing']}, {report['plan']['download_mb']} MB, "
          f"steps {[s['call'] for s in report['plan']['steps']]}")


def test_every_module_and_core_file_compiles_under_python_3_12(tmp_path: Path) -> None:
    files = sorted(p for d in MODULE_DIRS for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)
    folders = [str(ROOT / d) for d in MODULE_DIRS]
    done = _replica(["-m", "compileall", "-q", *folders], PYTHONPYCACHEPREFIX=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    cache = tmp_path / ROOT.relative_to(ROOT.anchor)
    compiled = [p for d in MODULE_DIRS for p in (cache / d).rglob("*.cpython-312.pyc")]
    assert len(compiled) == len(files) > 100


def _job_modules(tmp_path: Path) -> list[str]:
    """The radtriage modules a background job loads: ``radtriage infer`` of every task on phantoms (this venv)."""
    code = f"""
import json, sys
from pathlib import Path
from radtriage.cli import main
out = Path({str(tmp_path)!r})
for kind in ("brain", "swi", "lge", "body-ct"):
    assert main(["phantom", kind, "--out", str(out / kind)]) == 0
brain = sorted(str(p) for p in (out / "brain").glob("*/*.nii.gz") if not p.name.endswith("mask.nii.gz"))
jobs = {{"mri_triage": brain, "cmb_detect": [str(next((out / "swi").glob("*/swi_magnitude.nii.gz")))],
        "lge_certainty": [str(next((out / "lge").glob("*/lge_sax.nii.gz")))],
        "body_region": [str(next((out / "body-ct").glob("*/body_ct.nii.gz")))]}}
for task, inputs in jobs.items():
    assert main(["infer", "--task", task, "--input", *inputs, "--output", str(out / task)]) == 0
import radtriage.runtime.runner, radtriage.mrml.volumes  # what the modules themselves import from the core
print(json.dumps(sorted(m for m in sys.modules if m.startswith("radtriage"))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_background_job_imports_with_the_plans_packages(plan_packages: Path, tmp_path: Path) -> None:
    modules = [m for m in _job_modules(tmp_path) if not m.startswith("radtriage.mrml")]  # MRML: Slicer's own
    code = """
import importlib, json, sys
failures = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as error:
        failures[name] = [type(error).__name__, getattr(error, "name", None), str(error)]
print(json.dumps(failures))
"""
    done = _replica(["-c", code, *modules], path=(plan_packages, ROOT))
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout)
    needs_torch = sorted(m for m, (kind, name, _msg) in failures.items()
                         if kind == "ModuleNotFoundError" and (name or "").split(".")[0] == "torch")  # fmt: skip
    others = {m: f for m, f in failures.items() if m not in needs_torch}
    print(f"\n{len(modules)} job modules; {len(modules) - len(failures)} import in the replica + plan; "
          f"{len(needs_torch)} need only torch: {needs_torch}")
    assert others == {}
    assert {"radtriage.io", "radtriage.phantoms", "radtriage.runtime.runner", "radtriage.tasks"} <= (
        set(modules) - set(failures)
    )


def test_pip_installing_the_plan_would_change_no_bundled_package(report: dict) -> None:
    """pip's own resolver, asked for the plan's (non-torch) packages with their dependencies, keeps Slicer's."""
    requirements = _non_torch(report)
    done = _replica(["-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", *requirements])
    if done.returncode != 0:
        pytest.skip(f"pip cannot resolve {requirements} here (offline?): {done.stderr.strip()[-300:]}")
    install = json.loads(done.stdout)["install"]
    chosen = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in install}
    assert {canonicalize_name(Requirement(r).name) for r in requirements} <= set(chosen)
    assert set(chosen) & set(doctor.SLICER_BUNDLED) == set(), chosen
    print(f"\npip would add {len(chosen)} packages, none of them Slicer's (torch and its CUDA libraries only because "
          f"the replica has no torch; in Slicer the PyTorch extension installs it first): {sorted(chosen)}")
