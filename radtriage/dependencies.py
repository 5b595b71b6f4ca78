"""Which Python packages the core needs, which are missing, and how to install them into Slicer's Python.

Slicer-free: the Slicer modules ask :func:`missing_requirements` what is absent (or at a wrong version), show
:attr:`InstallPlan.dialog_text` from :func:`install_plan` in one dialog, run the plan's steps (torch through the
PyTorch extension's ``installTorch`` so the right CUDA build is chosen, then one pip call for the rest), and check
the result with :func:`verify_after_install`. :data:`DEPENDENCIES` is the one list of pinned requirements inside
Slicer; a test keeps it equal to ``[project] dependencies`` in pyproject.toml.

Nothing here imports numpy, torch or any other package that may still be missing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

REQUESTER = "SlicerRadTriage"
TORCH = "torch"
PIP_ENSURE_SINCE = (5, 12)
"""First Slicer version whose ``slicer.packaging`` has ``pip_ensure`` (older ones: ``slicer.util.pip_install``)."""

PYPI_HOSTS = ("pypi.org:443", "files.pythonhosted.org:443")
PYTORCH_HOSTS = ("download.pytorch.org:443",)
"""Where light-the-torch (used by the PyTorch extension) downloads the torch wheels from."""


@dataclass(frozen=True)
class Dependency:
    """One package the core needs: the name it is imported by, its pinned pip requirement, its download size."""

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
        """The version part of the requirement (``==2.13.0``; empty when any version will do)."""
        return str(Requirement(self.requirement).specifier)

    def accepts(self, version: str) -> bool:
        """Whether ``version`` satisfies the requirement (local labels such as ``+cu126`` are ignored)."""
        try:
            return Requirement(self.requirement).specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False


DEPENDENCIES: tuple[Dependency, ...] = (
    Dependency("torch", "torch==2.13.0", 2500.0, "CUDA build with its NVIDIA libraries; the CPU build is about 200 MB"),
    Dependency("numpy", "numpy>=1.26,<3", 17.0),
    Dependency("scipy", "scipy>=1.11", 36.0),
    Dependency("SimpleITK", "SimpleITK==2.5.7", 52.0),
    Dependency("pydicom", "pydicom==3.0.2", 2.5),
    Dependency("nibabel", "nibabel==5.4.2", 3.5),
    Dependency("monai", "monai==1.6.1", 2.8),
    Dependency("safetensors", "safetensors==0.8.0", 0.5),
    Dependency("highdicom", "highdicom==0.28.2", 3.0, "with its JPEG-LS / JPEG 2000 codecs"),
    Dependency("matplotlib", "matplotlib>=3.8", 15.0, "with its font and image libraries"),
    Dependency("psutil", "psutil>=5.9", 0.3),
    Dependency("packaging", "packaging>=23", 0.1),
    Dependency("dicomanonymizer", "dicom-anonymizer==2.1.0", 0.2, "DICOM PS3.15 Annex E table for cohort export"),
    Dependency("sklearn", "scikit-learn==1.9.1", 13.0, "ROC/kappa metrics for evaluation"),
    Dependency("tqdm", "tqdm>=4.66", 0.1),
    Dependency("distributed", "distributed==2026.8.0", 3.0, "Dask scheduler for `radtriage batch` (pulls dask)"),
)
"""Everything ``radtriage`` imports, pinned as in pyproject.toml; sizes are approximate wheel downloads (MB)."""


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
    """How one install step is carried out inside Slicer."""

    TORCH_EXTENSION = "torch_extension"
    """``PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=...)``."""
    PIP_ENSURE = "pip_ensure"
    """``slicer.packaging.pip_ensure(requirements, prompt_install=False, prompt_restart=False, requester=...)``."""
    PIP_INSTALL = "pip_install"
    """``slicer.util.pip_install(requirements)`` (Slicer before 5.12)."""


@dataclass(frozen=True)
class InstallStep:
    """One call that installs some requirements; a pip step installs all of them or none."""

    kind: StepKind
    requirements: tuple[str, ...]

    @property
    def torch_version_requirement(self) -> str | None:
        """For the PyTorch-extension step: the version specifier its ``installTorch`` takes (``==2.13.0``)."""
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
        if self.kind is StepKind.PIP_ENSURE:
            return f"slicer.packaging.pip_ensure({list(self.requirements)!r}, prompt_install=False)"
        return f"slicer.util.pip_install({list(self.requirements)!r})"


@dataclass(frozen=True)
class InstallPlan:
    """The ordered steps that install what is missing, and what to tell the user first."""

    missing: tuple[MissingDependency, ...]
    steps: tuple[InstallStep, ...]
    needs_restart: bool
    restart_packages: tuple[str, ...]
    download_mb: float
    hosts: tuple[str, ...]
    warnings: tuple[str, ...]
    dialog_text: str

    @property
    def empty(self) -> bool:
        """Nothing to install."""
        return not self.steps


def _format_mb(mb: float) -> str:
    if mb >= 1000:
        return f"{mb / 1000:.1f} GB"
    return f"{mb:.0f} MB" if mb >= 1 else "<1 MB"


def package_hosts(steps: Sequence[InstallStep], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``host:port`` of the servers the steps download from (the HTTPS proxy instead, when one is set)."""
    env = os.environ if environ is None else environ
    proxy = env.get("HTTPS_PROXY") or env.get("https_proxy")
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return (f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}",) if steps else ()
    hosts: list[str] = []
    if any(step.kind is StepKind.TORCH_EXTENSION for step in steps):
        hosts += [*PYTORCH_HOSTS, PYPI_HOSTS[0]]  # light-the-torch itself comes from PyPI
    if any(step.kind is not StepKind.TORCH_EXTENSION for step in steps):
        index = env.get("PIP_INDEX_URL")
        if index:
            parts = urlsplit(index)
            hosts.append(f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}")
        else:
            hosts += PYPI_HOSTS
    return tuple(dict.fromkeys(hosts))


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
    slicer_version: tuple[int, int] = (5, 10),
    has_pip_ensure: bool | None = None,
    has_torch_extension: bool = True,
    requester: str = REQUESTER,
    environ: Mapping[str, str] | None = None,
) -> InstallPlan:
    """The steps that install ``missing``: torch through the PyTorch extension first, then one pip call.

    ``has_pip_ensure`` None means "Slicer ``slicer_version`` has it" (5.12+). Without the PyTorch extension
    torch goes into the pip call (PyPI's default build) and the plan carries a warning saying so.
    ``needs_restart`` is set when a package already imported in this process is replaced.
    """
    if has_pip_ensure is None:
        has_pip_ensure = tuple(slicer_version[:2]) >= PIP_ENSURE_SINCE
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
        steps.append(InstallStep(StepKind.PIP_ENSURE if has_pip_ensure else StepKind.PIP_INSTALL, tuple(other)))
    restart = tuple(Requirement(m.dependency.requirement).name for m in missing if m.loaded)
    download = sum(m.dependency.download_mb for m in missing)
    text = _dialog_text(missing, steps, bool(restart), restart, download, warnings, requester) if steps else ""
    return InstallPlan(
        missing=missing,
        steps=tuple(steps),
        needs_restart=bool(restart),
        restart_packages=restart,
        download_mb=download,
        hosts=package_hosts(steps, environ),
        warnings=tuple(warnings),
        dialog_text=text,
    )


