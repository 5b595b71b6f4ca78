"""The continuous body-part score per slice and its jump QA."""

from __future__ import annotations

import numpy as np
import pytest

from radtriage.labelsets import CT_BODY_REGIONS, MR_BODY_REGIONS
from radtriage.tasks.body_region.score import BODY_HEIGHT_MM, body_part_score, class_positions, score_jumps


def test_class_positions_run_head_to_feet_along_the_axial_chain():
    for ls in (CT_BODY_REGIONS, MR_BODY_REGIONS):
        pos = class_positions(ls)
        axial = [pos[ls.index(n)] for n in ("head", "face", "neck", "shoulder", "chest", "abdomen", "pelvis", "hip",
                                             "thigh", "knee", "lower_leg", "ankle", "foot")]
        assert np.all(np.diff(axial) > 0) and axial[0] > 0 and axial[-1] < 1
        assert pos[ls.index("chest")] < pos[ls.index("upper_arm")] < pos[ls.index("hand")]


def test_score_is_expected_position_and_jumps_are_flagged():
    ls = CT_BODY_REGIONS
    names = ["chest"] * 5 + ["abdomen"] * 5 + ["knee"] + ["abdomen"] * 3 + ["pelvis"] * 4
    p = np.full((len(names), len(ls)), 1e-6)
    for k, n in enumerate(names):
        p[k, ls.index(n)] = 1.0
    p /= p.sum(axis=1, keepdims=True)
    score = body_part_score(p, ls)
    assert score[0] == pytest.approx(class_positions(ls)[ls.index("chest")], abs=1e-4)
    # head-to-feet order is slice order here; the knee slice jumps down and the next one back up
    assert score_jumps(score, np.arange(len(names)), 5.0) == [10, 11]
    # the same scan stored feet first: same slices flagged
    rev = score[::-1]
    assert sorted(score_jumps(rev, np.arange(len(names))[::-1], 5.0)) == sorted(len(names) - 1 - k for k in (10, 11))
    # a smooth head-to-feet change of one slice spacing is no jump
    ramp = np.arange(40) * 5.0 / BODY_HEIGHT_MM
    assert score_jumps(ramp, np.arange(40), 5.0) == []
    with pytest.raises(ValueError, match="probabilities"):
        body_part_score(np.ones((3, 4)), ls)


def test_runner_reports_the_score_per_slice():
    from radtriage.phantoms import make_body_case
    from radtriage.tasks import run_task

    case = make_body_case(3, "CT", start_region="chest", end_region="pelvis", size=(48, 48))
    out = run_task("body_region", inputs={"image": case.image}, device="cpu", modality="CT").outputs
    scores = [s["body_part_score"] for s in out["slices"]]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert isinstance(out["score_jumps"], list) and all(0 <= k < out["n_slices"] for k in out["score_jumps"])
