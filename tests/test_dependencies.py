"""What radtriage.dependencies decides to install into Slicer's Python, checked with fake importers (no Slicer)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import socket
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from radtriage import dependencies as deps
from radtriage.dependencies import MissingDependency, StepKind, StepOutcome

ROOT = Path(__file__).resolve().parents[1]


class FakeEnvironment:
    """A Python environment as the dependency check sees it: installed versions by distribution name."""

    def __init__(self, versions: dict[str, str], *, no_metadata: frozenset[str] = frozenset()) -> None:
        self.versions = {Requirement(name).name.lower(): version for name, version in versions.items()}
        self.no_metadata = no_metadata

    def all_pinned(self) -> FakeEnvironment:
        """Every dependency at an accepted version (the first version its pin names)."""
        for dep in deps.DEPENDENCIES:
            spec = next(iter(Requirement(dep.requirement).specifier))
            self.versions.setdefault(dep.name, spec.version)
        return self

    def importer(self, import_name: str):
        dist = deps.dependency(import_name).name
        return object() if dist in self.versions or import_name in self.no_metadata else None

    def version_of(self, distribution: str) -> str:
        key = Requirement(distribution).name.lower()
        if key not in self.versions:
            raise importlib.metadata.PackageNotFoundError(distribution)
        return self.versions[key]

    def missing(self, loaded: frozenset[str] = frozenset()) -> list[MissingDependency]:
        return deps.missing_requirements(importer=self.importer, version_of=self.version_of, loaded_modules=loaded)


# ------------------------------------------------------------------------------------------- one source of truth


def test_dependencies_agree_with_pyproject() -> None:
    """DEPENDENCIES lists exactly pyproject's [project] dependencies, with the same pins."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in project["dependencies"]}
    ours = {dep.name: dep.specifier for dep in deps.DEPENDENCIES}
    assert ours == declared
    assert len(ours) == len(deps.DEPENDENCIES), "a package is listed twice"


def test_every_dependency_is_imported_by_its_name_and_has_a_size() -> None:
    for dep in deps.DEPENDENCIES:
        assert importlib.util.find_spec(dep.import_name) is not None, dep  # the test venv has them all
        assert dep.download_mb > 0
    assert deps.dependency("torch").download_mb == max(d.download_mb for d in deps.DEPENDENCIES)


def test_the_test_environment_itself_is_complete() -> None:
    """The real check (find_spec + importlib.metadata) finds nothing missing in the project's venv."""
    assert deps.missing_requirements() == []


# ------------------------------------------------------------------------------------------------ what is missing


def test_nothing_missing_when_every_pin_is_met() -> None:
    assert FakeEnvironment({}).all_pinned().missing() == []


def test_absent_and_wrong_versions_are_reported_in_order() -> None:
    env = FakeEnvironment({"pydicom": "2.4.4", "SimpleITK": "2.5.7", "numpy": "2.1.0"}).all_pinned()
    del env.versions["monai"]
    del env.versions["torch"]
    missing = env.missing(loaded=frozenset({"pydicom", "numpy"}))
    assert [m.dependency.import_name for m in missing] == ["torch", "pydicom", "monai"]
    torch, pydicom, monai = missing
    assert torch.installed_version is None and not torch.is_upgrade and torch.reason == "not installed"
    assert pydicom.is_upgrade and pydicom.loaded
    assert pydicom.reason == "version 2.4.4 installed, needs ==3.0.2"
    assert not monai.loaded


def test_range_pins_accept_any_version_inside() -> None:
    env = FakeEnvironment({"numpy": "2.3.1", "scipy": "1.16.0"}).all_pinned()
    assert env.missing() == []
    env.versions["numpy"] = "3.0.0"
    assert [m.dependency.import_name for m in env.missing()] == ["numpy"]


