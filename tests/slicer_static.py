"""Static checks of the extension's Slicer scripted modules, without Slicer, Qt or any third-party package.

What the shared base (``RadTriageCommonLib/module_base.py``) makes true by construction - the template life
cycle, the parameter-node wiring, Apply/Cancel through ``JobController`` after ``ensureDependencies``, results
on the nodes a job ran on, scoped shortcuts, self-tests that skip - is not re-checked here. What is checked, per
module folder ``<M>/``:

* ``<M>.py`` parses, has at most 450 lines, and defines ``<M>``, ``<M>ParameterNode`` (``@parameterNodeWrapper``),
  ``<M>Widget`` / ``<M>Logic`` / ``<M>Test`` on the base (listed first) and the template's classes; the help says
  "Slicer 5.12 or newer" (task modules: "demo, not for clinical use"), ``parent.dependencies`` names
  RadTriageCommon; nothing heavy is imported at module top (of the Lib, only ``module_base``);
* the widget defines the base's hooks and re-implements none of the base's life cycle (an override calling
  ``super()`` extends it), makes no ``QShortcut`` itself, attaches results from ``inputs`` (not from
  ``self._parameterNode.<job input>``), binds folder fields through ``pathParameters`` (a ``pathlib.Path`` on a
  ctkPathLineEdit shows "."), and its slots exist;
* every ``self.ui.<name>`` exists in ``Resources/UI/<M>.ui`` (with the base's applyButton / progressBar /
  statusLabel) and what the code does with it suits the widget's class; every ``SlicerParameterName`` names a field
  on a widget class Slicer's GUI connectors accept for it; every ``self.logic.<method>(...)`` exists on the Logic
  (or its base) with compatible arguments;
* the Logic's ``taskName`` and the task its static ``buildArgv`` gives ``inferArgv`` are the module's task (a
  review module such as ``CaseReview`` runs the case's task and defines the review methods instead);
* ``<M>/CMakeLists.txt`` lists the script, icon and ``.ui`` (they exist), builds with
  ``slicerMacroBuildScriptedModule(... WITH_GENERIC_TESTS)``, registers the self-test under ``BUILD_TESTING`` and
  gives CTest the self-test's skip line;

per hidden library module folder (``RadTriageCommon/``): ``parent.hidden = True``, a self-test, nothing heavy (nor
slicer/qt) at the top of ``<M>Lib/*.py``, every file listed in CMake; and the top-level ``CMakeLists.txt``.

Run as ``python tests/slicer_static.py [REPO_ROOT]`` (exit status 1 when a problem is found) or call
:func:`check_module` / :func:`check_extension` from tests.
"""

from __future__ import annotations

import ast
import re
import struct
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MODULES: tuple[str, ...] = ("MRITriage", "CMBDetect", "LGECertainty", "BodyRegion")
"""The extension's task modules (each with a GUI), in the order the top-level CMakeLists adds them."""

LIBRARY_MODULES: tuple[str, ...] = ("RadTriageCommon",)
"""Hidden scripted modules without GUI that ship shared Slicer-side code (added before the task modules)."""

REVIEW_MODULES: tuple[str, ...] = ("CaseReview",)
"""Modules with a GUI over a case list and the task modules' results (added after the task modules)."""

ALL_MODULES: tuple[str, ...] = (*LIBRARY_MODULES, *MODULES, *REVIEW_MODULES)

REVIEW_LOGIC_METHODS = ("startJob", "openSession", "loadCase", "commitValues")
"""What a review module's Logic must define."""

ICON_SIZE = (128, 128)

# ----------------------------------------------------------------------------------------------------------------
# Which widget classes support what the module code does with them
# ----------------------------------------------------------------------------------------------------------------

NODE_COMBOS = frozenset({"qMRMLNodeComboBox"})
SUBJECT_HIERARCHY_COMBOS = frozenset({"qMRMLSubjectHierarchyComboBox"})
VALUE_WIDGETS = frozenset(
    {"ctkSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox", "QSlider", "QSpinBox", "QDoubleSpinBox", "QDial"}
)
PROGRESS_BARS = frozenset({"QProgressBar"})
ALWAYS_CHECKABLE = frozenset(
    {"QCheckBox", "QRadioButton", "ctkCheckBox", "ctkCheckablePushButton", "ctkCollapsibleButton"}
)
CHECKABLE_IF_SET = frozenset({"QPushButton", "QToolButton", "ctkPushButton", "QGroupBox", "ctkMenuButton"})
BUTTONS = frozenset(
    {"QPushButton", "QToolButton", "QCheckBox", "QRadioButton", "ctkPushButton", "ctkCheckablePushButton",
     "ctkMenuButton", "ctkCollapsibleButton", "ctkCheckBox"}
)  # fmt: skip
COMBO_BOXES = frozenset({"QComboBox", "ctkComboBox"})
PATH_WIDGETS = frozenset({"ctkPathLineEdit"})
TEXT_WIDGETS = frozenset({"QLabel", "QLineEdit", "QTextEdit", "QPlainTextEdit", "QTextBrowser"}) | BUTTONS
TABLE_WIDGETS = frozenset({"QTableWidget"})
MRML_TABLE_VIEWS = frozenset({"qMRMLTableView"})
ITEM_VIEWS = TABLE_WIDGETS | MRML_TABLE_VIEWS | frozenset({"QTableView", "QTreeWidget", "QListWidget"})

CHECKABLE = "checkable"  # marker: resolved per widget (class always checkable, or checkable property set)
MRML_WIDGET = "mrml"  # marker: any qMRML* widget

