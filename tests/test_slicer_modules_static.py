"""Static checks of the four Slicer task modules, the CaseReview review module and the hidden RadTriageCommon
library module (no Slicer, no Qt): see tests/slicer_static.py.

Each check runs on the real module folders, and the mutation tests copy a module to a temporary folder,
break one thing (a renamed widget, a wrong widget class, a misspelt parameter name, a renamed Logic method,
a file left out of CMake, a job argv for the wrong task) and prove the checker reports it. Each Logic's
``buildArgv`` is also executed on its own (cut out of the module source) and its argv parsed by the real CLI.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "RadTriageCommon"))

import slicer_static as ss

from radtriage.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
TASK_MODULES = {name: spec.module for name, spec in TASKS.items()}


@pytest.fixture
def module_copy(tmp_path: Path):
    """Copy a module folder into tmp_path and return the copy's path."""

    def copy(module: str) -> Path:
        target = tmp_path / module
        shutil.copytree(ROOT / module, target)
        return target

    return copy


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} not found in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _ui(module_dir: Path) -> Path:
    return module_dir / "Resources" / "UI" / f"{module_dir.name}.ui"


# ------------------------------------------------------------------------------------------ the real modules


def test_extension_lists_the_library_module_the_four_task_modules_then_the_review_module() -> None:
    assert ss.check_extension_cmake(ROOT, ss.ALL_MODULES) == []
    commands = ss.cmake_commands((ROOT / "CMakeLists.txt").read_text())
    subdirs = [args[0] for name, args, _ in commands if name == "add_subdirectory"]
    assert [s for s in subdirs if s != "Testing"] == ["RadTriageCommon", *ss.MODULES, "CaseReview"]
    assert list(ss.ALL_MODULES) == ["RadTriageCommon", *ss.MODULES, *ss.REVIEW_MODULES]
    assert {spec.module for spec in TASKS.values()} == set(ss.MODULES)


@pytest.mark.parametrize("module", ss.MODULES)
def test_module_passes_every_static_check(module: str) -> None:
    assert ss.check_module(ROOT / module, TASK_MODULES) == []


@pytest.mark.parametrize("module", ss.MODULES)
def test_module_defines_the_five_template_classes(module: str) -> None:
    source = ss.parse_module(ROOT / module / f"{module}.py")
    expected = {module, f"{module}ParameterNode", f"{module}Widget", f"{module}Logic", f"{module}Test"}
    assert expected <= set(source.classes)
    assert source.fields, "the parameter node wrapper has typed fields"


@pytest.mark.parametrize("module", ss.MODULES)
def test_ui_bindings_are_all_resolved(module: str) -> None:
    """Every self.ui name used exists; every SlicerParameterName is a wrapper field (and the .ui has some)."""
    source = ss.parse_module(ROOT / module / f"{module}.py")
    ui = ss.parse_ui(_ui(ROOT / module))
    used = {use.name for use in source.ui_uses}
    assert used and used <= set(ui.widgets)
    bound = {w.dynamic["SlicerParameterName"] for w in ui.widgets.values() if "SlicerParameterName" in w.dynamic}
    assert bound and bound <= set(source.fields)
    for required in ("applyButton", "progressBar", "resultsTableView"):
        assert required in ui.widgets
    assert any(w.cls == "ctkCollapsibleButton" for w in ui.widgets.values())


@pytest.mark.parametrize("module", [*ss.MODULES, *ss.REVIEW_MODULES])
def test_module_files_parse_and_defer_the_core_import(module: str) -> None:
    """Module files import radtriage only inside methods, so Slicer can load them before it is installed."""
    tree = ast.parse((ROOT / module / f"{module}.py").read_text())
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} | {
        a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
    }
    assert not any(name.startswith("radtriage") for name in top)
    nested = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("radtriage")]
    assert nested, "the Logic delegates to the radtriage core"


@pytest.mark.parametrize("module", [*ss.MODULES, *ss.REVIEW_MODULES])
def test_icon_is_128_png(module: str) -> None:
    assert ss.png_size(ROOT / module / "Resources" / "Icons" / f"{module}.png") == (128, 128)


