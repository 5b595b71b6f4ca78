"""Readers' rating sheets (one per reader, blinded flag, JSON sidecar) and the agreement report / CLI hook."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from radtriage.commands.evaluate import ratings as evaluate_ratings
from radtriage.errors import InputError
from radtriage.tasks.lge_certainty.ratings import (
    RatingSheet,
    agreement_report,
    paired_ratings,
    sidecar_path,
)


def _sheets(n: int = 20, seed: int = 0) -> tuple[RatingSheet, RatingSheet, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 100, n)
    a_vals = np.clip(truth + rng.normal(0, 5, n), 0, 100)
    b_vals = np.clip(truth + 4 + rng.normal(0, 5, n), 0, 100)
    a, b = RatingSheet("R1", blinded=True, series="sax"), RatingSheet("R2", blinded=False, series="sax")
    for k in range(n):
        a.rate(k, a_vals[k])
        b.rate(k, b_vals[k])
    return a, b, a_vals, b_vals


def test_sheet_round_trip_and_refusals(tmp_path):
    a, _, a_vals, _ = _sheets(5)
    path = a.save(sidecar_path(tmp_path / "series.nii.gz", a.reader))
    assert path.name == "series.ratings.R1.json"
    back = RatingSheet.load(path)
    assert back.reader == "R1" and back.blinded is True and back.certainty_band == (30.0, 70.0)
    assert back.rating(3) == pytest.approx(a_vals[3]) and back.rating("99") is None
    assert back.ratings["0"]["time"] == a.ratings["0"]["time"]
    with pytest.raises(ValueError):
        a.rate(1, 101)
    with pytest.raises(ValueError):
        RatingSheet("Doe, John")  # reader codes, never names
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match=r"bad\.json"):
        RatingSheet.load(bad)
    with pytest.raises(InputError, match="not found"):
        RatingSheet.load(tmp_path / "missing.json")


def test_readers_are_kept_apart_and_paired_on_common_slices():
    a, b, _, _ = _sheets(6)
    b.ratings.pop("2")
    keys, ra, rb = paired_ratings(a, b)
    assert keys == ["0", "1", "3", "4", "5"]
    assert ra == [a.rating(k) for k in keys] and rb == [b.rating(k) for k in keys]
    with pytest.raises(ValueError, match="two different readers"):
        paired_ratings(a, RatingSheet("R1"))


def test_agreement_maths():
    a, b, a_vals, b_vals = _sheets(40)
    report = agreement_report(a, b)
    ba = report["bland_altman"]
    assert ba["bias"] == pytest.approx(float(np.mean(a_vals - b_vals)))
    assert ba["loa_high"] - ba["loa_low"] == pytest.approx(2 * 1.96 * np.std(a_vals - b_vals, ddof=1))
    assert report["icc"]["icc2_1"]["value"] > 0.8  # readers track the same truth
    assert report["kappa"]["unweighted"]["value"] is not None
    assert report["reader_a"] == "R1" and report["blinded_a"] and not report["blinded_b"]
    assert not report["both_blinded"]
    same = RatingSheet("R3")
    for k, entry in a.ratings.items():
        same.rate(k, entry["rating"])
    perfect = agreement_report(a, same)
    assert perfect["bland_altman"]["bias"] == pytest.approx(0.0)
    assert perfect["kappa"]["unweighted"]["value"] == pytest.approx(1.0)


def test_evaluate_ratings_command_writes_json_and_plots(tmp_path):
    a, b, _, _ = _sheets(15)
    pa, pb = a.save(tmp_path / "a.json"), b.save(tmp_path / "b.json")
    parser = evaluate_ratings.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--a", str(pa), "--b", str(pb), "--out", str(tmp_path / "out"), "--band", "25", "75"])
    assert evaluate_ratings.run(args) == 0
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert report["certainty_band"] == [25.0, 75.0] and report["n"] == 15
    assert (tmp_path / "out" / "bland_altman.png").stat().st_size > 1000
    assert (tmp_path / "out" / "certainty_agreement.png").is_file()
    lonely = RatingSheet("R9")
    lonely.rate(0, 50)
    args = parser.parse_args(["--a", str(pa), "--b", str(lonely.save(tmp_path / "c.json")), "--out", str(tmp_path)])
    with pytest.raises(InputError, match="need at least 2"):
        evaluate_ratings.run(args)
