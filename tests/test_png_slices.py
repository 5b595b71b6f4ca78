"""A PNG slice: read as one slice without a pixel size; lge_certainty scores it (``--option pixel_mm=``, or a
notice that 1 mm was assumed), every other task refuses it with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from radtriage.cli import main
from radtriage.io import read_image
from radtriage.phantoms import make_lge_slice


def _png(path: Path) -> Path:
    arr = np.asarray(make_lge_slice(3).image.array)[0]
    scaled = np.clip(255 * (arr - arr.min()) / max(float(np.ptp(arr)), 1e-6), 0, 255).astype(np.uint8)
    PILImage.fromarray(scaled).save(path)
    return path


def test_a_png_is_one_slice_without_a_pixel_size(tmp_path: Path) -> None:
    image = read_image(_png(tmp_path / "slice.png"))
    assert image.size[2] == 1 and image.metadata["spacing_unknown"] and image.metadata["format"] == "png"


def test_lge_scores_a_png_slice_with_its_pixel_size(tmp_path: Path) -> None:
    png = _png(tmp_path / "slice.png")
    assert main(["infer", "--task", "lge_certainty", "--input", str(png), "--output", str(tmp_path / "a"),
                 "--option", "pixel_mm=1.5", "--device", "cpu"]) == 0
    doc = json.loads((tmp_path / "a" / "result.json").read_text())
    assert len(doc["outputs"]["slices"]) == 1 and not any("assumed 1 mm" in n for n in doc["notices"])
    assert main(["infer", "--task", "lge_certainty", "--input", str(png), "--output", str(tmp_path / "b"),
                 "--device", "cpu"]) == 0
    assert any("assumed 1 mm" in n for n in json.loads((tmp_path / "b" / "result.json").read_text())["notices"])


@pytest.mark.parametrize("task", ["body_region", "mri_triage", "cmb_detect"])
def test_other_tasks_refuse_a_picture_in_one_line(tmp_path: Path, task: str, capsys) -> None:
    png = _png(tmp_path / "slice.png")
    assert main(["infer", "--task", task, "--input", str(png), "--output", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("radtriage:")]
    assert len(errors) == 1 and str(png) in errors[0] and "voxel size" in errors[0] and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
