"""Which Python packages the core needs in Slicer, which are missing, and how to install them there.

Slicer-free: the Slicer modules ask :func:`missing_requirements` what is absent (or too old), show
:attr:`InstallPlan.dialog_text` from :func:`install_plan` in one dialog, run the plan's steps (torch through the
PyTorch extension's ``installTorch`` so the right CUDA build is chosen, then one ``slicer.packaging.pip_install``
call for the rest), and check the result with :func:`verify_after_install`. ``radtriage doctor``
(:mod:`radtriage.doctor`) runs the same check from a shell.

:data:`DEPENDENCIES` is the one list of what the modules and their background jobs import; a test keeps it equal
to ``[project] dependencies`` in pyproject.toml. Every entry is a lower bound that the packages Slicer 5.12.3 ships
satisfy (numpy 2.4.6, scipy 1.17.1, SimpleITK 2.5.5, pydicom 3.0.2, highdicom 0.27.0, packaging 26.2), so the
plan never replaces one of them: replacing SimpleITK breaks ``sitkUtils`` (Slicer's own ITK IO plugin). Exact
versions exist only in CI (``constraints/ci.txt``). Slicer before 5.12 is not supported: 5.10 ships pydicom 2.4.4
and every highdicom that reads enhanced multi-frame objects needs pydicom >= 3.

Nothing here imports numpy, torch or any other package that may still be missing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

REQUESTER = "SlicerRadTriage"
TORCH = "torch"
MIN_SLICER = (5, 12)
"""Oldest supported Slicer: the first whose bundled packages meet every lower bound (and has ``slicer.packaging``)."""


@dataclass(frozen=True)
class Dependency:
    """One package the core needs: the name it is imported by, its pip requirement (a lower bound), its size."""

    import_name: str
    requirement: str
    download_mb: float
    note: str = ""

    @property
    def name(self) -> str:
        """Canonical distribution name (``SimpleITK`` -> ``simpleitk``)."""
        return canonicalize_name(Requirement(self.requirement).name)

    @property
    def specifier(self) -> str:
        """The version part of the requirement (``>=2.8``; empty when any version will do)."""
        return str(Requirement(self.requirement).specifier)

    def accepts(self, version: str) -> bool:
        """Whether ``version`` satisfies the requirement (local labels such as ``+cu126`` are ignored)."""
        try:
            return Requirement(self.requirement).specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False


DEPENDENCIES: tuple[Dependency, ...] = (
    Dependency("torch", "torch>=2.8", 2500.0, "CUDA build with its NVIDIA libraries; the CPU build is about 200 MB"),
    Dependency("numpy", "numpy>=1.26", 17.0),
    Dependency("scipy", "scipy>=1.15", 36.0),
    Dependency("SimpleITK", "SimpleITK>=2.5", 52.0),
    Dependency("pydicom", "pydicom>=3.0", 2.5),
    Dependency("highdicom", "highdicom>=0.27", 1.1, "enhanced multi-frame DICOM"),
    Dependency("nibabel", "nibabel>=5.2", 3.3),
    Dependency("monai", "monai>=1.5", 1.7),
    Dependency("safetensors", "safetensors>=0.4", 0.5),
    Dependency("psutil", "psutil>=5.9", 0.2),
    Dependency("packaging", "packaging>=23", 0.1),
    Dependency("nilearn", "nilearn>=0.10", 40.0, "the MNI brain template; brings pandas and scikit-learn"),
    Dependency("jsonschema", "jsonschema>=4.18", 0.6, "checks bundle metadata against the project's schema"),
)
"""What the modules and the background jobs import (``radtriage infer``, ``run_task``, the phantoms), as lower
bounds; sizes are approximate wheel downloads (MB). Evaluation, batch, web, export and PostgreSQL packages are
optional extras of pyproject.toml (``radtriage[eval]`` ...), never installed into Slicer by the modules.
torch>=2.8 is what MONAI 1.6 requires, so pip never pulls a PyPI torch past the PyTorch extension's build."""

