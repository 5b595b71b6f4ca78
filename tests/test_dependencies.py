"""What radtriage.dependencies decides to install into Slicer's Python, checked with fake importers (no Slicer)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from radtriage import dependencies as deps
from radtriage import doctor
from radtriage import package_sources as sources
from radtriage.commands import doctor as doctor_command
from radtriage.dependencies import MissingDependency, StepKind, StepOutcome

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "RadTriageCommon"))
from RadTriageCommonLib import dependencies_dialog as dialog  # noqa: E402  (slicer-free at import)


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


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements/constraints file -> {canonical name: version}."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_dependencies_agree_with_pyproject() -> None:
    """DEPENDENCIES lists exactly pyproject's [project] dependencies, with the same bounds."""
    requirements = [Requirement(r) for r in _pyproject()["dependencies"]]
    declared = {canonicalize_name(r.name): str(r.specifier) for r in requirements}
    ours = {dep.name: dep.specifier for dep in deps.DEPENDENCIES}
    assert ours == declared
    assert len(ours) == len(deps.DEPENDENCIES), "a package is listed twice"


def test_pyproject_has_lower_bounds_only() -> None:
    """No exact pin anywhere in pyproject.toml (they live in constraints/ci.txt); runtime needs are lower bounds."""
    project = _pyproject()
    everything = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    for requirement in everything:
        for spec in Requirement(requirement).specifier:
            assert spec.operator == ">=", requirement
    assert "==" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_slicer_5_12_3_ships_versions_every_requirement_accepts() -> None:
    """Each requirement on a package Slicer 5.12.3 bundles is met by Slicer's copy, so the plan never replaces it."""
    shared = [dep for dep in deps.DEPENDENCIES if dep.name in doctor.SLICER_BUNDLED]
    assert {d.name for d in shared} == {"numpy", "scipy", "simpleitk", "pydicom", "highdicom", "packaging"}
    for dep in shared:
        assert dep.accepts(doctor.SLICER_BUNDLED[dep.name]), (dep.requirement, doctor.SLICER_BUNDLED[dep.name])
    env = FakeEnvironment(dict(doctor.SLICER_BUNDLED))  # a bare Slicer 5.12.3
    missing = [m.dependency.name for m in env.missing()]
    assert missing == ["torch", "nibabel", "monai", "safetensors", "psutil", "nilearn", "jsonschema"]
    assert doctor.replaces_bundled(deps.install_plan(env.missing())) == []


def test_bundled_table_is_the_constraints_file() -> None:
    assert _pins(ROOT / "constraints" / "slicer-5.12.3.txt") == doctor.SLICER_BUNDLED


def test_ci_constraints_hold_slicers_versions_and_meet_every_bound() -> None:
    ci = _pins(ROOT / "constraints" / "ci.txt")
    for name, version in ci.items():
        if name in doctor.SLICER_BUNDLED:
            assert version == doctor.SLICER_BUNDLED[name], name
    project = _pyproject()
    everything = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    for requirement in map(Requirement, everything):
        name = canonicalize_name(requirement.name)
        if name != "radtriage":
            assert name in ci, f"{requirement} has no CI pin"
            assert requirement.specifier.contains(ci[name]), (str(requirement), ci[name])


def test_the_test_environment_runs_slicers_versions() -> None:
    """CI's venv (built by setup.sh with constraints/ci.txt) has Slicer 5.12.3's version of every shared package."""
    shared = {}
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in doctor.SLICER_BUNDLED and name not in {"pip", "setuptools", "wheel"}:
            shared[name] = dist.version
    assert {"numpy", "scipy", "simpleitk", "pydicom", "highdicom", "pillow", "packaging", "pyparsing"} <= set(shared)
    assert shared == {name: doctor.SLICER_BUNDLED[name] for name in shared}


def test_every_dependency_is_imported_by_its_name_and_has_a_size() -> None:
    for dep in deps.DEPENDENCIES:
        assert importlib.util.find_spec(dep.import_name) is not None, dep  # the test venv has them all
        assert dep.download_mb > 0
    assert deps.dependency("torch").download_mb == max(d.download_mb for d in deps.DEPENDENCIES)


