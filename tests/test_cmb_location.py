"""CMBDetect location classes on a whole-head phantom whose anatomy (tissue map) is known."""

from __future__ import annotations

import numpy as np

from radtriage.image import Image
from radtriage.labelsets import BRAIN_TISSUE_LABELS
from radtriage.phantoms.brain import make_brain_case
from radtriage.tasks.cmb_detect import location_class, prepare_working_volume
from radtriage.tasks.cmb_detect.location import estimate_head_frame

LABEL = {name: value for value, name in BRAIN_TISSUE_LABELS.items()}


def test_rule_based_classes_match_the_phantom_anatomy_in_the_estimated_head_frame() -> None:
    case = make_brain_case(3, contrasts=["SWI"])  # 64 x 64 x 48 at 3 mm: the whole head, vertex included
    work = prepare_working_volume(case.reference, spacing=2.0)
    frame, why = estimate_head_frame(work.magnitude, work.grid)
    assert frame is not None, why
    tissue = case.tissue

    def classes(label: str) -> tuple[list[str], np.ndarray]:
        kji = np.argwhere(np.asarray(tissue.array) == LABEL[label])[::7]
        lps = tissue.index_to_lps(kji[:, ::-1].astype(float))
        return [location_class(p, frame) for p in lps], lps

    deep, _ = classes("deep_grey")  # thalamus, lentiform nucleus, caudate head
    assert len(deep) >= 5 and deep.count("deep") >= 0.9 * len(deep), {c: deep.count(c) for c in set(deep)}
    cortex, lps = classes("grey_matter")
    upper = [c for c, p in zip(cortex, lps, strict=True) if frame.vertex_z - p[2] < 35]  # convexity cortex
    assert upper and all(c == "lobar" for c in upper)
    assert cortex.count("lobar") > 0.7 * len(cortex)
    assert "unknown" not in cortex + deep
    # the same head cut to a patch (vertex and sides outside the field of view) has no frame: 'unknown'
    ref = case.reference
    patch = Image(np.ascontiguousarray(np.asarray(ref.array)[10:30, 20:44, 20:44]), ref.spacing, ref.origin,
                  ref.direction.copy())
    patch_work = prepare_working_volume(patch, spacing=2.0)
    frame2, why2 = estimate_head_frame(patch_work.magnitude, patch_work.grid)
    assert frame2 is None and why2
    assert location_class(lps[0], frame2) == "unknown"
