"""Evaluation metrics for the four tasks and for reader agreement, with PNG plots and a JSON summary.

One function per task kind returns a plain-JSON dictionary (``kind`` says which); ``write_plots`` and
``write_summary`` turn it into files. Metrics that cannot be computed are ``None`` with a ``reason``;
unusable input raises ``EvaluationError`` (a ``ValueError``) naming the argument and the problem.
"""

from radtriage.evaluation.agreement import (
    CERTAINTY_CLASSES,
    bland_altman,
    certainty_classes,
    cohen_kappa,
    evaluate_agreement,
    icc,
)
from radtriage.evaluation.calibration import reliability_bins
from radtriage.evaluation.classification import (
    evaluate_binary,
    evaluate_multiclass,
    rates_at_threshold,
    roc_auc_with_ci,
    youden_point,
)
from radtriage.evaluation.detection import FP_RATES, Detection, Lesion, evaluate_detection, froc_curve
from radtriage.evaluation.plots import (
    plot_bland_altman,
    plot_confusion_matrix,
    plot_froc,
    plot_reliability,
    plot_roc,
    write_plots,
)
from radtriage.evaluation.report import to_plain, write_summary
from radtriage.evaluation.validation import EvaluationError

__all__ = [
    "CERTAINTY_CLASSES",
    "FP_RATES",
    "Detection",
    "EvaluationError",
    "Lesion",
    "bland_altman",
    "certainty_classes",
    "cohen_kappa",
    "evaluate_agreement",
    "evaluate_binary",
    "evaluate_detection",
    "evaluate_multiclass",
    "froc_curve",
    "icc",
    "plot_bland_altman",
    "plot_confusion_matrix",
    "plot_froc",
    "plot_reliability",
    "plot_roc",
    "rates_at_threshold",
    "reliability_bins",
    "roc_auc_with_ci",
    "to_plain",
    "write_plots",
    "write_summary",
    "youden_point",
]
