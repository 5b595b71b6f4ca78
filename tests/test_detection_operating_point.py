"""Detection metrics at the operating point, as detection papers report them (per-subject sensitivity, FP per
subject, precision, F1, subject-level balanced accuracy), on a hand-counted example."""

from __future__ import annotations

import pytest

from radtriage.evaluation.detection import operating_point_metrics


def test_metrics_match_a_hand_count() -> None:
    truth = {"a": [(0, 0, 0), (20, 0, 0)],  # two lesions, one found, one false positive
             "b": [(0, 0, 0)],              # one lesion, found
             "c": [],                        # no lesion, nothing reported: true negative subject
             "d": []}                        # no lesion, one false positive: false positive subject
    reported = {"a": [(0.5, 0, 0, 1.0), (50, 0, 0, 1.0)], "b": [(1, 0, 0, 1.0)], "c": [], "d": [(5, 5, 5, 1.0)]}
    m = operating_point_metrics(reported, truth, match_mm=2.0)
    assert (m["n_subjects"], m["n_lesions"], m["n_reported"]) == (4, 3, 4)
    assert m["lesion_sensitivity"]["value"] == pytest.approx(2 / 3)
    assert m["mean_subject_sensitivity"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["fp_per_subject"] == pytest.approx(2 / 4)
    assert m["precision"]["value"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * (0.5 * 2 / 3) / (0.5 + 2 / 3))
    subject = m["subject_level"]
    assert subject["confusion"] == {"tp": 2, "fn": 0, "tn": 1, "fp": 1}
    assert subject["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert subject["sensitivity"]["ci_method"] == "Wilson score"


def test_nothing_reported_on_lesion_free_subjects_is_undefined_where_it_must_be() -> None:
    m = operating_point_metrics({"a": [], "b": []}, {"a": [], "b": []}, match_mm=2.0)
    assert m["lesion_sensitivity"]["value"] is None and m["f1"] is None
    assert m["subject_level"]["specificity"]["value"] == 1.0 and m["subject_level"]["balanced_accuracy"] is None
