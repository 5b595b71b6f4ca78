"""LGECertainty: per-slice cardiac LGE likelihood 0-100 with a high/low certainty class (core, Slicer-free).

* :mod:`.certainty` — the certainty band rule and the reader hint;
* :mod:`.calibration` — temperature scaling, NLL/ECE before and after;
* :mod:`.reformat` — long axis (user points or rough estimate) and short-axis reformat of 3D volumes;
* :mod:`.prep` — per-slice fixed-FOV resampling and percentile normalisation;
* :mod:`.scoring` — :class:`LgeSliceScorer` with ``score_slice`` (one slice as soon as it arrives);
* :mod:`.runner` — ``run`` registered as the ``lge_certainty`` task;
* :mod:`.ratings` — readers' rating sheets and the agreement report (``radtriage evaluate ratings``).
"""

from __future__ import annotations

from radtriage.tasks import register_runner
from radtriage.tasks.lge_certainty.certainty import (
    BAND_RULE,
    DEFAULT_CERTAINTY_BAND,
    LOW_CERTAINTY_HINT,
    CertaintyBand,
    SliceCall,
    band_slice,
)
from radtriage.tasks.lge_certainty.ratings import (
    RatingSheet,
    agreement_report,
)
from radtriage.tasks.lge_certainty.reformat import LongAxis, estimate_long_axis, reformat_to_short_axis
from radtriage.tasks.lge_certainty.runner import run
from radtriage.tasks.lge_certainty.scoring import LgeSliceScorer, SliceScore

register_runner("lge_certainty", run)

__all__ = [
    "BAND_RULE",
    "DEFAULT_CERTAINTY_BAND",
    "LOW_CERTAINTY_HINT",
    "CertaintyBand",
    "LgeSliceScorer",
    "LongAxis",
    "RatingSheet",
    "SliceCall",
    "SliceScore",
    "agreement_report",
    "band_slice",
    "estimate_long_axis",
    "reformat_to_short_axis",
    "run",
]
