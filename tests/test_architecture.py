"""Layering rules of the core: no Slicer/Qt outside the MRML layer, and the core imports without slicer-core."""

from __future__ import annotations

import ast
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
        "radtriage.evaluation, radtriage.cli\n"
        "from radtriage.phantoms import make_lge_slice\n"
        "s = make_lge_slice(0, 'clear')\n"
        "print('ok', s.image.size)\n"
    )
    env_path = f"{tmp_path}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")
