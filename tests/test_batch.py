"""``radtriage batch``: results and rows per case, resume, failures recorded, store labels, decode overlap, Dask."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from radtriage.annotations import open_store, store_agreement
from radtriage.batch import labels_from_result, model_reader_id, run_cohort
from radtriage.batch.labels import model_version
from radtriage.phantom_export import export_body, export_lge

ROOT = Path(__file__).resolve().parents[1]
LGE_READER = "model:lge-certainty-demo:0.3.1"


def _lge_cases(folder: Path, n: int, seed: int = 0) -> Path:
    for k in range(n):
        export_lge(folder / f"lge-{k:02d}", seed + k)
    return folder


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "batch_results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _jsonl(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "batch_results.jsonl").read_text().splitlines()]


@pytest.fixture
def counted_runs():
    """Counts how often the lge_certainty runner really runs (the registry entry is restored afterwards)."""
    from radtriage import tasks

    tasks._load_builtin("lge_certainty")
    original = tasks._RUNNERS["lge_certainty"]
    calls: list[int] = []

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    tasks.register_runner("lge_certainty", counting)
    yield calls
    tasks.register_runner("lge_certainty", original)


def test_batch_writes_one_result_and_one_row_per_case(tmp_path):
    cases = _lge_cases(tmp_path / "cases", 3)
    (cases / "lge-00" / "lesion_mask.nii.gz").write_bytes(b"")  # masks are not inputs: never read
    summary = run_cohort(cases, tmp_path / "out", "lge_certainty", progress="none")
    assert summary.counts == {"ok": 3} and summary.failed == 0
    assert summary.cpu_s > 0 and 0 < summary.cpu_utilisation <= 1.05  # measured, at most every core busy
    assert summary.cores == os.cpu_count()
    rows = _rows(tmp_path / "out")
    assert [r["case_id"] for r in rows] == ["lge-00", "lge-01", "lge-02"]
    for row in rows:
        doc = json.loads((Path(row["result_dir"]) / "result.json").read_text())
        likelihoods = [s["likelihood"] for s in doc["outputs"]["slices"]]
        assert row["status"] == "ok" and row["task"] == "lge_certainty"
        assert float(row["lge_max"]) == pytest.approx(max(likelihoods), abs=0.01)
        assert float(row["lge_mean"]) == pytest.approx(sum(likelihoods) / len(likelihoods), abs=0.01)
        assert int(row["lge_slices"]) == len(likelihoods) == 12
        assert float(row["decode_s"]) >= 0 and float(row["run_s"]) > 0
    lines = _jsonl(tmp_path / "out")
    assert [r["case_id"] for r in lines] == ["lge-00", "lge-01", "lge-02"]
    assert all(r["timeline"]["decode_end"] <= r["timeline"]["run_start"] for r in lines)
    assert not list((tmp_path / "out").rglob(".*-run-*"))


def test_rerun_skips_finished_cases_and_force_redoes_them(tmp_path, counted_runs):
    cases = _lge_cases(tmp_path / "cases", 3)
    out = tmp_path / "out"
    run_cohort(cases, out, "lge_certainty", progress="none")
    assert len(counted_runs) == 3
    first = {r["case_id"]: r["lge_max"] for r in _rows(out)}

    again = run_cohort(cases, out, "lge_certainty", progress="none")
    assert len(counted_runs) == 3 and again.counts == {"skipped": 3}
    assert {r["case_id"]: r["lge_max"] for r in _rows(out)} == first  # rows rebuilt from the kept results

    (out / "lge-01" / "lge_certainty" / "result.json").unlink()
    run_cohort(cases, out, "lge_certainty", progress="none")
    assert len(counted_runs) == 4
    assert {r["case_id"]: r["status"] for r in _rows(out)} == {"lge-00": "skipped", "lge-01": "ok",
                                                               "lge-02": "skipped"}
    run_cohort(cases, out, "lge_certainty", force=True, progress="none")
    assert len(counted_runs) == 7


def test_failing_cases_are_recorded_and_the_batch_goes_on(tmp_path, monkeypatch):
    cases = _lge_cases(tmp_path / "cases", 3)
    bad = cases / "lge-01" / "lge_sax.nii.gz"
    bad.write_bytes(b"not a nifti file at all")
    (cases / "lge-03-empty").mkdir()
    summary = run_cohort(cases, tmp_path / "out", "lge_certainty", progress="none")
    assert summary.counts == {"ok": 2, "error": 2}
    rows = {r["case_id"]: r for r in _rows(tmp_path / "out")}
    assert rows["lge-01"]["status"] == "error" and str(bad) in rows["lge-01"]["error"]
    assert rows["lge-03-empty"]["status"] == "error" and "lge-03-empty" in rows["lge-03-empty"]["error"]
    assert not (tmp_path / "out" / "lge-01" / "lge_certainty").exists()

    # A run killed while writing leaves no half result: the next run redoes the case.
    import radtriage.tasks.result as result_module

    real_write = result_module.write_result

    def dies_half_way(result, out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "result.json").write_text("{")  # half written
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(result_module, "write_result", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(cases, tmp_path / "out2", "lge_certainty", progress="none", prefetch=0)
    assert not list((tmp_path / "out2").rglob("result.json"))
    monkeypatch.setattr(result_module, "write_result", real_write)
    again = run_cohort(cases, tmp_path / "out2", "lge_certainty", progress="none")
    assert again.counts == {"ok": 2, "error": 2}


def test_task_auto_with_case_json_records_model_labels_in_the_store(tmp_path):
    cases = tmp_path / "cases"
    for k in range(2):
        export_lge(cases / f"heart-{k}", k)
        (cases / f"heart-{k}" / "case.json").write_text(
            json.dumps({"task": "lge_certainty", "inputs": {"lge": "lge_sax.nii.gz"}}))
    export_body(cases / "body-0", 3, "CT", n_slices=24, size=(48, 48))
    (cases / "body-0" / "case.json").write_text(json.dumps({"task": "body_region"}))
    project = tmp_path / "project"
    summary = run_cohort(cases, tmp_path / "out", "auto", store=project, progress="none")
    assert summary.counts == {"ok": 3}
    rows = {r["case_id"]: r for r in _rows(tmp_path / "out")}
    assert rows["body-0"]["task"] == "body_region" and int(rows["body-0"]["region_ranges"]) >= 1

    with open_store(project) as store:
        doc = json.loads((tmp_path / "out" / "heart-1" / "lge_certainty" / "result.json").read_text())
        labels = store.current_labels("heart-1", LGE_READER, "lge_rating")
        assert {e.target: e.value for e in labels} == {
            f"slice:{s['index']}": pytest.approx(s["likelihood"]) for s in doc["outputs"]["slices"]}
        body = json.loads((tmp_path / "out" / "body-0" / "body_region" / "result.json").read_text())
        body_labels = store.current_labels("body-0", model_reader_id(body["bundle"]), "body_region_correction")
        assert [(e.target, e.value) for e in body_labels] == [
            (f"slices:{r['index_range'][0]}-{r['index_range'][1]}", r["region"]) for r in body["outputs"]["ranges"]]
        # model-vs-reader agreement over the same schema
        store.add_reader("reader1")
        for s in doc["outputs"]["slices"]:
            store.set_label("heart-1", "reader1", "lge_rating", min(100.0, s["likelihood"] + 5), target=s["index"],
                            model_version="blinded")
        agreement = store_agreement(store, "lge_rating", [LGE_READER, "reader1"])
        assert agreement["items_per_reader"] == {LGE_READER: 24, "reader1": 12}  # two hearts by the model
        assert agreement["pairs"][0]["metrics"]["n"] == 12
        before = store.counts()["label_history"]
    run_cohort(cases, tmp_path / "out", "auto", store=project, progress="none")  # resumed: nothing re-recorded
    with open_store(project) as store:
        assert store.counts()["label_history"] == before


def test_mri_and_cmb_outputs_become_labels_the_store_accepts(tmp_path):
    mri = {"decisions": {"abnormal": True, "acute_infarct": False, "acute_haemorrhage": True, "mass_effect": False}}
    cmb = {"detections": [{"label": "CMB-1", "center_ras": [1.5, -2.0, 30.25]},
                          {"label": "CMB-2", "center_ras": [-10.0, 4.0, 12.0]}]}
    bundle = {"name": "mri-triage-demo", "version": "0.1.0"}
    with open_store(tmp_path / "project") as store:
        from radtriage.annotations import CaseRef

        store.add_case(CaseRef("c1"))
        reader = model_reader_id(bundle)
        store.add_reader(reader)
        store.commit_labels("c1", reader, labels_from_result("mri_triage", mri) + labels_from_result("cmb_detect", cmb),
                            model_version=model_version(bundle))
        got = {(e.schema, e.target): e.value for e in store.current_labels("c1", reader)}
    assert got[("mri_normal_abnormal", "")] == "abnormal"
    assert got[("mri_critical_findings", "")] == ["acute_haemorrhage"]
    assert got[("cmb_review", "candidate:CMB-2")] == {"decision": "add", "ras_mm": [-10.0, 4.0, 12.0]}
    assert labels_from_result("mri_triage", {"decisions": {}})[0].value == "normal"
    assert labels_from_result("cmb_detect", {"detections": []}) == []


def test_decode_of_the_next_case_overlaps_the_current_inference(tmp_path):
    cases = _lge_cases(tmp_path / "cases", 4)
    run_cohort(cases, tmp_path / "seq", "lge_certainty", prefetch=0, progress="none")
    seq = [r["timeline"] for r in _jsonl(tmp_path / "seq")]
    assert all(seq[n + 1]["decode_start"] >= seq[n]["write_end"] for n in range(3))  # strictly one after another

    run_cohort(cases, tmp_path / "overlap", "lge_certainty", prefetch=2, progress="none")
    tl = [r["timeline"] for r in _jsonl(tmp_path / "overlap")]
    assert all(tl[n + 1]["decode_start"] < tl[n]["run_end"] for n in range(3))  # read while the previous ran


def test_batch_command_over_a_csv_case_list_exits_nonzero_when_a_case_fails(tmp_path):
    _lge_cases(tmp_path / "cases", 2)
    listing = tmp_path / "cases.csv"
    listing.write_text("case_id,patient_key,image_lge\n"
                       "a,p1,cases/lge-00/lge_sax.nii.gz\n"
                       "b,p2,cases/lge-01/lge_sax.nii.gz\n"
                       "c,p3,cases/missing.nii.gz\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "radtriage", "batch", str(listing), "--task", "lge_certainty",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "2 ok" in proc.stdout and "1 error" in proc.stdout
    assert "case" in proc.stderr  # the tqdm progress bar goes to stderr
    rows = {r["case_id"]: r for r in _rows(tmp_path / "out")}
    assert rows["a"]["status"] == rows["b"]["status"] == "ok"
    assert "missing.nii.gz" in rows["c"]["error"]
    result = json.loads((tmp_path / "out" / "a" / "lge_certainty" / "result.json").read_text())
    assert result["outputs"]["input"] == "lge"  # the CSV column image_lge names the input


@pytest.mark.slow
def test_local_dask_cluster_of_two_workers_gives_the_in_process_results(tmp_path):
    cases = _lge_cases(tmp_path / "cases", 4)
    local = run_cohort(cases, tmp_path / "local", "lge_certainty", scheduler="none", progress="none")
    dask = run_cohort(cases, tmp_path / "dask", "lge_certainty", scheduler="local", workers=2, progress="none")
    assert local.counts == dask.counts == {"ok": 4} and dask.scheduler == "local"
    rows = _jsonl(tmp_path / "dask")
    assert sorted(r["case_id"] for r in rows) == [f"lge-{k:02d}" for k in range(4)]
    assert all(not r["worker"].endswith(f":{os.getpid()}") for r in rows)  # ran in the worker processes
    for k in range(4):
        a = json.loads((tmp_path / "local" / f"lge-{k:02d}" / "lge_certainty" / "result.json").read_text())
        b = json.loads((tmp_path / "dask" / f"lge-{k:02d}" / "lge_certainty" / "result.json").read_text())
        assert [s["likelihood"] for s in a["outputs"]["slices"]] == [s["likelihood"] for s in b["outputs"]["slices"]]


def test_dicom_folder_case_list_runs_each_study_on_its_series(tmp_path):
    """A DICOM folder: one case per study, each run on its own series (two studies, one folder each)."""
    from test_io_dicom import write_series

    for k, n in enumerate((24, 30)):
        write_series(tmp_path / "dicom" / f"study{k}", rows=32, cols=32, n=n, step=5.0)
    summary = run_cohort(tmp_path / "dicom", tmp_path / "out", "body_region", progress="none", device="cpu")
    assert summary.counts == {"ok": 2}
    rows = _rows(tmp_path / "out")
    results = [json.loads((Path(r["result_dir"]) / "result.json").read_text()) for r in rows]
    assert sorted(r["outputs"]["n_slices"] for r in results) == [24, 30]
    assert all(r["status"] == "ok" and r["case_id"] for r in rows)
