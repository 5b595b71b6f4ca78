"""Temperature scaling and certainty banding of the LGE likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from radtriage.evaluation import certainty_classes
from radtriage.tasks.lge_certainty.calibration import (
    binary_nll,
    calibration_report,
    fit_temperature,
    likelihood_from_logits,
)
from radtriage.tasks.lge_certainty.certainty import LOW_CERTAINTY_HINT, CertaintyBand, band_slice


def _overconfident(n: int, seed: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(true logit); the 'model' reports factor x the true logit (miscalibrated)."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0.0, 2.0, n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-true_logit))).astype(int)
    return factor * true_logit, labels


def test_temperature_fit_reduces_nll_and_ece_on_miscalibrated_logits():
    z_fit, y_fit = _overconfident(4000, 0, 3.0)
    z_test, y_test = _overconfident(4000, 1, 3.0)
    t = fit_temperature(z_fit, y_fit)
    assert t == pytest.approx(3.0, rel=0.15)  # undoes the over-confidence
    report = calibration_report(z_test, y_test, t)
    assert report["after"]["nll"] < report["before"]["nll"]
    assert report["after"]["ece"] < 0.5 * report["before"]["ece"]
    assert binary_nll(z_test, y_test, t) == pytest.approx(report["after"]["nll"])


def test_underconfident_logits_get_temperature_below_one_and_ranking_is_kept():
    z, y = _overconfident(3000, 2, 0.4)
    t = fit_temperature(z, y)
    assert t < 0.6
    lik = likelihood_from_logits(z, t)
    assert np.all(np.diff(lik[np.argsort(z)]) >= 0)
    assert likelihood_from_logits(0.0, t) == pytest.approx(50.0)


def test_calibrated_logits_keep_temperature_near_one():
    z, y = _overconfident(4000, 3, 1.0)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.15)


def test_bad_calibration_input_is_refused():
    with pytest.raises(ValueError):
        fit_temperature([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError):
        likelihood_from_logits([0.0], 0.0)


@pytest.mark.parametrize(
    ("value", "certainty", "reading"),
    [
        (0.0, "high", "negative"),
        (29.99, "high", "negative"),
        (30.0, "low", "uncertain"),
        (50.0, "low", "uncertain"),
        (70.0, "low", "uncertain"),
        (70.01, "high", "positive"),
        (100.0, "high", "positive"),
    ],
)
def test_band_edges_are_inclusive(value, certainty, reading):
    call = band_slice(value, CertaintyBand(30, 70))
    assert (call.certainty, call.reading) == (certainty, reading)
    assert call.flag == (certainty == "low")
    assert call.hint == (LOW_CERTAINTY_HINT if call.flag else "")


def test_band_matches_the_evaluation_certainty_classes():
    values = np.array([0, 10, 29.99, 30, 45, 70, 70.01, 99])
    band = CertaintyBand(30, 70)
    ours = [band.reading(v) for v in values]
    theirs = certainty_classes(values, band.as_list())
    assert ours == [("negative", "uncertain", "positive")[c] for c in theirs]


def test_band_validation_and_rounding_at_edge():
    with pytest.raises(ValueError):
        CertaintyBand(70, 30)
    with pytest.raises(ValueError):
        band_slice(101.0, CertaintyBand())
    assert CertaintyBand.from_value(None).as_list() == [30.0, 70.0]
    assert CertaintyBand.from_value([20, 80]).is_low_certainty(20)
    call = band_slice(29.999, CertaintyBand(30, 70))  # shown as 30.0, so it must be banded as 30.0
    assert call.likelihood == 30.0 and call.certainty == "low"
