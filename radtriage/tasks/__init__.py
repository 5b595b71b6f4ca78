"""The four reading-aid tasks and the one entry point every front end calls.

Each task registers a runner here when its implementation lands; until then
``run_task`` refuses clearly instead of producing anything that looks like a result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from radtriage.errors import RadTriageError


class TaskNotAvailableError(RadTriageError):
    """The task exists in the project's plan but has no implementation or model installed."""


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its CLI name, the Slicer module that shows it, and a one-line summary."""

    name: str
    module: str
    summary: str


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "mri_triage",
            "MRITriage",
            "brain MRI: probability of abnormal, acute infarct, acute haemorrhage, mass effect",
        ),
        TaskSpec("cmb_detect", "CMBDetect", "cerebral microbleed detection on SWI/GRE"),
        TaskSpec("lge_certainty", "LGECertainty", "cardiac LGE likelihood 0-100 and low-certainty flag per slice"),
        TaskSpec("body_region", "BodyRegion", "per-slice body-region labels for CT (17) and MR (18)"),
    )
}

_RUNNERS: dict[str, Callable[..., Any]] = {}


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

    The contract every runner follows: ``runner(inputs: dict[str, Image], *, bundle: str | None, device: str,
    progress: Callable[[float, str], None] | None, **options) -> TaskResult`` (see ``radtriage.tasks.result``).
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
    return runner(**inputs)
