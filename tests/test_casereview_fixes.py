"""CaseReview inside the real application: each bug found against Slicer 5.12.3's sources, with the test that
shows it fixed (each of these failed on the module as it was: keys taken by Slicer, shortcuts on the main window,
"." in empty path fields, the reader id saved with the scene, no dependency on RadTriageCommon, a run's result
installed into whatever session and case were open when it ended).

The module file is read with ``ast`` (it needs Slicer's Qt to import); its decisions are the review core's, run
here for real.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from radtriage.errors import InputError
from radtriage.review import keys, opening
from radtriage.review.runs import plan_run

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "CaseReview" / "CaseReview.py"
UI = ROOT / "CaseReview" / "Resources" / "UI" / "CaseReview.ui"
SLICER_GIT = Path("/work/.mirror/Slicer+Slicer/repo")
SLICER_TAG = "v5.12.3"
KEY_TEXT = re.compile(r"\b(?:Ctrl|Alt|Shift|Meta)(?:\+[A-Za-z0-9`]+)+")

sys.path.insert(0, str(ROOT / "RadTriageCommon"))


def _module_tree() -> ast.Module:
    return ast.parse(MODULE.read_text(encoding="utf-8"))


def _class(name: str) -> ast.ClassDef:
    return next(n for n in _module_tree().body if isinstance(n, ast.ClassDef) and n.name == name)


def _ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI).iter("widget")}


def _ui_property(widget: ET.Element, name: str) -> str | None:
    prop = next((p for p in widget.findall("property") if p.get("name") == name), None)
    return None if prop is None else "".join(prop.itertext()).strip()


def _assigned(cls: ast.ClassDef, target: str) -> ast.expr | None:
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == target for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == target:
            return node.value
    return None


# ------------------------------------------------------------------------------------------------ keys
def test_review_keys_are_none_of_slicers_own_and_each_is_bound_once() -> None:
    bindings = keys.shortcut_bindings()
    assert set(bindings) == {"next", "previous", "commit", "addMissed"}
    taken = {keys.normalized_key(k) for k in keys.SLICER_SHORTCUTS}
    assert not taken & {keys.normalized_key(k) for ks in bindings.values() for k in ks}
    for old in ("Ctrl+Shift+A", "Ctrl+Left", "Ctrl+Right"):  # the module's keys before: all Slicer's
        with pytest.raises(ValueError, match=r"is Slicer's: .*\.cxx:\d+"):
            keys.shortcut_bindings({"addMissed": (old,)})
    with pytest.raises(ValueError, match="bound to both next and previous"):
        keys.shortcut_bindings({"next": ("Ctrl+PgDown",), "previous": ("ctrl+pgdown",)})
    assert keys.normalized_key("shift+ctrl+a") == "CTRL+SHIFT+A"


def _slicer_line(path: str, line: int) -> str:
    shown = subprocess.run(["git", "-C", str(SLICER_GIT), "show", f"{SLICER_TAG}:{path}"], capture_output=True,
                           text=True, check=True)  # fmt: skip
    return shown.stdout.splitlines()[line - 1]


@pytest.mark.skipif(not SLICER_GIT.is_dir(), reason="no local mirror of Slicer's sources")
def test_each_slicer_key_is_bound_at_the_cited_line_of_slicer_5_12_3() -> None:
    cited = re.compile(r"\(?([\w/]+\.(?:cxx|ui)):(\d+)\)?")
    for key, what in keys.SLICER_SHORTCUTS.items():
        path, line = cited.search(what).groups()
        text = _slicer_line(path, int(line))
        *modifiers, last = keys.normalized_key(key).split("+")
        written = keys.normalized_key(key) in {keys.normalized_key(k) for k in KEY_TEXT.findall(text)}
        qt_enum = re.search(rf"Key_{re.escape(last)}\b", text, re.I) and all(
            m.capitalize() in text.replace("Control", "Ctrl") for m in modifiers)  # fmt: skip
        assert written or qt_enum, f"{key}: {path}:{line} reads {text.strip()!r}"


def test_tooltips_and_help_name_exactly_the_review_keys() -> None:
    table = {keys.normalized_key(k) for ks in keys.REVIEW_SHORTCUTS.values() for k in ks}
    taken = {keys.normalized_key(k) for k in keys.SLICER_SHORTCUTS}
    ui_keys = {keys.normalized_key(k) for w in _ui_widgets().values()
               for k in KEY_TEXT.findall(_ui_property(w, "toolTip") or "")}  # fmt: skip
    help_text = " ".join(c.value for c in ast.walk(_class("CaseReview")) if isinstance(c, ast.Constant)
                         and isinstance(c.value, str))  # fmt: skip
    help_keys = {keys.normalized_key(k) for k in KEY_TEXT.findall(help_text) if "mouse" not in k}
    assert ui_keys and ui_keys <= table and not ui_keys & taken
    assert {keys.normalized_key(ks[0]) for ks in keys.REVIEW_SHORTCUTS.values()} <= help_keys <= table


def test_shortcuts_are_the_bases_scoped_ones_and_off_in_text_fields() -> None:
    """The widget hands its keys to the base (switched off while the focus edits text; window-wide only while the
    module is shown, because every review key has a modifier) instead of making its own QShortcuts."""
    from RadTriageCommonLib.module_base import shortcutAllowed, shortcutScope

    widget = _class("CaseReviewWidget")
    calls = {ast.unparse(n.func).split(".")[-1] for n in ast.walk(widget) if isinstance(n, ast.Call)}
    assert "shortcuts" in {f.name for f in widget.body if isinstance(f, ast.FunctionDef)}
    assert not calls & {"QShortcut", "mainWindow"}

    def focus(*classes: str, read_only: bool = False) -> SimpleNamespace:
        return SimpleNamespace(inherits=lambda name: name in classes, isReadOnly=lambda: read_only,
                               parentWidget=lambda: None)  # fmt: skip

    for key in (k for ks in keys.REVIEW_SHORTCUTS.values() for k in ks):
        assert shortcutScope(key) == "window", key  # works while the reader is in a slice view
        assert shortcutAllowed(None, key) and shortcutAllowed(focus("QPushButton"), key)
        for editing in (focus("QLineEdit"), focus("QComboBox"), focus("QAbstractSpinBox"), focus("QTextEdit")):
            assert not shortcutAllowed(editing, key), key  # the reader id field, the path fields, a region box


# ------------------------------------------------------------------------------------------------ fields
def test_path_fields_are_text_parameters_the_base_shows_empty_until_set() -> None:
    """Slicer's ctkPathLineEdit <-> pathlib.Path connector writes ``str(Path())`` = "." into an unset field
    (parameterNodeWrapper/guiConnectors.py:704-705, serializers.py:331-332 at v5.12.3): the path fields are ``str``
    parameters bound by the base instead, and "." reads as unset in the core."""
    from RadTriageCommonLib.module_base import pathFieldText

    path_widgets = {name for name, w in _ui_widgets().items() if w.get("class") == "ctkPathLineEdit"}
    bound = ast.literal_eval(_assigned(_class("CaseReviewWidget"), "pathParameters"))
    assert set(bound.values()) == path_widgets == {"caseSourcePathLineEdit", "storeFolderPathLineEdit"}
    assert all(_ui_property(_ui_widgets()[w], "SlicerParameterName") is None for w in path_widgets)
    fields = {ast.unparse(n.target): n for n in _class("CaseReviewParameterNode").body if isinstance(n, ast.AnnAssign)}
    for parameter in bound:
        assert ast.unparse(fields[parameter].annotation) == "str" and fields[parameter].value.value == ""
    assert pathFieldText(".") == "" and opening.field_path(".") == "" and opening.field_path(" /a ") == "/a"
    assert opening.store_folder_for(".", "/tmp/slicer", demo=True) == Path("/tmp/slicer/RadTriageDemoProject")
    with pytest.raises(ValueError, match="Choose the folder"):
        opening.open_path_case_list(".")


def test_reader_id_is_this_computers_never_the_scenes() -> None:
    """A scene saved by one reader and opened by another must not commit under the first reader's id."""
    fields = {ast.unparse(n.target) for n in _class("CaseReviewParameterNode").body if isinstance(n, ast.AnnAssign)}
    assert not {f for f in fields if "reader" in f.lower()}
    assert _ui_property(_ui_widgets()["readerIdLineEdit"], "SlicerParameterName") is None
    assert "READER_SETTINGS_KEY" in ast.unparse(_class("CaseReviewWidget"))
    assert opening.reader_id_problem(" R1 ") == "" and "never a person's name" in opening.reader_id_problem("Jo Do")


