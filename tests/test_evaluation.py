"""Tests of radtriage.evaluation against known values, sklearn, published ICC examples and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.stats import bootstrap as scipy_bootstrap
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from radtriage.evaluation import (
    Detection,
    EvaluationError,
    Lesion,
    bland_altman,
    certainty_classes,
    cohen_kappa,
    evaluate_agreement,
    evaluate_binary,
    evaluate_detection,
    evaluate_multiclass,
    icc,
    reliability_bins,
    roc_auc_with_ci,
    write_plots,
    write_summary,
)
from radtriage.evaluation.classification import bootstrap_auc

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
# McGraw & Wong (1996), Table 6: 10 subjects, 2 raters.
MCGRAW_WONG = [[103, 119], [82, 65], [116, 106], [102, 102], [99, 105], [98, 100], [104, 107], [62, 85], [97, 101],
               [107, 110]]  # fmt: skip


def _scored(n: int, seed: int, separation: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels with scores ~ N(separation * y, 1), squashed to (0, 1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    z = rng.normal(separation * y, 1.0)
    return y, 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- binary


def test_perfect_and_inverted_scorers():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    s = np.where(y == 1, 0.8, 0.2) + np.linspace(0, 0.1, 8)
    perfect = evaluate_binary(y, s, threshold=0.5)
    assert perfect["roc_auc"]["value"] == 1.0
    assert perfect["roc_auc"]["ci_low"] == perfect["roc_auc"]["ci_high"] == 1.0
    assert perfect["youden"]["j"] == 1.0
    assert perfect["operating_point"]["sensitivity"]["value"] == 1.0
    assert perfect["operating_point"]["specificity"]["value"] == 1.0
    inverted = evaluate_binary(y, 1.0 - s, threshold=0.5)
    assert inverted["roc_auc"]["value"] == 0.0
    assert inverted["roc_auc"]["ci_high"] == 0.0
    assert inverted["operating_point"]["sensitivity"]["value"] == 0.0


def test_random_scorer_auc_near_half():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 3000)
    auc = roc_auc_with_ci(y, rng.random(3000), n_bootstrap=500, seed=1)
    assert abs(auc["value"] - 0.5) < 0.04
    assert auc["ci_low"] < 0.5 < auc["ci_high"]


def test_auc_matches_sklearn_and_the_bootstrap_is_scipys_with_a_sklearn_statistic():
    y, s = _scored(80, seed=3)
    s = np.round(s, 1)  # many ties
    assert roc_auc_with_ci(y, s, n_bootstrap=10)["value"] == pytest.approx(roc_auc_score(y, s))
    pos, neg = s[y == 1], s[y == 0]

    def sklearn_auc(p, n):
        return roc_auc_score(np.r_[np.ones(p.size), np.zeros(n.size)], np.r_[p, n])

    # the same seeded, stratified draws scored one by one with sklearn: the same distribution and BCa interval
    ref = scipy_bootstrap((pos, neg), sklearn_auc, n_resamples=40, vectorized=False, method="BCa",
                          rng=np.random.default_rng(5))
    assert bootstrap_auc(y, s, n_bootstrap=40, seed=5) == pytest.approx(ref.bootstrap_distribution)
    ours = roc_auc_with_ci(y, s, n_bootstrap=40, seed=5)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((ref.confidence_interval.low,
                                                               ref.confidence_interval.high))
    assert ours["ci_method"].startswith("stratified BCa")


def test_bootstrap_ci_contains_estimate_narrows_with_n_and_is_seeded():
    widths = []
    for n in (60, 600):
        y, s = _scored(n, seed=11)
        auc = roc_auc_with_ci(y, s, n_bootstrap=1000, seed=2)
        assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
        widths.append(auc["ci_high"] - auc["ci_low"])
    assert widths[1] < 0.6 * widths[0]
    y, s = _scored(60, seed=11)
    first = roc_auc_with_ci(y, s, n_bootstrap=300, seed=4)
    assert roc_auc_with_ci(y, s, n_bootstrap=300, seed=4) == first
    assert roc_auc_with_ci(y, s, n_bootstrap=300, seed=5)["ci_low"] != first["ci_low"]


def test_stratified_bootstrap_keeps_a_single_positive():
    y = np.array([1] + [0] * 9)
    s = np.linspace(0, 1, 10)[::-1]
    aucs = bootstrap_auc(y, s, n_bootstrap=200, seed=0)
    assert np.all(np.isfinite(aucs))
    assert aucs.min() == 1.0  # the lone positive is always drawn and always outranks every negative


def test_operating_point_and_confusion_matrix_by_hand():
    y = [0, 0, 1, 1, 1, 0]
    s = [0.1, 0.6, 0.4, 0.7, 0.9, 0.5]  # 0.5 equals the threshold: called positive
    m = evaluate_binary(y, s, threshold=0.5, names=["no bleed", "bleed"])
    op = m["operating_point"]
    assert (op["tp"], op["fp"], op["tn"], op["fn"]) == (2, 2, 1, 1)
    assert op["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert op["specificity"]["value"] == pytest.approx(1 / 3)
    assert op["sensitivity"]["ci_low"] < 2 / 3 < op["sensitivity"]["ci_high"]
    expected = confusion_matrix(y, (np.array(s) >= 0.5).astype(int), labels=[0, 1]).tolist()
    assert m["confusion_matrix"]["matrix"] == expected == [[1, 2], [1, 2]]
    assert m["confusion_matrix"]["labels"] == ["no bleed", "bleed"]


def test_youden_threshold_is_the_best_of_all_thresholds():
    y, s = _scored(120, seed=21, separation=1.5)
    m = evaluate_binary(y, s, threshold=0.5, n_bootstrap=0)
    best = max(np.mean(s[y == 1] >= t) + np.mean(s[y == 0] < t) - 1 for t in np.unique(s))
    assert m["youden"]["j"] == pytest.approx(best)
    yd = m["youden"]
    assert yd["sensitivity"]["value"] + yd["specificity"]["value"] - 1 == pytest.approx(best)
    assert m["roc_auc"]["ci_low"] is None and "disabled" in m["roc_auc"]["ci_reason"]


def test_one_class_gives_null_auc_with_reason_not_a_crash():
    m = evaluate_binary([0, 0, 0, 0], [0.1, 0.2, 0.7, 0.3], threshold=0.5)
    assert m["roc_auc"]["value"] is None and "only negative" in m["roc_auc"]["reason"]
    assert m["youden"]["value"] is None
    assert m["operating_point"]["sensitivity"]["value"] is None
    assert m["operating_point"]["specificity"]["value"] == 0.75
    assert m["roc_curve"]["value"] is None
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([], [], "empty"),
        ([0, 1, 1], [0.2, 0.4], "mismatched lengths"),
        ([0, 1], [0.2, float("nan")], "NaN"),
        ([0, 2], [0.2, 0.3], "0 or 1"),
        ([0, 1], ["a", "b"], "numbers"),
    ],
)
def test_bad_binary_input_raises_clear_error(y, s, message):
    with pytest.raises(EvaluationError, match=message):
        evaluate_binary(y, s, threshold=0.5)


def test_binary_bad_threshold_and_names():
    with pytest.raises(EvaluationError, match="threshold"):
        evaluate_binary([0, 1], [0.1, 0.9], threshold=float("nan"))
    with pytest.raises(EvaluationError, match="expected 2 names"):
        evaluate_binary([0, 1], [0.1, 0.9], threshold=0.5, names=["a", "b", "c"])


# ---------------------------------------------------------------- calibration


def test_calibration_ece_known_values():
    y = [1, 0, 0, 0] * 5 + [1, 1, 1, 0] * 5
    p = [0.25] * 20 + [0.75] * 20
    calibrated = reliability_bins(y, p, n_bins=10)
    assert calibrated["ece"] == pytest.approx(0.0, abs=1e-12)
    assert sum(b["count"] for b in calibrated["bins"]) == 40
    overconfident = reliability_bins([1, 0] * 10, [0.9] * 20, n_bins=5)
    assert overconfident["ece"] == pytest.approx(0.4)
    assert overconfident["brier"] == pytest.approx(0.5 * 0.01 + 0.5 * 0.81)
    full = [b for b in overconfident["bins"] if b["count"]]
    assert len(full) == 1 and full[0]["lower"] == pytest.approx(0.8)


def test_calibration_of_non_probabilities_is_null_with_reason():
    result = reliability_bins([0, 1, 1], [-2.0, 0.5, 3.0])
    assert result["ece"] is None and "not probabilities" in result["reason"]


# ---------------------------------------------------------------- multi-class


def test_multiclass_matches_sklearn_and_handles_absent_class():
    names = ["head", "neck", "chest", "abdomen", "pelvis"]
    rng = np.random.default_rng(4)
    t = rng.integers(0, 4, 200)  # "pelvis" never occurs in truth ...
    p = np.where(rng.random(200) < 0.7, t, rng.integers(0, 4, 200))  # ... nor in prediction
    m = evaluate_multiclass(t, p, names)
    assert m["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert m["confusion_matrix"]["matrix"] == confusion_matrix(t, p, labels=range(5)).tolist()
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=range(4), zero_division=0)
    for i in range(4):
        row = m["per_class"][i]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (prec[i], rec[i], f1[i], sup[i])
        )
        cm = confusion_matrix(t == i, p == i)
        assert row["accuracy"] == pytest.approx(np.trace(cm) / 200)
    pelvis = m["per_class"][4]
    assert pelvis["recall"] is None and pelvis["precision"] is None
    assert "no true cases" in pelvis["undefined"]["recall"]
    assert m["balanced_accuracy_classes"] == 4
    assert m["kappa"]["value"] == pytest.approx(cohen_kappa_score(t, p))
    by_name = evaluate_multiclass([names[i] for i in t], [names[i] for i in p], names)
    assert by_name == m
    json.dumps(m, allow_nan=False)


def test_multiclass_bad_labels():
    with pytest.raises(EvaluationError, match="not in class_names"):
        evaluate_multiclass(["a", "z"], ["a", "a"], ["a", "b"])
    with pytest.raises(EvaluationError, match=r"integers 0\.\.1"):
        evaluate_multiclass([0, 2], [0, 1], ["a", "b"])
    with pytest.raises(EvaluationError, match="mismatched"):
        evaluate_multiclass([0, 1, 1], [0, 1], ["a", "b"])


# ---------------------------------------------------------------- detection


def _small_froc_case():
    """Two scans, three lesions; hand-computed below."""
    detections = [
        [(0.5, 0, 0, 0.9), (1, 0, 0, 0.8), (50, 0, 0, 0.7), (20, 3, 0, 0.6)],
        [Detection((5, 0, 0), 0.5), {"center": (0, 0, 100), "score": 0.95}],
    ]
    truth = [
        [{"center": (0, 0, 0), "radius_mm": 2}, (20, 0, 0)],
        [Lesion((0, 0, 0), radius_mm=6.0)],
    ]
    return detections, truth


def test_froc_hand_computed_case():
    # By score: 0.95 FP (scan 2, far away); 0.9 TP (lesion 1); 0.8 FP (duplicate of lesion 1);
    # 0.7 FP; 0.6 TP (3 mm from lesion 2, within 4 mm); 0.5 TP (5 mm from lesion 3, inside its 6 mm radius).
    detections, truth = _small_froc_case()
    m = evaluate_detection(detections, truth, match_mm=4.0, fp_rates=(0.5, 1.0, 1.25, 2.0))
    froc = m["froc"]
    assert (froc["n_scans"], froc["n_lesions"], froc["n_detections"]) == (2, 3, 6)
    assert (froc["n_true_positive"], froc["n_false_positive"]) == (3, 3)
    assert froc["fp_per_scan"] == [0.0, 0.5, 0.5, 1.0, 1.5, 1.5, 1.5]
    assert froc["sensitivity"] == pytest.approx([0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    assert froc["thresholds"] == [None, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    at = {p["fp_per_scan"]: p for p in m["sensitivity_at_fp"]}
    assert at[0.5]["sensitivity"] == pytest.approx(1 / 3)
    assert at[1.0]["sensitivity"] == pytest.approx(1 / 3)
    assert at[1.25]["sensitivity"] == pytest.approx(2 / 3)  # halfway from (1, 1/3) to (1.5, 1)
    assert at[2.0]["sensitivity"] == 1.0 and at[2.0]["reached"] is False
    assert m["mean_sensitivity"]["value"] == pytest.approx((1 / 3 + 1 / 3 + 2 / 3 + 1) / 4)


def test_match_radius_distance_and_duplicates():
    truth = [[(0, 0, 0), (10, 0, 0, 1.0)]]
    # exactly at match_mm is a hit; the second detection near lesion 0 also reaches lesion 1 (within 4 mm of
    # its centre) and takes it instead of being a duplicate; the third is a duplicate -> FP
    dets = [[(4, 0, 0, 0.9), (7, 0, 0, 0.8), (0, 0, 1, 0.7)]]
    froc = evaluate_detection(dets, truth, match_mm=4.0)["froc"]
    assert (froc["n_true_positive"], froc["n_false_positive"]) == (2, 1)
    # with 2 mm and lesion 1's 1 mm radius, (7,0,0) reaches neither lesion
    froc = evaluate_detection(dets, truth, match_mm=2.0)["froc"]
    assert (froc["n_true_positive"], froc["n_false_positive"]) == (1, 2)


def test_detection_keyed_by_scan_and_degenerate_inputs():
    truth = {"s1": [(0, 0, 0)], "s2": [], "s3": [(5, 5, 5)]}
    m = evaluate_detection({"s1": [(0, 0, 1, 0.9)]}, truth, match_mm=2)
    assert m["froc"]["n_scans"] == 3 and m["froc"]["sensitivity"][-1] == 0.5
    with pytest.raises(EvaluationError, match="no ground truth entry"):
        evaluate_detection({"s9": []}, truth, match_mm=2)
    with pytest.raises(EvaluationError, match="mismatched lengths"):
        evaluate_detection([[]], [[], []], match_mm=2)
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate_detection([[(0, 0, 0, float("nan"))]], [[]], match_mm=2)
    with pytest.raises(EvaluationError, match="no scans"):
        evaluate_detection([], [], match_mm=2)
    with pytest.raises(EvaluationError, match="match_mm"):
        evaluate_detection([[]], [[]], match_mm=-1)
    no_lesions = evaluate_detection([[(0, 0, 0, 0.3)]], [[]], match_mm=2)
    assert no_lesions["froc"]["sensitivity"] is None
    assert "no ground-truth lesions" in no_lesions["mean_sensitivity"]["reason"]
    json.dumps(no_lesions, allow_nan=False)


# ---------------------------------------------------------------- agreement


def test_icc_shrout_fleiss_table2():
    r = icc(SHROUT_FLEISS)
    # Shrout & Fleiss (1979): ICC(1,1)=0.17, ICC(2,1)=0.29, ICC(3,1)=0.71; CIs as printed by R psych::ICC
    assert round(r["icc1_1"]["value"], 2) == 0.17
    assert round(r["icc2_1"]["value"], 2) == 0.29
    assert round(r["icc3_1"]["value"], 2) == 0.71
    assert (r["icc2_1"]["ci_low"], r["icc2_1"]["ci_high"]) == pytest.approx((0.019, 0.76), abs=0.005)
    assert (r["icc3_1"]["ci_low"], r["icc3_1"]["ci_high"]) == pytest.approx((0.342, 0.95), abs=0.005)
    assert (r["icc1_1"]["ci_low"], r["icc1_1"]["ci_high"]) == pytest.approx((-0.133, 0.72), abs=0.005)
    assert r["icc3_1"]["f"] == pytest.approx(11.03, abs=0.01)


def test_icc_two_raters_mcgraw_wong():
    r = icc(MCGRAW_WONG)
    # McGraw & Wong (1996) Table 6, R DescTools::ICC: ICC2 0.720 [0.228, 0.922], ICC3 0.714 [0.197, 0.920]
    assert (r["icc2_1"]["value"], r["icc2_1"]["ci_low"], r["icc2_1"]["ci_high"]) == pytest.approx(
        (0.720, 0.228, 0.922), abs=0.0015
    )
    assert (r["icc3_1"]["value"], r["icc3_1"]["ci_low"], r["icc3_1"]["ci_high"]) == pytest.approx(
        (0.714, 0.197, 0.920), abs=0.0015
    )


def test_icc_constant_offset_and_identical_ratings():
    a = np.array([10.0, 20.0, 35.0, 60.0])
    offset = icc(np.column_stack([a, a + 5]))
    assert offset["icc3_1"]["value"] == pytest.approx(1.0)  # perfectly consistent ...
    assert offset["icc2_1"]["value"] < 1.0  # ... but not in absolute agreement
    assert offset["icc3_1"]["ci_low"] is None and "error mean square is 0" in offset["icc3_1"]["ci_reason"]
    flat = icc([[3, 3], [3, 3], [3, 3]])
    assert flat["icc2_1"]["value"] is None and "identical" in flat["icc2_1"]["reason"]
    with pytest.raises(EvaluationError, match="subjects x raters"):
        icc([1, 2, 3])
    with pytest.raises(EvaluationError, match="NaN"):
        icc([[1, 2], [np.nan, 3]])


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_sklearn(weights):
    rng = np.random.default_rng(12)
    a = rng.integers(0, 3, 150)
    b = np.where(rng.random(150) < 0.6, a, rng.integers(0, 3, 150))
    assert cohen_kappa(a, b, 3, weights=weights)["value"] == pytest.approx(cohen_kappa_score(a, b, weights=weights))


def test_kappa_degenerate_and_perfect():
    assert cohen_kappa([1, 1, 1], [1, 1, 1], 3)["value"] is None
    assert cohen_kappa([0, 1, 2, 2], [0, 1, 2, 2], 3, weights="quadratic")["value"] == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="weights"):
        cohen_kappa([0, 1], [0, 1], weights="cubic")


def test_bland_altman_known_bias_and_limits():
    a = np.linspace(10, 90, 20)
    b = a + 3.0 + np.tile([2.0, -2.0], 10)  # differences a - b are -5, -1, -5, -1, ...: bias -3
    ba = bland_altman(a, b)
    sd = 2.0 * math.sqrt(20 / 19)
    assert ba["bias"] == pytest.approx(-3.0)
    assert ba["sd_difference"] == pytest.approx(sd)
    assert (ba["loa_low"], ba["loa_high"]) == pytest.approx((-3 - 1.96 * sd, -3 + 1.96 * sd))
    assert ba["bias_ci"][0] < -3.0 < ba["bias_ci"][1]
    assert ba["loa_low_ci"][0] < ba["loa_low"] < ba["loa_low_ci"][1]
    assert len(ba["means"]) == 20


def test_certainty_classes_band_edges_inclusive():
    assert certainty_classes([0, 29.9, 30, 50, 70, 70.1, 100], (30, 70)).tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_evaluate_agreement_end_to_end():
    rng = np.random.default_rng(8)
    a = rng.uniform(0, 100, 80)
    b = np.clip(a - 4 + rng.normal(0, 6, 80), 0, 100)
    m = evaluate_agreement(a, b, certainty_band=(30, 70))
    assert m["bland_altman"]["bias"] == pytest.approx(float(np.mean(a - b)))
    assert m["icc"]["icc2_1"]["value"] == pytest.approx(icc(np.column_stack([a, b]))["icc2_1"]["value"])
    assert 0.8 < m["icc"]["icc3_1"]["value"] <= 1.0
    ca, cb = certainty_classes(a, (30, 70)), certainty_classes(b, (30, 70))
    assert m["kappa"]["unweighted"]["value"] == pytest.approx(cohen_kappa_score(ca, cb))
    assert m["kappa"]["quadratic"]["value"] == pytest.approx(cohen_kappa_score(ca, cb, weights="quadratic"))
    assert np.sum(m["confusion_matrix"]["matrix"]) == 80
    json.dumps(m, allow_nan=False)


def test_evaluate_agreement_bad_input():
    with pytest.raises(EvaluationError, match=r"\[0, 100\]"):
        evaluate_agreement([10, 120], [10, 20])
    with pytest.raises(EvaluationError, match="mismatched"):
        evaluate_agreement([10, 20, 30], [10, 20])
    with pytest.raises(EvaluationError, match="certainty_band"):
        evaluate_agreement([10, 20], [10, 20], certainty_band=(70, 30))
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate_agreement([10, float("nan")], [10, 20])


# ---------------------------------------------------------------- files


def test_write_summary_is_plain_json(tmp_path):
    y, s = _scored(50, seed=1)
    m = evaluate_binary(y, s, threshold=0.5, n_bootstrap=100)
    metrics = {"mri_triage": {"abnormal": m}, "extra": {"np": np.float32(0.5), "arr": np.arange(3), "nan": np.nan}}
    path = write_summary(metrics, tmp_path / "out")
    loaded = json.loads(path.read_text())
    assert loaded["extra"] == {"np": 0.5, "arr": [0, 1, 2], "nan": None}
    assert loaded["mri_triage"]["abnormal"]["roc_curve"]["thresholds"][0] is None  # sklearn's +inf
    assert loaded["mri_triage"]["abnormal"]["roc_auc"] == m["roc_auc"]
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()


def _assert_png(path, min_bytes=8000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > min_bytes
    image = imread(path)
    assert image.shape[0] >= 300 and image.shape[1] >= 300
    assert float(image[..., :3].std()) > 0.02  # not a blank canvas


def test_plots_are_written_for_every_kind(tmp_path):
    y, s = _scored(120, seed=2, separation=1.5)
    binary = evaluate_binary(y, s, threshold=0.5, n_bootstrap=200)
    detections, truth = _small_froc_case()
    written = [
        *write_plots(binary, tmp_path, prefix="bin_"),
        *write_plots(evaluate_multiclass([0, 1, 2, 1], [0, 2, 2, 1], ["a", "b", "c"]), tmp_path, prefix="mc_"),
        *write_plots(evaluate_detection(detections, truth, 4.0), tmp_path),
        *write_plots(evaluate_agreement(np.linspace(0, 100, 30), np.linspace(5, 95, 30)), tmp_path),
    ]
    names = sorted(p.name for p in written)
    assert names == sorted([
        "bin_roc.png", "bin_confusion_matrix.png", "bin_reliability.png", "mc_confusion_matrix.png", "froc.png",
        "bland_altman.png", "certainty_agreement.png",
    ])  # fmt: skip
    for path in written:
        _assert_png(path)


def test_undefined_plots_are_skipped(tmp_path):
    m = evaluate_binary([1, 1, 1], [0.2, 0.9, 0.7], threshold=0.5)
    names = sorted(p.name for p in write_plots(m, tmp_path))
    assert names == ["confusion_matrix.png", "reliability.png"]  # no ROC with one class
    with pytest.raises(EvaluationError, match="no plots"):
        write_plots({"kind": "other"}, tmp_path)