# ----------------------------------------------------------------------------------------------------------------
# Before and after installing
# ----------------------------------------------------------------------------------------------------------------


def unreachable_hosts(
    hosts: Iterable[str], *, timeout: float = 3.0, connect: Callable[..., Any] = socket.create_connection
) -> list[str]:
    """The ``host:port`` entries no TCP connection can be opened to (checked before anything is installed)."""
    unreachable = []
    for entry in hosts:
        host, _sep, port = entry.rpartition(":")
        try:
            connection = connect((host, int(port)), timeout=timeout)
        except OSError:
            unreachable.append(entry)
            continue
        close = getattr(connection, "close", None)
        if close is not None:
            close()
    return unreachable


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


def offline_message(hosts: Sequence[str]) -> str:
    """What to tell the user when the package servers cannot be reached."""
    where = ", ".join(h.rsplit(":", 1)[0] for h in hosts) or "the package index"
    return (
        f"Cannot reach {where}: this computer seems to be offline (or a proxy blocks it). Nothing was installed "
        "and Slicer's Python environment is unchanged. Connect to the internet (or set HTTPS_PROXY) and try again."
    )


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
            where = ", ".join(h.rsplit(":", 1)[0] for h in plan.hosts) or "the package index"
            lines.append(f"The install stopped: {where} could not be reached (offline, or a proxy blocks it).")
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
