"""Reader agreement: Bland-Altman, intraclass correlation (ANOVA form), Cohen's kappa, certainty classes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from radtriage.evaluation.report import to_plain
from radtriage.evaluation.validation import (
    EvaluationError,
    as_vector,
    check_level,
    check_same_length,
    undefined,
)

CERTAINTY_CLASSES = ("negative", "uncertain", "positive")
KAPPA_WEIGHTS = (None, "linear", "quadratic")


def bland_altman(ratings_a: Any, ratings_b: Any, *, ci: float = 0.95) -> dict[str, Any]:
    """Bland-Altman analysis of ``a - b``: bias (mean difference) with its t interval, and 95 % limits of
    agreement bias ± 1.96·SD (SD with n-1) with their approximate CIs (SE = sqrt(3·SD²/n), Bland & Altman 1986)."""
    a = as_vector(ratings_a, "ratings_a")
    b = as_vector(ratings_b, "ratings_b")
    n = check_same_length(ratings_a=a, ratings_b=b)
    level = check_level(ci)
    diff = a - b
    mean = (a + b) / 2.0
    base = {"n": n, "means": mean, "differences": diff, "difference": "a - b"}
    if n < 2:
        return to_plain({**undefined("Bland-Altman needs at least 2 paired ratings"), **base})
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    t = float(stats.t.ppf(0.5 + level / 2.0, n - 1))
    se_bias = sd / math.sqrt(n)
    se_loa = math.sqrt(3.0 * sd**2 / n)
    loa_low, loa_high = bias - 1.96 * sd, bias + 1.96 * sd
    return to_plain(
        {
            "value": bias,
            "bias": bias,
            "sd_difference": sd,
            "loa_low": loa_low,
            "loa_high": loa_high,
            "loa_multiplier": 1.96,
            "ci_level": level,
            "bias_ci": [bias - t * se_bias, bias + t * se_bias],
            "loa_low_ci": [loa_low - t * se_loa, loa_low + t * se_loa],
            "loa_high_ci": [loa_high - t * se_loa, loa_high + t * se_loa],
            **base,
        }
    )


def _ratings_matrix(ratings: Any) -> np.ndarray:
    try:
        x = np.asarray(ratings, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"ratings: must be numbers ({exc})") from exc
    if x.ndim != 2:
        raise EvaluationError(f"ratings: expected a subjects x raters table, got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise EvaluationError(f"ratings: need at least 2 subjects and 2 raters, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise EvaluationError(f"ratings: {int((~np.isfinite(x)).sum())} value(s) are NaN or infinite")
    return x


NO_ERROR_VARIANCE = "error mean square is 0 (F statistic infinite); no F test or confidence interval"


def _icc_form(
    form: str, num: float, den: float, ms_effect: float, ms_error: float, df1: int, df2: int, k: int, q: float
) -> dict[str, Any]:
    """ICC = num / den with the F test ms_effect / ms_error and its F-based CI (Shrout & Fleiss 1979)."""
    if den <= 0.0:
        return {"form": form, **undefined("every rating is identical; the ICC is undefined")}
    out: dict[str, Any] = {"form": form, "value": num / den}
    if ms_error == 0.0:
        return {**out, "f": None, "p_value": None, "ci_low": None, "ci_high": None, "ci_reason": NO_ERROR_VARIANCE}
    f = ms_effect / ms_error
    fl, fu = f / stats.f.ppf(q, df1, df2), f * stats.f.ppf(q, df2, df1)
    return {
        **out,
        "f": f,
        "df1": df1,
        "df2": df2,
        "p_value": float(stats.f.sf(f, df1, df2)),
        "ci_low": (fl - 1) / (fl + k - 1),
        "ci_high": (fu - 1) / (fu + k - 1),
    }


def _icc2_1(bms: float, jms: float, ems: float, n: int, k: int, q: float) -> dict[str, Any]:
    """ICC(2,1) with its CI from Satterthwaite's approximate df (Shrout & Fleiss 1979)."""
    form = "ICC(2,1) two-way random, absolute agreement, single rater"
    den = bms + (k - 1) * ems + k * (jms - ems) / n
    if den <= 0.0:
        return {"form": form, **undefined("every rating is identical; the ICC is undefined")}
    r = (bms - ems) / den
    out: dict[str, Any] = {"form": form, "value": r}
    if ems == 0.0:
        return {**out, "f": None, "p_value": None, "ci_low": None, "ci_high": None, "ci_reason": NO_ERROR_VARIANCE}
    f, df1, df2 = bms / ems, n - 1, (n - 1) * (k - 1)
    fj = jms / ems
    a = n * (1 + (k - 1) * r) - k * r
    v = ((k - 1) * (n - 1) * (k * r * fj + a) ** 2) / ((n - 1) * k**2 * r**2 * fj**2 + a**2)
    f_star = stats.f.ppf(q, n - 1, v)
    f_2star = stats.f.ppf(q, v, n - 1)
    c = k * jms + (k * n - k - n) * ems
    return {
        **out,
        "f": f,
        "df1": df1,
        "df2": df2,
        "p_value": float(stats.f.sf(f, df1, df2)),
        "ci_low": n * (bms - f_star * ems) / (f_star * c + n * bms),
        "ci_high": n * (f_2star * bms - ems) / (c + n * f_2star * bms),
        "ci_df": float(v),
    }