def test_choice_lists_of_the_module_match_the_core() -> None:
    constants = {n.targets[0].id: ast.literal_eval(n.value) for n in _module_tree().body
                 if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
                 and n.targets[0].id in ("CASE_LIST_CHOICES", "TASK_CHOICES")}  # fmt: skip
    assert constants["CASE_LIST_CHOICES"] == list(opening.CASE_LIST_KINDS)
    assert constants["TASK_CHOICES"] == list(opening.TASK_CHOICES)


def test_module_describes_itself_through_the_shared_description() -> None:
    """``parent.dependencies = []`` and no Slicer version before; ``describeModule`` sets both (what it sets is
    checked on the imported module in test_casereview_widget.py)."""
    init = next(f for f in _class("CaseReview").body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    calls = [n for n in ast.walk(init) if isinstance(n, ast.Call) and ast.unparse(n.func) == "describeModule"]
    assert len(calls) == 1 and ast.unparse(calls[0].args[0]) == "self.parent"
    assert _assigned(_class("CaseReview"), "self.parent.dependencies") is None  # one place sets it: the base


# ------------------------------------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def demo_list(tmp_path_factory):
    return opening.demo_case_list(tmp_path_factory.mktemp("fixes"))


def _job_output(folder: Path, marker: str) -> Path:
    """What a finished ``radtriage infer`` job leaves in its output folder: result.json and its files."""
    from radtriage.tasks.result import TaskResult, write_result

    folder.mkdir(parents=True)
    write_result(TaskResult("body_region", {"name": "demo", "version": marker}, {"marker": marker}), folder)
    return folder


def test_a_run_result_goes_to_the_case_and_project_it_ran_on(demo_list, tmp_path: Path) -> None:
    """Start on case X of project A, move to another case, open project B on the same list at case X: the
    result lands in A's X and neither session reloads (the old module installed it into B's X and reloaded B)."""
    first = opening.open_reader_session(demo_list, tmp_path / "A", "r1", blind=False)
    second = None
    try:
        first.go_to("05-body-ct")
        run = plan_run(first)
        assert (run.case_id, run.task) == ("05-body-ct", "body_region")
        assert run.argv[run.argv.index("--task") + 1] == "body_region"
        first.go_to("04-lge-stack")
        assert not run.shown_in(first)
        second = opening.open_reader_session(demo_list, tmp_path / "B", "r1", blind=False)
        second.go_to("05-body-ct")
        assert not run.shown_in(second)  # same case id, another project
        run.install(_job_output(tmp_path / "job" / "output", "7"))
        assert first.result("05-body-ct")["outputs"] == {"marker": "7"}
        assert second.result("05-body-ct") is None
        first.go_to("05-body-ct")
        assert run.shown_in(first)
    finally:
        first.store.close()
        if second is not None:
            second.store.close()


def test_results_are_read_before_the_job_folder_goes_and_no_run_folder_stays(demo_list, tmp_path: Path) -> None:
    """The job controller deletes the job folder once onJobFinished returns: the result must already be a copy
    in the project; a run without result.json keeps the previous result and leaves nothing beside it."""
    from RadTriageCommonLib.job_files import newJobFolder, removeJobFolder

    session = opening.open_reader_session(demo_list, tmp_path / "project", "r1", blind=False)
    try:
        run = plan_run(session, "05-body-ct")
        _inputs, output = newJobFolder(run.task, parent=tmp_path / "slicer-temp")
        _job_output(output / "written", "1")
        for child in (output / "written").iterdir():
            child.rename(output / child.name)
        (output / "written").rmdir()
        run.install(output)
        assert removeJobFolder(output) and not output.parent.exists()
        assert session.result("05-body-ct")["outputs"] == {"marker": "1"}  # survives the job folder

        empty = tmp_path / "failed-job" / "output"
        empty.mkdir(parents=True)
        with pytest.raises(InputError, match=r"no result\.json"):
            run.install(empty)
        assert session.result("05-body-ct")["outputs"] == {"marker": "1"}
        assert sorted(p.name for p in run.result_folder.parent.iterdir()) == ["body_region"]
    finally:
        session.store.close()
