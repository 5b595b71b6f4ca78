"""Bundle metadata against its one JSON Schema (radtriage/models/metadata_schema.json): the schema is valid
draft 2020-12, names exactly the project's tasks and weight formats, accepts every shipped bundle, and its
refusals are one line naming the field, what it must be and what it was."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from radtriage.models import default_bundle_dir
from radtriage.models.bundle import METADATA_FILE, REQUIRED_MONAI_FIELDS, WEIGHT_FORMATS
from radtriage.models.schema import load_schema, metadata_problem
from radtriage.task_specs import TASKS

SHIPPED = sorted(p for p in default_bundle_dir().iterdir() if (p / METADATA_FILE).is_file())


def _shipped_meta() -> dict:
    return json.loads((SHIPPED[0] / METADATA_FILE).read_text(encoding="utf-8"))


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(load_schema())


def test_schema_names_the_projects_tasks_and_weight_formats():
    rt = load_schema()["$defs"]["radtriage"]["properties"]
    assert rt["task"]["enum"] == list(TASKS)
    assert set(rt["weights"]["properties"]["format"]["enum"]) == set(WEIGHT_FORMATS)
    assert {"version", "monai_version", "network_data_format", "copyright"} <= set(REQUIRED_MONAI_FIELDS)
    assert "radtriage" not in REQUIRED_MONAI_FIELDS


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_bundle_meets_the_schema(folder):
    raw = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    assert metadata_problem(raw) is None
    assert Draft202012Validator(load_schema()).is_valid(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["radtriage"].update(class_names=["a", "a"]),
         "radtriage.class_names must be a non-empty list of distinct names, got ['a', 'a']"),
        (lambda m: m["radtriage"].update(class_names=["a", ""]),
         "radtriage.class_names must be a non-empty list of distinct names, got ['a', '']"),
        (lambda m: m["radtriage"]["inputs"].pop("modality"), "radtriage.inputs is missing modality (MR or CT)"),
        (lambda m: m["radtriage"]["inputs"].update(modality="PET"),
         "radtriage.inputs.modality must be MR or CT, got 'PET'"),
        (lambda m: m["radtriage"]["inputs"].update(patch_size=[64, 64.5]),
         "radtriage.inputs.patch_size must be 2 or 3 positive integers, got [64, 64.5]"),
        (lambda m: m["radtriage"].setdefault("outputs", {}).update(channels=0),
         "radtriage.outputs.channels must be a positive integer, got 0"),
        (lambda m: m["radtriage"].update(thresholds={"x": {"y": "high"}}),
         "radtriage.thresholds must be an object of operating points (numbers, or objects of numbers), "
         "got {'x': {'y': 'high'}}"),
        (lambda m: m["radtriage"].update(thresholds={"x": float("nan")}),
         "radtriage.thresholds.x must be a finite number, got nan"),
        (lambda m: m.update(network_data_format=[]),
         "network_data_format must be an object with 'inputs' and 'outputs' objects, got []"),
        (lambda m: (m.pop("copyright"), m.pop("radtriage")),
         "missing MONAI bundle metadata field(s): copyright"),
    ],
)
def test_refusals_name_the_field_what_it_must_be_and_what_it_was(change, message):
    raw = copy.deepcopy(_shipped_meta())
    assert metadata_problem(raw) is None
    change(raw)
    assert metadata_problem(raw) == message


def test_a_non_object_is_refused():
    assert metadata_problem([1, 2]) == "metadata must be a JSON object"
