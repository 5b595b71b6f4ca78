"""The four reading-aid tasks and the one entry point every front end calls.

Each task's package registers its runner here when it is imported (:func:`register_runner`); ``run_task``
checks the options and inputs, then runs it, and refuses clearly when a task has no runner or no model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from radtriage.errors import RadTriageError
from radtriage.task_specs import TASKS  # the tasks as data, for the layers below too


class TaskNotAvailableError(RadTriageError):
    """The task exists in the project's plan but has no implementation or model installed."""


_RUNNERS: dict[str, Callable[..., Any]] = {}
RUNNER_ARGUMENTS = frozenset({"inputs", "bundle", "device", "progress"})
"""Arguments of every runner that are not task options."""


def register_runner(task: str, runner: Callable[..., Any]) -> None:
    """Install the function that runs ``task`` (called by each task's implementation module)."""
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    _RUNNERS[task] = runner


def _load_builtin(task: str) -> None:
    """Import ``radtriage.tasks.<task>`` (which calls ``register_runner``) when that module exists."""
    if task in _RUNNERS:
        return
    module = f"{__name__}.{task}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise


def available_tasks() -> list[str]:
    """Names of the tasks that have an implementation installed."""
    for name in TASKS:
        _load_builtin(name)
    return [name for name in TASKS if name in _RUNNERS]


def run_task(task: str, **inputs: Any) -> Any:
    """Run ``task``; refuses clearly when the task is unknown or not implemented yet.

    Every input is checked first against the task's input contract (:func:`radtriage.validation.validate_inputs`):
    a refused input raises :class:`~radtriage.errors.InputError` before any model runs; accepted but unusual
    inputs add notices to the result (and ``outputs['input_checks']``, present only when there is one).

    The contract every runner follows: ``runner(inputs: dict[str, Image], *, bundle: str | None, device: str,
    progress: Callable[[float, str], None] | None, **options) -> TaskResult`` (see ``radtriage.tasks.result``).
    ``options`` are checked against the task's declaration first (:func:`radtriage.tasks.options.validate_options`).
    """
    if task not in TASKS:
        raise TaskNotAvailableError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    _load_builtin(task)
    runner = _RUNNERS.get(task)
    if runner is None:
        spec = TASKS[task]
        raise TaskNotAvailableError(
            f"the {spec.module} task ({spec.summary}) has no implementation installed in this version of "
            "radtriage; no result was produced"
        )
    from radtriage.tasks.options import validate_options

    options = {k: v for k, v in inputs.items() if k not in RUNNER_ARGUMENTS}
    if options:
        inputs = {**inputs, **validate_options(task, options)}
    from radtriage.validation import validate_inputs

    options = {k: v for k, v in inputs.items() if k not in RUNNER_ARGUMENTS}
    checked = validate_inputs(task, inputs.get("inputs") or {}, bundle=inputs.get("bundle"), options=options)
    if "inputs" in inputs:
        inputs = {**inputs, "inputs": checked.inputs}  # NaN/Inf set to 0, unusable series of a study left out
    result = runner(**inputs)
    if hasattr(result, "notices"):
        from radtriage.models.registry import skipped_bundle_notices

        result.notices.extend(skipped_bundle_notices(task, inputs.get("bundle")))
    if checked.contract is not None and hasattr(result, "notices"):
        result.notices.extend(n for n in checked.notices if n not in result.notices)
        if checked.notices or checked.skipped:
            result.outputs.setdefault("input_checks", checked.to_dict())
    return result
