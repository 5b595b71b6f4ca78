"""MRITriage: brain MRI triage from any subset of 8 contrasts (core, Slicer-free).

* :mod:`.inputs` — load a study folder, assign inputs to contrast channels (user overrides), report missing ones;
* :mod:`.model` — :class:`TriageModel`: the bundle's network, grid, normalisation, operating points, saliency;
* :mod:`.pipeline` — ``run`` (registered as the ``mri_triage`` task): probabilities, decisions, urgency, native
  heatmaps ``heatmap_<output>``;
* :mod:`.worklist` — ``radtriage triage DIR``: rank every study of a folder, CSV/JSON worklist, Markdown reports;
* :mod:`.simulation` — replay arrival times through first-come vs triaged reading order;
* :mod:`.mrml` — results table and heatmap overlays under the study in a Slicer scene.
"""

from __future__ import annotations

from radtriage.tasks import register_runner
from radtriage.tasks.mri_triage.inputs import StudyContrasts, assign_study_contrasts, key_overrides, load_study
from radtriage.tasks.mri_triage.model import CRITICAL_OUTPUTS, DEMO_NOTICE, TASK, TriageModel, write_untrained_bundle
from radtriage.tasks.mri_triage.pipeline import HEATMAP_PREFIX, foreground_mask, prepare_study, run, urgency

register_runner(TASK, run)

__all__ = [
    "CRITICAL_OUTPUTS",
    "DEMO_NOTICE",
    "HEATMAP_PREFIX",
    "TASK",
    "StudyContrasts",
    "TriageModel",
    "assign_study_contrasts",
    "foreground_mask",
    "key_overrides",
    "load_study",
    "prepare_study",
    "run",
    "urgency",
    "write_untrained_bundle",
]
