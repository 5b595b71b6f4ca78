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
import re
import shutil
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    assert any("self.ui.applyButton is not a widget" in p for p in problems), problems


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
    copy = module_copy("MRITriage")
    _edit(
        _ui(copy),
        '<widget class="QCheckBox" name="useBundleThresholdsCheckBox">',
        '<widget class="QPushButton" name="useBundleThresholdsCheckBox">',
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("useBundleThresholdsCheckBox.checked needs a checkable widget" in p for p in problems), problems


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
    _edit(copy / "CMBDetect.py", "self.logic.startJob(volumeNode)", "self.logic.startJob(volumeNode, threshold=0.5)")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("keyword 'threshold'" in p and "CMBDetectLogic.startJob does not take" in p for p in problems), problems


def test_wrong_task_name_is_caught(module_copy) -> None:
    copy = module_copy("LGECertainty")
    _edit(copy / "LGECertainty.py", 'TASK_NAME = "lge_certainty"', 'TASK_NAME = "body_region"')
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("run_task('body_region') is not the task of LGECertainty" in p for p in problems), problems


def test_top_level_core_import_is_caught(module_copy) -> None:
    copy = module_copy("MRITriage")
    _edit(copy / "MRITriage.py", "import qt\n", "import qt\nfrom radtriage.tasks import run_task\n")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("imports radtriage.tasks at module level" in p for p in problems), problems


def test_missing_demo_disclaimer_and_class_are_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", "demo, not for clinical use", "demo only")
    _edit(
        copy / "BodyRegion.py",
        "class BodyRegionTest(ScriptedLoadableModuleTest)",
        "class BodyRegionTests(ScriptedLoadableModuleTest)",
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("demo, not for clinical use" in p for p in problems), problems
    assert any("class BodyRegionTest is missing" in p for p in problems), problems


def test_unparsable_module_is_caught(module_copy) -> None:
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", "class BodyRegionLogic(ScriptedLoadableModuleLogic):", "class BodyRegionLogic(:")
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


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ctest") is None, reason="cmake/ctest not installed")
def test_extension_configures_with_cmake_against_a_stub_slicer(tmp_path: Path) -> None:
    """Real CMake parses every CMakeLists, builds each module with its files, and registers the tests."""
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "SlicerConfig.cmake").write_text(STUB_SLICER_CONFIG)
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
    for test in [f"py_{m}" for m in ss.ALL_MODULES] + ["py_SlicerRadTriageStaticChecks"]:
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
    assert {"openButton", "nextButton", "previousButton", "commitButton", "runTaskButton", "labelsWidget"} <= used
    assert used <= set(ui.widgets)
    bound = {w.dynamic["SlicerParameterName"] for w in ui.widgets.values() if "SlicerParameterName" in w.dynamic}
    assert bound == set(source.fields) == {"caseListKind", "caseSource", "task", "storeFolder", "readerId",
                                           "blindMode"}  # fmt: skip


def test_review_module_is_not_held_to_the_task_module_rules() -> None:
    """Checked as a task module, CaseReview would need a task of its own; as a review module it passes."""
    problems = ss.check_module(ROOT / "CaseReview", TASK_MODULES, review=False)
    assert "CaseReview.py: CaseReviewLogic has no run()" in problems
    assert any("has no loadJobOutputs()" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"infer", "--task", task,', '"infer", "--task", "cmb_detect",', "buildArgv runs a fixed task ('cmb_detect')"),
        ('"--output", OUTPUT_DIR_PLACEHOLDER, "--device"', '"--output", "/tmp/x", "--device"',
         "--output is not the job's"),
        ("            self._jobs.cancel()\n            return\n", "            return\n",
         "onRunTaskButton never calls cancel"),
        ("    def onRunTaskButton(self)", "    def onRunButton(self)", "has no onRunTaskButton()"),
        ("        from radtriage.review.case_mrml import load_case\n", "        load_case = None\n",
         "never imports load_case from radtriage"),
        ("    def commitValues(", "    def commitLabels(", "CaseReviewLogic has no commitValues()"),
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
    namespace: dict = dict(source.constants)
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
    ("module", "old", "new", "expected"),
    [
        ("BodyRegion", '"--task", TASK_NAME', '"--task", "lge_certainty"', "runs task 'lge_certainty', not the task"),
        ("CMBDetect", '"--output", OUTPUT_DIR_PLACEHOLDER', '"--output", "/tmp/out"', "--output is not the job's"),
        ("LGECertainty", '"infer", "--task"', '"run", "--task"', "does not start with the 'infer' command"),
        ("MRITriage", "    @staticmethod\n    def buildArgv", "    def buildArgv", "buildArgv is not a @staticmethod"),
        ("CMBDetect", "            self._jobs.cancel()\n            return\n", "            return\n",
         "onApplyButton never calls cancel"),
        ("LGECertainty", "        if not ensureDependencies():\n            return\n", "",
         "onApplyButton never calls ensureDependencies"),
        ("BodyRegion", "        from RadTriageCommonLib.job_controller import JobController\n\n", "",
         "never imports JobController"),
    ],
)  # fmt: skip
def test_background_job_mistakes_are_caught(module_copy, module: str, old: str, new: str, expected: str) -> None:
    copy = module_copy(module)
    _edit(copy / f"{module}.py", old, new)
    problems = ss.check_module(copy, TASK_MODULES)
    assert any(expected in p for p in problems), problems


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
    copy = module_copy("BodyRegion")
    _edit(copy / "BodyRegion.py", 'self.logic.headerQaText(result["outputs"])', "self.logic.headerQaText()")
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("self.logic.headerQaText is called without outputs" in p for p in problems), problems


# ------------------------------------------------------------ pure Logic helpers, cut out and run without Slicer


def _logic_static_methods(module: str):
    """Every @staticmethod of the module's Logic, executed without Slicer, reachable as ``<module>Logic.name``."""
    return ss.logic_static_methods(ROOT, module)


def _lge_result(likelihoods: list[float], band: tuple[float, float] = (30.0, 70.0)) -> dict:
    from radtriage.tasks.lge_certainty.certainty import CertaintyBand, band_slice

    slices = [
        {"index": k, **band_slice(value, CertaintyBand(*band)).to_dict(), "centre_ras": [0.0, 0.0, 2.0 * k]}
        for k, value in enumerate(likelihoods)
    ]
    return {"outputs": {"certainty_band": list(band), "slices": slices}, "notices": []}


def test_lge_logic_helpers_band_blind_and_locate_slices(tmp_path: Path) -> None:
    from radtriage.cli import _parse_options
    from radtriage.tasks.lge_certainty.ratings import RatingSheet

    logic, constants = _logic_static_methods("LGECertainty")
    hidden = constants["HIDDEN_TEXT"]
    result = _lge_result([10.0, 30.0, 55.5, 70.0, 90.0])  # 30 and 70 sit on the inclusive band edges
    rows = logic.displayRows(result, {}, False)
    assert [r["highlight"] for r in rows] == [False, True, True, True, False]
    assert rows[2]["cells"][:5] == ["2", "55.5", "low", "uncertain", "consider repeat / extra view"]
    blinded = logic.displayRows(result, {2: 60.0}, True)
    assert [r["cells"][1] for r in blinded] == [hidden, hidden, "55.5", hidden, hidden]
    assert [r["highlight"] for r in blinded] == [False, False, True, False, False]
    assert blinded[2]["cells"][5] == "60"

    row = logic.sliceRow(result, 2)
    assert logic.sliceSummary(row, None, True) == "slice 2: rate it first (blinded)"
    assert logic.sliceSummary(row, 60.0, True).startswith("slice 2: likelihood 55.5 (low certainty)")
    assert logic.sliceRow(result, 5) is None and logic.sliceCentreRas(result, 5) is None

    # A stack with 2 mm slices along RAS z, origin z = -3: RAS -> IJK maps z to k = (z + 3) / 2.
    ras_to_ijk = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, 1.5], [0, 0, 0, 1]]
    assert [logic.sliceIndexAt(ras_to_ijk, [5.0, 7.0, z]) for z in (-3.0, -2.1, 0.9, 5.2)] == [0, 0, 2, 4]

    assert logic.longAxisOptions([[1, 2, 3]]) is None
    axis = logic.longAxisOptions([[1, 2, 3], [4, 5, 6]])
    argv = logic.buildArgv(tmp_path / "image.nrrd", (25, 75), axis)
    options = _parse_options([argv[i + 1] for i, a in enumerate(argv) if a == "--option"])
    assert options == {"certainty_band": [25.0, 75.0], "apex": [1.0, 2.0, 3.0], "base": [4.0, 5.0, 6.0],
                       "coordinates": "RAS"}  # fmt: skip

    path = logic.ratingSheetPath(str(tmp_path), "", "/nowhere", "LGE stack #1", "R1")
    assert path == tmp_path / "LGE_stack_1.ratings.R1.json"
    assert logic.ratingSheetPath("", str(tmp_path / "scene.mrml"), "/nowhere", "s", "R1").parent == tmp_path
    sheet = logic.openRatingSheet(path, "R1", True, "s", result)
    sheet.rate(3, 80)
    sheet.save(path)
    assert RatingSheet.load(path).rating(3) == 80.0
    with pytest.raises(ValueError, match="another reader"):
        logic.openRatingSheet(path, "R2", True, "s", result)