def test_cuda_local_version_satisfies_the_torch_pin() -> None:
    """The PyTorch extension installs e.g. 2.13.0+cu126; ==2.13.0 accepts it, 2.12.1+cu126 it does not."""
    env = FakeEnvironment({"torch": "2.13.0+cu126"}).all_pinned()
    assert env.missing() == []
    env.versions["torch"] = "2.12.1+cu126"
    assert [m.reason for m in env.missing()] == ["version 2.12.1+cu126 installed, needs ==2.13.0"]


def test_importable_without_metadata_or_with_a_broken_version_is_missing() -> None:
    env = FakeEnvironment({}, no_metadata=frozenset({"SimpleITK"})).all_pinned()
    del env.versions["simpleitk"]
    env.versions["pydicom"] = "not-a-version"
    missing = {m.dependency.import_name: m for m in env.missing()}
    assert set(missing) == {"SimpleITK", "pydicom"}
    assert missing["SimpleITK"].installed_version == ""
    assert "without version information" in missing["SimpleITK"].reason


def test_an_importer_that_raises_counts_as_absent() -> None:
    env = FakeEnvironment({}).all_pinned()

    def importer(name: str):
        if name == "monai":
            raise ModuleNotFoundError("parent package broken")
        return env.importer(name)

    missing = deps.missing_requirements(importer=importer, version_of=env.version_of, loaded_modules=set())
    assert [m.dependency.import_name for m in missing] == ["monai"]


def test_loaded_defaults_to_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    env = FakeEnvironment({"pydicom": "2.4.4"}).all_pinned()
    monkeypatch.setitem(sys.modules, "pydicom", sys.modules.get("pydicom") or object())
    (pydicom,) = deps.missing_requirements(importer=env.importer, version_of=env.version_of)
    assert pydicom.loaded


# --------------------------------------------------------------------------------------------------- the plan


def _missing(*specs: tuple[str, str | None, bool]) -> list[MissingDependency]:
    return [MissingDependency(deps.dependency(name), version, loaded) for name, version, loaded in specs]


def test_torch_goes_through_the_extension_first_then_one_pip_call() -> None:
    missing = _missing(("monai", None, False), ("torch", None, False), ("pydicom", None, False))
    plan = deps.install_plan(missing, slicer_version=(5, 12), has_torch_extension=True, environ={})
    assert [s.kind for s in plan.steps] == [StepKind.TORCH_EXTENSION, StepKind.PIP_ENSURE]
    torch_step, pip_step = plan.steps
    assert torch_step.requirements == ("torch==2.13.0",)
    assert torch_step.torch_version_requirement == "==2.13.0"
    assert "installTorch(askConfirmation=False, torchVersionRequirement='==2.13.0')" in torch_step.description
    assert pip_step.requirements == ("monai==1.6.1", "pydicom==3.0.2")
    assert pip_step.torch_version_requirement is None
    assert not plan.needs_restart and not plan.warnings
    assert plan.hosts == ("download.pytorch.org:443", "pypi.org:443", "files.pythonhosted.org:443")


@pytest.mark.parametrize(
    ("version", "has_pip_ensure", "expected"),
    [
        ((5, 10), None, StepKind.PIP_INSTALL),
        ((5, 11), None, StepKind.PIP_INSTALL),
        ((5, 12), None, StepKind.PIP_ENSURE),
        ((6, 0), None, StepKind.PIP_ENSURE),
        ((5, 10), True, StepKind.PIP_ENSURE),  # what the running Slicer has wins over its version number
        ((5, 12), False, StepKind.PIP_INSTALL),
    ],
)
def test_pip_method_follows_what_slicer_has(version, has_pip_ensure, expected) -> None:
    plan = deps.install_plan(_missing(("monai", None, False)), slicer_version=version, has_pip_ensure=has_pip_ensure)
    assert [s.kind for s in plan.steps] == [expected]
    assert "slicer.packaging.pip_ensure" in plan.steps[0].description or expected is StepKind.PIP_INSTALL


