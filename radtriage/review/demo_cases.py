"""A small demo case list made of phantoms, one or two cases per task, so a new reader can try the review loop
(Slicer's CaseReview module, ``radtriage serve``) without any real data. Demo only, not for clinical use."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from radtriage.review.case_inputs import CASE_MANIFEST

log = logging.getLogger(__name__)

DEMO_MARKER = ".radtriage-demo-cases"


def _demo_plan(seed: int) -> list[tuple[str, str, Callable[[Path], object], dict[str, str] | None]]:
    """(case id, task, writer, explicit inputs or None to take every non-mask volume in the folder)."""
    from radtriage.phantom_export import export_body, export_brain, export_lge, export_swi

    return [
        ("01-brain-infarct", "mri_triage", lambda d: export_brain(d, seed, "infarct"), None),
        ("02-brain-normal", "mri_triage", lambda d: export_brain(d, seed + 1, "normal"), None),
        ("03-swi-microbleeds", "cmb_detect", lambda d: export_swi(d, seed + 2, n_microbleeds=6,
                                                               n_mimics={"vessel": 2, "calcification": 1}),
         {"MAGNITUDE": "swi_magnitude.nii.gz", "PHASE": "swi_phase.nii.gz"}),
        ("04-lge-stack", "lge_certainty", lambda d: export_lge(d, seed + 3), {"LGE": "lge_sax.nii.gz"}),
        ("05-body-ct", "body_region", lambda d: export_body(d, seed + 4, "CT"), {"CT": "body_ct.nii.gz"}),
    ]


def build_demo_cases(folder: str | Path, seed: int = 0) -> Path:
    """Write the demo cases under ``folder`` (one sub-folder per case with a ``case.json``) and return ``folder``,
    ready for :func:`radtriage.annotations.open_case_list`. Does nothing when they were already built with
    this seed."""
    folder = Path(folder)
    marker = folder / DEMO_MARKER
    if marker.is_file() and marker.read_text().strip() == str(seed):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for case_id, task, write, inputs in _demo_plan(seed):
        case_dir = folder / case_id
        write(case_dir)
        if inputs is not None and "PHASE" in inputs and not (case_dir / inputs["PHASE"]).is_file():
            inputs = {k: v for k, v in inputs.items() if k != "PHASE"}
        manifest = {"task": task, "demo": "phantom case, not for clinical use"}
        if inputs is not None:
            manifest["inputs"] = inputs
        (case_dir / CASE_MANIFEST).write_text(json.dumps(manifest, indent=2))
    marker.write_text(str(seed))
    log.info("demo case list written")
    return folder
