"""Abstention by design: the bundle declares the contrasts each brain-triage output needs; a study without them
gets "not assessable" for that output — no probability, no decision, never critical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radtriage.models.bundle import read_metadata
from radtriage.models.output_requirements import (
    DEFAULT_REQUIREMENTS,
    check_requirements,
    decision_text,
    output_requirements,
    probability_text,
    unassessable,
)
from radtriage.phantoms import make_brain_case
from radtriage.tasks.mri_triage import TriageModel, run, write_untrained_bundle

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_demo_bundle_declares_what_each_output_needs() -> None:
    meta = read_metadata(sorted((ROOT / "radtriage" / "bundles").glob("mri-triage-demo-*"))[-1])
    declared = meta.raw["radtriage"]["output_requirements"]
    assert {k: tuple(v) for k, v in declared.items()} == DEFAULT_REQUIREMENTS
    assert declared["acute_infarct"] == ["DWI", "ADC"] and declared["acute_haemorrhage"] == ["SWI"]


@pytest.mark.parametrize(("section", "problem"), [
    (["DWI"], "must map each output"),
    ({"acute_stroke": ["DWI"]}, "names 'acute_stroke', not one of the outputs"),
    ({"acute_infarct": []}, "must be a non-empty list"),
    ({"acute_infarct": ["PET"]}, "must be a non-empty list of the bundle's contrasts"),
])  # fmt: skip
def test_a_bad_declaration_is_named(section, problem: str) -> None:
    assert problem in check_requirements(section, ["abnormal", "acute_infarct"], ["T1", "DWI", "ADC"])


def test_a_bundle_with_a_bad_declaration_is_refused(tmp_path: Path) -> None:
    from radtriage.errors import RadTriageError

    folder = write_untrained_bundle(tmp_path / "mri-bad")
    meta_path = folder / "configs" / "metadata.json"
    raw = json.loads(meta_path.read_text())
    raw["radtriage"]["output_requirements"] = {"acute_infarct": ["PERFUSION"]}
    meta_path.write_text(json.dumps(raw))
    with pytest.raises(RadTriageError, match=r"output_requirements\.acute_infarct must be a non-empty list"):
        read_metadata(folder)


def test_reasons_name_what_is_needed_and_what_the_study_has() -> None:
    needs = output_requirements({"acute_haemorrhage": ["SWI"]}, ["abnormal", "acute_infarct", "acute_haemorrhage"])
    assert needs["acute_infarct"] == ("DWI", "ADC")  # not declared: the default
    assert unassessable(needs, ["T2", "FLAIR"]) == {"acute_infarct": "needs DWI or ADC; the study has FLAIR, T2",
                                                    "acute_haemorrhage": "needs SWI; the study has FLAIR, T2"}
    assert unassessable(needs, ["ADC", "SWI"]) == {
        "abnormal": "needs T1 or T1post or T2 or FLAIR; the study has ADC, SWI"}
    finding = {"probability": None, "decision": None, "reason": "needs SWI; the study has T2"}
    assert probability_text(finding) == "not assessable"
    assert decision_text(finding) == "not assessable (needs SWI; the study has T2)"
    assert (probability_text({"probability": 0.25}), decision_text({"decision": True})) == ("0.250", "positive")


@pytest.mark.parametrize(("contrasts", "missing"), [
    (["T1", "T2", "FLAIR"], {"acute_infarct", "acute_haemorrhage"}),   # a chronic stroke protocol
    (["DWI", "ADC"], {"abnormal", "acute_haemorrhage", "mass_effect"}),  # a stroke-code DWI only
    (["T2", "DWI", "ADC", "SWI"], set()),
])  # fmt: skip
def test_a_study_without_the_needed_contrasts_is_never_critical_on_those_outputs(
        tmp_path_factory: pytest.TempPathFactory, contrasts: list[str], missing: set[str]) -> None:
    model = TriageModel.from_bundle(write_untrained_bundle(tmp_path_factory.mktemp("b") / "mri-untrained",
                                                           thresholds=dict.fromkeys(DEFAULT_REQUIREMENTS, 0.0)), "cpu")
    case = make_brain_case(1, "infarct", shape=(32, 36, 28), spacing=(6.0, 6.0, 6.0), contrasts=contrasts)
    out = run(dict(case.images), model=model, saliency="none").outputs
    assert set(out["not_assessable"]) == missing
    assert set(out["probabilities"]) == set(out["decisions"]) == set(DEFAULT_REQUIREMENTS) - missing
    # every threshold is 0: each assessable output is positive, no unassessable one is
    assert set(out["urgency"]["critical_findings"]) == {"acute_infarct", "acute_haemorrhage", "mass_effect"} - missing
    assert out["urgency"]["complete"] == (not missing & {"acute_infarct", "acute_haemorrhage", "mass_effect"})


def test_the_review_panel_says_which_findings_are_not_assessable() -> None:
    from radtriage.review.label_controls import label_controls
    from radtriage.review.panel import hint_text

    outputs = {"probabilities": {"abnormal": 0.7, "mass_effect": 0.2}, "decisions": {"abnormal": True,
               "mass_effect": False}, "not_assessable": {"acute_infarct": "needs DWI or ADC; the study has T2"}}
    findings = next(c for c in label_controls("mri_triage", outputs) if c.kind == "multilabel")
    assert "not assessable: acute_infarct (needs DWI or ADC; the study has T2)" in hint_text(findings)
