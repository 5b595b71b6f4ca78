"""Acquisition subgroups (site, vendor, field strength, slice thickness) from DICOM tags, into batch rows and
``radtriage evaluate classification --by``; seed papers' figures beside ours."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from radtriage.cli import main
from radtriage.image import Image
from radtriage.io.acquisition import (
    SUBGROUP_COLUMNS,
    acquisition_subgroups,
    case_subgroups,
    field_strength_group,
    thickness_group,
    vendor_group,
)
from radtriage.seed_papers import SEED_PAPERS
from tests.dicom_series import write_mr_series


def test_tag_values_map_to_groups():
    assert [vendor_group(v) for v in ("SIEMENS", "GE MEDICAL SYSTEMS", "Philips Medical Systems", "GE", "Acme")] \
        == ["Siemens", "GE", "Philips", "GE", "Acme"]
    assert vendor_group(None) == ""
    assert field_strength_group(1.494) == "1.5 T" and field_strength_group("3") == "3 T"
    assert field_strength_group(15000) == "1.5 T"  # old headers in gauss
    assert field_strength_group("2.89362") == "3 T" and field_strength_group(0.35) == "0.3 T"  # Siemens 3 T
    assert vendor_group("General Electric") == "GE"
    assert field_strength_group(None) == field_strength_group("n/a") == ""
    assert [thickness_group(v) for v in (1.0, 1.5, 2.0, 5.0, 8.0)] == \
        ["<= 1.5 mm", "<= 1.5 mm", "1.5-3 mm", "3-5 mm", "> 5 mm"]
    assert thickness_group(0) == ""


def test_case_takes_each_column_from_the_first_series_that_records_it():
    blank = Image(np.zeros((2, 2, 2), np.float32), metadata={"dicom_tags": {"Manufacturer": "SIEMENS"}})
    full = Image(np.zeros((2, 2, 2), np.float32), metadata={"dicom_tags": {
        "Manufacturer": "Philips", "MagneticFieldStrength": 3.0, "SliceThickness": 4.0, "InstitutionName": "Site B"}})
    groups = case_subgroups({"a": blank, "b": full, "c": Image(np.zeros((2, 2, 2), np.float32))})
    assert groups == {"site": "Site B", "vendor": "Siemens", "field_strength": "3 T", "slice_thickness": "3-5 mm"}
    assert case_subgroups({}) == dict.fromkeys(SUBGROUP_COLUMNS, "")


def test_dicom_reader_keeps_the_subgroup_tags(tmp_path):
    from radtriage.io import read_image

    image = Image(np.full((3, 8, 8), 100.0, np.float32), spacing=(1.0, 1.0, 5.0))
    write_mr_series(image, tmp_path / "s", "T2 axial", {"Manufacturer": "GE MEDICAL SYSTEMS",
                                                         "MagneticFieldStrength": "1.5", "InstitutionName": "Site A"})
    read = read_image(tmp_path / "s")
    assert acquisition_subgroups(read.metadata["dicom_tags"]) == {
        "site": "Site A", "vendor": "GE", "field_strength": "1.5 T", "slice_thickness": "3-5 mm"}


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_evaluate_classification_by_subgroup_with_seed_paper(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        y = i % 2
        vendor = "Siemens" if i < 40 else "Philips"
        p = (0.9 if y else 0.1) if vendor == "Siemens" else float(rng.random())  # one vendor read well, one not
        rows.append({"y": y, "p": p, "vendor": vendor, "site": "" if i % 4 == 0 else "A"})
    path = _write_csv(tmp_path / "pred.csv", rows)
    out = tmp_path / "eval"
    argv = ["evaluate", "classification", str(path), "--truth", "y", "--score", "p", "--out", str(out),
            "--bootstrap", "200", "--by", "vendor", "site", "--seed-paper", "zaman2024-internal"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    vendors = metrics["subgroups"]["vendor"]
    assert set(vendors) == {"Siemens", "Philips"}
    assert vendors["Siemens"]["n"] == 40 and vendors["Siemens"]["roc_auc"]["value"] == 1.0
    assert vendors["Philips"]["roc_auc"]["value"] < 0.8
    assert metrics["subgroups"]["site"]["(not recorded)"]["n"] == 20
    assert metrics["seed_paper"]["metrics"] == SEED_PAPERS["zaman2024-internal"].metrics
    table = capsys.readouterr().out
    assert "| vendor = Siemens | 40 |" in table and "| seed: zaman2024-internal" in table and "0.940" in table


def test_evaluate_by_unknown_column_is_refused_in_one_line(tmp_path, capsys):
    path = _write_csv(tmp_path / "pred.csv", [{"y": 0, "p": 0.2}, {"y": 1, "p": 0.8}])
    assert main(["evaluate", "classification", str(path), "--truth", "y", "--score", "p", "--out",
                 str(tmp_path / "o"), "--by", "vendor"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pred.csv" in err[0] and "vendor" in err[0]
    assert not (tmp_path / "o").exists()


def test_batch_rows_carry_the_subgroups(tmp_path):
    from radtriage.batch import run_cohort

    volume = Image(np.random.default_rng(1).uniform(50, 400, (12, 24, 24)).astype(np.float32),
                   spacing=(8.0, 8.0, 6.0))
    root = tmp_path / "dicom"
    write_mr_series(volume, root / "study1", "T1 body", {"Manufacturer": "SIEMENS", "MagneticFieldStrength": "3",
                                                         "BodyPartExamined": "ABDOMEN"})
    write_mr_series(volume, root / "study2", "T1 body", {"Manufacturer": "Philips", "MagneticFieldStrength": "1.5",
                                                         "BodyPartExamined": "ABDOMEN"})
    run_cohort(root, tmp_path / "out", "body_region", progress="none")
    with (tmp_path / "out" / "batch_results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(set(SUBGROUP_COLUMNS) <= set(r) for r in rows)
    got = sorted((r["vendor"], r["field_strength"], r["slice_thickness"]) for r in rows)
    assert got == [("Philips", "1.5 T", "> 5 mm"), ("Siemens", "3 T", "> 5 mm")], rows
