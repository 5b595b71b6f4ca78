"""The pointing game of ``radtriage evaluate localisation``: peak-to-lesion distance in mm on the image grid,
and the per-output, per-method table on fresh phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from radtriage.image import Image
from radtriage.tasks.mri_triage import TriageModel, write_untrained_bundle
from radtriage.tasks.mri_triage.localisation import method_specs, peak_distance_mm, pointing_game


def test_peak_distance_is_measured_in_mm_to_the_nearest_lesion_voxel() -> None:
    spacing = (2.0, 3.0, 5.0)  # i, j, k
    lesion = np.zeros((10, 12, 14), np.uint8)  # [k, j, i]
    lesion[4, 6, 7] = 1
    heat = np.zeros(lesion.shape, np.float32)
    heat[4, 6, 10] = 1.0  # 3 voxels along i
    assert peak_distance_mm(Image(heat, spacing), Image(lesion, spacing)) == pytest.approx(6.0)
    heat[:] = 0
    heat[6, 6, 7] = 0.4  # 2 slices along k
    assert peak_distance_mm(Image(heat, spacing), Image(lesion, spacing)) == pytest.approx(10.0)
    heat[4, 6, 7] = 0.9  # the peak inside the lesion
    assert peak_distance_mm(Image(heat, spacing), Image(lesion, spacing)) == 0.0
    assert peak_distance_mm(Image(np.zeros_like(heat), spacing), Image(lesion, spacing)) == float("inf")
    with pytest.raises(ValueError, match="not on one grid"):
        peak_distance_mm(Image(heat[:5], spacing), Image(lesion, spacing))


@pytest.mark.slow
def test_the_pointing_game_reports_each_output_and_method(tmp_path) -> None:
    model = TriageModel.from_bundle(write_untrained_bundle(tmp_path / "mri-untrained"), "cpu")
    assert ("gradcam", None) in method_specs(model, ["gradcam"])
    layers = method_specs(model, ["gradcam@all"])
    assert len(layers) >= 2 and all(layer for _, layer in layers)
    result = pointing_game(model, [5], ["gradcam", "gradcam++"], findings=("haemorrhage",), hit_mm=15.0)
    assert set(result["outputs"]) == {"acute_haemorrhage"}
    for by_method in result["outputs"].values():
        assert set(by_method) == {"gradcam", "gradcam++"}
        for row in by_method.values():
            game = row["pointing_game"]
            assert game["of"] == 1 and game["count"] in (0, 1)
            assert (game["count"] == 1) == (row["median_peak_distance_mm"] <= 15.0)
