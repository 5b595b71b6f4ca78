"""Static checks of the four Slicer scripted modules (no Slicer, no Qt): see tests/slicer_static.py.

Each check runs on the real module folders, and the mutation tests copy a module to a temporary folder,
break one thing (a renamed widget, a wrong widget class, a misspelt parameter name, a renamed Logic method,
a file left out of CMake) and prove the checker reports it.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
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


def test_extension_lists_exactly_the_four_modules() -> None:
    assert ss.check_extension_cmake(ROOT) == []
    commands = ss.cmake_commands((ROOT / "CMakeLists.txt").read_text())
    subdirs = [args[0] for name, args, _ in commands if name == "add_subdirectory"]
    assert [s for s in subdirs if s != "Testing"] == list(ss.MODULES)
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


@pytest.mark.parametrize("module", ss.MODULES)
def test_module_files_parse_and_defer_the_core_import(module: str) -> None:
    """Module files import radtriage only inside methods, so Slicer can load them before it is installed."""
    tree = ast.parse((ROOT / module / f"{module}.py").read_text())
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} | {
        a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
    }
    assert not any(name.startswith("radtriage") for name in top)
    nested = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("radtriage")]
    assert nested, "the Logic delegates to the radtriage core"


@pytest.mark.parametrize("module", ss.MODULES)
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
    for key in (*ss.MODULES, "extension"):
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


def test_renamed_logic_keyword_is_caught(module_copy) -> None:
    copy = module_copy("CMBDetect")
    _edit(
        copy / "CMBDetect.py",
        "def run(self, volumeNode: vtkMRMLScalarVolumeNode, confidenceThreshold",
        "def run(self, volumeNode: vtkMRMLScalarVolumeNode, threshold",
    )
    problems = ss.check_module(copy, TASK_MODULES)
    assert any("keyword 'confidenceThreshold'" in p for p in problems), problems


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
    for module in ss.MODULES:
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
    assert (build / "modules.txt").read_text().split("\n")[:-1] == [f"{m} TRUE" for m in ss.MODULES]
    listing = subprocess.run(["ctest", "-N"], cwd=build, capture_output=True, text=True, timeout=60).stdout
    for test in [f"py_{m}" for m in ss.MODULES] + ["py_SlicerRadTriageStaticChecks"]:
        assert re.search(rf"Test\s+#\d+: {test}$", listing, re.M), listing
    static = subprocess.run(
        ["ctest", "-R", "StaticChecks", "--output-on-failure"], cwd=build, capture_output=True, text=True, timeout=120
    )
    assert static.returncode == 0, static.stdout