def test_the_test_environment_itself_is_complete() -> None:
    """The real check (find_spec + importlib.metadata) finds nothing missing in the project's venv."""
    assert deps.missing_requirements() == []


def test_a_missing_extra_is_one_line_naming_it() -> None:
    code = "import sys; sys.modules['sklearn'] = None; from radtriage.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "evaluate", "classification", "--help"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "radtriage: error: No module named 'sklearn': this command needs the optional extra, "
        "pip install 'radtriage[eval]'"
    ]
    assert deps.missing_extra_message(ModuleNotFoundError("x", name="numpy")) is None


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
    assert pydicom.reason == "version 2.4.4 installed, needs >=3.0"
    assert not monai.loaded


def test_lower_bounds_accept_newer_versions_and_refuse_older_ones() -> None:
    env = FakeEnvironment({"numpy": "3.1.0", "scipy": "1.17.1", "SimpleITK": "2.5.5"}).all_pinned()
    assert env.missing() == []
    env.versions["scipy"] = "1.10.1"
    assert [m.dependency.import_name for m in env.missing()] == ["scipy"]


def test_cuda_local_version_satisfies_the_torch_requirement() -> None:
    """The PyTorch extension installs e.g. 2.13.0+cu126; >=2.8 accepts it, 2.5.1+cu121 it does not."""
    env = FakeEnvironment({"torch": "2.13.0+cu126"}).all_pinned()
    assert env.missing() == []
    env.versions["torch"] = "2.5.1+cu121"
    assert [m.reason for m in env.missing()] == ["version 2.5.1+cu121 installed, needs >=2.8"]


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
    missing = _missing(("monai", None, False), ("torch", None, False), ("nibabel", None, False))
    plan = deps.install_plan(missing, has_torch_extension=True)
    assert [s.kind for s in plan.steps] == [StepKind.TORCH_EXTENSION, StepKind.PIP]
    torch_step, pip_step = plan.steps
    assert torch_step.requirements == ("torch>=2.8",)
    assert torch_step.torch_version_requirement == ">=2.8"
    assert "installTorch(askConfirmation=False, torchVersionRequirement='>=2.8')" in torch_step.description
    assert pip_step.requirements == ("monai>=1.5", "nibabel>=5.2") == plan.pip_requirements
    assert pip_step.description == "slicer.packaging.pip_install(['monai>=1.5', 'nibabel>=5.2'])"
    assert pip_step.torch_version_requirement is None
    assert plan.needs_torch_extension and not plan.needs_restart and not plan.warnings


def test_without_the_pytorch_extension_torch_joins_the_pip_call_with_a_warning() -> None:
    missing = _missing(("monai", None, False), ("torch", None, False))
    plan = deps.install_plan(missing, has_torch_extension=False)
    assert [s.kind for s in plan.steps] == [StepKind.PIP]
    assert plan.steps[0].requirements == ("torch>=2.8", "monai>=1.5")
    assert len(plan.warnings) == 1 and "PyTorch extension is not installed" in plan.warnings[0]
    assert plan.warnings[0] in plan.dialog_text
    assert not plan.needs_torch_extension


def test_only_torch_missing_needs_no_pip_call() -> None:
    plan = deps.install_plan(_missing(("torch", None, False)))
    assert [s.kind for s in plan.steps] == [StepKind.TORCH_EXTENSION] and plan.pip_requirements == ()


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
    for requirement in ("torch>=2.8", "pydicom>=3.0", "monai>=1.5"):
        assert requirement in text
    assert "upgrade from 2.4.4" in text
    assert "PyTorch extension, which picks the CUDA or CPU build" in text
    assert text.rstrip().endswith("Nothing is changed if you cancel.)")


def test_empty_plan_when_nothing_is_missing() -> None:
    plan = deps.install_plan([])
    assert plan.empty and plan.steps == () and plan.dialog_text == ""


def test_replaces_bundled_names_planned_packages_slicer_ships() -> None:
    plan = deps.install_plan(_missing(("SimpleITK", "2.4.0", False), ("monai", None, False)))
    assert doctor.replaces_bundled(plan) == [{"requirement": "SimpleITK>=2.5", "bundled": "2.5.5"}]


