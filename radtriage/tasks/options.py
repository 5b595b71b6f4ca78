"""Task options, declared once per task and validated in one place.

Each task declares its options in ``radtriage/tasks/<task>/options.py`` as a tuple of :class:`Option` named
``OPTIONS``. :func:`validate_options` checks a ``{name: value}`` mapping against that declaration (unknown names,
wrong types, out-of-range numbers, unknown choices, reversed bands) and returns the typed values; every front
end (``radtriage infer --option``, ``radtriage batch``, case.json, the web station, the Slicer modules) goes
through it, so a bad option is refused before any work with one line naming the allowed values.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from radtriage.errors import RadTriageError

KINDS = ("float", "int", "bool", "choice", "band", "point", "mapping")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class OptionError(RadTriageError):
    """A task option is unknown or its value is not allowed; the message names the allowed values."""


@dataclass(frozen=True)
class Option:
    """One task option: name, kind, allowed values, default and a one-line help.

    ``kind``: ``float``/``int`` (``minimum``/``maximum`` inclusive), ``bool``, ``choice`` (one of ``choices``),
    ``band`` (``[lo, hi]`` with ``minimum <= lo < hi <= maximum``), ``point`` (three finite numbers) or
    ``mapping`` (``{text: one of choices}``). ``nullable``: None is allowed (means "the default").
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    def allowed(self) -> str:
        """The allowed values in words (used in refusals and the help listing)."""
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        text = {
            "float": f"a number in [{lo}, {hi}]",
            "int": f"a whole number in [{lo}, {hi}]",
            "bool": "true or false",
            "choice": "one of " + ", ".join(c if isinstance(c, str) else f"{c:g}" for c in self.choices),
            "band": f"[lo, hi] with {lo} <= lo < hi <= {hi}",
            "point": "[x, y, z] in mm",
            "mapping": "{input: value}" + (" with values " + ", ".join(str(c) for c in self.choices)
                                           if self.choices else " (text values)"),
        }[self.kind]
        return text + (" (or null for the default)" if self.nullable else "")

    def _refuse(self, task: str, value: Any) -> OptionError:
        return OptionError(f"{task} option {self.name}={_show(value)} is not allowed: use {self.allowed()}")

    def _number(self, task: str, value: Any, integer: bool) -> float | int:
        if isinstance(value, bool):
            raise self._refuse(task, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._refuse(task, value) from None
        if not math.isfinite(number) or (integer and number != int(number)):
            raise self._refuse(task, value)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise self._refuse(task, value)
        return int(number) if integer else number

    def parse(self, task: str, value: Any) -> Any:
        """``value`` as this option's type; :class:`OptionError` when it is not allowed."""
        if value is None:
            if self.nullable:
                return None
            raise self._refuse(task, value)
        if self.kind in ("float", "int"):
            return self._number(task, value, self.kind == "int")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise self._refuse(task, value)
        if self.kind == "choice":
            for choice in self.choices:
                same_text = isinstance(value, str) and isinstance(choice, str) and value.lower() == choice.lower()
                same_number = not isinstance(value, (str, bool)) and not isinstance(choice, str) and value == choice
                if same_text or same_number:
                    return choice
            raise self._refuse(task, value)
        if self.kind == "mapping":
            if not isinstance(value, Mapping):
                raise self._refuse(task, value)
            return {str(k): self._choice_of(task, v) for k, v in value.items()}
        values = _sequence(value)
        size = 2 if self.kind == "band" else 3
        if values is None or len(values) != size:
            raise self._refuse(task, value)
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise self._refuse(task, value) from None
        if not all(math.isfinite(v) for v in numbers):
            raise self._refuse(task, value)
        if self.kind == "band":
            lo, hi = numbers
            low_ok = self.minimum is None or lo >= self.minimum
            high_ok = self.maximum is None or hi <= self.maximum
            if not (low_ok and high_ok and lo < hi):
                raise self._refuse(task, value)
        return numbers

    def _choice_of(self, task: str, value: Any) -> Any:
        if not self.choices and isinstance(value, str) and value.strip():
            return value
        for choice in self.choices:
            if isinstance(value, str) and str(choice).lower() == value.lower():
                return choice
        raise self._refuse(task, value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready declaration (for front ends that build their own controls)."""
        return {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help,
                "minimum": self.minimum, "maximum": self.maximum, "choices": list(self.choices),
                "nullable": self.nullable, "allowed": self.allowed()}


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _sequence(value: Any) -> Sequence[Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, (list, tuple)):
        return value
    return None


def declared_options(task: str) -> tuple[Option, ...]:
    """The options ``task`` declares (``radtriage.tasks.<task>.options.OPTIONS``)."""
    from radtriage.tasks import TASKS, TaskNotAvailableError

    if task not in TASKS:
        raise TaskNotAvailableError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    module = importlib.import_module(f"radtriage.tasks.{task}.options")
    return tuple(module.OPTIONS)


def option_default(task: str, name: str) -> Any:
    """The declared default of ``task``'s option ``name`` (what a run without it uses)."""
    for opt in declared_options(task):
        if opt.name == name:
            return opt.default
    raise KeyError(f"{task} declares no option {name!r}")


def validate_options(task: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` checked against ``task``'s declaration and converted to their types.

    Raises :class:`OptionError` (one line: the option, the value and what is allowed) for an unknown name or a
    bad value. Values already valid pass unchanged, so validating twice is harmless.
    """
    declared = {opt.name: opt for opt in declared_options(task)}
    out: dict[str, Any] = {}
    for name, value in (options or {}).items():
        opt = declared.get(name)
        if opt is None:
            known = ", ".join(sorted(declared)) or "none"
            raise OptionError(f"{task} has no option {name!r}; its options are: {known}")
        out[name] = opt.parse(task, value)
    return out


def options_help(task: str | None = None) -> str:
    """The declared options of ``task`` (or of every task) as text: ``name  allowed (default ...)  help``."""
    from radtriage.tasks import TASKS

    lines: list[str] = []
    for name in [task] if task else list(TASKS):
        lines.append(f"{name} options (--option KEY=VALUE):")
        for opt in declared_options(name):
            lines.append(f"  {opt.name:<18} {opt.help}; {opt.allowed()}; default {_show(opt.default)}")
    return "\n".join(lines)
