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
