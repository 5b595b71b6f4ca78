"""``radtriage bench``: every task benchmark runs in its own process and reports stages, targets and memory."""

from __future__ import annotations

import pytest

from radtriage.bench import available_benchmarks, format_report, run_benchmarks


def test_unknown_task_is_refused_with_the_available_list():
    with pytest.raises(ValueError, match="available"):
        run_benchmarks(["liver_volumetry"], repeats=1)


@pytest.mark.slow
def test_benchmarks_report_stages_targets_and_peak_memory():
    """Runs the two fast benchmarks through the harness (the others take minutes: `radtriage bench` runs them)."""
    assert set(available_benchmarks()) == {"mri_triage", "cmb_detect", "lge_certainty", "body_region"}
    tasks = ["lge_certainty", "body_region"]
    report = run_benchmarks(tasks, repeats=1)
    assert set(report["results"]) == set(tasks)
    for task, res in report["results"].items():
        assert "error" not in res, res.get("error")
        assert res["task"] == task
        assert res["stages_ms"] and all(v >= 0 for v in res["stages_ms"].values())
        assert 10 < res["peak_rss_mb"] < 64_000
    text = format_report(report)
    for task in tasks:
        assert task in text
    assert "peak RSS" in text
