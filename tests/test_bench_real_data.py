"""The bench on real public scans: timed end to end when present, reported as skipped (naming what is missing)
when not — on generated data and, when ../shared/data is there, on a real CT series."""

from __future__ import annotations

from pathlib import Path

import pytest

from radtriage.bench import format_report
from radtriage.bench.real_data import REAL_CASES, bench_real_case


def test_a_generated_study_is_timed_stage_by_stage(tmp_path: Path) -> None:
    from radtriage.io import write_volume
    from radtriage.phantoms import make_lge_stack

    stack, _ = make_lge_stack(3, n_slices=4)
    write_volume(stack, tmp_path / "cardiac" / "lge.nii.gz")
    cases = {"lge_certainty": {"LGE": "cardiac/lge.nii.gz"}}
    report = bench_real_case("lge_certainty", tmp_path, repeats=2, cases=cases)
    assert set(report["stages_ms"]) == {"decode", "task", "write"}
    assert all(v > 0 for v in report["stages_ms"].values())
    assert report["end_to_end_ms"] == pytest.approx(sum(report["stages_ms"].values()), abs=0.05)
    assert report["size"] == list(stack.size) and report["bundle"]["demo"] is True


def test_missing_data_is_skipped_with_the_reason(tmp_path: Path) -> None:
    missing = bench_real_case("lge_certainty", tmp_path, repeats=1)
    assert "not present" in missing["skipped"] and REAL_CASES["lge_certainty"]["LGE"] in missing["skipped"]
    assert "no real study" in bench_real_case("lge_certainty", tmp_path, cases={})["skipped"]
    text = format_report({"machine": {"platform": "test"}, "device": "cpu", "repeats": 1, "results": {
        "lge_certainty": {"stages_ms": {}, "peak_rss_mb": 1.0, "peak_rss_target_mb": 4096.0,
                          "real_data": missing}}})
    assert "real data: not present" in text


@pytest.mark.slow
def test_real_ct_series_is_timed_when_present(shared_data: Path) -> None:
    report = bench_real_case("body_region", shared_data, repeats=1)
    assert report["size"][2] > 50 and report["stages_ms"]["task"] > 0
