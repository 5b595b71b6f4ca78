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
        assert "front_end_error" not in res, res.get("front_end_error")
        assert 0 < res["front_end_latency_s"] < res["cold_start_s"] and res["infer_in_process_s"] > 0
        assert res["front_end_ratio"] == pytest.approx(res["front_end_latency_s"] / res["end_to_end_s"], rel=0.02)
        assert res["front_end_meets_target"] == (res["front_end_ratio"] <= 1.5)
    text = format_report(report)
    assert text.count("front end (warm worker) / in process") == len(tasks)
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


def test_the_node_benchmark_reports_its_targets_with_yes_or_no():
    from radtriage.bench.dicom_node import format_node_report, node_targets

    rows = {"whole study (brain, 3 tasks)": {"last_instance_to_sr_in_pacs_s": 9.4, "task_s": 8.0, "error": ""},
            "lge_certainty (lge, per slice of 10)": {"last_instance_to_sr_in_pacs_s": 1.2, "task_s": 0.6, "error": "",
                                                     "median_s": 0.3}}
    failed = {"? (brain)": {"error": "no result within 600 s"}}
    targets = node_targets({"first": rows, "second": failed})
    assert targets["brain (first study)"] == {"seconds": 9.4, "limit_s": 10.0, "met": True}
    assert targets["lge (first study)"]["met"] is False  # the slowest slice took longer than 1 s
    assert targets["brain (second study)"] == {"seconds": None, "limit_s": 10.0, "met": False}
    report = {"pacs": "Orthanc", "quiet_s": 1.0, "device": "cpu", "lge_slice_gap_s": 1.0, "warm_up_s": 5.0,
              "rounds": {"first": rows}, "targets": targets}
    text = format_node_report(report)
    assert "brain (first study)" in text and "9.40 s <= 10 s: yes" in text and "1.20 s <= 1 s: NO" in text


def test_a_benchmark_times_the_installed_bundle_or_says_it_times_an_untrained_network():
    from types import SimpleNamespace

    from radtriage.bench.pipelines import UNTRAINED, bundle_or_untrained
    from radtriage.models import BundleNotFoundError

    installed = SimpleNamespace(bundle_info={"name": "demo", "version": "1.2.0"})
    assert bundle_or_untrained(lambda d: installed, lambda dev: None, "cpu") == (installed, "demo 1.2.0")

    def missing(device):
        raise BundleNotFoundError("no bundle for this task")

    pipeline, source = bundle_or_untrained(missing, lambda dev: ("untrained on", str(dev)), "cpu")
    assert pipeline == ("untrained on", "cpu") and source == UNTRAINED
