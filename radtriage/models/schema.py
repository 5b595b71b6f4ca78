"""The JSON Schema of a bundle's ``configs/metadata.json`` (``metadata_schema.json`` beside this file).

One schema file holds every shape rule of the metadata: MONAI's mandatory fields and the ``radtriage`` section.
The loader (:func:`radtriage.models.bundle.parse_metadata`) checks it here and keeps only the rules a schema
cannot say (version syntax, weights suffix against format, the certainty band's order, output requirements).
MONAI checks its own metadata the same way (``monai.bundle.verify_metadata`` uses jsonschema).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("metadata_schema.json")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The schema as a dict, read once (shared: do not modify it)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "metadata"


def _non_finite(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Path of the first NaN or infinity (Python's json reads them; JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _described(schema: dict[str, Any], path: tuple[Any, ...]) -> tuple[int, str] | None:
    """The deepest schema along the instance ``path`` that has a description: (its depth, the description)."""
    found, node = None, _resolve(schema, schema)
    for depth, part in enumerate(path, start=1):
        if not isinstance(node, dict):
            break
        if isinstance(part, int):
            node = node.get("items")
        else:
            node = node.get("properties", {}).get(part, node.get("additionalProperties"))
        node = _resolve(schema, node)
        if isinstance(node, dict) and "description" in node:
            found = (depth, node["description"])
    return found


def _describe(error: Any, raw: Any) -> str:
    """One line for one schema error: the field's dotted path, what it must be, what it was."""
    schema, path = load_schema(), tuple(error.absolute_path)
    if error.validator == "required" and path:
        props = error.schema.get("properties", {})
        said = []
        for key in (k for k in error.validator_value if k not in error.instance):
            text = _resolve(schema, props.get(key, {})).get("description")
            said.append(f"{key} ({text})" if text else key)
        return f"{_dotted(path)} is missing {', '.join(said)}"
    described = _described(schema, path)
    if described is None:
        return f"{_dotted(path)}: {error.message}"
    depth, text = described
    return f"{_dotted(path[:depth])} must be {text}, got {_get(raw, path[:depth])!r}"


def _missing_at_top(raw: dict[str, Any], errors: list[Any]) -> str | None:
    """The top-level fields that are missing, MONAI's first, in one line (None when none is)."""
    monai: list[str] = []
    for error in errors:
        if error.validator == "required":
            monai += [k for k in error.validator_value if k not in raw and k != "radtriage"]
        else:
            monai.append(" or ".join(s["required"][0] for s in error.validator_value))
    if monai:
        return f"missing MONAI bundle metadata field(s): {', '.join(dict.fromkeys(monai))}"
    if errors:
        return "missing the 'radtriage' section (task, inputs, class_names, demo, weights, ...)"
    return None


def metadata_problem(raw: Any) -> str | None:
    """Why ``raw`` is not valid bundle metadata (one line), or None when the schema accepts it."""
    if not isinstance(raw, dict):
        return "metadata must be a JSON object"
    errors = sorted(_validator().iter_errors(raw), key=lambda e: len(e.absolute_path))
    top = _missing_at_top(raw, [e for e in errors if not e.absolute_path and e.validator in ("required", "anyOf")])
    if top:
        return top
    if errors:
        return _describe(errors[0], raw)
    bad = _non_finite(raw)
    if bad is not None:
        return f"{_dotted(bad)} must be a finite number, got {_get(raw, bad)!r}"
    return None


def _get(raw: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        raw = raw[part]
    return raw
