"""``radtriage triage``: folder -> ranked worklist (CSV/JSON/Markdown); reading-order simulation."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from radtriage.commands import simulate as simulate_command
from radtriage.commands import triage as triage_command
from radtriage.errors import InputError
from radtriage.io import write_volume
from radtriage.phantoms import make_brain_case
from radtriage.tasks.mri_triage import TriageModel, write_untrained_bundle
from radtriage.tasks.mri_triage.simulation import (
    Arrival,
    compare_orders,
    read_arrivals,
    simulate,
)
from radtriage.tasks.mri_triage.worklist import find_studies, triage_folder

# Probabilities the stub model returns, keyed by how many contrasts a study has (a property the test controls).
# The first n of _CONTRASTS: T2 alone leaves acute infarct (needs DWI/ADC) and acute haemorrhage (needs SWI) not
# assessable, so its 0.8 infarct "probability" must never make the study critical.
_BY_COUNT = {
    1: {"abnormal": 0.5, "acute_infarct": 0.8, "acute_haemorrhage": 0.1, "mass_effect": 0.1},  # incomplete
    2: {"abnormal": 0.9, "acute_infarct": 0.2, "acute_haemorrhage": 0.9, "mass_effect": 0.3},  # incomplete (no SWI)
    3: {"abnormal": 0.1, "acute_infarct": 0.1, "acute_haemorrhage": 0.1, "mass_effect": 0.1},  # routine
    4: {"abnormal": 0.6, "acute_infarct": 0.1, "acute_haemorrhage": 0.7, "mass_effect": 0.2},  # critical
}
_CONTRASTS = ("T2", "DWI", "SWI", "FLAIR")


class StubModel(TriageModel):
    """The real pipeline around fixed answers (the network is real but its output is replaced)."""

    def predict(self, x: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        return dict(_BY_COUNT[int(np.sum(mask))])


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> StubModel:
    folder = write_untrained_bundle(tmp_path_factory.mktemp("b") / "mri-triage-untrained")
    real = TriageModel.from_bundle(folder, "cpu")
    return StubModel(**{k: getattr(real, k) for k in real.__dataclass_fields__})


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("studies")
    case = make_brain_case(11, "normal", shape=(24, 28, 20), spacing=(8.0, 8.0, 8.0), contrasts=list(_CONTRASTS))
    for name, count in [("a_one", 1), ("b_two", 2), ("c_three", 3), ("d_four", 4)]:
        for contrast in _CONTRASTS[:count]:
            write_volume(case.images[contrast], root / name / f"{contrast}.nii.gz")
    (root / "e_broken").mkdir()
    (root / "e_broken" / "notes.txt").write_text("no images here")
    write_volume(case.images["T2"], root / "f_single_T2.nii.gz")  # a volume file directly in the folder
    return root


def test_find_studies(studies: Path) -> None:
    assert list(find_studies(studies)) == ["a_one", "b_two", "c_three", "d_four", "e_broken", "f_single_T2"]


def test_worklist_ranks_critical_first_then_failed_then_by_abnormal(studies: Path, stub: StubModel,
                                                                    tmp_path: Path) -> None:
    entries = triage_folder(studies, tmp_path / "out", model=stub)
    order = [e.study for e in entries]
    # critical: d (haemorrhage 0.7 with SWI); then the failed study; then the incomplete ones (a critical output
    # not assessable) by P(abnormal): b 0.9, a and f 0.5 (one contrast -> the same answer; folder order breaks the
    # tie); then routine: c (every output assessable, all low)
    assert order == ["d_four", "e_broken", "b_two", "a_one", "f_single_T2", "c_three"]
    assert [e.status for e in entries] == ["critical", "failed", "incomplete", "incomplete", "incomplete", "routine"]
    rows = list(csv.DictReader((tmp_path / "out" / "worklist.csv").open()))
    assert [r["study"] for r in rows] == order and [int(r["rank"]) for r in rows] == list(range(1, 7))
    d = rows[0]
    assert d["critical_findings"] == "acute_haemorrhage" and float(d["p_acute_haemorrhage"]) == 0.7
    assert d["missing_contrasts"] == "T1;T1post;ADC;other"
    assert rows[1]["status"] == "failed" and "no volume files or DICOM" in rows[1]["error"]
    a = rows[3]
    assert a["study"] == "a_one" and a["p_acute_infarct"] == a["p_acute_haemorrhage"] == "not assessable"
    assert a["acute_infarct_positive"] == "" and a["critical_findings"] == ""
    assert "acute_infarct: needs DWI or ADC; the study has T2" in a["not_assessable"]
    b = rows[2]  # haemorrhage 0.9 from the network, but no SWI: never a decision
    assert b["p_acute_haemorrhage"] == "not assessable" and float(b["p_acute_infarct"]) == 0.2
    doc = json.loads((tmp_path / "out" / "worklist.json").read_text())
    assert [s["study"] for s in doc["studies"]] == order
    assert any("demo, not for clinical use" in n for n in doc["studies"][0]["notices"])
    report = (tmp_path / "out" / "reports" / "d_four.md").read_text()
    assert "Worklist rank: 1" in report and "| acute_haemorrhage | 0.700 |" in report and "**positive**" in report
    assert "Could not be triaged" in (tmp_path / "out" / "reports" / "e_broken.md").read_text()
    report_a = (tmp_path / "out" / "reports" / "a_one.md").read_text()
    assert "| acute_infarct | not assessable | 0.500 | not assessable (needs DWI or ADC" in report_a


def test_worklist_command_functions(studies: Path, stub: StubModel, tmp_path: Path, monkeypatch, capsys) -> None:
    parser = triage_command.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([str(studies), "--output", str(tmp_path / "wl"), "--contrast", "T2=T2"])
    monkeypatch.setattr(TriageModel, "from_bundle", classmethod(lambda cls, *a, **k: stub))
    assert triage_command.run(args) == 1  # e_broken could not be triaged
    captured = capsys.readouterr()
    assert "d_four" in captured.out and "1 of 6 studies could not be triaged" in captured.err
    assert (tmp_path / "wl" / "worklist.csv").is_file()
    # the simulation reads urgency from the worklist it wrote
    arrivals = tmp_path / "arrivals.csv"
    arrivals.write_text("study,arrival_time,abnormal\nc_three,0,0\nb_two,1,0\nf_single_T2,2,0\nd_four,3,1\n"
                        "a_one,4,1\n")
    sim = simulate_command.add_arguments(argparse.ArgumentParser()).parse_args(
        [str(arrivals), "--worklist", str(tmp_path / "wl" / "worklist.csv"), "--reading-minutes", "10",
         "--json-out", str(tmp_path / "sim.json")])
    assert simulate_command.run(sim) == 0
    result = json.loads((tmp_path / "sim.json").read_text())
    assert result["triage"]["abnormal"]["mean"] < result["fifo"]["abnormal"]["mean"]


def test_triage_shortens_time_to_report_for_abnormal_studies() -> None:
    """Four normal studies arrive just before an abnormal one; one reader, 10 minutes per study.

    First come: the abnormal study (arrives at 4) waits for all four normals -> reported at 50 (46 minutes).
    Triaged: when the reader finishes the first normal at 10, the abnormal is the most urgent -> reported at 20.
    """
    arrivals = [Arrival(f"n{i}", float(i), False, 0.1) for i in range(4)] + [Arrival("abn", 4.0, True, 1.9)]
    fifo, tri = simulate(arrivals, "fifo", 10.0), simulate(arrivals, "triage", 10.0)
    assert fifo["abn"] == 50.0 and tri["abn"] == 20.0
    cmp = compare_orders(arrivals, 10.0)
    assert cmp["fifo"]["abnormal"]["mean"] == 46.0 and cmp["triage"]["abnormal"]["mean"] == 16.0
    assert cmp["abnormal_mean_saved_minutes"] == 30.0
    # every study is read exactly once and the total work is the same in both orders
    assert sorted(fifo.values()) == sorted(tri.values()) == [10.0, 20.0, 30.0, 40.0, 50.0]
    # two readers: the abnormal study starts as soon as a reader frees up (at 10) in both orders here
    two = compare_orders(arrivals, 10.0, readers=2)
    assert two["triage"]["abnormal"]["mean"] <= two["fifo"]["abnormal"]["mean"]
    assert max(simulate(arrivals, "fifo", 10.0, readers=2).values()) == 30.0


def test_read_arrivals_date_times_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("study,arrival_time,truth_abnormal,urgency\ns1,2024-01-01T08:30:00,1,1.5\n"
                    "s0,2024-01-01T08:00:00,0,0.2\n")
    arrivals = read_arrivals(path)
    assert [(a.study, a.arrival, a.abnormal) for a in arrivals] == [("s0", 0.0, False), ("s1", 30.0, True)]
    path.write_text("study,arrival_time,abnormal\ns1,0,1\n")
    with pytest.raises(InputError, match="no urgency"):
        read_arrivals(path)
    assert read_arrivals(path, {"s1": 1.0})[0].urgency == 1.0
    path.write_text("study,arrival,abnormal\ns1,0,1\n")
    with pytest.raises(InputError, match="needs columns"):
        read_arrivals(path)
    with pytest.raises(ValueError):
        simulate([Arrival("x", 0.0, True)], "lifo")
