"""The options of the ``mri_triage`` task (declared once; see :mod:`radtriage.tasks.options`)."""

from __future__ import annotations

from radtriage.tasks.options import Option

REGISTER_MODES = ("auto", "always", "never")
SALIENCY_CHOICES = ("auto", "evidence", "gradcam", "gradcam++", "occlusion", "none")
"""Heatmap methods; ``auto``: the bundle's (``radtriage.saliency_method``), else ``evidence`` for a network that
writes evidence maps, else ``occlusion``; ``none`` writes no heatmap."""
DEFAULT_SALIENCY = "auto"
FALLBACK_SALIENCY = "occlusion"
"""``auto`` for a bundle that names no method and has no evidence maps: on bundle 0.1.0 the method that points at
the lesion (``radtriage evaluate localisation``, 36 fresh analytic lesion phantoms: peak within 15 mm in 33 for
occlusion, 5 for Grad-CAM on the last layer)."""
OPERATING_POINTS = ("balanced", "default")
"""Operating points a bundle stores: thresholds tuned per output, or 0.5 for every output."""

OPTIONS: tuple[Option, ...] = (
    Option("operating_point", "choice", "balanced", "the bundle's thresholds to decide with",
           choices=OPERATING_POINTS),
    Option("decision_threshold", "float", None,
           "one probability threshold for every output instead of the operating point's", 0.0, 1.0, nullable=True),
    Option("register", "choice", "auto",
           "register series to the reference: auto (only when on another grid and frame of reference)",
           choices=REGISTER_MODES),
    Option("saliency", "choice", DEFAULT_SALIENCY, "heatmap method (none: no heatmaps)", choices=SALIENCY_CHOICES),
    Option("heatmaps", "bool", True, "write one heatmap per output"),
    Option("contrasts", "mapping", None, "contrast of input keys, e.g. {\"scan3\": \"FLAIR\"}", nullable=True),
)
