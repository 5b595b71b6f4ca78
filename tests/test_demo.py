"""``radtriage demo``: the embedded default job writes a report, figures and a Slicer scene that reloads."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib import image as mpimg

from radtriage.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def test_report_names_every_task_and_the_demo_notice(demo_dir):
    report = (demo_dir / "report.md").read_text()
    assert "demo, not for clinical use" in report
    for task in ("mri_triage", "cmb_detect", "lge_certainty", "body_region"):
        assert re.search(rf"^\| {task} \| ", report, re.M)
    dice = float(re.search(r"Dice (\d\.\d+)", report).group(1))
    assert dice > 0.95
    for figure in re.findall(r"\]\((figures/[^)]+\.png)\)", report):
        assert (demo_dir / figure).stat().st_size > 2000


def test_every_task_with_an_installed_bundle_runs_in_the_demo(demo_dir):
    from radtriage.models import BundleNotFoundError, find_bundle
    from radtriage.tasks import available_tasks

    report = (demo_dir / "report.md").read_text()
    ran = 0
    for task in ("mri_triage", "cmb_detect", "lge_certainty", "body_region"):
        try:
            find_bundle(task)
            installed = task in available_tasks()
        except BundleNotFoundError:
            installed = False
        if installed:
            assert f"**{task}** ran with bundle" in report
            ran += 1
        else:
            assert f"**{task}** ran" not in report
    if ran:
        assert "(demo, not for clinical use)" in report
    if "**body_region** ran" in report:
        accuracy = float(re.search(r"per-slice accuracy (\d\.\d+)", report).group(1))
        assert accuracy > 0.8  # the demo CT bundle on a fresh whole-body phantom


def test_the_triage_worklist_marks_misses_and_abstains_without_dwi(demo_dir):
    report = (demo_dir / "report.md").read_text()
    if "**mri_triage** ran" not in report:
        pytest.skip("no mri_triage bundle installed")
    kinds = "normal|infarct|haemorrhage|mass_effect|chronic_infarct"
    rows = re.findall(rf"^\| ({kinds}) \| (all 8|[A-Z0-9, ]+) \| (.+) \|$", report, re.M)
    assert [r[0] for r in rows] == ["normal", "infarct", "haemorrhage", "mass_effect", "chronic_infarct", "infarct"]
    no_dwi = rows[-1][2].split(" | ")
    assert rows[-1][1] == "T1, T2, FLAIR, SWI" and no_dwi[1] == "not assessable"  # acute_infarct column
    truth = {"normal": set(), "infarct": {"acute_infarct"}, "haemorrhage": {"acute_haemorrhage"},
             "mass_effect": {"mass_effect"}, "chronic_infarct": set()}  # chronic: abnormal, not acute
    for finding, _, cells in rows[:5]:  # every miss and false alarm is marked
        for name, cell in zip(("abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect"), cells.split(" | "),
                              strict=False):
            positive = name in truth[finding] or (name == "abnormal" and finding != "normal")
            if cell.startswith("negative"):
                assert ("MISS" in cell) == positive, (finding, name, cell)
            elif cell.startswith("positive"):
                assert ("FALSE ALARM" in cell) == (not positive), (finding, name, cell)
    assert "| acute_infarct | " in report and "| 0.95 |" in report  # the seed paper's AUC beside ours


def test_brain_figure_shows_the_overlay_colour(demo_dir):
    rgb = mpimg.imread(demo_dir / "figures" / "brain_dwi_truth_overlay.png")[..., :3]
    warm = (rgb[..., 0] > 0.8) & (rgb[..., 0] - rgb[..., 2] > 0.3)
    grey = np.abs(rgb[..., 0] - rgb[..., 2]) < 0.05
    assert warm.sum() > 50, "the ground-truth overlay is not visible on the rendered slice"
    assert grey.sum() > 10 * warm.sum()


@pytest.mark.mrml
def test_scene_reloads_with_every_node_under_the_demo_patient(demo_dir):
    from radtriage.mrml import load_mrb, patient_and_study_of, read_detections, rows_from_table

    app = load_mrb(demo_dir / "demo_scene.mrb")
    try:
        scene = app.scene
        volumes = [scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode")
                   for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))]
        names = {v.GetName() for v in volumes}
        assert {"Demo brain DWI", "Demo SWI magnitude", "Demo LGE short-axis stack", "Demo body CT"} <= names
        assert "Ground-truth lesion (phantom)" in names
        markups = scene.GetFirstNodeByName("Ground-truth microbleeds (phantom)")
        detections = read_detections(markups)
        assert len(detections) == 6 and all(d.confidence == 1.0 for d in detections)
        lge_rows = rows_from_table(scene.GetFirstNodeByName("LGE phantom truth per slice"))
        assert len(lge_rows) == 12
        ranges = rows_from_table(scene.GetFirstNodeByName("Body region truth ranges"))
        assert ranges[0]["region"] == "foot" and ranges[-1]["region"] == "head"
        for node in [*volumes, markups]:
            patient, _study = patient_and_study_of(scene, node)
            assert patient.startswith("RadTriage demo phantom")
    finally:
        app.close()