def test_without_the_pytorch_extension_torch_joins_the_pip_call_with_a_warning() -> None:
    missing = _missing(("monai", None, False), ("torch", None, False))
    plan = deps.install_plan(missing, has_torch_extension=False, environ={})
    assert [s.kind for s in plan.steps] == [StepKind.PIP_INSTALL]
    assert plan.steps[0].requirements == ("torch==2.13.0", "monai==1.6.1")
    assert len(plan.warnings) == 1 and "PyTorch extension is not installed" in plan.warnings[0]
    assert plan.warnings[0] in plan.dialog_text
    assert plan.hosts == deps.PYPI_HOSTS


def test_only_torch_missing_needs_no_pip_call() -> None:
    plan = deps.install_plan(_missing(("torch", None, False)))
    assert [s.kind for s in plan.steps] == [StepKind.TORCH_EXTENSION]


def test_upgrading_a_loaded_package_needs_a_restart() -> None:
    missing = _missing(("pydicom", "2.4.4", True), ("monai", None, False), ("SimpleITK", "2.4.0", False))
    plan = deps.install_plan(missing)
    assert plan.needs_restart and plan.restart_packages == ("pydicom",)
    assert "restarted" in plan.dialog_text and "pydicom is already loaded" in plan.dialog_text
    not_loaded = deps.install_plan(_missing(("SimpleITK", "2.4.0", False)))
    assert not not_loaded.needs_restart and "restart" not in not_loaded.dialog_text


def test_dialog_lists_every_package_with_its_size_and_the_total() -> None:
    missing = _missing(("torch", None, False), ("pydicom", "2.4.4", False), ("monai", None, False))
    plan = deps.install_plan(missing)
    total = sum(deps.dependency(n).download_mb for n in ("torch", "pydicom", "monai"))
    assert plan.download_mb == pytest.approx(total)
    text = plan.dialog_text
    assert f"about {total / 1000:.1f} GB to download" in text
    for requirement in ("torch==2.13.0", "pydicom==3.0.2", "monai==1.6.1"):
        assert requirement in text
    assert "upgrade from 2.4.4" in text
    assert "PyTorch extension, which picks the CUDA or CPU build" in text
    assert text.rstrip().endswith("Nothing is changed if you cancel.)")


def test_empty_plan_when_nothing_is_missing() -> None:
    plan = deps.install_plan([])
    assert plan.empty and plan.steps == () and plan.dialog_text == "" and plan.hosts == ()


def test_hosts_follow_a_custom_index_or_a_proxy() -> None:
    missing = _missing(("monai", None, False))
    custom = deps.install_plan(missing, environ={"PIP_INDEX_URL": "https://mirror.example.org:8443/simple"})
    assert custom.hosts == ("mirror.example.org:8443",)
    proxied = deps.install_plan(missing, environ={"https_proxy": "http://proxy.local:3128"})
    assert proxied.hosts == ("proxy.local:3128",)


# ----------------------------------------------------------------------------------------------- offline


