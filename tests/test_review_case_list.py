"""A review case list with problem cases: every case checked when the list opens (inputs, task, options), the
usable ones kept and the others listed with the reason; a CSV's task column, ``case.json`` options and symbolic
links inside a case folder honoured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from radtriage.annotations import open_case_list, open_store
from radtriage.commands.common import parse_options
from radtriage.errors import InputError
from radtriage.review import ReviewSession, check_cases
from radtriage.review.runs import plan_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_input_cases import head_array, write_nifti


def _options(argv: list[str]) -> dict:
    return parse_options([argv[i + 1] for i, arg in enumerate(argv) if arg == "--option"])


def _case_folder(root: Path, name: str, options: dict) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    write_nifti(folder / "ct.nii.gz", head_array())
    (folder / "case.json").write_text(json.dumps({"task": "body_region", "inputs": {"CT": "ct.nii.gz"},
                                                  "options": options}))
    return folder


def test_a_review_run_carries_the_options_of_case_json(tmp_path: Path) -> None:
    _case_folder(tmp_path / "cases", "c1", {"min_confidence": "0.4", "label_volume": "false"})
    cases = open_case_list(tmp_path / "cases")
    session = ReviewSession(cases, open_store(tmp_path / "project"), "reader1", task=None)
    argv = plan_run(session, "c1", device="cpu").argv
    assert _options(argv) == {"min_confidence": 0.4, "label_volume": False}


def test_a_bad_option_in_case_json_refuses_the_case_list_naming_the_file(tmp_path: Path) -> None:
    folder = _case_folder(tmp_path / "cases", "c1", {"min_confidence": 3})
    with pytest.raises(InputError) as refused:
        check_cases(open_case_list(tmp_path / "cases"))
    assert str(folder / "case.json") in str(refused.value) and "min_confidence=3 is not allowed" in str(refused.value)


# ------------------------------------------------------------------ a case list with problem cases
def test_problem_cases_are_listed_with_the_reason_and_the_rest_kept(tmp_path: Path) -> None:
    from radtriage.review import sort_out_cases

    root = tmp_path / "cases"
    _case_folder(root, "a-good", {})
    (_case_folder(root, "b-missing-file", {}) / "ct.nii.gz").unlink()
    _case_folder(root, "c-bad-option", {"min_confidence": 3})
    (root / "d-no-task").mkdir()
    write_nifti(root / "d-no-task" / "t1.nii.gz", head_array())
    checked = sort_out_cases(open_case_list(root))
    assert checked.cases.ids == ["a-good"] and checked.tasks == {"a-good": "body_region"}
    assert set(checked.skipped) == {"b-missing-file", "c-bad-option", "d-no-task"}
    assert "does not exist" in checked.skipped["b-missing-file"]
    assert "min_confidence=3 is not allowed" in checked.skipped["c-bad-option"]
    assert "names no task" in checked.skipped["d-no-task"]
    assert sort_out_cases(open_case_list(root), "body_region").tasks["d-no-task"] == "body_region"
    only_bad = tmp_path / "bad"
    (only_bad / "x").mkdir(parents=True)
    with pytest.raises(InputError, match="case 'x' names no task"):  # one case: its own problem
        sort_out_cases(open_case_list(only_bad))
    (only_bad / "y").mkdir()
    with pytest.raises(InputError, match=r"no case of the list can be reviewed — x: case 'x' names no task.*; y: "):
        sort_out_cases(open_case_list(only_bad))


def test_the_task_column_of_a_csv_case_list_is_honoured(tmp_path: Path) -> None:
    from radtriage.review import sort_out_cases

    write_nifti(tmp_path / "ct.nii.gz", head_array())
    write_nifti(tmp_path / "swi.nii.gz", head_array(seed=1))
    (tmp_path / "cases.csv").write_text("case_id,task,image\nc1,body_region,ct.nii.gz\nc2,cmb_detect,swi.nii.gz\n"
                                        "c3,,ct.nii.gz\n")
    checked = sort_out_cases(open_case_list(tmp_path / "cases.csv"))
    assert checked.tasks == {"c1": "body_region", "c2": "cmb_detect"}
    assert "names no task" in checked.skipped["c3"]


def test_a_symbolic_link_inside_the_case_folder_is_followed_and_dot_dot_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    write_nifti(store / "ct.nii.gz", head_array())
    folder = tmp_path / "cases" / "c1"
    folder.mkdir(parents=True)
    (folder / "ct.nii.gz").symlink_to(store / "ct.nii.gz")
    (folder / "case.json").write_text(json.dumps({"task": "body_region", "inputs": {"CT": "ct.nii.gz"}}))
    assert check_cases(open_case_list(tmp_path / "cases")) == {"c1": "body_region"}
    (folder / "case.json").write_text(json.dumps({"task": "body_region", "inputs": {"CT": "../../store/ct.nii.gz"}}))
    with pytest.raises(InputError, match="points outside the case folder"):
        check_cases(open_case_list(tmp_path / "cases"))


def test_a_session_opens_on_the_usable_cases_and_names_the_others(tmp_path: Path) -> None:
    from radtriage.review import open_session
    from radtriage.review.panel import case_header

    root = tmp_path / "cases"
    _case_folder(root, "a-good", {})
    (_case_folder(root, "b-missing-file", {}) / "ct.nii.gz").unlink()
    session = open_session(open_case_list(root), tmp_path / "project", "reader1")
    assert session.cases.ids == ["a-good"] and list(session.skipped_cases) == ["b-missing-file"]
    assert "1 case(s) left out: b-missing-file (" in case_header(session)["progress"]
    assert "input file does not exist" in session.skipped_cases["b-missing-file"]