@pytest.mark.parametrize(
    ("log", "offline"),
    [
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 101]", True),
        ("ERROR: Could not find a version that satisfies the requirement monai>=1.5 (from versions: none)\n"
         "WARNING: ... Temporary failure in name resolution", True),
        ("ERROR: No matching distribution found for monai>=9.9 (from versions: 1.5.0, 1.6.1)", False),
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
    plan = deps.install_plan(env.missing(loaded))
    return env, loaded, plan


def test_verify_reports_success_and_the_restart() -> None:
    env, loaded, plan = _plan_and_env()
    env.all_pinned().versions.update({"pydicom": "3.0.2", "torch": "2.13.0+cu126"})
    outcomes = [StepOutcome(step) for step in plan.steps]
    report = deps.verify_after_install(plan, outcomes, importer=env.importer, version_of=env.version_of,
                                       loaded_modules=loaded)  # fmt: skip
    assert report.ok and not report.still_missing and not report.failed_steps and not report.skipped_steps
    assert set(report.installed) == {"torch>=2.8", "pydicom>=3.0", "monai>=1.5"}
    assert report.needs_restart and "Restart Slicer to use the new pydicom" in report.message


def test_verify_after_a_failed_pip_call_lists_exactly_what_is_missing() -> None:
    """Torch went in, the pip call (pydicom + monai) failed offline: both are reported, nothing pretends success."""
    env, loaded, plan = _plan_and_env()
    env.versions["torch"] = "2.13.0+cpu"
    torch_step, pip_step = plan.steps
    log = "ERROR: Could not find a version ... (Caused by NewConnectionError: Failed to establish a new connection)"
    outcomes = [StepOutcome(torch_step), StepOutcome(pip_step, "pip install returned 1", log)]
    report = deps.verify_after_install(plan, outcomes, importer=env.importer, version_of=env.version_of,
                                       loaded_modules=loaded)  # fmt: skip
    assert not report.ok and report.offline
    assert report.installed == ("torch>=2.8",)
    assert [m.dependency.import_name for m in report.still_missing] == ["pydicom", "monai"]
    assert "Still missing: pydicom>=3.0 (version 2.4.4 installed, needs >=3.0); monai>=1.5 (not installed)" in (
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
    assert "Not attempted after the failure: pydicom>=3.0, monai>=1.5" in report.message
    assert "installTorch returned None" in report.message


def test_verify_catches_an_installer_that_claimed_success_but_left_a_package_out() -> None:
    env, loaded, plan = _plan_and_env()
    env.versions.update({"torch": "2.13.0", "pydicom": "3.0.2"})  # monai still absent
    report = deps.verify_after_install(plan, [StepOutcome(s) for s in plan.steps], importer=env.importer,
                                       version_of=env.version_of, loaded_modules=loaded)  # fmt: skip
    assert not report.ok and not report.failed_steps
    assert [m.dependency.import_name for m in report.still_missing] == ["monai"]
    assert "still not usable" in report.message


# ------------------------------------------------------------------------------------ pip's sources, offline or not


def test_pip_config_list_precedence_env_over_install_over_global() -> None:
    text = (
        "global.index-url='https://pypi.org/simple'\n"
        "install.index-url='https://mirror.hospital.example/simple'\n"
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
        ":env:.extra-index-url='https://extra.example/simple'\n"
        "global.trusted-host='mirror.hospital.example'\n"
        "not a setting line\n"
    )
    assert sources.parse_pip_config(text) == {
        "index-url": "https://mirror.hospital.example/simple",
        "extra-index-url": "https://extra.example/simple",
        "trusted-host": "mirror.hospital.example",
    }


def test_pip_settings_are_read_by_pip_itself(tmp_path: Path) -> None:
    """A pip.conf named by PIP_CONFIG_FILE and a PIP_* variable reach the settings through real `pip config list`."""
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.hospital.example:8443/simple\nproxy = http://gw.local:3128\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_CONFIG_FILE": str(conf),
           "PIP_EXTRA_INDEX_URL": "https://extra.example/simple"}  # fmt: skip
    settings = sources.pip_settings(sys.executable, environ=env)
    assert settings["index-url"] == "https://mirror.hospital.example:8443/simple"
    assert settings["extra-index-url"] == "https://extra.example/simple"
    assert settings["proxy"] == "http://gw.local:3128"


def test_pip_settings_fall_back_to_pips_variables_when_pip_cannot_run() -> None:
    def no_pip(*args, **kwargs):
        raise FileNotFoundError("PythonSlicer")

    env = {"PIP_INDEX_URL": "https://mirror.example/simple", "PIP_NO_INDEX": "0", "HOME": "/x"}
    assert sources.pip_settings("PythonSlicer", environ=env, run=no_pip) == {
        "index-url": "https://mirror.example/simple",
        "no-index": "0",
    }


def test_sources_follow_the_mirror_the_proxy_and_no_proxy() -> None:
    mirror = {"index-url": "https://mirror.hospital.example/simple", "extra-index-url": "file:///opt/wheels/simple",
              "find-links": "/srv/wheels"}  # fmt: skip
    direct = sources.package_sources(mirror, environ={})
    assert [(s.role, s.probe, s.proxy, s.local) for s in direct] == [
        ("index", "mirror.hospital.example:443", None, False),
        ("extra-index", "/opt/wheels/simple", None, True),
        ("find-links", "/srv/wheels", None, True),
    ]
    proxied = sources.package_sources(mirror, torch=True, environ={"HTTPS_PROXY": "http://proxy.local:3128"})
    assert [(s.role, s.probe) for s in proxied if not s.local] == [("index", "proxy.local:3128"),
                                                                     ("pytorch", "proxy.local:3128")]  # fmt: skip
    bypass = {"https_proxy": "http://proxy.local:3128", "NO_PROXY": ".hospital.example,localhost"}
    index, _extra, _links, pytorch = sources.package_sources(mirror, torch=True, environ=bypass)
    assert (index.probe, index.proxy) == ("mirror.hospital.example:443", None)  # NO_PROXY: probed directly
    assert (pytorch.probe, pytorch.proxy) == ("proxy.local:3128", "proxy.local:3128")
    pip_proxy = sources.package_sources({**mirror, "proxy": "gw.local:8080"}, environ=bypass)
    assert pip_proxy[0].probe == "gw.local:8080", "pip's own proxy setting is used for every host"


def test_default_is_pypi_and_no_index_leaves_only_find_links() -> None:
    (pypi,) = sources.package_sources({}, environ={})
    assert (pypi.url, pypi.probe) == ("https://pypi.org/simple", "pypi.org:443")
    only = sources.package_sources({"no-index": "true", "find-links": "/srv/wheels"}, environ={})
    assert [s.role for s in only] == ["find-links"]


def _listening_and_closed_ports():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    return server, closed


def test_probe_uses_real_sockets_and_local_folders(tmp_path: Path) -> None:
    server, closed = _listening_and_closed_ports()
    with server, closed:
        up = f"127.0.0.1:{server.getsockname()[1]}"
        down = f"127.0.0.1:{closed.getsockname()[1]}"
        found = [
            sources.PackageSource("http://" + up, "index", up),
            sources.PackageSource("http://" + down, "extra-index", down),
            sources.PackageSource(tmp_path.as_uri(), "find-links", str(tmp_path), local=True),
            sources.PackageSource("/nowhere", "find-links", "/nowhere", local=True),
        ]
        statuses = sources.probe_sources(found, timeout=1.0)
    assert [s.reachable for s in statuses] == [True, False, True, False]
    assert statuses[1].error and statuses[3].error == "folder not found"


def test_a_reachable_hospital_mirror_is_not_offline() -> None:
    """pypi.org unreachable but the configured mirror answers: the install can go ahead."""
    mirror = sources.PackageSource("https://mirror.hospital.example/simple", "index", "mirror.hospital.example:443")
    pypi = sources.PackageSource("https://pypi.org/simple", "extra-index", "pypi.org:443")
    torch = sources.PackageSource(sources.PYTORCH_INDEX, "pytorch", "download.pytorch.org:443")
    ok = [sources.SourceStatus(mirror, True), sources.SourceStatus(pypi, False, "timed out")]
    assert sources.unreachable(ok) == []
    none = [sources.SourceStatus(mirror, False, "refused"), sources.SourceStatus(pypi, False, "timed out")]
    assert sources.unreachable(none) == none
    no_torch = [*ok, sources.SourceStatus(torch, False, "refused")]
    assert [s.source.role for s in sources.unreachable(no_torch)] == ["pytorch"]
    message = sources.offline_message(none)
    assert "mirror.hospital.example" in message and "Nothing was installed" in message


# ---------------------------------------------------------------------------------------------- radtriage doctor


def test_doctor_runs_without_numpy_and_finds_nothing_missing_here() -> None:
    """`python -m radtriage doctor` imports neither numpy nor torch (it must run before they are installed)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "radtriage", "doctor", "--json", "--no-network"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "packaging" in imported and not imported & {"numpy", "torch", "scipy", "SimpleITK", "pydicom"}
    report = json.loads(done.stdout)
    assert report["ok"] and report["missing"] == [] and report["plan"]["steps"] == []
    assert report["replaces_bundled"] == [] and report["offline"] is None
    assert [r["requirement"] for r in report["requirements"]] == [d.requirement for d in deps.DEPENDENCIES]


def _fake_missing(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    missing = [MissingDependency(deps.dependency(n), None) for n in names]
    monkeypatch.setattr(doctor.deps, "missing_requirements", lambda: missing)


def test_doctor_reports_the_plan_replacements_and_offline(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _fake_missing(monkeypatch, "torch", "SimpleITK", "monai")
    server, closed = _listening_and_closed_ports()
    with server, closed:
        port = {"up": server.getsockname()[1], "down": closed.getsockname()[1]}
        for state, offline in (("up", False), ("down", True)):
            settings = {"index-url": f"http://127.0.0.1:{port[state]}/simple"}
            monkeypatch.setattr(doctor.sources, "pip_settings", lambda settings=settings: settings)
            args = argparse.Namespace(json=True, no_network=False, torch_extension="no")
            assert doctor_command.run(args) == 1
            report = json.loads(capsys.readouterr().out)
            assert report["missing"] == ["torch>=2.8", "SimpleITK>=2.5", "monai>=1.5"] and not report["ok"]
            call = deps.InstallStep(StepKind.PIP, tuple(report["missing"])).description
            assert report["plan"]["steps"] == [{"kind": "pip", "requirements": report["missing"], "call": call}]
            assert report["replaces_bundled"] == [{"requirement": "SimpleITK>=2.5", "bundled": "2.5.5"}]
            assert [s["reachable"] for s in report["sources"]] == [not offline]
            assert report["offline"] is offline
    text = doctor.format_report(report)
    assert "Would replace packages Slicer 5.12.3 ships: SimpleITK>=2.5 (Slicer ships 2.5.5)" in text
    assert "Offline" in text


def test_doctor_with_the_torch_extension_probes_pytorch_too(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_missing(monkeypatch, "torch")
    monkeypatch.setattr(doctor.sources, "pip_settings", lambda: {"no-index": "1", "find-links": str(ROOT)})
    report = doctor.diagnose(torch_extension="yes", network=False)
    assert [s["kind"] for s in report["plan"]["steps"]] == ["torch_extension"]
    assert [(s["role"], s["reachable"]) for s in report["sources"]] == [("find-links", None), ("pytorch", None)]
    assert report["replaces_bundled"] == [] and report["offline"] is None


# ------------------------------------------------------------------------- the dialog's slicer-free helpers


def test_work_runs_off_the_calling_thread_while_events_are_pumped() -> None:
    caller = threading.get_ident()
    pumped = []

    def work() -> int:
        time.sleep(0.2)
        return threading.get_ident()

    worker = dialog.callInWorker(work, lambda: pumped.append(threading.get_ident()), pollSeconds=0.01)
    assert worker != caller and len(pumped) >= 5 and set(pumped) == {caller}

    def fails() -> None:
        raise OSError("probe failed")

    with pytest.raises(OSError, match="probe failed"):
        dialog.callInWorker(fails, lambda: None)


def test_kept_output_copies_what_is_printed(capsys) -> None:
    with dialog.keptOutput() as copy:
        print("Collecting monai>=1.5")
        print("ERROR: No matching distribution", file=sys.stderr)
    assert "".join(copy) == "Collecting monai>=1.5\nERROR: No matching distribution\n"
    seen = capsys.readouterr()
    assert seen.out == "Collecting monai>=1.5\n" and seen.err == "ERROR: No matching distribution\n"


def test_torch_requirement_check() -> None:
    def versions(installed: str | None):
        def version_of(name: str) -> str:
            if installed is None:
                raise importlib.metadata.PackageNotFoundError(name)
            return installed

        return version_of

    assert dialog.torchMeetsRequirement(">=2.8", versions("2.13.0+cu126"))
    assert not dialog.torchMeetsRequirement(">=2.8", versions("2.5.1+cu121"))
    assert not dialog.torchMeetsRequirement(">=2.8", versions(None))
    assert dialog.torchMeetsRequirement(None, versions("1.0"))


class _FakeSlicer:
    """Just enough of ``slicer``, ``slicer.packaging``, ``qt`` and ``PyTorchUtils`` to run the install steps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pip_lines: list[str], code: int, torch: str) -> None:
        self.calls: list[tuple] = []
        fake = self

        def pip_install(requirements, **kwargs):
            fake.calls.append(("pip_install", tuple(requirements), kwargs["blocking"]))
            for line in pip_lines:
                kwargs["logCallback"](line)
            kwargs["completedCallback"](code)

        class Logic:
            def torchInstalled(self):
                return True

            def installTorch(self, **kwargs):
                fake.calls.append(("installTorch", kwargs))
                print("light-the-torch: installing torch")
                return object()

        slicer = types.ModuleType("slicer")
        slicer.packaging = types.SimpleNamespace(pip_install=pip_install)
        slicer.app = types.SimpleNamespace(processEvents=lambda: None)
        slicer.util = types.SimpleNamespace(mainWindow=lambda: None)
        nothing = lambda *args: None  # noqa: E731
        progress = types.SimpleNamespace(setCancelButton=nothing, setWindowModality=nothing, show=nothing,
                                         close=nothing, setLabelText=nothing)  # fmt: skip
        qt = types.SimpleNamespace(QProgressDialog=lambda *a: progress, Qt=types.SimpleNamespace(WindowModal=2),
                                   QThread=types.SimpleNamespace(msleep=lambda ms: None))  # fmt: skip
        monkeypatch.setitem(sys.modules, "slicer", slicer)
        monkeypatch.setitem(sys.modules, "slicer.packaging", slicer.packaging)
        monkeypatch.setitem(sys.modules, "slicer.i18n", types.SimpleNamespace(tr=str))
        monkeypatch.setitem(sys.modules, "qt", qt)
        monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=Logic))
        real_version = importlib.metadata.version
        monkeypatch.setattr(dialog.importlib.metadata, "version",
                            lambda name: torch if name == "torch" else real_version(name))  # fmt: skip