def test_unreachable_hosts_uses_real_sockets() -> None:
    """A listening local socket is reachable; a closed port is not (nothing leaves this machine)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        open_port = server.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]  # bound, never listening: connections are refused
            hosts = [f"127.0.0.1:{open_port}", f"127.0.0.1:{closed_port}"]
            assert deps.unreachable_hosts(hosts, timeout=1.0) == [f"127.0.0.1:{closed_port}"]


def test_offline_plan_is_detected_before_anything_runs() -> None:
    plan = deps.install_plan(_missing(("torch", None, False), ("monai", None, False)), environ={})
    calls = []

    def no_network(address, timeout):
        calls.append(address)
        raise OSError("[Errno -3] Temporary failure in name resolution")

    unreachable = deps.unreachable_hosts(plan.hosts, connect=no_network)
    assert unreachable == list(plan.hosts) and len(calls) == len(plan.hosts)
    message = deps.offline_message(unreachable)
    assert "download.pytorch.org" in message and "Nothing was installed" in message


@pytest.mark.parametrize(
    ("log", "offline"),
    [
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 101]", True),
        ("ERROR: Could not find a version that satisfies the requirement monai==1.6.1 (from versions: none)\n"
         "WARNING: ... Temporary failure in name resolution", True),
        ("ERROR: No matching distribution found for monai==9.9 (from versions: 1.5.0, 1.6.1)", False),
        ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", False),
    ],
)  # fmt: skip
def test_looks_offline(log: str, offline: bool) -> None:
    assert deps.looks_offline(log) is offline


# ------------------------------------------------------------------------------------------ after installing


def _plan_and_env():
    env = FakeEnvironment({"pydicom": "2.4.4"}).all_pinned()
    for name in ("torch", "monai"):
        del env.versions[name]
    loaded = frozenset({"pydicom"})
    plan = deps.install_plan(env.missing(loaded), slicer_version=(5, 12), environ={})
    return env, loaded, plan


def test_verify_reports_success_and_the_restart() -> None:
    env, loaded, plan = _plan_and_env()
    env.all_pinned().versions.update({"pydicom": "3.0.2", "torch": "2.13.0+cu126"})
    outcomes = [StepOutcome(step) for step in plan.steps]
    report = deps.verify_after_install(plan, outcomes, importer=env.importer, version_of=env.version_of,
                                       loaded_modules=loaded)  # fmt: skip
    assert report.ok and not report.still_missing and not report.failed_steps and not report.skipped_steps
    assert set(report.installed) == {"torch==2.13.0", "pydicom==3.0.2", "monai==1.6.1"}
    assert report.needs_restart and "Restart Slicer to use the new pydicom" in report.message


def test_verify_after_a_failed_pip_call_lists_exactly_what_is_missing() -> None:
    """Torch went in, the pip call (pydicom + monai) failed offline: both are reported, nothing pretends success."""
    env, loaded, plan = _plan_and_env()
    env.versions["torch"] = "2.13.0+cpu"
    torch_step, pip_step = plan.steps
    log = "ERROR: Could not find a version ... (Caused by NewConnectionError: Failed to establish a new connection)"
    outcomes = [StepOutcome(torch_step), StepOutcome(pip_step, "Command 'pip install' returned 1", log)]
    report = deps.verify_after_install(plan, outcomes, importer=env.importer, version_of=env.version_of,
                                       loaded_modules=loaded)  # fmt: skip
    assert not report.ok and report.offline
    assert report.installed == ("torch==2.13.0",)
    assert [m.dependency.import_name for m in report.still_missing] == ["pydicom", "monai"]
    assert "Still missing: pydicom==3.0.2 (version 2.4.4 installed, needs ==3.0.2); monai==1.6.1 (not installed)" in (
        report.message
    )
    assert "could not be reached" in report.message
    assert not report.needs_restart, "pydicom was not replaced, the loaded one is still the installed one"
    assert "FAILED" in report.details and log in report.details


def test_verify_after_a_declined_torch_install_reports_the_pip_step_as_not_run() -> None:
    env, loaded, plan = _plan_and_env()
    torch_step, pip_step = plan.steps
    outcomes = [StepOutcome(torch_step, "PyTorch was not installed (installTorch returned None)")]
    report = deps.verify_after_install(plan, outcomes, importer=env.importer, version_of=env.version_of,
                                       loaded_modules=loaded)  # fmt: skip
    assert not report.ok and not report.offline and report.installed == ()
    assert report.skipped_steps == (pip_step,)
    assert "Not attempted after the failure: pydicom==3.0.2, monai==1.6.1" in report.message
    assert "installTorch returned None" in report.message


def test_verify_catches_an_installer_that_claimed_success_but_left_a_package_out() -> None:
    env, loaded, plan = _plan_and_env()
    env.versions.update({"torch": "2.13.0", "pydicom": "3.0.2"})  # monai still absent
    report = deps.verify_after_install(plan, [StepOutcome(s) for s in plan.steps], importer=env.importer,
                                       version_of=env.version_of, loaded_modules=loaded)  # fmt: skip
    assert not report.ok and not report.failed_steps
    assert [m.dependency.import_name for m in report.still_missing] == ["monai"]
    assert "still not usable" in report.message
