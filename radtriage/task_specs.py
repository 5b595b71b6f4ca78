"""What each task is, as data: its name, the Slicer module that shows it and a one-line summary. The layers
below the task pipelines (bundles, I/O, the CLI's option tables) know tasks only through this table;
:mod:`radtriage.tasks` adds the runners."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its CLI name, the Slicer module that shows it, and a one-line summary."""

    name: str
    module: str
    summary: str


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "mri_triage",
            "MRITriage",
            "brain MRI: probability of abnormal, acute infarct, acute haemorrhage, mass effect",
        ),
        TaskSpec("cmb_detect", "CMBDetect", "cerebral microbleed detection on SWI/GRE"),
        TaskSpec("lge_certainty", "LGECertainty", "cardiac LGE likelihood 0-100 and low-certainty flag per slice"),
        TaskSpec("body_region", "BodyRegion", "per-slice body-region labels for CT (17) and MR (18)"),
    )
}
