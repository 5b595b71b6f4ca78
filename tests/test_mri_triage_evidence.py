"""``radtriage evaluate triage``: fresh-phantom metrics per contrast subset, not-assessable outputs, and the
counterfactual ablation (an untrained bundle on a coarse grid: the machinery, not the model's quality)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from radtriage.tasks.mri_triage import TriageModel, evidence, write_untrained_bundle

COARSE = {"shape": (24, 28, 24), "spacing": (8.0, 8.0, 8.0)}


@pytest.fixture(scope="module")
def records_and_model(tmp_path_factory):
    folder = write_untrained_bundle(tmp_path_factory.mktemp("evidence") / "mri-untrained", size=16, spacing=12.0)
    model = TriageModel.from_bundle(folder, "cpu")
    return evidence.run_phantoms(model, 4, first_seed=4242, grid=COARSE), model


def test_every_subset_is_run_and_counterfactuals_exist_for_lesion_cases(records_and_model) -> None:
    records, _ = records_and_model
    assert len(records) == 4
    for rec in records:
        assert set(rec["probabilities"]) == set(evidence.SUBSETS)
        for probs in rec["probabilities"].values():
            assert all(0.0 <= p <= 1.0 for p in probs.values())
        assert ("acute_infarct" in rec["counterfactual"]) == ("infarct" in rec["findings"])
        assert ("acute_haemorrhage" in rec["counterfactual"]) == ("haemorrhage" in rec["findings"])
    infarct = next(r for r in records if "infarct" in r["findings"])
    assert set(infarct["counterfactual"]["acute_infarct"]) == set(evidence.COUNTERFACTUALS["acute_infarct"])
    assert infarct["infarct_volume_ml"] > 0


def test_summary_says_not_assessable_where_the_subset_lacks_the_needed_contrasts(records_and_model) -> None:
    records, model = records_and_model
    summary = evidence.summarise(records, model.thresholds, model.requirements, n_bootstrap=50)
    t2 = summary["subsets"]["T2 only"]
    assert t2["acute_infarct"]["status"] == "not assessable" and "DWI" in t2["acute_infarct"]["reason"]
    assert t2["acute_haemorrhage"]["status"] == "not assessable"
    assert "roc_auc" in t2["abnormal"] and "roc_auc" in summary["subsets"]["all contrasts"]["acute_infarct"]
    assert summary["subsets"]["without SWI"]["acute_haemorrhage"]["status"] == "not assessable"
    assert "roc_auc" in summary["subsets"]["without SWI"]["acute_infarct"]
    positives = summary["subsets"]["all contrasts"]["acute_infarct"]["positives"]
    assert positives == sum(r["labels"]["acute_infarct"] for r in records)
    assert sum(v.get("of", 0) for v in summary["infarct_sensitivity_by_volume"].values()) == positives
    text = evidence.markdown(summary)
    assert "| T2 only | acute_infarct | not assessable" in text
    assert "seed AUC (Nael et al. 2021" in text
    row = next(line for line in text.splitlines() if line.startswith("| all contrasts | acute_infarct |"))
    assert row.rstrip().endswith("| 0.950 |")  # the seed paper's acute-infarct AUC beside ours
    assert "DWI+ADC without the lesion" in text


def test_the_counterfactual_swaps_only_the_named_contrasts(records_and_model) -> None:
    """The model sees the lesion-free twin's DWI/ADC and the original T2: predictions follow the swapped input."""
    _, model = records_and_model
    from radtriage.phantoms.brain_mni import make_mni_brain_case

    sick = make_mni_brain_case(7, "infarct", **COARSE)
    twin = make_mni_brain_case(7, "normal", **COARSE)
    mixed = {c: (twin.images[c] if c in ("DWI", "ADC") else sick.images[c]) for c in sick.images}
    p_twin_dwi = evidence.predict_images(model, mixed)
    p_twin = evidence.predict_images(model, twin.images)
    p_sick = evidence.predict_images(model, sick.images)
    assert p_twin_dwi != p_sick and p_twin_dwi != p_twin  # a real mix of both cases
    assert np.isclose(evidence.predict_images(model, sick.images)["abnormal"], p_sick["abnormal"])


def test_cli_refuses_too_few_phantoms_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "radtriage", "evaluate", "triage", "--phantoms", "2",
                           "--output", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--phantoms 2" in proc.stderr and not list(tmp_path.iterdir())