OPTIONAL_EXTRAS: dict[str, str] = {
    "sklearn": "eval",
    "matplotlib": "eval",
    "distributed": "batch",
    "dask": "batch",
    "tqdm": "batch",
    "dicomanonymizer": "export",
    "psycopg": "postgres",
    "trame": "web",
    "trame_slicer": "web",
    "trame_server": "web",
    "aiohttp": "web",
    "pynetdicom": "dicom-node",
    "dicomweb_client": "dicom-node",
}
"""Import name -> the pyproject extra that provides it (for the one-line "install radtriage[X]" error)."""


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """``No module named 'sklearn': install radtriage[eval] ...`` when ``error`` is an optional extra, else None."""
    top = (error.name or "").split(".")[0]
    extra = OPTIONAL_EXTRAS.get(top)
    if extra is None:
        return None
    return f"No module named {top!r}: this command needs the optional extra, pip install 'radtriage[{extra}]'"


def dependency(import_name: str) -> Dependency:
    """The entry of :data:`DEPENDENCIES` imported as ``import_name``."""
    for dep in DEPENDENCIES:
        if dep.import_name == import_name:
            return dep
    raise KeyError(f"{import_name!r} is not a dependency of radtriage")


# ----------------------------------------------------------------------------------------------------------------
# What is missing
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingDependency:
    """A dependency that is not installed (``installed_version`` None) or installed at a version not accepted."""

    dependency: Dependency
    installed_version: str | None
    loaded: bool = False
    """The package is already imported in this process (an upgrade then needs a restart to take effect)."""

    @property
    def is_upgrade(self) -> bool:
        """True when some other version is installed (pip replaces it)."""
        return self.installed_version is not None

    @property
    def reason(self) -> str:
        """Why it is listed: ``not installed`` or ``version 2.4.4 installed, needs ==3.0.2``."""
        if self.installed_version is None:
            return "not installed"
        if self.installed_version == "":
            return f"installed without version information, needs {self.dependency.specifier}"
        return f"version {self.installed_version} installed, needs {self.dependency.specifier}"


Importer = Callable[[str], Any]
VersionOf = Callable[[str], str]


def _importable(importer: Importer, import_name: str) -> bool:
    try:
        return importer(import_name) is not None
    except (ImportError, ValueError):  # find_spec raises for a broken parent package or a spec-less module
        return False


def _installed_version(version_of: VersionOf, dep: Dependency) -> str:
    """The installed distribution's version; "" when it is importable but has no package metadata."""
    try:
        return str(version_of(Requirement(dep.requirement).name))
    except importlib.metadata.PackageNotFoundError:
        return ""


def missing_requirements(
    dependencies: Iterable[Dependency] = DEPENDENCIES,
    *,
    importer: Importer = importlib.util.find_spec,
    version_of: VersionOf = importlib.metadata.version,
    loaded_modules: Container[str] | None = None,
) -> list[MissingDependency]:
    """The dependencies that cannot be imported or whose installed version the pin does not accept, in order.

    ``importer(import_name)`` returns None when a package is absent (``importlib.util.find_spec``);
    ``version_of(distribution)`` returns its installed version (``importlib.metadata.version``);
    ``loaded_modules`` (default ``sys.modules``) tells which are already imported in this process.
    """
    loaded = sys.modules if loaded_modules is None else loaded_modules
    missing = []
    for dep in dependencies:
        if not _importable(importer, dep.import_name):
            missing.append(MissingDependency(dep, None, dep.import_name in loaded))
            continue
        version = _installed_version(version_of, dep)
        if not version or not dep.accepts(version):
            missing.append(MissingDependency(dep, version, dep.import_name in loaded))
    return missing


# ----------------------------------------------------------------------------------------------------------------
# How to install it
# ----------------------------------------------------------------------------------------------------------------


class StepKind(str, Enum):
    """How one install step is carried out inside Slicer (5.12 or newer)."""

    TORCH_EXTENSION = "torch_extension"
    """``PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=...)``."""
    PIP = "pip"
    """``slicer.packaging.pip_install(requirements, ...)`` (one pip call: all of them or none)."""


@dataclass(frozen=True)
class InstallStep:
    """One call that installs some requirements; a pip step installs all of them or none."""

    kind: StepKind
    requirements: tuple[str, ...]

    @property
    def torch_version_requirement(self) -> str | None:
        """For the PyTorch-extension step: the version specifier its ``installTorch`` takes (``>=2.8``)."""
        if self.kind is not StepKind.TORCH_EXTENSION:
            return None
        return str(Requirement(self.requirements[0]).specifier) or None

    @property
    def description(self) -> str:
        """The Slicer call this step makes, for logs and error reports."""
        if self.kind is StepKind.TORCH_EXTENSION:
            return (
                "PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, "
                f"torchVersionRequirement={self.torch_version_requirement!r})"
            )
        return f"slicer.packaging.pip_install({list(self.requirements)!r})"


