"""``radtriage doctor [--json]``: the dependency check the Slicer modules run, from any Python, before installing.

Standard library and ``packaging`` only (``python -m radtriage doctor`` imports no numpy/torch), so it works in a
bare Slicer (``PythonSlicer -m radtriage doctor`` with the extension's folder on ``PYTHONPATH``) or any venv.
It reports what is missing (:func:`radtriage.dependencies.missing_requirements`), the plan the modules would run
(:func:`radtriage.dependencies.install_plan`), which planned package would replace one Slicer 5.12.3 ships
(``replaces_bundled``: must be empty inside Slicer) and whether pip's configured sources answer.

Exit status: 0 when nothing is missing, 1 otherwise.

JSON (``--json``), one object::

    python            "3.12.10": the Python checked; "executable": its path
    in_slicer         true when run inside Slicer's application
    supported_slicer  ">=5.12"
    requirements      [{"requirement": "numpy>=1.26", "import_name": "numpy", "installed": "2.4.6" | null,
                        "ok": true, "reason": ""}]   (reason: "not installed", "version 2.4.4 installed, needs ...")
    missing           ["torch>=2.8", ...]: the requirements not met
    plan              {"steps": [{"kind": "torch_extension" | "pip", "requirements": [...], "call": "..."}],
                       "download_mb": 5.3, "needs_restart": false, "warnings": [...]}
    replaces_bundled  [{"requirement": "SimpleITK>=2.6", "bundled": "2.5.5"}]: planned packages Slicer 5.12.3
                      ships (the plan would replace them)
    sources           [{"url": ..., "role": "index" | "extra-index" | "find-links" | "pytorch", "probe":
                        "host:port" | folder, "proxy": "host:port" | null, "reachable": true | false | null,
                        "error": ""}]: where pip would download the plan from (pip's configuration)
    offline           true when the plan cannot be downloaded; null when nothing is planned or --no-network
    ok                true when nothing is missing
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from radtriage import dependencies as deps
from radtriage import package_sources as sources

SLICER_VERSION = "5.12.3"
SLICER_BUNDLED: dict[str, str] = {
    "pip": "26.1.1", "setuptools": "82.0.1", "packaging": "26.2", "wheel": "0.47.0", "pyparsing": "3.3.2",
    "six": "1.17.0", "numpy": "2.4.6", "scipy": "1.17.1", "simpleitk": "2.5.5", "certifi": "2026.5.20",
    "idna": "3.16", "charset-normalizer": "3.4.7", "urllib3": "2.7.0", "requests": "2.34.2", "pydicom": "3.0.2",
    "pillow": "12.2.0", "retrying": "1.4.2", "dicomweb-client": "0.61.0", "dcmqi": "0.4.0", "highdicom": "0.27.0",
    "pyjpegls": "1.5.1", "typing-extensions": "4.15.0", "chardet": "7.4.3", "couchdb": "1.2", "gitdb": "4.0.12",
    "smmap": "5.0.3", "gitpython": "3.1.50", "cryptography": "48.0.0", "pyjwt": "2.13.0", "wrapt": "2.2.1",
    "deprecated": "1.3.1", "pycparser": "3.0", "cffi": "2.0.0", "pynacl": "1.6.2",
    "python-dateutil": "2.9.0.post0", "pygithub": "2.9.1",
}  # fmt: skip
"""Canonical name -> version of every Python package Slicer 5.12.3 ships (its SuperBuild/External_python-*.cmake);
the same list as ``constraints/slicer-5.12.3.txt`` (a test keeps them equal)."""


def replaces_bundled(plan: deps.InstallPlan) -> list[dict[str, str]]:
    """The planned requirements naming a package Slicer ships: installing them would replace Slicer's copy."""
    planned = [r for step in plan.steps for r in step.requirements]
    found = []
    for requirement in planned:
        name = canonicalize_name(Requirement(requirement).name)
        if name in SLICER_BUNDLED:
            found.append({"requirement": requirement, "bundled": SLICER_BUNDLED[name]})
    return found


def _torch_extension(choice: str) -> bool:
    if choice != "auto":
        return choice == "yes"
    return importlib.util.find_spec("PyTorchUtils") is not None


def diagnose(*, torch_extension: str = "auto", network: bool = True) -> dict[str, Any]:
    """The doctor's report (the JSON object the module docstring describes)."""
    missing = deps.missing_requirements()
    missing_names = {m.dependency.import_name: m for m in missing}
    plan = deps.install_plan(missing, has_torch_extension=_torch_extension(torch_extension))
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "in_slicer": getattr(sys.modules.get("slicer"), "app", None) is not None,
        "supported_slicer": ">={}.{}".format(*deps.MIN_SLICER),
        "requirements": [
            {
                "requirement": dep.requirement,
                "import_name": dep.import_name,
                "installed": _installed(dep, missing_names.get(dep.import_name)),
                "ok": dep.import_name not in missing_names,
                "reason": missing_names[dep.import_name].reason if dep.import_name in missing_names else "",
            }
            for dep in deps.DEPENDENCIES
        ],
        "missing": [m.dependency.requirement for m in missing],
        "plan": {
            "steps": [
                {"kind": s.kind.value, "requirements": list(s.requirements), "call": s.description} for s in plan.steps
            ],
            "download_mb": round(plan.download_mb, 1),
            "needs_restart": plan.needs_restart,
            "warnings": list(plan.warnings),
        },
        "replaces_bundled": replaces_bundled(plan),
        "sources": [],
        "offline": None,
        "ok": not missing,
    }
    if plan.empty:
        return report
    found = sources.package_sources(sources.pip_settings(), torch=plan.needs_torch_extension)
    statuses = sources.probe_sources(found) if network else []
    report["sources"] = [
        {"url": s.url, "role": s.role, "probe": s.probe, "proxy": s.proxy, "reachable": None, "error": ""}
        for s in found
    ]
    for row, status in zip(report["sources"], statuses, strict=False):
        row.update(reachable=status.reachable, error=status.error)
    if network:
        report["offline"] = bool(sources.unreachable(statuses))
    return report


def _installed(dep: deps.Dependency, missing: deps.MissingDependency | None) -> str | None:
    if missing is not None:
        return missing.installed_version or None
    try:
        return importlib.metadata.version(Requirement(dep.requirement).name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def format_report(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"Python {report['python']} ({report['executable']}); supported Slicer {report['supported_slicer']}"]
    for row in report["requirements"]:
        state = "ok" if row["ok"] else row["reason"]
        lines.append(f"  {row['requirement']:<22} {row['installed'] or '-':<14} {state}")
    if report["ok"]:
        lines.append("Nothing is missing.")
        return "\n".join(lines)
    lines.append("Plan:")
    lines += [f"  {step['call']}" for step in report["plan"]["steps"]]
    lines.append(f"  about {report['plan']['download_mb']:.0f} MB to download")
    lines += [f"  warning: {w}" for w in report["plan"]["warnings"]]
    if report["replaces_bundled"]:
        names = ", ".join(f"{r['requirement']} (Slicer ships {r['bundled']})" for r in report["replaces_bundled"])
        lines.append(f"Would replace packages Slicer {SLICER_VERSION} ships: {names}")
    for row in report["sources"]:
        state = {True: "reachable", False: f"NOT reachable: {row['error']}", None: "not probed"}[row["reachable"]]
        via = f" via proxy {row['proxy']}" if row["proxy"] else ""
        lines.append(f"  source {row['role']:<11} {row['url']}{via}: {state}")
    if report["offline"]:
        lines.append("Offline: the plan's packages cannot be downloaded from the configured sources.")
    return "\n".join(lines)
