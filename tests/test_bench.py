"""``radtriage bench``: every task benchmark runs in its own process and reports stages, targets and memory."""

from __future__ import annotations

import pytest

from radtriage.bench import available_benchmarks, format_report, run_benchmarks
from radtriage.bench.body_region import _peer_comparison


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


def test_report_shows_the_peer_ratio_of_a_task():
    """The body-region peer comparison on a small phantom CT, as the benchmark makes it, and its report line."""
    from radtriage.nets.body_region import BodyRegionNet
    from radtriage.phantoms import make_body_case

    image = make_body_case(0, "CT", n_slices=6, size=(48, 48)).image
    peer = _peer_comparison(BodyRegionNet().eval(), image, "cpu", n_slices=2, repeats=1)
    assert "error" not in peer, peer.get("error")
    assert peer["n_slices"] == 2 and peer["ratio_ours_over_peer"] > 0
    res = {"task": "body_region", "stages_ms": {"inference": 1.0}, "peak_rss_mb": 100.0,
           "peak_rss_target_mb": 4096.0, "peers": {"body_region": peer}}
    text = format_report({"machine": {"platform": "test"}, "device": "cpu", "repeats": 1,
                          "results": {"body_region": res}})
    assert f"ratio ours/peer {peer['ratio_ours_over_peer']:.3f}" in text