def test_body_region_logic_helpers_locate_slices_and_ranges(tmp_path: Path) -> None:
    from radtriage.cli import _parse_options

    logic, _constants = _logic_static_methods("BodyRegion")
    outputs = {
        "slice_axis": "k",
        "slices": [{"index": k, "region": "chest" if k < 3 else "abdomen", "confidence": 0.9} for k in range(6)],
        "ranges": [
            {"region": "chest", "display_name": "Chest", "first_index": 2, "last_index": 0, "superior_z_mm": 5.0,
             "inferior_z_mm": -5.0, "mean_confidence": 0.91},
            {"region": "abdomen", "display_name": "", "first_index": 5, "last_index": 3, "superior_z_mm": -10.0,
             "inferior_z_mm": -20.0, "mean_confidence": 0.8},
        ],
        "header_qa": {"status": "mismatch", "flag": True, "message": "header says HEAD"},
    }  # fmt: skip
    assert logic.rangeTableCells(outputs)[0] == ["Chest", "2-0", "5.0", "-5.0", "0.91"]
    assert logic.rangeTableCells(outputs)[1][0] == "abdomen"
    assert logic.rangeCentreIjk(outputs, 1, [10, 20, 6]) == [4.5, 9.5, 4.0]
    assert logic.rangeCentreIjk({**outputs, "slice_axis": "i"}, 0, [10, 20, 6]) == [1.0, 9.5, 2.5]
    assert logic.rangeCentreIjk(outputs, 2, [10, 20, 6]) is None
    assert logic.headerQaText(outputs) == ("mismatch: header says HEAD", True)
    assert logic.headerQaText({}) == ("not checked", False)
    assert logic.sliceRow(outputs, 4)["region"] == "abdomen" and logic.sliceRow(outputs, 6) is None
    assert logic.displayName(outputs, "chest") == "Chest" and logic.displayName(outputs, "abdomen") == "abdomen"
    assert logic.sliceIndexAt([[0, 0, 0.5, 2], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], [3.0, 0.0, 2.2], 0) == 3

    argv = logic.buildArgv(tmp_path / "image.nrrd", "MR")
    assert _parse_options([argv[argv.index("--option") + 1]]) == {"modality": "MR"}
    assert "--option" not in logic.buildArgv(tmp_path / "image.nrrd")