MEMBER_CLASSES: dict[str, frozenset[str] | str] = {
    # MRML node selectors
    **dict.fromkeys(
        ("currentNode", "setCurrentNode", "currentNodeID", "setCurrentNodeID", "currentNodeChanged", "nodeTypes",
         "addNode", "noneEnabled", "addEnabled", "removeEnabled"),
        NODE_COMBOS,
    ),
    **dict.fromkeys(("currentItem", "setCurrentItem", "currentItemChanged"), SUBJECT_HIERARCHY_COMBOS),
    **dict.fromkeys(("setMRMLScene", "mrmlScene"), MRML_WIDGET),
    # sliders, spin boxes, progress bars
    **dict.fromkeys(("value", "setValue", "minimum", "maximum", "setMinimum", "setMaximum", "setRange"),
                    VALUE_WIDGETS | PROGRESS_BARS),
    **dict.fromkeys(("valueChanged", "singleStep", "setSingleStep", "decimals", "setDecimals"), VALUE_WIDGETS),
    "textVisible": PROGRESS_BARS,
    # checkable things
    **dict.fromkeys(("checked", "setChecked", "isChecked", "toggled"), CHECKABLE),
    "collapsed": frozenset({"ctkCollapsibleButton"}),
    # buttons
    **dict.fromkeys(("clicked", "pressed", "released", "click", "animateClick"), BUTTONS),
    # combo boxes
    **dict.fromkeys(
        ("currentText", "setCurrentText", "currentIndex", "setCurrentIndex", "currentIndexChanged",
         "currentTextChanged", "addItem", "addItems", "itemText", "itemData", "count", "findText", "clear"),
        COMBO_BOXES,
    ),
    # paths
    **dict.fromkeys(("currentPath", "setCurrentPath", "currentPathChanged", "addCurrentPathToHistory", "filters",
                     "nameFilters"), PATH_WIDGETS),
    # text
    **dict.fromkeys(("text", "setText", "textChanged", "wordWrap"), TEXT_WIDGETS),
    # tables
    **dict.fromkeys(
        ("rowCount", "setRowCount", "columnCount", "setColumnCount", "setItem", "item", "setCellWidget", "cellWidget",
         "setHorizontalHeaderLabels", "cellChanged", "clearContents", "currentRow", "cellClicked"),
        TABLE_WIDGETS,
    ),
    **dict.fromkeys(("setMRMLTableNode", "mrmlTableNode"), MRML_TABLE_VIEWS),
    **dict.fromkeys(("resizeColumnsToContents", "selectionModel", "horizontalHeader", "verticalHeader"), ITEM_VIEWS),
}  # fmt: skip
"""Member of ``self.ui.<name>`` -> widget classes that have it."""

GENERIC_MEMBERS = frozenset(
    {"enabled", "setEnabled", "visible", "setVisible", "toolTip", "setToolTip", "show", "hide", "setFocus",
     "styleSheet", "setStyleSheet", "blockSignals", "connect", "disconnect", "objectName", "property", "setProperty",
     "update", "setSizePolicy", "minimumHeight", "setMinimumHeight", "maximumHeight", "setMaximumHeight", "parent"}
)  # fmt: skip
"""Members every QWidget has (``connect`` is further checked through its signal string)."""

SIGNAL_CLASSES: dict[str, frozenset[str] | str] = {
    name: classes
    for name, classes in MEMBER_CLASSES.items()
    if name
    in {"currentNodeChanged", "currentItemChanged", "valueChanged", "toggled", "clicked", "pressed", "released",
        "currentIndexChanged", "currentTextChanged", "currentPathChanged", "textChanged", "cellChanged", "cellClicked"}
} | {"nodeAddedByUser": NODE_COMBOS, "mrmlSceneChanged": MRML_WIDGET, "contentsCollapsed": frozenset(
    {"ctkCollapsibleButton"})}  # fmt: skip
"""Qt signal name (as in ``.connect("name(args)", slot)``) -> widget classes that emit it."""

LOGIC_BASE_METHODS = frozenset({"getParameterNode", "getAllParameterNodes", "createParameterNode", "moduleName"})
"""Methods every ScriptedLoadableModuleLogic has."""

HEAVY_TOP_LEVEL_IMPORTS = frozenset(
    {"radtriage", "numpy", "torch", "monai", "SimpleITK", "pydicom", "nibabel", "scipy", "highdicom", "sklearn"}
)
"""Packages a module must import inside methods only, so that Slicer can load it before they are installed."""

LIBRARY_PACKAGES = frozenset({f"{name}Lib" for name in LIBRARY_MODULES})
"""Shared Slicer-side packages: the task modules import them inside the methods that use them..."""
TOP_LEVEL_LIBRARY_MODULES = frozenset({"RadTriageCommonLib.module_base", "RadTriageCommonLib.scripted"})
"""...except the shared module base their classes derive from."""
SLICER_LIBRARY_FILES = frozenset({"scripted.py"})
"""The one Lib file that imports slicer at module level: the base on Slicer's template classes, nothing testable."""

SLICER_TOP_LEVEL_IMPORTS = frozenset({"slicer", "qt", "ctk", "vtk", "__main__"})
"""What a library package must not import at module level (so its pure parts are testable without Slicer)."""

# parameterNodeWrapper field type -> widget classes that Slicer's GUI connectors accept for it
PATH_TYPES = frozenset({"Path", "pathlib.Path", "PosixPath", "WindowsPath", "PurePath", "pathlib.PurePath"})
FIELD_WIDGETS: dict[str, frozenset[str]] = {
    "bool": frozenset({"QCheckBox", "QPushButton"}),
    "int": frozenset({"QSlider", "QSpinBox", "QComboBox"}),
    "float": frozenset({"QDoubleSpinBox", "ctkSliderWidget", "QComboBox"}),
    "str": frozenset({"QComboBox", "QLineEdit", "QTextEdit"}),
    "path": frozenset({"ctkPathLineEdit", "ctkDirectoryButton"}),
    "FloatRange": frozenset({"ctkRangeWidget"}),
    "node": NODE_COMBOS,
    "enum": frozenset({"QComboBox"}),
}
BOUNDED_WIDGETS = frozenset({"ctkSliderWidget", "QSlider"})


# ----------------------------------------------------------------------------------------------------------------
# .ui files
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class UiWidget:
    """One widget of a Qt Designer file."""

    name: str
    cls: str
    properties: dict[str, str] = field(default_factory=dict)
    dynamic: dict[str, str] = field(default_factory=dict)
    string_lists: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class UiFile:
    """What the checks need from a Qt Designer ``.ui`` file."""

    path: Path
    root: UiWidget
    widgets: dict[str, UiWidget]
    custom_classes: set[str]
    scene_receivers: set[str]
    duplicate_names: list[str]


def _property_value(prop: ET.Element) -> tuple[str | None, list[str] | None]:
    child = next(iter(prop), None)
    if child is None:
        return None, None
    if child.tag == "stringlist":
        return None, [s.text or "" for s in child.findall("string")]
    return (child.text or "").strip(), None


def parse_ui(path: Path) -> UiFile:
    """Parse a ``.ui`` file: widgets by name (class, properties, dynamic properties), custom widgets, connections."""
    tree = ET.parse(path)
    top = tree.getroot().find("widget")
    if top is None:
        raise ValueError(f"{path}: no top-level <widget>")
    widgets: dict[str, UiWidget] = {}
    duplicates: list[str] = []
    root_widget = None
    for element in top.iter("widget"):
        widget = UiWidget(element.get("name", ""), element.get("class", ""))
        for prop in element.findall("property"):
            value, values = _property_value(prop)
            name = prop.get("name", "")
            if values is not None:
                widget.string_lists[name] = values
            elif prop.get("stdset") == "0":
                widget.dynamic[name] = value or ""
            else:
                widget.properties[name] = value or ""
        if element is top:
            root_widget = widget
        elif widget.name in widgets:
            duplicates.append(widget.name)
        widgets[widget.name] = widget
    custom = {c.findtext("class", "") for c in tree.getroot().iter("customwidget")}
    receivers = {
        c.findtext("receiver", "")
        for c in tree.getroot().iter("connection")
        if c.findtext("sender") == top.get("name")
        and c.findtext("signal", "").startswith("mrmlSceneChanged")
        and c.findtext("slot", "").startswith("setMRMLScene")
    }
    assert root_widget is not None
    return UiFile(path, root_widget, widgets, custom, receivers, duplicates)


