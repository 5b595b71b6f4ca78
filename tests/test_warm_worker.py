"""The warm worker: front ends' ``radtriage infer`` runs go to one long-lived process that keeps bundles loaded,
gives the one-shot answers and refusals, survives a crashed or cancelled job, and is given up for one-shot
processes when it cannot start."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from radtriage.io import write_volume
from radtriage.phantoms import make_lge_stack
from radtriage.runtime.infer_command import infer_argv
from radtriage.runtime.runner import BackgroundJob, JobState
from radtriage.runtime.warm_worker import MAX_REQUEST_BYTES, parse_request
from radtriage.runtime.worker_client import (
    WarmWorker,
    WorkerJob,
    start_job,
    warm_worker_enabled,
    worker_command,
)


@pytest.fixture(scope="module")
def lge_slices(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lge") / "lge.nii.gz"
    write_volume(make_lge_stack(4, n_slices=8)[0], path)
    return path


@pytest.fixture(scope="module")
def worker():
    w = WarmWorker().start()
    assert w.wait_ready(180), "the worker did not become ready"
    yield w
    w.close()


def _argv(path: Path | str, task: str = "lge_certainty") -> list[str]:
    return infer_argv(task, str(path), device="cpu", progress="json")


def _likelihoods(folder: Path) -> list[float]:
    result = json.loads((folder / "result.json").read_text())
    return [s["likelihood"] for s in result["outputs"]["slices"]]


def test_jobs_on_one_warm_worker_give_the_one_shot_answer(worker, lge_slices, tmp_path):
    oneshot = BackgroundJob(_argv(lge_slices), tmp_path / "oneshot").start()
    pid = worker.pid
    jobs = [worker.job(_argv(lge_slices), tmp_path / f"warm{i}").start() for i in range(2)]  # queued, one at a time
    assert [job.wait(120) for job in jobs] == [JobState.SUCCEEDED] * 2
    assert oneshot.wait(180) is JobState.SUCCEEDED
    assert worker.pid == pid  # the same process served both: nothing re-imported, the bundle kept
    expected = _likelihoods(tmp_path / "oneshot")
    assert _likelihoods(tmp_path / "warm0") == _likelihoods(tmp_path / "warm1") == expected
    events = jobs[0].poll()  # everything since start (wait() left them queued)
    assert any(e.kind == "progress" for e in events) and events[-1].kind == "finished"
    assert events[-1].data["state"] == "succeeded" and "result" in events[-1].data["outputs"]
    assert not any(p.name.startswith(".radtriage-partial-") for p in (tmp_path / "warm0").iterdir())


def test_a_refused_input_fails_its_job_with_the_one_line_reason_and_the_worker_goes_on(worker, lge_slices, tmp_path):
    pid = worker.pid
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(lge_slices.read_bytes()[:300])
    job = worker.job(_argv(bad), tmp_path / "bad").start()
    assert job.wait(120) is JobState.FAILED
    assert str(bad) in job.error and "Traceback" not in job.error
    assert not (tmp_path / "bad" / "result.json").exists()
    assert worker.job(_argv(lge_slices), tmp_path / "next").start().wait(120) is JobState.SUCCEEDED
    assert worker.pid == pid


def test_cancel_stops_the_job_at_once_and_a_fresh_worker_takes_the_next(worker, lge_slices, tmp_path):
    first = worker.job(_argv(lge_slices), tmp_path / "running").start()
    queued = worker.job(_argv(lge_slices), tmp_path / "queued").start()
    queued.cancel()  # still waiting: just taken off the queue
    assert queued.state is JobState.CANCELLED
    old = worker.pid
    first.cancel()
    assert first.state is JobState.CANCELLED and first.error == "cancelled"
    assert old is not None and worker.pid != old and not _alive(old)
    assert list((tmp_path / "running").iterdir()) == []  # the staged output is gone
    assert worker.job(_argv(lge_slices), tmp_path / "after").start().wait(180) is JobState.SUCCEEDED


def test_a_worker_that_dies_mid_job_fails_that_job_and_is_restarted(worker, lge_slices, tmp_path):
    job = worker.job(_argv(lge_slices), tmp_path / "crashed").start()
    os.kill(worker.pid, signal.SIGKILL)  # at once: a warm run takes a tenth of a second
    assert job.wait(60) is JobState.FAILED and "worker stopped" in job.error
    assert worker.job(_argv(lge_slices), tmp_path / "after").start().wait(180) is JobState.SUCCEEDED


def test_a_worker_that_cannot_start_is_given_up_for_one_shot_processes(monkeypatch, lge_slices, tmp_path):
    import radtriage.runtime.worker_client as client

    monkeypatch.setattr(client, "job_python", lambda: "/bin/false")
    broken = WarmWorker()
    for i in range(client.START_FAILURES_BEFORE_FALLBACK):
        job = broken.job(_argv(lge_slices), tmp_path / f"try{i}").start()
        assert job.wait(30) is JobState.FAILED and "worker" in job.error
    assert not broken.usable
    monkeypatch.setattr(client, "shared_worker", lambda env=None: broken)
    fallback = start_job(_argv(lge_slices), tmp_path / "fallback")
    assert isinstance(fallback, BackgroundJob) and fallback.wait(180) is JobState.SUCCEEDED


def test_start_job_routes_infer_to_the_worker_and_everything_else_to_one_shot(monkeypatch, tmp_path):
    argv = _argv("x.nii.gz")
    assert worker_command(argv) == argv[3:]
    assert worker_command([argv[0], "-m", "radtriage", "train", "--help"]) is None
    assert worker_command([argv[0], "-c", "print(1)"]) is None
    assert warm_worker_enabled({}) and not warm_worker_enabled({"RADTRIAGE_WARM_WORKER": "0"})
    monkeypatch.setenv("RADTRIAGE_WARM_WORKER", "0")
    job = start_job([argv[0], "-c", "print(1)"], tmp_path / "other")
    assert isinstance(job, BackgroundJob) and job.wait(30) is JobState.SUCCEEDED
    assert isinstance(start_job(argv, tmp_path / "off"), BackgroundJob)
    with pytest.raises(ValueError, match="runs only radtriage infer"):
        WorkerJob(WarmWorker(), [argv[0], "-c", "print(1)"], tmp_path)


@pytest.mark.parametrize(("request_line", "problem"), [
    ('{"op": "run", "id": "a", "argv": ["train", "--help"]}', "runs only infer"),
    ('{"op": "run", "id": "a", "argv": ["infer"], "env": {"LD_PRELOAD": "x.so"}}', "may set only"),
    ('{"op": "run", "id": "", "argv": ["infer"]}', "non-empty string id"),
    ('{"op": "run", "id": "a", "argv": "infer"}', "list of strings"),
    ('{"op": "shell", "cmd": "rm"}', "must be"),
    ('{"op": "run", "id": "a", "argv": ["infer", "' + "x" * MAX_REQUEST_BYTES + '"]}', "longer than"),
])
def test_the_worker_refuses_any_request_but_an_infer_run(request_line, problem):
    with pytest.raises(ValueError, match=problem):
        parse_request(request_line)
    assert parse_request('{"op": "run", "id": "a", "argv": ["infer", "--task", "x"]}')["id"] == "a"


def test_release_drops_the_loaded_bundles(worker):
    from radtriage.models import safe_load
    from radtriage.runtime.warm_worker import DEFAULT_BUNDLES_KEPT, release_memory

    safe_load.keep_loaded_bundles(DEFAULT_BUNDLES_KEPT)
    safe_load._CACHE["stand-in"] = object()
    assert release_memory() is False  # no GPU here: nothing to give back to a driver
    assert "stand-in" not in safe_load._CACHE and safe_load._CACHE_SIZE == DEFAULT_BUNDLES_KEPT
    safe_load.keep_loaded_bundles(0)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