def test_a_failed_pip_step_keeps_pips_output(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["Looking in indexes: https://mirror.hospital.example/simple", "ERROR: No matching distribution for monai"]
    fake = _FakeSlicer(monkeypatch, lines, 1, "2.13.0")
    plan = deps.install_plan(_missing(("torch", None, False), ("monai", None, False)))
    outcomes = dialog.runPlan(plan)
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error == "pip install returned 1" and outcomes[1].log == "\n".join(lines)
    assert fake.calls == [("pip_install", ("monai>=1.5",), False)], "torch 2.13.0 meets >=2.8: not reinstalled"
    report = deps.verify_after_install(plan, outcomes)
    assert lines[1] in report.details


def test_an_old_torch_is_installed_through_the_extension_output_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeSlicer(monkeypatch, ["Successfully installed monai-1.6.1"], 0, "2.5.1")
    plan = deps.install_plan(_missing(("torch", "2.5.1", False), ("monai", None, False)))
    outcomes = dialog.runPlan(plan)
    assert [o.ok for o in outcomes] == [True, True]
    assert fake.calls[0] == ("installTorch", {"askConfirmation": False, "torchVersionRequirement": ">=2.8"})
    assert outcomes[0].log == "light-the-torch: installing torch\n"
    assert outcomes[1].log == "Successfully installed monai-1.6.1"