def _is_checkable(widget: UiWidget) -> bool:
    return widget.cls in ALWAYS_CHECKABLE or (
        widget.cls in CHECKABLE_IF_SET and widget.properties.get("checkable", "").lower() == "true"
    )


def _class_allows(widget: UiWidget, allowed: frozenset[str] | str) -> bool:
    if allowed == CHECKABLE:
        return _is_checkable(widget)
    if allowed == MRML_WIDGET:
        return widget.cls.startswith("qMRML")
    return widget.cls in allowed


def _describe_allowed(allowed: frozenset[str] | str) -> str:
    if allowed == CHECKABLE:
        return "a checkable widget (QCheckBox, QRadioButton, or a button with checkable=true)"
    if allowed == MRML_WIDGET:
        return "an MRML widget (qMRML*)"
    return "/".join(sorted(allowed))


def check_ui_file(ui: UiFile, module: str) -> list[str]:
    """Problems of the .ui file on its own (root class, custom widgets declared, MRML widgets given the scene)."""
    problems = []
    where = ui.path.name
    if ui.root.cls != "qMRMLWidget":
        problems.append(f"{where}: the root widget is a {ui.root.cls}, expected qMRMLWidget")
    if ui.root.name != module:
        problems.append(f"{where}: the root widget is named {ui.root.name!r}, expected {module!r}")
    for name in ui.duplicate_names:
        problems.append(f"{where}: more than one widget is named {name!r}")
    for widget in ui.widgets.values():
        if not widget.cls.startswith("Q") and widget.cls not in ui.custom_classes:
            problems.append(f"{where}: widget {widget.name!r} of class {widget.cls} is not declared in <customwidgets>")
        if widget is not ui.root and widget.cls.startswith("qMRML") and widget.name not in ui.scene_receivers:
            problems.append(
                f"{where}: MRML widget {widget.name!r} gets no mrmlSceneChanged -> setMRMLScene connection "
                "from the root widget"
            )
        if widget.cls in NODE_COMBOS and not widget.string_lists.get("nodeTypes"):
            problems.append(f"{where}: node selector {widget.name!r} has no nodeTypes")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Module .py files
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class UiUse:
    """One ``self.ui.<name>`` in the module source and what is done with it."""

    name: str
    member: str | None
    lineno: int
    signal: str | None = None


@dataclass
class LogicCall:
    """One ``self.logic.<method>`` in the widget, with the call's arguments when it is called."""

    method: str
    lineno: int
    n_positional: int | None = None
    keywords: tuple[str, ...] = ()


@dataclass
class ParameterField:
    """One field of the ``@parameterNodeWrapper`` class: its base type and annotations as source text."""

    name: str
    base: str
    annotations: tuple[str, ...]


@dataclass
class ModuleSource:
    """What the checks need from ``<M>.py``."""

    path: Path
    tree: ast.Module
    classes: dict[str, ast.ClassDef]
    fields: dict[str, ParameterField]
    ui_uses: list[UiUse]
    logic_calls: list[LogicCall]
    constants: dict[str, object]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_self_attr(node: ast.AST, attr: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attr
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [ast.unparse(base).split(".")[-1] for base in cls.bases]


def _decorator_names(cls: ast.ClassDef) -> list[str]:
    names = []
    for decorator in cls.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.append(ast.unparse(target).split(".")[-1])
    return names


def _split_annotation(annotation: ast.expr) -> tuple[str, tuple[str, ...]]:
    """``Annotated[float, WithinRange(0, 1)]`` -> ("float", ("WithinRange(0, 1)",)); plain types pass through."""
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value).split(".")[-1] == "Annotated":
        parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        return ast.unparse(parts[0]), tuple(ast.unparse(p) for p in parts[1:])
    return ast.unparse(annotation), ()


def _parameter_fields(cls: ast.ClassDef) -> dict[str, ParameterField]:
    fields = {}
    for statement in cls.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            base, annotations = _split_annotation(statement.annotation)
            fields[statement.target.id] = ParameterField(statement.target.id, base, annotations)
    return fields


def _module_constants(tree: ast.Module) -> dict[str, object]:
    constants = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = statement.value.value
    return constants


def parse_module(path: Path) -> ModuleSource:
    """Parse ``<M>.py`` (raises SyntaxError when it does not parse)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    parents = _parents(tree)

    fields: dict[str, ParameterField] = {}
    for cls in classes.values():
        if "parameterNodeWrapper" in _decorator_names(cls):
            fields.update(_parameter_fields(cls))

    ui_uses: list[UiUse] = []
    logic_calls: list[LogicCall] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_self_attr(node.value, "ui"):
            parent = parents.get(node)
            member = parent.attr if isinstance(parent, ast.Attribute) and parent.value is node else None
            use = UiUse(node.attr, member, node.lineno)
            if member in {"connect", "disconnect"}:
                call = parents.get(parent)
                if isinstance(call, ast.Call) and call.func is parent and call.args:
                    first = call.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        use.signal = first.value.split("(")[0].strip()
            ui_uses.append(use)
        if isinstance(node, ast.Attribute) and _is_self_attr(node.value, "logic"):
            parent = parents.get(node)
            call = LogicCall(node.attr, node.lineno)
            if isinstance(parent, ast.Call) and parent.func is node:
                if any(isinstance(a, ast.Starred) for a in parent.args) or any(k.arg is None for k in parent.keywords):
                    call.n_positional = None
                else:
                    call.n_positional = len(parent.args)
                    call.keywords = tuple(k.arg for k in parent.keywords if k.arg)
            logic_calls.append(call)
    return ModuleSource(path, tree, classes, fields, ui_uses, logic_calls, _module_constants(tree))


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def _string_constants(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _call_names(node: ast.AST) -> list[str]:
    return [ast.unparse(n.func).split(".")[-1] for n in ast.walk(node) if isinstance(n, ast.Call)]


MAX_MODULE_LINES = 450
BASE_FILE = Path(__file__).resolve().parents[1] / "RadTriageCommon" / "RadTriageCommonLib" / "module_base.py"
BASES = {"Widget": ("ModuleWidgetBase", "ScriptedLoadableModuleWidget"), "Logic": ("ModuleLogicBase",
         "ScriptedLoadableModuleLogic"), "Test": ("ModuleTestBase", "ScriptedLoadableModuleTest")}  # fmt: skip
"""The shared base each template class builds on, listed before the template's class so that its methods win..."""
COMPOSED = {"": "RadTriageModule", "Widget": "RadTriageWidget", "Logic": "RadTriageLogic", "Test": "RadTriageTest"}
"""...or the class of RadTriageCommonLib/scripted.py that lists them so."""
BASE_OWNED = frozenset({"setup", "cleanup", "enter", "exit", "initializeParameterNode", "setParameterNode",
                        "_checkCanApply", "onApplyButton", "_createShortcuts", "_onJobSucceeded"})  # fmt: skip