@dataclass(frozen=True)
class InstallPlan:
    """The ordered steps that install what is missing, and what to tell the user first."""

    missing: tuple[MissingDependency, ...]
    steps: tuple[InstallStep, ...]
    needs_restart: bool
    restart_packages: tuple[str, ...]
    download_mb: float
    warnings: tuple[str, ...]
    dialog_text: str

    @property
    def empty(self) -> bool:
        """Nothing to install."""
        return not self.steps

    @property
    def needs_torch_extension(self) -> bool:
        """A step goes through the PyTorch extension (light-the-torch downloads from download.pytorch.org)."""
        return any(step.kind is StepKind.TORCH_EXTENSION for step in self.steps)

    @property
    def pip_requirements(self) -> tuple[str, ...]:
        """The requirements of the pip step (empty when there is none)."""
        return tuple(r for step in self.steps if step.kind is StepKind.PIP for r in step.requirements)


def _format_mb(mb: float) -> str:
    if mb >= 1000:
        return f"{mb / 1000:.1f} GB"
    return f"{mb:.0f} MB" if mb >= 1 else "<1 MB"


def _dialog_text(
    plan_missing: Sequence[MissingDependency],
    steps: Sequence[InstallStep],
    needs_restart: bool,
    restart_packages: Sequence[str],
    download_mb: float,
    warnings: Sequence[str],
    requester: str,
) -> str:
    lines = [
        f"{requester} needs these Python packages in Slicer's Python environment "
        f"(about {_format_mb(download_mb)} to download):",
        "",
    ]
    via_extension = {r for s in steps if s.kind is StepKind.TORCH_EXTENSION for r in s.requirements}
    for item in plan_missing:
        dep = item.dependency
        what = "upgrade from " + item.installed_version + ", " if item.installed_version else ""
        if item.installed_version == "":
            what = "reinstall, "
        size = f"about {_format_mb(dep.download_mb)}" + (f" ({dep.note})" if dep.note else "")
        how = (
            "; installed by the PyTorch extension, which picks the CUDA or CPU build"
            if (dep.requirement in via_extension)
            else ""
        )
        lines.append(f"  \u2022 {dep.requirement}: {what}{size}{how}")
    lines.append("")
    lines += [f"Note: {w}" for w in warnings]
    if needs_restart:
        lines.append(
            f"Slicer must be restarted afterwards: {', '.join(restart_packages)} "
            f"{'is' if len(restart_packages) == 1 else 'are'} already loaded and will be replaced."
        )
    lines.append("Install now? (Nothing is changed if you cancel.)")
    return "\n".join(lines)


def install_plan(
    missing: Sequence[MissingDependency],
    *,
    has_torch_extension: bool = True,
    requester: str = REQUESTER,
) -> InstallPlan:
    """The steps that install ``missing``: torch through the PyTorch extension first, then one pip call.

    Without the PyTorch extension torch goes into the pip call (PyPI's default build) and the plan carries a
    warning saying so. ``needs_restart`` is set when a package already imported in this process is replaced.
    """
    missing = tuple(missing)
    torch_items = [m for m in missing if m.dependency.import_name == TORCH]
    other = [m.dependency.requirement for m in missing if m.dependency.import_name != TORCH]
    steps: list[InstallStep] = []
    warnings: list[str] = []
    if torch_items and has_torch_extension:
        steps.append(InstallStep(StepKind.TORCH_EXTENSION, (torch_items[0].dependency.requirement,)))
    elif torch_items:
        other.insert(0, torch_items[0].dependency.requirement)
        warnings.append(
            "the PyTorch extension is not installed, so torch comes from PyPI and may not match this computer's "
            "GPU; install 'PyTorch' from the Extensions Manager to get the right CUDA build."
        )
    if other:
        steps.append(InstallStep(StepKind.PIP, tuple(other)))
    restart = tuple(Requirement(m.dependency.requirement).name for m in missing if m.loaded)
    download = sum(m.dependency.download_mb for m in missing)
    text = _dialog_text(missing, steps, bool(restart), restart, download, warnings, requester) if steps else ""
    return InstallPlan(
        missing=missing,
        steps=tuple(steps),
        needs_restart=bool(restart),
        restart_packages=restart,
        download_mb=download,
        warnings=tuple(warnings),
        dialog_text=text,
    )