def test_icons_are_distinct_and_reproduced_by_the_script(tmp_path: Path) -> None:
    """scripts/make_icons.py redraws the committed icons pixel for pixel, and no two modules share a glyph."""
    from PIL import Image, ImageChops

    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "scripts" / "make_icons.py")
    make_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icons)
    written = make_icons.write_all(tmp_path)
    committed = make_icons.output_paths(ROOT)
    pixels = {}
    for key in (*ss.MODULES, *ss.REVIEW_MODULES, "extension"):
        fresh = Image.open(written[key]).convert("RGBA")
        kept = Image.open(committed[key]).convert("RGBA")
        assert fresh.size == kept.size == (128, 128)
        assert ImageChops.difference(fresh, kept).getbbox() is None, f"{key} icon differs from a fresh drawing"
        pixels[key] = fresh.tobytes()
    assert len(set(pixels.values())) == len(pixels)
    assert Image.open(written["screenshot"]).size == (640, 400)


def test_command_line_reports_no_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert ss.main([str(ROOT)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


# ------------------------------------------------------------------------- the checker catches mistakes


@pytest.mark.parametrize("module", ss.MODULES)
def test_renamed_widget_is_caught(module: str, module_copy) -> None:
    copy = module_copy(module)
    assert ss.check_module(copy, TASK_MODULES) == []
    _edit(_ui(copy), 'name="applyButton"', 'name="runButton"')
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("the base needs a QPushButton named 'applyButton'" in p for p in problems), problems


def test_wrong_widget_class_is_caught(module_copy) -> None:
    """A node selector turned into a plain combo box breaks currentNodeChanged and the node binding."""
    copy = module_copy("BodyRegion")
    _edit(
        _ui(copy),
        '<widget class="qMRMLNodeComboBox" name="inputSelector">',
        '<widget class="QComboBox" name="inputSelector">',
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("connects to currentNodeChanged" in p for p in problems), problems
    assert any("field 'inputVolume'" in p and "QComboBox" in p for p in problems), problems


def test_value_on_a_label_is_caught(module_copy) -> None:
    copy = module_copy("LGECertainty")
    _edit(copy / "LGECertainty.py", "self.ui.sliceCountLabel.text = _(", "self.ui.sliceCountLabel.value = (")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("sliceCountLabel.value needs" in p for p in problems), problems


def test_checked_on_a_non_checkable_button_is_caught(module_copy) -> None:
    copy = module_copy("LGECertainty")
    _edit(
        _ui(copy),
        '<widget class="QCheckBox" name="useBundleCertaintyBandCheckBox">',
        '<widget class="QPushButton" name="useBundleCertaintyBandCheckBox">',
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("useBundleCertaintyBandCheckBox.checked needs a checkable widget" in p for p in problems), problems


def test_misspelt_parameter_name_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(_ui(copy), "<string>confidenceThreshold</string>", "<string>confidenceTreshold</string>")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("'confidenceTreshold', which is not a field" in p for p in problems), problems


def test_slider_bound_to_unbounded_float_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(
        copy / "CMBDetect.py",
        "confidenceThreshold: Annotated[float, WithinRange(0, 1)] = 0.5",
        "confidenceThreshold: float = 0.5",
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("has no WithinRange" in p for p in problems), problems


def test_node_types_mismatch_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(_ui(copy), "<string>vtkMRMLMarkupsFiducialNode</string>", "<string>vtkMRMLMarkupsLineNode</string>")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("detectionsSelector" in p and "nodeTypes" in p for p in problems), problems


def test_renamed_logic_method_is_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", "    def sliceGeometry(self", "    def sliceGeometryMm(self")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("self.logic.sliceGeometry is not a method of BodyRegionLogic" in p for p in problems), problems


def test_unknown_logic_keyword_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(copy / "CMBDetect.py", "node.inputVolume, node.phaseVolume)", "node.inputVolume, threshold=0.5)")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("keyword 'threshold'" in p and "CMBDetectLogic.startJob does not take" in p for p in problems), problems


def test_wrong_task_name_is_caught(module_copy) -> None:
    copy = module_copy("LGECertainty")
    _edit(copy / "LGECertainty.py", 'TASK_NAME = "lge_certainty"', 'TASK_NAME = "body_region"')
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("taskName runs task 'body_region', not the task of LGECertainty" in p for p in problems), problems


def test_top_level_core_import_is_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", "import slicer\n", "import slicer\nfrom radtriage.tasks import run_task\n")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("imports radtriage.tasks at module level" in p for p in problems), problems


def test_missing_demo_disclaimer_and_class_are_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", '"bodyregion"\n', '"bodyregion"\n    demo = False\n')
    _edit(
        copy / "BodyRegion.py",
        "class BodyRegionTest(TaskSelfTests, RadTriageTest)",
        "class BodyRegionTests(TaskSelfTests, RadTriageTest)",
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("BodyRegion is a task module; it must keep demo = True" in p for p in problems), problems
    assert any("class BodyRegionTest is missing" in p for p in problems), problems


def test_unparsable_module_is_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", "class BodyRegionLogic(RadTriageLogic):", "class X(:")
    problems = ss.check_module(copy, TASK_MODULES)
    assert len(problems) == 1 and "does not parse" in problems[0]


def test_cmake_resource_left_out_is_caught(module_copy) -> None:
    copy = module_copy("LGECertainty")
    _edit(copy / "CMakeLists.txt", "  Resources/UI/${MODULE_NAME}.ui\n", "")
    (copy / "Resources" / "Icons" / "LGECertainty.png").unlink()
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("does not list Resources/UI/LGECertainty.ui" in p for p in problems), problems
    assert any("lists Resources/Icons/LGECertainty.png, which does not exist" in p for p in problems), problems


def test_cmake_without_self_test_is_caught(module_copy) -> None:
    copy = module_copy("MRITriage")
    _edit(copy / "CMakeLists.txt", "  slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)", "  # no self-test")
    _edit(copy / "CMakeLists.txt", "  WITH_GENERIC_TESTS\n", "")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("no slicer_add_python_unittest" in p for p in problems), problems
    assert any("lacks WITH_GENERIC_TESTS" in p for p in problems), problems


def test_extension_without_a_module_is_caught(tmp_path: Path) -> None:
    shutil.copy(ROOT / "CMakeLists.txt", tmp_path / "CMakeLists.txt")
    shutil.copytree(ROOT / "Resources", tmp_path / "Resources")
    for module in (*ss.MODULES, *ss.REVIEW_MODULES):
        (tmp_path / module).mkdir()
        (tmp_path / module / "CMakeLists.txt").write_text("")
    _edit(tmp_path / "CMakeLists.txt", "add_subdirectory(CMBDetect)\n", "")
    _edit(tmp_path / "CMakeLists.txt", 'set(EXTENSION_DEPENDS "PyTorch")', 'set(EXTENSION_DEPENDS "NA")')
    problems = ss.check_extension_cmake(tmp_path)
    assert any("add_subdirectory(CMBDetect) is missing" in p for p in problems), problems
    assert any("EXTENSION_DEPENDS does not name PyTorch" in p for p in problems), problems


def test_scene_connection_missing_is_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    text = _ui(copy).read_text()
    text, n = re.subn(
        r"\s*<connection>\s*<sender>BodyRegion</sender>\s*<signal>mrmlSceneChanged\(vtkMRMLScene\*\)</signal>"
        r"\s*<receiver>resultsTableView</receiver>.*?</connection>",
        "",
        text,
        flags=re.S,
    )
    assert n == 1
    _ui(copy).write_text(text)
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("'resultsTableView' gets no mrmlSceneChanged" in p for p in problems), problems


# ------------------------------------------------------------------- CMake configure against a stub Slicer

STUB_SLICER_CONFIG = """
set(Slicer_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${CMAKE_CURRENT_LIST_DIR}/Empty.cmake")
set(Slicer_EXTENSION_CPACK "${CMAKE_CURRENT_LIST_DIR}/Empty.cmake")
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "lib/Slicer-5.10/qt-scripted-modules")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "lib/Slicer-5.10/qt-scripted-modules")
"""

STUB_USE_SLICER = """
enable_testing()
macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(f ${MY_SCRIPTS} ${MY_RESOURCES})
    if(NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${f}")
      message(FATAL_ERROR "${MY_NAME}: listed file ${f} does not exist")
    endif()
  endforeach()
  file(APPEND "${CMAKE_BINARY_DIR}/modules.txt" "${MY_NAME} ${MY_WITH_GENERIC_TESTS}\\n")
endmacro()
macro(slicer_add_python_unittest)
  cmake_parse_arguments(MY "" "SCRIPT" "" ${ARGN})
  get_filename_component(_name ${MY_SCRIPT} NAME_WE)
  add_test(NAME py_${_name} COMMAND ${CMAKE_COMMAND} -E echo ${MY_SCRIPT})
endmacro()
"""


STUB_SLICER_CONFIG_VERSION = """
set(PACKAGE_VERSION "5.12.3")
if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
"""

CMAKE_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # a venv's cmake first


def cmake_version() -> tuple[int, ...]:
    """Version of the cmake that the test runs ((0,) when none)."""
    cmake = shutil.which("cmake", path=CMAKE_PATH)
    if cmake is None or shutil.which("ctest", path=CMAKE_PATH) is None:
        return (0,)
    found = re.search(r"(\d+)\.(\d+)", subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout)
    return tuple(int(v) for v in found.groups()) if found else (0,)


@pytest.mark.skipif(cmake_version() < (3, 28), reason="needs cmake/ctest >= 3.28 (Slicer 5.12's extension template)")
def test_extension_configures_with_cmake_against_a_stub_slicer(tmp_path: Path, monkeypatch) -> None:
    """Real CMake parses every CMakeLists, builds each module with its files, and registers the tests."""
    monkeypatch.setenv("PATH", CMAKE_PATH)
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "SlicerConfig.cmake").write_text(STUB_SLICER_CONFIG)
    (stub / "SlicerConfigVersion.cmake").write_text(STUB_SLICER_CONFIG_VERSION)
    (stub / "UseSlicer.cmake").write_text(STUB_USE_SLICER)
    (stub / "Empty.cmake").write_text("")
    build = tmp_path / "build"
    configure = subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(build), f"-DSlicer_DIR={stub}", "-DBUILD_TESTING=ON",
         f"-DPython3_EXECUTABLE={sys.executable}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = (build / "modules.txt").read_text().split("\n")[:-1]
    gui_modules = (*ss.MODULES, *ss.REVIEW_MODULES)
    assert built == ["RadTriageCommon FALSE"] + [f"{m} TRUE" for m in gui_modules]  # no generic tests without a GUI
    listing = subprocess.run(["ctest", "-N"], cwd=build, capture_output=True, text=True, timeout=60).stdout
    for test in [f"py_{m}" for m in ss.ALL_MODULES] + ["py_RadTriageStaticChecks"]:
        assert re.search(rf"Test\s+#\d+: {test}$", listing, re.M), listing
    static = subprocess.run(
        ["ctest", "-R", "StaticChecks", "--output-on-failure"], cwd=build, capture_output=True, text=True, timeout=120
    )
    assert static.returncode == 0, static.stdout
    # The core package and its bundles land next to the modules, so `import radtriage` works inside Slicer.
    core = subprocess.run(["cmake", "--build", str(build), "--target", "RadTriageCorePackage"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert core.returncode == 0, core.stdout + core.stderr
    shipped = build / "lib/Slicer-5.10/qt-scripted-modules/radtriage"
    source = ROOT / "radtriage"
    expected = {p.relative_to(source) for p in source.rglob("*.py") if "__pycache__" not in p.parts}
    assert expected and expected <= {p.relative_to(shipped) for p in shipped.rglob("*.py")}
    for meta in source.glob("bundles/*/configs/metadata.json"):
        assert (shipped / meta.relative_to(source)).read_bytes() == meta.read_bytes()
    installed = subprocess.run(["cmake", "--install", str(build), "--prefix", str(tmp_path / "inst")],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "inst/lib/Slicer-5.10/qt-scripted-modules/radtriage/__init__.py").is_file()


# ----------------------------------------------------------------------------- the review module CaseReview


def test_review_module_passes_every_static_check() -> None:
    assert ss.check_module(ROOT / "CaseReview", TASK_MODULES) == []
    source = ss.parse_module(ROOT / "CaseReview" / "CaseReview.py")
    expected = {"CaseReview", "CaseReviewParameterNode", "CaseReviewWidget", "CaseReviewLogic", "CaseReviewTest"}
    assert expected <= set(source.classes)
    ui = ss.parse_ui(_ui(ROOT / "CaseReview"))
    used = {use.name for use in source.ui_uses}
    assert {"openButton", "nextButton", "previousButton", "commitButton", "labelsWidget"} <= used
    assert used <= set(ui.widgets) and set(ss.BASE_JOB_WIDGETS) <= set(ui.widgets)
    bound = {w.dynamic["SlicerParameterName"] for w in ui.widgets.values() if "SlicerParameterName" in w.dynamic}
    folders = set(dict(ss._class_attribute(source.classes["CaseReviewWidget"], "pathParameters", ())))
    assert bound | folders == set(source.fields) and not bound & folders


def test_review_module_is_not_held_to_the_task_module_rules() -> None:
    """Checked as a task module, CaseReview would need a task of its own; as a review module it passes."""
    problems = ss.check_module(ROOT / "CaseReview", TASK_MODULES, review=False)
    assert "CaseReview.py: CaseReviewLogic has no run()" in problems
    assert any("the task of CaseReviewLogic.taskName is not a literal" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    def commitValues(", "    def commitLabels(", "CaseReviewLogic has no commitValues()"),
        ("    def startJob(self):", "    def startRun(self):", "CaseReviewWidget has no startJob()"),
        ('name="commitButton"', 'name="storeButton"', "self.ui.commitButton is not a widget"),
        ("<string>blindMode</string>", "<string>blind</string>", "SlicerParameterName 'blind'"),
    ],
)  # fmt: skip
def test_review_module_mistakes_are_caught(module_copy, old: str, new: str, expected: str) -> None:
    copy = module_copy("CaseReview")
    target = _ui(copy) if "name=" in old or "<string>" in old else copy / "CaseReview.py"
    _edit(target, old, new)
    problems = ss.check_module(copy, TASK_MODULES)
    assert any(expected in p for p in problems), problems


# --------------------------------------------------------------------- the hidden library module RadTriageCommon


def test_library_module_passes_every_static_check() -> None:
    assert ss.check_library_module(ROOT / "RadTriageCommon") == []
    assert ss.check_extension(ROOT, task_modules=TASK_MODULES) == []


def test_library_module_without_hidden_flag_is_caught(module_copy) -> None:
    copy = module_copy("RadTriageCommon")
    _edit(copy / "RadTriageCommon.py", "        self.parent.hidden = True\n", "")
    problems = ss.check_library_module(copy)
    assert problems == ["RadTriageCommon.py: RadTriageCommon.__init__ does not set self.parent.hidden = True"]


def test_library_file_left_out_of_cmake_is_caught(module_copy) -> None:
    copy = module_copy("RadTriageCommon")
    _edit(copy / "CMakeLists.txt", "  ${MODULE_NAME}Lib/job_files.py\n", "")
    (copy / "RadTriageCommonLib" / "extra.py").write_text('"""An extra helper."""\n')
    problems = ss.check_library_module(copy)
    assert any("does not list RadTriageCommonLib/job_files.py" in p for p in problems), problems
    assert any("does not list RadTriageCommonLib/extra.py" in p for p in problems), problems


def test_slicer_import_at_library_top_level_is_caught(module_copy) -> None:
    copy = module_copy("RadTriageCommon")
    _edit(copy / "RadTriageCommonLib" / "job_files.py", "import logging\n", "import logging\n\nimport slicer\n")
    problems = ss.check_library_module(copy)
    assert any("job_files.py" in p and "imports slicer at module level" in p for p in problems), problems


def test_library_self_test_not_run_is_caught(module_copy) -> None:
    copy = module_copy("RadTriageCommon")
    _edit(copy / "RadTriageCommon.py", "        self.test_RadTriageCommon_dependencyCheck()\n", "")
    problems = ss.check_library_module(copy)
    assert any("runTest does not call test_RadTriageCommon_dependencyCheck" in p for p in problems), problems


# ------------------------------------------------------------------------- background jobs in the task modules


def _build_argv_function(module: str):
    """The Logic's buildArgv, cut out of the module source and executed without Slicer."""
    source = ss.parse_module(ROOT / module / f"{module}.py")
    logic = source.classes[f"{module}Logic"]
    function = deepcopy(next(n for n in logic.body if isinstance(n, ast.FunctionDef) and n.name == "buildArgv"))
    function.decorator_list = []
    future = ast.parse("from __future__ import annotations").body  # annotations stay unevaluated strings
    code = compile(ast.Module(body=[*future, function], type_ignores=[]), str(source.path), "exec")
    from RadTriageCommonLib.module_base import ModuleLogicBase, inferArgv

    namespace: dict = {**source.constants, "ModuleLogicBase": ModuleLogicBase, "inferArgv": inferArgv, "json": json}
    exec(code, namespace)
    return namespace["buildArgv"], source.constants["TASK_NAME"]


def _infer_parser() -> argparse.ArgumentParser:
    from radtriage.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "infer" not in commands.choices:
        pytest.skip("the radtriage CLI has no infer command yet")
    return parser


@pytest.mark.parametrize("module", ss.MODULES)
def test_build_argv_runs_infer_on_the_written_files_and_the_cli_accepts_it(module: str, tmp_path: Path) -> None:
    build_argv, task = _build_argv_function(module)
    assert TASKS[task].module == module
    if module == "MRITriage":
        paths = {"T1": tmp_path / "T1.nrrd", "FLAIR": tmp_path / "FLAIR.nrrd"}
        argv = build_argv(paths)
        inputs = [f"T1={paths['T1']}", f"FLAIR={paths['FLAIR']}"]
    else:
        argv = build_argv(tmp_path / "image.nrrd")
        inputs = [str(tmp_path / "image.nrrd")]
    assert argv == [sys.executable, "-m", "radtriage", "infer", "--task", task, "--input", *inputs,
                    "--output", "{output_dir}"]  # fmt: skip
    args = _infer_parser().parse_args(argv[3:])
    assert (args.command, args.task, args.input, args.output) == ("infer", task, inputs, "{output_dir}")


@pytest.mark.parametrize(
    ("module", "target", "old", "new", "expected"),
    [
        ("BodyRegion", "py", "inferArgv(TASK_NAME,", 'inferArgv("lge_certainty",',
         "buildArgv runs task 'lge_certainty', not the task of BodyRegion"),
        ("LGECertainty", "py", "    @staticmethod\n    def buildArgv", "    def buildArgv",
         "buildArgv is not a @staticmethod"),
        ("CMBDetect", "py", "    taskName = TASK_NAME\n", "", "the task of CMBDetectLogic.taskName is not a literal"),
        # results on the selection at finish instead of the volume the job ran on
        ("CMBDetect", "py", 'volumeNode = inputs["inputVolume"]', "volumeNode = self._parameterNode.inputVolume",
         "reads self._parameterNode.inputVolume, the selection when the job ends"),
        ("LGECertainty", "py", "    def startJob(self):\n",
         "    def onApplyButton(self):\n        pass\n\n    def startJob(self):\n",
         "LGECertaintyWidget.onApplyButton re-implements the base's"),
        ("LGECertainty", "py", "    def startJob(self):\n", "    def startRun(self):\n",
         "LGECertaintyWidget has no startJob()"),
        ("CMBDetect", "py", "    def shortcuts(self) -> dict:",
         '    def keys(self):\n        qt.QShortcut(qt.QKeySequence("A"), self.parent)\n\n'
         "    def shortcuts(self) -> dict:",
         "a QShortcut made by the module fires inside text fields"),
        # a description by hand instead of describeModule: what the base would have set is missing
        ("BodyRegion", "py", "class BodyRegion(RadTriageModule):", "class BodyRegion(ScriptedLoadableModule):",
         'does not set parent.dependencies = ["RadTriageCommon"]'),
        ("LGECertainty", "py", "class LGECertainty(RadTriageModule):", "class LGECertainty(ScriptedLoadableModule):",
         'does not say "Slicer 5.12 or newer"'),
        ("CMBDetect", "py", 'title, anchor = _("CMB Detect"), "cmbdetect"', 'title = _("CMB Detect")',
         "CMBDetect sets no anchor"),
        ("BodyRegion", "py", "class BodyRegionWidget(RadTriageWidget):",
         "class BodyRegionWidget(ScriptedLoadableModuleWidget, ModuleWidgetBase, VTKObservationMixin):",
         "lists ScriptedLoadableModuleWidget before ModuleWidgetBase"),
        ("CMBDetect", "py", "class CMBDetectLogic(RadTriageLogic):",
         "class CMBDetectLogic(ScriptedLoadableModuleLogic):",
         "class CMBDetectLogic does not derive from ModuleLogicBase"),
        ("CMBDetect", "py", 'storeFolder: str = ""', "storeFolder: pathlib.Path",
         "pathParameters names 'storeFolder'; it must be a `str = \"\"` field"),
        ("BodyRegion", "cmake", "  set_tests_properties(py_${MODULE_NAME} PROPERTIES SKIP_REGULAR_EXPRESSION", "  # (",
         "a skipped self-test would be reported as passed"),
        ("BodyRegion", "py", "import pathlib\n", "import pathlib\n" + "#\n" * 200, "a module file is at most 450"),
    ],
)  # fmt: skip
def test_module_mistakes_are_caught(module_copy, module: str, target: str, old: str, new: str, expected: str) -> None:
    copy = module_copy(module)
    _edit({"py": copy / f"{module}.py", "ui": _ui(copy), "cmake": copy / "CMakeLists.txt"}[target], old, new)
    problems = ss.check_module(copy, TASK_MODULES)
    assert problems and any(expected in p for p in problems), problems


def test_path_field_shown_as_a_dot_is_caught(module_copy) -> None:
    """A pathlib.Path parameter bound to a ctkPathLineEdit shows "." until set (its default is Path())."""
    copy = module_copy("LGECertainty")
    _edit(copy / "LGECertainty.py", 'ratingsFolder: str = ""', "ratingsFolder: pathlib.Path")
    _edit(copy / "LGECertainty.py", '    pathParameters = (("ratingsFolder", "ratingsFolderPathLineEdit"),)\n', "")
    _edit(_ui(copy), '<widget class="ctkPathLineEdit" name="ratingsFolderPathLineEdit">',
          '<widget class="ctkPathLineEdit" name="ratingsFolderPathLineEdit"><property name="SlicerParameterName" '
          'stdset="0"><string>ratingsFolder</string></property>')  # fmt: skip
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("'ratingsFolderPathLineEdit' shows '.' until set" in p for p in problems), problems


def test_library_import_at_module_top_level_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(
        copy / "CMBDetect.py",
        "import slicer\n",
        "import slicer\nfrom RadTriageCommonLib.job_files import loadOutputs\n",
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("imports RadTriageCommonLib.job_files at module level" in p for p in problems), problems


def test_static_logic_method_arguments_are_counted_without_self(module_copy) -> None:
    """sliceCount is a @staticmethod of the Logic's base (parsed from module_base.py): volumeNode is its first."""
    copy = module_copy("LGECertainty")
    _edit(copy / "LGECertainty.py", "self.logic.sliceCount(node)", "self.logic.sliceCount()")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("self.logic.sliceCount is called without volumeNode" in p for p in problems), problems