def icc(ratings: Any, *, ci: float = 0.95) -> dict[str, Any]:
    """Single-rater intraclass correlations from the two-way ANOVA mean squares (Shrout & Fleiss 1979):
    ICC(1,1) one-way random; ICC(2,1) two-way random effects, absolute agreement; ICC(3,1) two-way mixed,
    consistency. ``ratings`` is a subjects x raters table. F-based CIs as in Shrout & Fleiss / McGraw & Wong."""
    x = _ratings_matrix(ratings)
    level = check_level(ci)
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ss_error = float((residual**2).sum())
    if ss_error <= 1e-12 * ss_total:  # rounding noise of an exact fit (e.g. a constant offset between raters)
        ss_error = 0.0
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    wms = (ss_cols + ss_error) / (n * (k - 1))
    anova = {"n_subjects": n, "n_raters": k, "bms": bms, "jms": jms, "ems": ems, "wms": wms}
    q = 0.5 + level / 2.0
    icc1 = _icc_form(
        "ICC(1,1) one-way random, single rater", bms - wms, bms + (k - 1) * wms, bms, wms, n - 1, n * (k - 1), k, q
    )
    icc3 = _icc_form(
        "ICC(3,1) two-way mixed, consistency, single rater",
        bms - ems,
        bms + (k - 1) * ems,
        bms,
        ems,
        n - 1,
        (n - 1) * (k - 1),
        k,
        q,
    )
    icc2 = _icc2_1(bms, jms, ems, n, k, q)
    return to_plain({"icc1_1": icc1, "icc2_1": icc2, "icc3_1": icc3, "ci_level": level, "anova": anova})


def cohen_kappa(
    labels_a: Any, labels_b: Any, n_classes: int | None = None, *, weights: str | None = None
) -> dict[str, Any]:
    """Cohen's kappa (sklearn ``cohen_kappa_score``) for two raters' integer class labels 0..n_classes-1:
    unweighted, or weighted by ``linear`` |i-j| or ``quadratic`` (i-j)² disagreement. Undefined (None +
    reason) when chance agreement is total: both raters used one and the same class throughout."""
    if weights not in KAPPA_WEIGHTS:
        raise EvaluationError(f"weights: must be one of {KAPPA_WEIGHTS}, got {weights!r}")
    a = as_vector(labels_a, "labels_a")
    b = as_vector(labels_b, "labels_b")
    n = check_same_length(labels_a=a, labels_b=b)
    both = np.concatenate([a, b])
    if not np.all(both == np.round(both)) or both.min() < 0:
        raise EvaluationError("kappa labels must be integer class indices >= 0")
    k = int(both.max()) + 1 if n_classes is None else int(n_classes)
    if both.max() >= k:
        raise EvaluationError(f"kappa labels must be below n_classes={k}")
    base = {"weights": weights or "none", "n": n, "observed_agreement": float(np.mean(a == b))}
    if np.unique(both).size == 1:  # the only case where chance disagreement is 0, for every weighting
        return {**undefined("chance disagreement is 0 (both raters used a single class)"), **base}
    value = cohen_kappa_score(a.astype(int), b.astype(int), labels=list(range(k)), weights=weights)
    return {"value": float(value), **base}


def certainty_classes(ratings: Any, band: Sequence[float], name: str = "ratings") -> np.ndarray:
    """0 = negative (rating < lo), 1 = uncertain (lo <= rating <= hi), 2 = positive (rating > hi)."""
    lo, hi = _band(band)
    r = as_vector(ratings, name)
    return np.where(r < lo, 0, np.where(r > hi, 2, 1)).astype(int)


def _band(band: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"certainty_band: expected (lo, hi), got {band!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise EvaluationError(f"certainty_band: need finite lo <= hi, got {band!r}")
    return lo, hi


def evaluate_agreement(
    ratings_a: Any,
    ratings_b: Any,
    certainty_band: Sequence[float] = (30.0, 70.0),
    *,
    ci: float = 0.95,
    scale: Sequence[float] = (0.0, 100.0),
) -> dict[str, Any]:
    """Agreement between two readers' 0-100 ratings of the same cases: Bland-Altman on the raw ratings,
    ICC(2,1) and ICC(3,1) (plus ICC(1,1)), and Cohen's kappa (unweighted and quadratic) on the certainty
    classes negative / uncertain / positive that ``certainty_band`` = (lo, hi) cuts the ratings into."""
    a = as_vector(ratings_a, "ratings_a")
    b = as_vector(ratings_b, "ratings_b")
    n = check_same_length(ratings_a=a, ratings_b=b)
    lo_scale, hi_scale = (float(v) for v in scale)
    for name, r in (("ratings_a", a), ("ratings_b", b)):
        if r.min() < lo_scale or r.max() > hi_scale:
            raise EvaluationError(
                f"{name}: ratings must lie in [{lo_scale:g}, {hi_scale:g}], found {r.min():g} to {r.max():g}"
            )
    band = _band(certainty_band)
    ca = certainty_classes(a, band, "ratings_a")
    cb = certainty_classes(b, band, "ratings_b")
    cm = np.zeros((3, 3), dtype=int)
    np.add.at(cm, (ca, cb), 1)
    icc_result: dict[str, Any] = (
        icc(np.column_stack([a, b]), ci=ci) if n >= 2 else {"reason": "ICC needs at least 2 subjects"}
    )
    result = {
        "kind": "agreement",
        "n": n,
        "certainty_band": list(band),
        "certainty_classes": list(CERTAINTY_CLASSES),
        "certainty_rule": "negative < lo <= uncertain <= hi < positive",
        "bland_altman": bland_altman(a, b, ci=ci),
        "icc": icc_result,
        "kappa": {
            "unweighted": cohen_kappa(ca, cb, 3),
            "quadratic": cohen_kappa(ca, cb, 3, weights="quadratic"),
        },
        "confusion_matrix": {
            "labels": list(CERTAINTY_CLASSES),
            "rows": "reader a",
            "columns": "reader b",
            "matrix": cm,
        },
    }
    return to_plain(result)