"""The widget life cycle the base implements once: a module may extend one (calling super()), not replace it."""
BASE_JOB_WIDGETS = {"applyButton": "QPushButton", "progressBar": "QProgressBar", "statusLabel": "QLabel"}
SKIP_MARKER = "RadTriage self-test skipped"
"""Printed by RadTriageCommonLib.testing before a self-test skips; CTest's SKIP_REGULAR_EXPRESSION."""  # fmt: skip


def _base_methods(class_name: str) -> dict[str, ast.FunctionDef]:
    """The methods of a class of RadTriageCommonLib/module_base.py (empty when the file is absent)."""
    tree = ast.parse(BASE_FILE.read_text(encoding="utf-8")) if BASE_FILE.is_file() else ast.Module([], [])
    return next((_methods(n) for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), {})


def _class_attribute(cls: ast.ClassDef, name: str, default: object = None) -> object:
    """A class attribute's literal value (its source node when it is not a literal; ``default`` when unset)."""
    for statement in cls.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and any(getattr(t, "id", "") == name for t in targets):
            try:
                return ast.literal_eval(statement.value)
            except ValueError:
                return statement.value
    return default


def _check_classes(source: ModuleSource, module: str) -> list[str]:
    where = source.path.name
    problems = []
    for suffix, bases in [("", ("ScriptedLoadableModule",)), ("ParameterNode", ()), *BASES.items()]:
        cls = source.classes.get(f"{module}{suffix}")
        found = _base_names(cls) if cls is not None else []
        if cls is None:
            problems.append(f"{where}: class {module}{suffix} is missing")
        elif COMPOSED.get(suffix) in found:
            continue
        elif any(b not in found for b in bases) or (suffix == "Widget" and "VTKObservationMixin" not in found):
            problems.append(f"{where}: class {module}{suffix} does not derive from {', '.join(bases)}")
        elif len(bases) == 2 and found.index(bases[0]) > found.index(bases[1]):
            problems.append(f"{where}: class {module}{suffix} lists {bases[1]} before {bases[0]} (base goes first)")
    wrapper = source.classes.get(f"{module}ParameterNode")
    if wrapper is not None and "parameterNodeWrapper" not in _decorator_names(wrapper):
        problems.append(f"{where}: class {module}ParameterNode is not decorated with @parameterNodeWrapper")
    if wrapper is not None and not source.fields:
        problems.append(f"{where}: {module}ParameterNode has no typed fields")
    lines = len(source.path.read_text(encoding="utf-8").splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{where}: {lines} lines; a module file is at most {MAX_MODULE_LINES} (move shared code out)")
    return problems


def _check_module_class(source: ModuleSource, module: str, review: bool = False) -> list[str]:
    """The panel's description: through the base's ``describeModule`` (which sets category, dependencies, the Slicer
    it needs and the demo notice), or every attribute by hand."""
    cls = source.classes.get(module)
    if cls is None:
        return []
    where = source.path.name
    init = _methods(cls).get("__init__") or cls
    described = [n for n in ast.walk(init) if isinstance(n, ast.Call) and _call_names(n)[0] == "describeModule"]
    if "RadTriageModule" in _base_names(cls):  # the base calls describeModule with the class attributes
        names = {n.id for a in cls.body if isinstance(a, ast.Assign) for t in a.targets for n in ast.walk(t)
                 if isinstance(n, ast.Name)}  # fmt: skip
        problems = [f"{where}: {module} sets no {name}" for name in ("title", "about", "anchor") if name not in names]
        if not review and _class_attribute(cls, "demo", True) is False:
            problems.append(f"{where}: {module} is a task module; it must keep demo = True")
        return problems
    if described:
        no_demo = any(k.arg == "demo" and getattr(k.value, "value", True) is False for k in described[0].keywords)
        problem = f"{where}: {module} is a task module; describeModule must keep demo=True"
        return [problem] if no_demo and not review else []
    text = " ".join(_string_constants(init))
    assigned = {ast.unparse(t): n.value for n in ast.walk(init) if isinstance(n, ast.Assign) for t in n.targets}
    problems = [f"{where}: {module}.__init__ does not set parent.{attr}"
                for attr in ("title", "categories", "contributors", "helpText", "acknowledgementText")
                if f"self.parent.{attr}" not in assigned]  # fmt: skip
    if "RadTriage" not in _string_constants(init):
        problems.append(f'{where}: {module} is not in the "RadTriage" category')
    for needed, why in (("Slicer 5.12 or newer", "the Slicer it needs"), ("demo, not for clinical use", "")):
        if needed not in text and (why or not review):
            problems.append(f'{where}: the help text of {module} does not say "{needed}"')
    dependencies = assigned.get("self.parent.dependencies")
    if "RadTriageCommon" not in _string_constants(dependencies or ast.List([])):
        problems.append(f'{where}: {module} does not set parent.dependencies = ["RadTriageCommon"]')
    return problems


def _top_level_imports(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            found += [(alias.name, statement.lineno) for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            found.append((statement.module, statement.lineno))
    return found


def _check_top_level_imports(source: ModuleSource) -> list[str]:
    problems = []
    for name, lineno in _top_level_imports(source.tree):
        if name.split(".")[0] in HEAVY_TOP_LEVEL_IMPORTS:
            problems.append(
                f"{source.path.name}:{lineno}: imports {name} at module level; import it inside the "
                "method so the module loads before its dependencies are installed"
            )
        elif name.split(".")[0] in LIBRARY_PACKAGES and name not in TOP_LEVEL_LIBRARY_MODULES:
            problems.append(f"{source.path.name}:{lineno}: imports {name} at module level; import it inside the method")
    return problems


def _calls_super(method: ast.FunctionDef) -> bool:
    """Whether ``method`` calls ``super().<its own name>(...)`` (it extends the base's, not replaces it)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method.name
               and isinstance(n.func.value, ast.Call) and ast.unparse(n.func.value.func) == "super"
               for n in ast.walk(method))  # fmt: skip


def _check_widget(source: ModuleSource, module: str, ui: UiFile | None) -> list[str]:
    """The base's hooks, its life cycle left alone, scoped shortcuts, results on the job's nodes, folder fields."""
    widget = source.classes.get(f"{module}Widget")
    if widget is None:
        return []
    where = source.path.name
    methods = _methods(widget)
    slots = {**_base_methods("ModuleWidgetBase"), **methods}
    problems = [f"{where}: {module}Widget has no {hook}() (the base calls it)"
                for hook in ("createLogic", "startJob", "onJobFinished") if hook not in methods]  # fmt: skip
    problems += [f"{where}:{methods[name].lineno}: {module}Widget.{name} re-implements the base's; use its hooks"
                 for name in sorted(BASE_OWNED & set(methods)) if not _calls_super(methods[name])]  # fmt: skip
    for node in ast.walk(widget):
        name = ast.unparse(node.func).split(".")[-1] if isinstance(node, ast.Call) else ""
        slot = node.args[-1] if name in {"connect", "addObserver"} and node.args else None
        if _is_self_attr(slot, getattr(slot, "attr", "")) and slot.attr not in slots:
            problems.append(f"{where}:{slot.lineno}: slot self.{slot.attr} is not a method of {module}Widget")
        if name == "QShortcut":
            problems.append(f"{where}:{node.lineno}: a QShortcut made by the module fires inside text fields; "
                            "return the key from shortcuts() (the base scopes it)")  # fmt: skip
    inputs = _class_attribute(widget, "jobInputParameters", ("inputVolume",))
    for method in (methods.get("onJobFinished"), methods.get("showResult")):
        for n in ast.walk(method) if method is not None else ():
            if isinstance(n, ast.Attribute) and _is_self_attr(n.value, "_parameterNode") and n.attr in inputs:
                problems.append(f"{where}:{n.lineno}: {module}Widget.{method.name} reads self._parameterNode."
                                f"{n.attr}, the selection when the job ends; use inputs[{n.attr!r}]")  # fmt: skip
    for parameter in dict(_class_attribute(widget, "pathParameters", ())):
        if getattr(source.fields.get(parameter), "base", "") != "str":
            problems.append(f'{where}: pathParameters names {parameter!r}; it must be a `str = ""` field')
    for name, cls in BASE_JOB_WIDGETS.items() if ui is not None else ():
        if name not in ui.widgets or ui.widgets[name].cls != cls:
            problems.append(f"{ui.path.name}: the base needs a {cls} named {name!r} (Apply, progress, status)")
    for candidate in ui.widgets.values() if ui is not None else ():
        name = candidate.dynamic.get("SlicerParameterName")
        if candidate.cls in PATH_WIDGETS and getattr(source.fields.get(name), "base", "") in PATH_TYPES:
            problems.append(f"{ui.path.name}: {candidate.name!r} shows '.' until set (pathlib.Path field {name!r}); "
                            'make it `str = ""` and list it in pathParameters')  # fmt: skip
    return problems


def _check_logic_calls(source: ModuleSource, module: str) -> list[str]:
    logic = source.classes.get(f"{module}Logic")
    widget = source.classes.get(f"{module}Widget")
    if logic is None or widget is None:
        return []
    where = source.path.name
    methods = {**_base_methods("ModuleLogicBase"), **_methods(logic)}
    widget_lines = range(widget.lineno, (widget.end_lineno or widget.lineno) + 1)
    problems = []
    for call in source.logic_calls:
        if call.lineno not in widget_lines:
            continue
        if call.method in LOGIC_BASE_METHODS:
            continue
        method = methods.get(call.method)
        if method is None:
            problems.append(f"{where}:{call.lineno}: self.logic.{call.method} is not a method of {module}Logic")
            continue
        if call.n_positional is None:
            continue
        args = method.args
        static = "staticmethod" in [ast.unparse(d) for d in method.decorator_list]
        params = [a.arg for a in args.posonlyargs + args.args][0 if static else 1 :]  # without self
        kwonly = [a.arg for a in args.kwonlyargs]
        n_required = len(params) - len(args.defaults)
        if args.vararg is None and call.n_positional > len(params):
            problems.append(
                f"{where}:{call.lineno}: self.logic.{call.method} gets {call.n_positional} positional arguments, "
                f"{module}Logic.{call.method} takes {len(params)}"
            )
        for keyword in call.keywords:
            if keyword not in params + kwonly and args.kwarg is None:
                problems.append(
                    f"{where}:{call.lineno}: self.logic.{call.method} gets keyword {keyword!r}, which "
                    f"{module}Logic.{call.method} does not take"
                )
        given = set(params[: call.n_positional]) | set(call.keywords)
        missing = [p for p in params[:n_required] if p not in given]
        if missing:
            problems.append(f"{where}:{call.lineno}: self.logic.{call.method} is called without {', '.join(missing)}")
    return problems


def _resolve(node: ast.AST, constants: Mapping[str, object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id, f"<{node.id}>")
    return None


def _check_task(source: ModuleSource, module: str, task_modules: Mapping[str, str] | None, review: bool) -> list[str]:
    """The Logic's ``taskName`` and the task its static ``buildArgv`` gives ``inferArgv`` are the module's task; a
    ``review`` module runs the case's task (no ``taskName``) and defines the review methods."""
    logic = source.classes.get(f"{module}Logic")
    if logic is None:
        return []
    where, methods = source.path.name, _methods(logic)
    if review:
        return [f"{where}: {module}Logic has no {name}()" for name in REVIEW_LOGIC_METHODS if name not in methods]
    problems = [] if "run" in methods else [f"{where}: {module}Logic has no run()"]
    build = methods.get("buildArgv")
    calls = [n for n in ast.walk(build or logic) if isinstance(n, ast.Call) and _call_names(n)[0] == "inferArgv"]
    calls = calls if build is not None else []
    if build is not None and "staticmethod" not in [ast.unparse(d) for d in build.decorator_list]:
        problems.append(f"{where}: {module}Logic.buildArgv is not a @staticmethod (it must be a pure function)")
    if build is not None and not calls:
        problems.append(f"{where}: {module}Logic.buildArgv does not call inferArgv")
    named = [("taskName", _class_attribute(logic, "taskName"))] + [("buildArgv", c.args[0]) for c in calls if c.args]
    for what, value in named:
        task = _resolve(value, source.constants) if isinstance(value, ast.AST) else value
        if not isinstance(task, str) or task.startswith("<"):
            problems.append(f"{where}: the task of {module}Logic.{what} is not a literal or module constant")
        elif task_modules is not None and task_modules.get(task) != module:
            problems.append(f"{where}: {module}Logic.{what} runs task {task!r}, not the task of {module}")
    return problems


def _check_self_test(source: ModuleSource, module: str) -> list[str]:
    test = source.classes.get(f"{module}Test")
    if test is None:
        return []
    where = source.path.name
    methods = _methods(test)
    inherited = "TaskSelfTests" in _base_names(test)
    tests = [name for name in methods if name.startswith("test_")]
    if not tests and not inherited:
        return [f"{where}: {module}Test has no test_ method"]
    problems = []
    if not {"ModuleTestBase", "RadTriageTest"} & set(_base_names(test)):  # without the base, runTest runs them
        run_test = methods.get("runTest")
        called = set(_call_names(run_test)) if run_test else set()
        problems += [f"{where}: {module}Test.runTest does not call {name}" for name in tests if name not in called]
    for name in tests:
        if not any(c.startswith("assert") for c in _call_names(methods[name])):
            problems.append(f"{where}: {module}Test.{name} asserts nothing")
    if inherited and "phantomVolume" not in methods:
        problems.append(f"{where}: {module}Test uses TaskSelfTests but defines no phantomVolume()")
    return problems


def _check_ui_uses(source: ModuleSource, ui: UiFile) -> list[str]:
    problems = []
    where = source.path.name
    for use in source.ui_uses:
        widget = ui.widgets.get(use.name)
        if widget is None or widget is ui.root:
            problems.append(f"{where}:{use.lineno}: self.ui.{use.name} is not a widget in {ui.path.name}")
            continue
        if use.member is None:
            continue
        if use.member in GENERIC_MEMBERS:
            allowed = None
        elif use.member in MEMBER_CLASSES:
            allowed = MEMBER_CLASSES[use.member]
        else:
            problems.append(
                f"{where}:{use.lineno}: self.ui.{use.name}.{use.member} is not a member the checker knows; "
                "add it to MEMBER_CLASSES in tests/slicer_static.py if it is real"
            )
            continue
        if allowed is not None and not _class_allows(widget, allowed):
            problems.append(
                f"{where}:{use.lineno}: self.ui.{use.name}.{use.member} needs {_describe_allowed(allowed)}, "
                f"but {use.name!r} is a {widget.cls} in {ui.path.name}"
            )
        if use.signal is not None:
            signal_allowed = SIGNAL_CLASSES.get(use.signal)
            if signal_allowed is None:
                problems.append(f"{where}:{use.lineno}: signal {use.signal!r} is not one the checker knows")
            elif not _class_allows(widget, signal_allowed):
                problems.append(
                    f"{where}:{use.lineno}: self.ui.{use.name} connects to {use.signal}, which a {widget.cls} "
                    f"does not emit (needs {_describe_allowed(signal_allowed)})"
                )
    return problems


def _field_kind(parameter: ParameterField, enum_classes: set[str]) -> str | None:
    base = parameter.base
    if base.split(".")[-1].startswith("vtkMRML"):
        return "node"
    if base in PATH_TYPES:
        return "path"
    if base in enum_classes:
        return "enum"
    return base if base in FIELD_WIDGETS else None


def _check_parameter_names(source: ModuleSource, ui: UiFile) -> list[str]:
    problems = []
    where = ui.path.name
    enum_classes = {name for name, cls in source.classes.items() if any("Enum" in b for b in _base_names(cls))}
    seen: dict[str, str] = {}
    for widget in ui.widgets.values():
        name = widget.dynamic.get("SlicerParameterName")
        if name is None:
            continue
        if name in seen:
            problems.append(f"{where}: SlicerParameterName {name!r} is on both {seen[name]!r} and {widget.name!r}")
        seen[name] = widget.name
        parameter = source.fields.get(name)
        if parameter is None:
            problems.append(
                f"{where}: widget {widget.name!r} has SlicerParameterName {name!r}, which is not a field of the "
                f"parameter node wrapper (fields: {', '.join(sorted(source.fields))})"
            )
            continue
        kind = _field_kind(parameter, enum_classes)
        if kind is None:
            problems.append(f"{where}: field {name!r} of type {parameter.base} has no GUI connector the checker knows")
            continue
        if widget.cls not in FIELD_WIDGETS[kind]:
            problems.append(
                f"{where}: field {name!r} ({parameter.base}) is bound to {widget.name!r}, a {widget.cls}; "
                f"Slicer connects it only to {'/'.join(sorted(FIELD_WIDGETS[kind]))}"
            )
            continue
        has_choice = any(a.startswith("Choice(") for a in parameter.annotations)
        if widget.cls == "QComboBox" and kind in {"int", "float", "str"} and not has_choice:
            problems.append(f"{where}: field {name!r} is bound to QComboBox {widget.name!r} but has no Choice(...)")
        bounded = any(a.startswith("WithinRange(") for a in parameter.annotations) or (
            any(a.startswith("Minimum(") for a in parameter.annotations)
            and any(a.startswith("Maximum(") for a in parameter.annotations)
        )
        if widget.cls in BOUNDED_WIDGETS and not bounded:
            problems.append(f"{where}: field {name!r} is bound to slider {widget.name!r} but has no WithinRange(...)")
        if kind == "node":
            node_types = widget.string_lists.get("nodeTypes", [])
            if node_types != [parameter.base.split(".")[-1]]:
                problems.append(
                    f"{where}: node selector {widget.name!r} lists nodeTypes {node_types}, field {name!r} is a "
                    f"{parameter.base}"
                )
    return problems


# ----------------------------------------------------------------------------------------------------------------
# CMake
# ----------------------------------------------------------------------------------------------------------------


def strip_cmake_comments(text: str) -> str:
    """CMake source without ``#`` comments (quoted strings kept)."""
    out_lines = []
    for line in text.splitlines():
        in_quotes = False
        cut = len(line)
        for index, char in enumerate(line):
            if char == '"' and (index == 0 or line[index - 1] != "\\"):
                in_quotes = not in_quotes
            elif char == "#" and not in_quotes:
                cut = index
                break
        out_lines.append(line[:cut])
    return "\n".join(out_lines)


def cmake_commands(text: str) -> list[tuple[str, list[str], int]]:
    """``(command in lower case, arguments, position)`` for each command call in CMake source."""
    commands = []
    pattern = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(((?:[^()\"]|\"[^\"]*\")*)\)", re.S)
    for match in pattern.finditer(strip_cmake_comments(text)):
        args = re.findall(r"\"[^\"]*\"|[^\s\"]+", match.group(2))
        commands.append((match.group(1).lower(), [a.strip('"') for a in args], match.start()))
    return commands


def _expand(value: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), value)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file (from its IHDR chunk)."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", header[16:24])


def check_module_cmake(module_dir: Path, library: bool = False, uses_test_base: bool = False) -> list[str]:
    """Problems of ``<M>/CMakeLists.txt`` and the files and Testing folders it refers to.

    A ``library`` module (hidden, no GUI) needs no .ui, icon or generic tests, but must list ``<M>.py`` and
    every ``.py`` file of its ``<M>Lib/`` package. A module whose self-test ``uses_test_base`` (it skips when
    packages are missing) must tell CTest the skip line (``SKIP_REGULAR_EXPRESSION``).
    """
    module = module_dir.name
    path = module_dir / "CMakeLists.txt"
    if not path.is_file():
        return [f"{module}: CMakeLists.txt is missing"]
    text = path.read_text(encoding="utf-8")
    commands = cmake_commands(text)
    variables: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    problems = []
    for name, args, _pos in commands:
        if name == "set" and args:
            lists[args[0]] = [_expand(a, variables) for a in args[1:]]
            if len(args) == 2:
                variables[args[0]] = _expand(args[1], variables)
    if variables.get("MODULE_NAME") != module:
        problems.append(f"{module}/CMakeLists.txt: MODULE_NAME is {variables.get('MODULE_NAME')!r}, not {module!r}")
        variables["MODULE_NAME"] = module
    scripts = [_expand(a, variables) for a in lists.get("MODULE_PYTHON_SCRIPTS", [])]
    resources = [_expand(a, variables) for a in lists.get("MODULE_PYTHON_RESOURCES", [])]
    needed_scripts = [f"{module}.py"]
    needed_resources = [f"Resources/UI/{module}.ui", f"Resources/Icons/{module}.png"]
    if library:
        package = module_dir / f"{module}Lib"
        needed_scripts += sorted(p.relative_to(module_dir).as_posix() for p in package.rglob("*.py"))
        needed_resources = []
        if not (package / "__init__.py").is_file():
            problems.append(f"{module}: {module}Lib/__init__.py is missing")
    for needed in needed_scripts:
        if needed not in scripts:
            problems.append(f"{module}/CMakeLists.txt: MODULE_PYTHON_SCRIPTS does not list {needed}")
    for needed in needed_resources:
        if needed not in resources:
            problems.append(f"{module}/CMakeLists.txt: MODULE_PYTHON_RESOURCES does not list {needed}")
    for listed in scripts + resources:
        if not (module_dir / listed).is_file():
            problems.append(f"{module}/CMakeLists.txt lists {listed}, which does not exist")

    build = [args for name, args, _ in commands if name == "slicermacrobuildscriptedmodule"]
    if not build:
        problems.append(f"{module}/CMakeLists.txt: no slicerMacroBuildScriptedModule(...)")
    else:
        args = build[0]
        expected = {
            "NAME": "${MODULE_NAME}",
            "SCRIPTS": "${MODULE_PYTHON_SCRIPTS}",
            "RESOURCES": "${MODULE_PYTHON_RESOURCES}",
        }
        for keyword, value in expected.items():
            if keyword not in args or args.index(keyword) + 1 >= len(args) or args[args.index(keyword) + 1] != value:
                problems.append(f"{module}/CMakeLists.txt: slicerMacroBuildScriptedModule lacks {keyword} {value}")
        if "WITH_GENERIC_TESTS" not in args and not library:
            problems.append(f"{module}/CMakeLists.txt: slicerMacroBuildScriptedModule lacks WITH_GENERIC_TESTS")

    stripped = strip_cmake_comments(text)
    testing_block = re.search(r"if\s*\(\s*BUILD_TESTING\s*\)(.*?)endif\s*\(", stripped, re.S | re.I)
    block = testing_block.group(1) if testing_block else ""
    if not re.search(r"slicer_add_python_unittest\s*\(\s*SCRIPT\s+\$\{MODULE_NAME\}\.py\s*\)", block, re.I):
        problems.append(
            f"{module}/CMakeLists.txt: no slicer_add_python_unittest(SCRIPT ${{MODULE_NAME}}.py) under BUILD_TESTING"
        )
    skip = r"set_tests_properties\s*\(\s*py_\$\{MODULE_NAME\}\s+PROPERTIES\s+SKIP_REGULAR_EXPRESSION\s+" + re.escape(
        f'"{SKIP_MARKER}"'
    )
    if uses_test_base and not re.search(skip, block, re.I):
        problems.append(
            f"{module}/CMakeLists.txt: no set_tests_properties(py_${{MODULE_NAME}} PROPERTIES SKIP_REGULAR_EXPRESSION "
            f'"{SKIP_MARKER}") under BUILD_TESTING: a skipped self-test would be reported as passed'
        )
    if re.search(r"add_subdirectory\s*\(\s*Testing\s*\)", block, re.I):
        for sub in ("Testing/CMakeLists.txt", "Testing/Python/CMakeLists.txt"):
            if not (module_dir / sub).is_file():
                problems.append(f"{module}: {sub} is missing")
    icon = module_dir / "Resources" / "Icons" / f"{module}.png"
    if icon.is_file():
        try:
            size = png_size(icon)
        except ValueError as error:
            problems.append(str(error))
        else:
            if size != ICON_SIZE:
                problems.append(f"{module}: icon is {size[0]}x{size[1]}, expected {ICON_SIZE[0]}x{ICON_SIZE[1]}")
    return problems


EXTENSION_VARIABLES = (
    "EXTENSION_HOMEPAGE",
    "EXTENSION_CATEGORY",
    "EXTENSION_CONTRIBUTORS",
    "EXTENSION_DESCRIPTION",
    "EXTENSION_ICONURL",
    "EXTENSION_SCREENSHOTURLS",
    "EXTENSION_DEPENDS",
)


def check_extension_cmake(root: Path, modules: Iterable[str] = MODULES) -> list[str]:
    """Problems of the top-level CMakeLists.txt: metadata, Slicer includes, one add_subdirectory per module."""
    path = root / "CMakeLists.txt"
    if not path.is_file():
        return ["CMakeLists.txt is missing at the repository root"]
    commands = cmake_commands(path.read_text(encoding="utf-8"))
    problems = []
    projects = [args for name, args, _ in commands if name == "project"]
    if not projects or projects[0][:1] != ["RadTriage"]:
        problems.append("CMakeLists.txt: project(RadTriage) is missing")
    values = {args[0]: " ".join(args[1:]) for name, args, _ in commands if name == "set" and args}
    for variable in EXTENSION_VARIABLES:
        if not values.get(variable, "").strip():
            problems.append(f"CMakeLists.txt: {variable} is not set")
    if "PyTorch" not in values.get("EXTENSION_DEPENDS", "").split():
        problems.append("CMakeLists.txt: EXTENSION_DEPENDS does not name PyTorch")
    for variable in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        for url in values.get(variable, "").split():
            local = url.split("/main/", 1)[1] if "/main/" in url else None
            if local and not (root / local).is_file():
                problems.append(f"CMakeLists.txt: {variable} points at {local}, which is not in the repository")

    def position(command: str, argument: str | None = None) -> int | None:
        for name, args, pos in commands:
            if name == command and (argument is None or argument in args):
                return pos
        return None

    find_slicer = position("find_package", "Slicer")
    use_file = position("include", "${Slicer_USE_FILE}")
    generate = position("include", "${Slicer_EXTENSION_GENERATE_CONFIG}")
    cpack = position("include", "${Slicer_EXTENSION_CPACK}")
    for label, pos in (
        ("find_package(Slicer)", find_slicer),
        ("include(${Slicer_USE_FILE})", use_file),
        ("include(${Slicer_EXTENSION_GENERATE_CONFIG})", generate),
        ("include(${Slicer_EXTENSION_CPACK})", cpack),
    ):
        if pos is None:
            problems.append(f"CMakeLists.txt: {label} is missing")
    subdirs = [(args[0], pos) for name, args, pos in commands if name == "add_subdirectory" and args]
    for module in modules:
        found = [pos for sub, pos in subdirs if sub == module]
        if not found:
            problems.append(f"CMakeLists.txt: add_subdirectory({module}) is missing")
        elif use_file is not None and generate is not None and not use_file < found[0] < generate:
            problems.append(f"CMakeLists.txt: add_subdirectory({module}) is not between Slicer_USE_FILE and the config")
    for sub, _pos in subdirs:
        if not (root / sub / "CMakeLists.txt").is_file():
            problems.append(f"CMakeLists.txt: add_subdirectory({sub}) but {sub}/CMakeLists.txt does not exist")
    icon = root / "Resources" / "Icons" / "RadTriage.png"
    if not icon.is_file():
        problems.append("Resources/Icons/RadTriage.png (extension icon) is missing")
    elif png_size(icon) != ICON_SIZE:
        problems.append("Resources/Icons/RadTriage.png is not 128x128")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------------


def _parsed_script(module_dir: Path) -> ModuleSource | str:
    """The module folder's ``<M>.py`` parsed, or the one problem that stops the checks (missing, no parse)."""
    module = module_dir.name
    script = module_dir / f"{module}.py"
    if not script.is_file():
        return f"{module}: {module}.py is missing"
    try:
        return parse_module(script)
    except SyntaxError as error:
        return f"{module}: {module}.py does not parse: {error}"


def check_module(
    module_dir: Path, task_modules: Mapping[str, str] | None = None, review: bool | None = None
) -> list[str]:
    """Every problem found in one module folder (empty list: the module passes).

    ``task_modules`` maps task names to module names (``radtriage.tasks.TASKS``); when given, the task
    that ``<M>Logic.run`` passes to ``run_task`` must belong to this module. ``review`` (default: the folder is
    named in REVIEW_MODULES) checks a review module: no task of its own, the review rules instead.
    """
    module_dir = Path(module_dir)
    module = module_dir.name
    review = module in REVIEW_MODULES if review is None else review
    ui_path = module_dir / "Resources" / "UI" / f"{module}.ui"
    source = _parsed_script(module_dir)
    if isinstance(source, str):
        return [source]
    problems = []
    problems += _check_classes(source, module)
    problems += _check_module_class(source, module, review)
    problems += _check_top_level_imports(source)
    problems += _check_logic_calls(source, module)
    problems += _check_task(source, module, task_modules, review)
    problems += _check_self_test(source, module)
    ui = None
    if not ui_path.is_file():
        problems.append(f"{module}: Resources/UI/{module}.ui is missing")
    else:
        try:
            ui = parse_ui(ui_path)
        except (ET.ParseError, ValueError) as error:
            problems.append(f"{module}: {ui_path.name} is not a valid .ui file: {error}")
        else:
            problems += check_ui_file(ui, module)
            problems += _check_ui_uses(source, ui)
            problems += _check_parameter_names(source, ui)
    problems += _check_widget(source, module, ui)
    test = source.classes.get(f"{module}Test")
    uses_base = test is not None and bool({"ModuleTestBase", "RadTriageTest"} & set(_base_names(test)))
    problems += check_module_cmake(module_dir, uses_test_base=uses_base)
    return problems


def check_library_module(module_dir: Path) -> list[str]:
    """Every problem of a hidden library module folder (``<M>.py`` + ``<M>Lib/`` package, no GUI)."""
    module_dir = Path(module_dir)
    module = module_dir.name
    script = module_dir / f"{module}.py"
    source = _parsed_script(module_dir)
    if isinstance(source, str):
        return [source]
    where = script.name
    problems = []
    cls = source.classes.get(module)
    if cls is None or "ScriptedLoadableModule" not in _base_names(cls):
        problems.append(f"{where}: class {module}(ScriptedLoadableModule) is missing")
    else:
        init = _methods(cls).get("__init__")
        hidden = [
            n for n in ast.walk(init or cls)
            if isinstance(n, ast.Assign) and any(ast.unparse(t) == "self.parent.hidden" for t in n.targets)
            and isinstance(n.value, ast.Constant) and n.value.value is True
        ]  # fmt: skip
        if not hidden:
            problems.append(f"{where}: {module}.__init__ does not set self.parent.hidden = True")
        if "RadTriage" not in _string_constants(init or cls):
            problems.append(f'{where}: {module} is not in the "RadTriage" category')
    test = source.classes.get(f"{module}Test")
    if test is None or "ScriptedLoadableModuleTest" not in _base_names(test):
        problems.append(f"{where}: class {module}Test(ScriptedLoadableModuleTest) is missing")
    else:
        problems += _check_self_test(source, module)
    problems += _check_top_level_imports(source)
    package = module_dir / f"{module}Lib"
    for path in sorted(package.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as error:
            problems.append(f"{module}: {path.relative_to(module_dir)} does not parse: {error}")
            continue
        for name, lineno in _top_level_imports(tree):
            top = name.split(".")[0]
            if top in HEAVY_TOP_LEVEL_IMPORTS or (
                top in SLICER_TOP_LEVEL_IMPORTS and path.name not in SLICER_LIBRARY_FILES
            ):
                problems.append(
                    f"{module}/{path.relative_to(module_dir)}:{lineno}: imports {name} at module level; import it "
                    "inside the function that uses it"
                )
    problems += check_module_cmake(module_dir, library=True)
    return problems


def check_extension(
    root: Path,
    modules: Iterable[str] = MODULES,
    task_modules: Mapping[str, str] | None = None,
    review_modules: Iterable[str] = REVIEW_MODULES,
):
    """Every problem of the extension: top-level CMake plus each module (empty list: all pass)."""
    root = Path(root)
    modules, review_modules = list(modules), list(review_modules)
    problems = check_extension_cmake(root, [*LIBRARY_MODULES, *modules, *review_modules])
    for module in LIBRARY_MODULES:
        problems += check_library_module(root / module)
    for module in modules:
        problems += check_module(root / module, task_modules, review=False)
    for module in review_modules:
        problems += check_module(root / module, task_modules, review=True)
    return problems


def _task_modules() -> dict[str, str] | None:
    try:
        from radtriage.tasks import TASKS
    except ImportError:
        return None
    return {name: spec.module for name, spec in TASKS.items()}


def main(argv: list[str] | None = None) -> int:
    """``python tests/slicer_static.py [ROOT]``: print the problems; exit status 1 when there is any."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    problems = check_extension(root, task_modules=_task_modules())
    for problem in problems:
        print(problem)
    print(
        f"{len(problems)} problem(s) in {len(MODULES)} task modules, {len(REVIEW_MODULES)} review module(s) and "
        f"{len(LIBRARY_MODULES)} library module(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
