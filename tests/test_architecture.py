"""Layering rules of the core: no Slicer/Qt outside the MRML layer, and the core imports without slicer-core."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "radtriage"
FORBIDDEN_EVERYWHERE = {"qt", "ctk", "slicer.util", "slicer.app", "PythonQt"}


def _imports(tree: ast.AST, top_level_only: bool) -> list[tuple[int, str]]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_file_respects_the_layering(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(CORE)
    in_mrml = rel.parts[0] == "mrml"
    builds_mrml = in_mrml or any("mrml" in part for part in rel.parts)  # a task's MRML output builder
    for line, name in _imports(tree, top_level_only=False):
        root = name.split(".")[0]
        assert name not in FORBIDDEN_EVERYWHERE and root not in {"qt", "ctk"}, f"{path}:{line} imports {name}"
        if not in_mrml:
            assert root != "slicer", f"{path}:{line} imports {name}: only radtriage/mrml may import Slicer classes"
    if not builds_mrml:
        for line, name in _imports(tree, top_level_only=True):
            assert not name.startswith("radtriage.mrml"), (
                f"{path}:{line} imports the MRML layer at module level; import it inside the function that needs it"
            )


def test_core_imports_and_runs_without_slicer_core(tmp_path):
    """With ``slicer`` made unimportable, the I/O, preprocessing, phantoms and CLI still work."""
    blocker = tmp_path / "slicer.py"
    blocker.write_text("raise ImportError('slicer-core is not installed in this test')\n")
    code = (
        "import radtriage, radtriage.io, radtriage.preprocess, radtriage.phantoms, radtriage.models, "
        "radtriage.evaluation, radtriage.cli, radtriage.commands\n"
        "from radtriage.phantoms import make_lge_slice\n"
        "s = make_lge_slice(0, 'clear')\n"
        "print('ok', s.image.size)\n"
    )
    env_path = f"{tmp_path}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


LOWER_LAYERS = ("models", "preprocess", "io", "validation", "evaluation", "phantoms", "anatomy", "nets", "saliency",
                "runtime/device.py", "runtime/events.py", "runtime/runner.py", "image.py", "errors.py",
                "labelsets.py", "task_specs.py", "node_attributes.py", "lazy_exports.py", "settings_keys.py")
"""Data, models and the libraries under the task pipelines: they know tasks only as data (``task_specs``)."""
UPPER_LAYERS = ("radtriage.tasks", "radtriage.training", "radtriage.review", "radtriage.web", "radtriage.batch",
                "radtriage.dicom_node", "radtriage.cli", "radtriage.commands", "radtriage.bench", "radtriage.demo",
                "radtriage.annotations", "radtriage.export")


def _lower(path: Path) -> bool:
    rel = path.relative_to(CORE).as_posix()
    return any(rel == layer or rel.startswith(layer + "/") for layer in LOWER_LAYERS)


@pytest.mark.parametrize("path", [p for p in _core_files() if _lower(p)], ids=lambda p: str(p.relative_to(CORE)))
def test_a_lower_layer_never_imports_the_layers_above_it(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for line, name in _imports(tree, top_level_only=False):
        assert not name.startswith(UPPER_LAYERS), f"{path}:{line} imports {name}, a layer above it"


def test_running_the_tasks_imports_neither_training_nor_evaluation():
    """The inference path of three tasks (each on a phantom, with its shipped bundle) loads no training or
    evaluation code: a reading aid does not depend on how its model was made or measured."""
    code = (
        "import sys\n"
        "from radtriage.phantoms import make_body_case, make_brain_case, make_lge_slice\n"
        "from radtriage.tasks import run_task\n"
        "run_task('lge_certainty', inputs={'lge': make_lge_slice(0, 'clear').image}, device='cpu')\n"
        "brain = make_brain_case(0, shape=(48, 56, 40))\n"
        "run_task('mri_triage', inputs=dict(brain.images), device='cpu')\n"
        "run_task('body_region', inputs={'image': make_body_case(0).image}, device='cpu')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('radtriage.training', 'radtriage.evaluation'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


COMMAND_LINE = ("cli.py", "commands/")
"""Where argparse lives: the registry (``radtriage/cli.py``) and one module per command (``radtriage/commands/``).
No module of the package is excepted; scripts under ``scripts/`` are outside the package and not checked. A
type-only import (under ``if TYPE_CHECKING:``) annotating a function that takes the parsed ``radtriage serve``
arguments (``radtriage/web/station.py``, ``radtriage/web/launcher.py``) is not argparse code and is allowed."""


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """The imports of ``tree`` (anywhere in it) except those under ``if TYPE_CHECKING:``."""
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and (getattr(block.test, "id", None) or getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                 for stmt in block.body for node in ast.walk(stmt)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_every_command_is_one_module_with_its_parser_and_handler():
    """Each row of the registry names a module under radtriage.commands holding ``add_arguments`` and ``run``
    (a group row, ``evaluate``, names the package of its subcommands' modules)."""
    from radtriage.cli import COMMANDS, EVALUATE_COMMANDS, GROUPS

    assert set(GROUPS) == {"evaluate"} and GROUPS["evaluate"] is EVALUATE_COMMANDS
    for name, help_text, module in COMMANDS:
        assert module == f"radtriage.commands.{name.replace('-', '_')}" and help_text, name
        target = importlib.import_module(module)
        if name in GROUPS:
            assert hasattr(target, "__path__"), f"{module}: a group's module is the package of its subcommands"
            subcommands = GROUPS[name]
            assert all(m == f"{module}.{n.replace('-', '_')}" and h for n, h, m in subcommands), subcommands
            targets = [importlib.import_module(m) for _, _, m in subcommands]
        else:
            targets = [target]
        for command in targets:
            assert callable(getattr(command, "add_arguments", None)), f"{command.__name__} has no add_arguments"
            assert callable(getattr(command, "run", None)), f"{command.__name__} has no run"
            assert command.__doc__ and len(command.__doc__.strip().splitlines()) == 1, command.__name__


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_argparse_lives_only_in_the_command_line_modules(path):
    rel = path.relative_to(CORE).as_posix()
    if rel.startswith(COMMAND_LINE):
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    for line, name in _runtime_imports(tree):
        assert name.split(".")[0] != "argparse", (
            f"{path}:{line} imports argparse: a command's arguments belong in its radtriage/commands module"
        )
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert not (node.name.startswith("add_") and node.name.endswith("arguments")), (
                f"{path}:{node.lineno} defines {node.name}: a command's arguments belong in its radtriage/commands "
                "module"
            )