# ----------------------------------------------------------------------------------------------------------------
# Before and after installing
# ----------------------------------------------------------------------------------------------------------------


OFFLINE_MARKERS = (
    "temporary failure in name resolution",
    "name or service not known",
    "failed to establish a new connection",
    "network is unreachable",
    "connection refused",
    "connection timed out",
    "read timed out",
    "no route to host",
    "getaddrinfo failed",
    "nodename nor servname",
    "could not fetch url",
    "proxyerror",
    "sslerror",
)


def looks_offline(log: str) -> bool:
    """Whether an installer's output says the package server could not be reached."""
    text = log.lower()
    return any(marker in text for marker in OFFLINE_MARKERS)


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one step: ``error`` None means it finished; ``log`` is the installer's output."""

    step: InstallStep
    error: str | None = None
    log: str = ""

    @property
    def ok(self) -> bool:
        """The step finished without raising."""
        return self.error is None


@dataclass(frozen=True)
class InstallReport:
    """The state after installing: what is still missing, which steps failed or never ran, whether to restart."""

    ok: bool
    installed: tuple[str, ...]
    still_missing: tuple[MissingDependency, ...]
    failed_steps: tuple[StepOutcome, ...]
    skipped_steps: tuple[InstallStep, ...]
    needs_restart: bool
    offline: bool
    message: str
    details: str


def verify_after_install(
    plan: InstallPlan,
    outcomes: Sequence[StepOutcome],
    *,
    importer: Importer = importlib.util.find_spec,
    version_of: VersionOf = importlib.metadata.version,
    loaded_modules: Container[str] | None = None,
) -> InstallReport:
    """Check every planned package again after the steps ran and say exactly what is still missing.

    ``outcomes`` lists the steps that ran, in order (the runner stops at the first failure, so the later steps
    are reported as not run). A pip step installs all its packages or none of them (pip downloads everything
    before it installs anything), so a failed step leaves its packages as they were.
    """
    importlib.invalidate_caches()
    planned = [m.dependency for m in plan.missing]
    still = tuple(missing_requirements(planned, importer=importer, version_of=version_of,
                                       loaded_modules=loaded_modules))  # fmt: skip
    still_names = {m.dependency.import_name for m in still}
    installed = tuple(d.requirement for d in planned if d.import_name not in still_names)
    ran = {o.step for o in outcomes}
    failed = tuple(o for o in outcomes if not o.ok)
    skipped = tuple(s for s in plan.steps if s not in ran)
    offline = any(looks_offline(f"{o.error}\n{o.log}") for o in failed)
    ok = not still and not failed
    replaced = tuple(
        Requirement(m.dependency.requirement).name
        for m in plan.missing
        if m.loaded and m.dependency.import_name not in still_names
    )

    lines: list[str] = []
    if ok:
        lines.append(f"Installed {', '.join(installed)}.")
    else:
        if offline:
            lines.append("The install stopped: the package index could not be reached (offline, or a proxy blocks it).")
        elif failed:
            lines.append(f"Installing the Python packages failed: {failed[0].error}")
        else:
            lines.append("The installer finished, but some packages are still not usable.")
        if installed:
            lines.append(f"Installed: {', '.join(installed)}.")
        if still:
            lines.append("Still missing: " + "; ".join(f"{m.dependency.requirement} ({m.reason})" for m in still) + ".")
        if skipped:
            lines.append(f"Not attempted after the failure: {', '.join(r for s in skipped for r in s.requirements)}.")
        lines.append("Each pip call installs all of its packages or none, so no package is left half-installed.")
    if replaced:
        lines.append(f"Restart Slicer to use the new {', '.join(replaced)}.")
    details = "\n\n".join(
        f"{o.step.description}: {'ok' if o.ok else 'FAILED: ' + str(o.error)}" + (f"\n{o.log}" if o.log else "")
        for o in outcomes
    )
    for message in lines:
        logger.info("%s", message)
    return InstallReport(
        ok=ok,
        installed=installed,
        still_missing=still,
        failed_steps=failed,
        skipped_steps=skipped,
        needs_restart=bool(replaced),
        offline=offline,
        message="\n".join(lines),
        details=details,
    )
