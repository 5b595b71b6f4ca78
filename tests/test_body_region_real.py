"""BodyRegion on every real CT/MR volume in ../shared/data: no crash, right geometry, one result per slice.

Uses the installed demo bundles when present, else untrained networks of the same architecture (geometry and
bookkeeping do not depend on the weights). The same behaviours are covered on generated data and pydicom's
files in ``tests/test_body_region.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radtriage.io import read_image
from radtriage.labelsets import body_region_labelset
from radtriage.models import BundleNotFoundError, write_bundle
from radtriage.tasks import run_task
from radtriage.tasks.body_region import LABEL_VOLUME, find_body_region_bundle, slice_geometry

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

VOLUMES = (
    "TotalSegmentator/example_ct.nii.gz",
    "TotalSegmentator/example_ct_sm.nii.gz",
    "TotalSegmentator/example_mr_sm.nii.gz",
    "TotalSegmentator/aorta_ct_cropped.nii.gz",
    "TotalSegmentator/pulmonary_ct_cropped.nii.gz",
    "TotalSegmentator/example_ct_dicom",
    "Slicer/CTHeadAxialDicom",
    "Seg3DData/example_dicom_LGE",
    "sct_testing_data/t2_t2.nii.gz",
    "sct_testing_data/t1_t1w.nii.gz",
    "sct_testing_data/t2s_t2s_uncropped.nii.gz",
    "pyradiomics/breast1_image.nrrd",
    "pyradiomics/brain1_image.nrrd",
    "VolumeRenderingData/stroke_T1.nii.gz",
    "VolumeRenderingData/seg3D_MR.nii.gz",
    "nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "ROMEO.jl/Mag.nii",
    "heudiconv/axasc35.dcm",
)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """The installed bundle per modality, or an untrained one written to a temporary folder."""
    from radtriage.nets.body_region import BodyRegionNet
    from radtriage.tasks.body_region.bundle_meta import body_region_metadata, inference_extra, network_def

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for mod in ("CT", "MR"):
        try:
            out[mod] = str(find_body_region_bundle(mod))
        except BundleNotFoundError:
            nd = network_def(mod)
            net = BodyRegionNet(**{k: v for k, v in nd.items() if k != "_target_"}).eval()
            meta = body_region_metadata(mod, version="0.0.0", demo=True, name=f"untrained-{mod.lower()}")
            out[mod] = str(write_bundle(tmp_path_factory.mktemp("b") / mod, net, meta, nd,
                                        extra_config=inference_extra(mod)))
    yield out
    torch.set_num_threads(before)


@pytest.mark.parametrize("relative", VOLUMES)
def test_every_real_volume_gets_a_result_per_slice(shared_data: Path, bundles, relative):
    path = shared_data / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this copy of the shared data")
    image = read_image(path)
    from radtriage.tasks.body_region.intensity import determine_modality

    modality, _ = determine_modality(image)
    result = run_task("body_region", inputs={"image": image}, bundle=bundles[modality], device="cpu")
    out = result.outputs
    geo = slice_geometry(image)
    axis = "ijk".index(out["slice_axis"])
    assert axis == geo.axis and out["n_slices"] == image.size[axis]
    assert [s["index"] for s in out["slices"]] == list(range(image.size[axis]))
    names = body_region_labelset(modality).names
    assert all(s["region"] in names and 0 <= s["confidence"] <= 1 + 1e-9 for s in out["slices"])
    covered = sorted(i for r in out["ranges"] for i in range(r["index_range"][0], r["index_range"][1] + 1))
    assert covered == list(range(image.size[axis]))
    # every slice's z is the LPS z of that slice's centre
    ijk = np.tile((np.asarray(image.size, float) - 1) / 2, (image.size[axis], 1))
    ijk[:, axis] = np.arange(image.size[axis])
    np.testing.assert_allclose([s["z_mm"] for s in out["slices"]], image.index_to_lps(ijk)[:, 2], atol=1e-4)
    # ranges ordered head to feet, z ranges descending
    tops = [r["superior_z_mm"] for r in out["ranges"]]
    assert tops == sorted(tops, reverse=True)
    labels = result.volumes[LABEL_VOLUME]
    assert labels.size[axis] == image.size[axis]
    np.testing.assert_allclose(labels.direction, image.direction, atol=1e-9)
    np.testing.assert_allclose(labels.spacing[axis], image.spacing[axis])
    if relative.startswith("Slicer/CTHead"):
        assert modality == "CT" and out["modality_source"] == "dicom" and out["slice_axis"] == "k"
    if relative == "sct_testing_data/t2_t2.nii.gz":  # sagittal acquisition: planes along the S axis (j)
        assert out["slice_axis"] == "j" and any("not axial" in n for n in result.notices)
