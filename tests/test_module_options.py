"""The Slicer modules' option widgets follow the tasks' option declarations (``radtriage/tasks/<task>/options.py``):
each widget a module maps to a task option exists, its parameter-node range is the declared range and its
default the declared default, and at setup the widget gets the declared range and allowed values."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from radtriage.tasks.options import declared_options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "RadTriageCommon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from RadTriageCommonLib.module_base import applyOptionDeclaration  # noqa: E402
from slicer_static import parse_module, parse_ui  # noqa: E402

MODULES_WITH_OPTIONS = ("BodyRegion", "LGECertainty", "MRITriage")


def _option_widgets(tree: ast.Module) -> dict[str, str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name.endswith("Widget"):
            for statement in node.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else (
                    [statement.target] if isinstance(statement, ast.AnnAssign) else [])
                if any(isinstance(t, ast.Name) and t.id == "optionWidgets" for t in targets):
                    return ast.literal_eval(statement.value)
    return {}


def _field_defaults(tree: ast.Module) -> dict[str, object]:
    defaults = {}
    for node in ast.walk(tree):
        wrapped = isinstance(node, ast.ClassDef) and any("parameterNodeWrapper" in ast.unparse(d)
                                                         for d in node.decorator_list)
        if wrapped:
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                    try:
                        defaults[statement.target.id] = ast.literal_eval(statement.value)
                    except ValueError:
                        continue
    return defaults


@pytest.mark.parametrize("module", MODULES_WITH_OPTIONS)
def test_option_widgets_have_the_declared_range_and_default(module: str) -> None:
    path = ROOT / module / f"{module}.py"
    source = parse_module(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ui = parse_ui(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    task = source.constants["TASK_NAME"]
    declared = {opt.name: opt for opt in declared_options(task)}
    mapping = _option_widgets(tree)
    assert mapping, f"{module} maps no widget to a task option"
    defaults = _field_defaults(tree)
    for widget_name, option in mapping.items():
        assert option in declared, f"{module}: {widget_name} maps to {option!r}, not an option of {task}"
        widget = ui.widgets[widget_name]
        field = source.fields[widget.dynamic["SlicerParameterName"]]
        opt = declared[option]
        if opt.kind in ("float", "int", "band"):
            ranges = [a for a in field.annotations if a.startswith("WithinRange(")]
            assert ranges == [f"WithinRange({opt.minimum:g}, {opt.maximum:g})"], (module, field.name, ranges)
            if opt.default is not None:
                assert defaults[field.name] == opt.default, (module, field.name, defaults[field.name], opt.default)


def test_a_widget_gets_the_declared_range_and_the_allowed_values() -> None:
    slider = SimpleNamespace(minimum=0.2, maximum=0.3, toolTip="Slices below this are flagged.")
    applyOptionDeclaration(slider, "body_region", "min_confidence")
    assert (slider.minimum, slider.maximum) == (0.0, 1.0)
    assert slider.toolTip.startswith("Slices below this are flagged.\n")
    assert "a number in [0, 1] (body_region option min_confidence)" in slider.toolTip
    combo = SimpleNamespace(toolTip="")
    applyOptionDeclaration(combo, "mri_triage", "operating_point")
    assert combo.toolTip.startswith("The bundle's thresholds") and "one of balanced, default" in combo.toolTip
    with pytest.raises(KeyError, match="declares no option 'min_conf'"):
        applyOptionDeclaration(slider, "body_region", "min_conf")
