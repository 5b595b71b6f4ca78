"""Checks the modules' self-tests share: a background ``radtriage infer`` job on inputs written from the scene."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def jobInputs(argv: list[str]) -> dict[str, str]:
    """The job's ``--input`` values as {key: path}; a bare PATH gets the key ``image``."""
    start, end = argv.index("--input") + 1, argv.index("--output")
    inputs = {}
    for value in argv[start:end]:
        key, sep, path = value.partition("=")
        inputs.update({key: path} if sep else {"image": value})
    return inputs


def assertJobRunsTask(testCase: Any, job: Any, task: str, expected: Mapping[str, Any], timeout: float = 300) -> dict:
    """Assert ``job`` runs ``radtriage infer --task task``, wrote each input exactly as ``expected`` ({key: voxel
    array}), and succeeds with a ``result.json`` for that task; returns the result document."""
    import numpy as np

    from radtriage.io import read_volume

    testCase.assertEqual(job.argv[3:6], ["infer", "--task", task])
    written = jobInputs(job.argv)
    testCase.assertEqual(set(written), set(expected))
    for key, array in expected.items():
        np.testing.assert_allclose(read_volume(written[key]).array, array)
    state = job.wait(timeout=timeout)
    testCase.assertEqual(state.value, "succeeded", f"the job ended {state.value}: {job.error or job.stderr_tail}")
    from RadTriageCommonLib.job_files import readJobResult

    result = readJobResult(job.outputs)
    testCase.assertEqual(result["task"], task)
    return result


def assertDemoAnswer(testCase: Any, result: Any, task: str) -> None:
    """Assert an in-process ``TaskResult`` answers ``task`` with outputs and says it comes from a demo model."""
    testCase.assertEqual(result.task, task)  # the demo bundle is installed: run answers in process
    testCase.assertTrue(result.outputs)
    testCase.assertIn("demo, not for clinical use", " ".join(result.notices))


# -- dependencies of the self-tests (item 8: runnable in a clean Slicer) ------------------------------------------

INSTALL_ENVIRONMENT_VARIABLE = "RADTRIAGE_TEST_INSTALL_DEPENDENCIES"
"""Set to 1 to let a self-test install the missing Python packages (as the Apply button would) before it runs."""
SKIP_MARKER = "RadTriage self-test skipped"
"""Printed before a skip; the modules' CMakeLists give it to CTest as SKIP_REGULAR_EXPRESSION."""


def installAllowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the test runner allows installing packages (``RADTRIAGE_TEST_INSTALL_DEPENDENCIES=1``)."""
    import os

    value = (os.environ if environ is None else environ).get(INSTALL_ENVIRONMENT_VARIABLE, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def skipMessage(missing: list[str]) -> str:
    """The one line a skipped self-test prints: what is missing and how to let the test install it."""
    return (
        f"{SKIP_MARKER}: missing Python packages {', '.join(missing)}; install them from the module's Apply "
        f"button, or run the test with {INSTALL_ENVIRONMENT_VARIABLE}=1 to let it install them"
    )


def _missing() -> list[Any]:
    from radtriage.dependencies import missing_requirements

    return missing_requirements()


def _install(missing: list[Any]) -> None:
    """Install ``missing`` with the same plan as the first-use dialog, without asking (the runner allowed it)."""
    from radtriage.dependencies import install_plan

    from .dependencies_dialog import runPlan, torchUtilsLogic

    plan = install_plan(missing, has_torch_extension=torchUtilsLogic() is not None)
    runPlan(plan)


def requireDependencies(
    environ: Mapping[str, str] | None = None,
    missingFunction: Any = None,
    installFunction: Any = None,
    printFunction: Any = print,
) -> None:
    """Return when every dependency can be used; else install them (when allowed) or raise ``unittest.SkipTest``.

    A skip prints :data:`SKIP_MARKER` first (CTest reads it); an allowed install that still leaves packages
    missing fails the test (AssertionError), since the runner asked for a real run.
    """
    import unittest

    missingFunction = missingFunction or _missing
    try:
        missing = missingFunction()
    except ImportError as error:  # the core itself is not importable
        message = f"{SKIP_MARKER}: the radtriage core package cannot be imported ({error})"
        printFunction(message)
        raise unittest.SkipTest(message) from error
    if not missing:
        return
    names = [item.dependency.requirement for item in missing]
    if installAllowed(environ):
        (installFunction or _install)(missing)
        still = [item.dependency.requirement for item in missingFunction()]
        if still:
            raise AssertionError(
                f"installing {', '.join(names)} for the self-test left {', '.join(still)} missing: see the log above"
            )
        return
    message = skipMessage(names)
    printFunction(message)
    raise unittest.SkipTest(message)
