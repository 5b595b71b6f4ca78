"""One check for every settings dataclass read from a dict (bundle JSON, CLI option files): a key that is not a
field is refused with the known names, so a typo is never silently ignored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any


def known_settings(cls: type, values: Mapping[str, Any] | None, what: str, *, written: Iterable[str] = ()
                   ) -> dict[str, Any]:
    """``values`` (None: empty) as keyword arguments of the dataclass ``cls``. ``written`` names keys that the
    class's ``to_dict`` adds for readers (derived or descriptive); they are dropped. Any other key that is not
    a field raises ``ValueError`` naming ``what``, the unknown keys and the known ones."""
    names = {f.name for f in fields(cls)}
    values = dict(values or {})
    unknown = sorted(set(values) - names - set(written))
    if unknown:
        raise ValueError(f"{what}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return {k: v for k, v in values.items() if k in names}
