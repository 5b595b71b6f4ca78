"""Every real public scan in ../shared/data loads (or is refused with a reason); key ones are checked independently.

The same behaviours are covered on generated and pip-shipped data in
test_io_volume.py and test_io_dicom.py; these tests skip when ../shared/data is absent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.io import read_dicom_series, read_image, read_volume, scan_dicom
from radtriage.io.volume import volume_suffix

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DOC_PREFIXES = ("LICENSE", "README", "MANIFEST")


def _is_doc(path: Path) -> bool:
    return path.name.upper().startswith(DOC_PREFIXES) or path.suffix.lower() in (".md", ".txt")


def _data_files() -> list[Path]:
    if not SHARED.is_dir():
        return []
    return [p for p in sorted(SHARED.rglob("*")) if p.is_file() and not _is_doc(p)]


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""2D picture files (e.g. EMIDEC's slices): a PNG is read as one slice without a pixel size, others refused."""


def _is_picture(path: Path) -> bool:
    return path.suffix.lower() in PICTURE_SUFFIXES


def _entries() -> list:
    """One entry per volume file, one per folder directly holding other (DICOM) files, and the first picture file
    of each folder of pictures."""
    files = _data_files()
    volumes = [p for p in files if volume_suffix(p)]
    dicom_dirs = sorted({p.parent for p in files if not volume_suffix(p) and not _is_picture(p)})
    pictures = sorted({p.parent: p for p in reversed(files) if _is_picture(p)}.values())
    entries = [pytest.param(p, id=str(p.relative_to(SHARED))) for p in volumes + dicom_dirs + pictures]
    return entries or [pytest.param(None, id="no-shared-data")]


def _check_image(image: Image) -> None:
    assert all(n > 0 for n in image.size)
    assert all(np.isfinite(image.spacing)) and all(np.isfinite(image.origin))
    assert np.allclose(image.direction.T @ image.direction, np.eye(3), atol=1e-4)
    assert image.metadata["source_path"] and image.metadata["format"] in ("nifti", "nrrd", "metaimage", "dicom", "png")


def _folder_series(folder: Path):
    return [s for s in scan_dicom(folder) if all(f.parent == folder for f in s.files)]


@pytest.mark.slow
@pytest.mark.parametrize("entry", _entries())
def test_every_file_loads_or_is_refused_clearly(shared_data, entry):
    if _is_picture(entry) and entry.suffix.lower() == ".png":  # a slice without a pixel size
        image = read_image(entry)
        _check_image(image)
        assert image.size[2] == 1 and image.metadata["spacing_unknown"]
        return
    if _is_picture(entry):
        with pytest.raises(InputError, match="not a recognised image file") as refused:
            read_image(entry)
        assert entry.name in str(refused.value)
        return
    if volume_suffix(entry):
        try:
            _check_image(read_volume(entry))
        except InputError as exc:
            assert exc.problem and entry.name in str(exc)
        return
    series = _folder_series(entry)
    covered = {f for s in series for f in s.files}
    others = {p for p in entry.iterdir() if p.is_file() and not _is_doc(p)}
    assert others == covered, f"files not in any DICOM image series: {sorted(p.name for p in others - covered)}"
    for s in series:
        try:
            image = read_dicom_series(s)
        except InputError as exc:
            assert exc.problem
            continue
        _check_image(image)
        assert image.metadata["series_uid"] == s.series_uid


def _independent_slices(folder: Path) -> list:
    """Datasets of a classic series sorted along the slice normal, read with pydicom alone."""
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if not _is_doc(p)]
    iop = np.array([float(v) for v in datasets[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    return sorted(datasets, key=lambda ds: float(np.array([float(v) for v in ds.ImagePositionPatient]) @ normal))


def _assert_classic_geometry(image: Image, datasets: list) -> None:
    first, last = datasets[0], datasets[-1]
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    ipp0 = np.array([float(v) for v in first.ImagePositionPatient])
    ipp1 = np.array([float(v) for v in last.ImagePositionPatient])
    dr, dc = (float(v) for v in first.PixelSpacing)
    assert image.size == (int(first.Columns), int(first.Rows), len(datasets))
    assert np.allclose(image.origin, ipp0, atol=1e-6)
    assert np.allclose(image.spacing[:2], (dc, dr), atol=1e-9)
    assert math.isclose(image.spacing[2], float(np.linalg.norm(ipp1 - ipp0)) / (len(datasets) - 1), abs_tol=1e-6)
    assert np.allclose(image.direction[:, 0], iop[:3], atol=1e-6)
    assert np.allclose(image.direction[:, 1], iop[3:], atol=1e-6)
    assert np.allclose(image.index_to_lps([[0, 0, len(datasets) - 1]])[0], ipp1, atol=1e-4)


@pytest.mark.slow
def test_lge_dicom_series_geometry(shared_data):
    folder = shared_data / "Seg3DData" / "example_dicom_LGE"
    image = read_image(folder)
    datasets = _independent_slices(folder)
    _assert_classic_geometry(image, datasets)
    assert image.size == (640, 640, 44)
    assert np.allclose(image.spacing, (0.625, 0.625, 2.5), atol=1e-6)
    for k in (0, 21, 43):
        assert np.array_equal(image.array[k], datasets[k].pixel_array)
    meta = image.metadata
    assert meta["modality"] == "MR" and meta["dicom_tags"]["Manufacturer"] == "SIEMENS"
    dumped = json.dumps(meta, default=str)
    assert str(datasets[0].PatientName) not in dumped and str(datasets[0].PatientID) not in dumped


def test_ct_head_dicom_in_hu(shared_data):
    folder = shared_data / "Slicer" / "CTHeadAxialDicom"
    image = read_image(folder)
    datasets = _independent_slices(folder)
    _assert_classic_geometry(image, datasets)
    assert image.size == (64, 64, 93)
    assert np.allclose(image.spacing, (3.2, 3.2, 1.5))
    for k in (0, 46, 92):
        assert np.array_equal(image.array[k], apply_modality_lut(datasets[k].pixel_array, datasets[k]))
    assert image.metadata["modality"] == "CT" and image.metadata["rescale_applied"]


@pytest.mark.slow
def test_jpeg2000_ct_dicom_in_hu(shared_data):
    folder = shared_data / "TotalSegmentator" / "example_ct_dicom"
    image = read_image(folder)  # the files' SeriesInstanceUID is blank: grouped by folder and series fields
    assert image.metadata["series_uid"].startswith("derived-")
    datasets = _independent_slices(folder)
    _assert_classic_geometry(image, datasets)
    assert image.size == (512, 512, 20)
    assert image.array.min() <= -1000  # air in HU
    ds = datasets[10]
    assert np.array_equal(image.array[10], apply_modality_lut(ds.pixel_array, ds))


def test_stroke_triplet_shares_one_grid(shared_data):
    images = {}
    for contrast in ("T1", "T2", "FLAIR"):
        path = shared_data / "VolumeRenderingData" / f"stroke_{contrast}.nii.gz"
        image = read_image(path)
        assert image.size == (124, 160, 140)
        assert np.allclose(image.spacing, (1.0, 1.0, 1.0), atol=1e-5)
        assert np.allclose(image.ijk_to_ras, nib.load(str(path)).affine, atol=1e-4)
        assert image.metadata["description"] == f"stroke_{contrast}"
        images[contrast] = image
    assert images["T1"].same_geometry(images["T2"]) and images["T1"].same_geometry(images["FLAIR"])


def test_multi_echo_nifti_loads_as_components(shared_data):
    path = shared_data / "ROMEO.jl" / "Mag.nii"
    image = read_image(path)
    assert image.array.shape == (41, 51, 51, 3)
    data = np.asanyarray(nib.load(str(path)).dataobj)
    assert np.allclose(image.array[..., 2], data[..., 2].transpose(2, 1, 0))


def _tile(raw: np.ndarray, k: int, rows: int, cols: int, n: int) -> np.ndarray:
    tiles = math.ceil(math.sqrt(n))
    r, c = divmod(k, tiles)
    return raw[r * rows : (r + 1) * rows, c * cols : (c + 1) * cols]


@pytest.mark.parametrize(
    ("relpath", "size", "components"),
    [("heudiconv/axasc35.dcm", (64, 64, 35), 1), ("heudiconv/b0dwiForFmap", (150, 152, 81), 3)],
)
def test_heudiconv_mosaics_are_demosaiced(shared_data, relpath, size, components):
    from nibabel.nicom import csareader

    path = shared_data / relpath
    image = read_image(path)
    assert image.size == size and image.n_components == components
    first = path if path.is_file() else sorted(path.iterdir())[0]
    ds = pydicom.dcmread(first)
    dr, dc = (float(v) for v in ds.PixelSpacing)
    assert np.allclose(image.spacing[:2], (dc, dr))
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    assert np.allclose(image.direction[:, 0], iop[:3], atol=1e-6)
    assert np.allclose(image.direction[:, 1], iop[3:], atol=1e-6)
    csa_normal = np.array(csareader.get_slice_normal(csareader.get_csa_header(ds)))
    assert np.allclose(image.direction[:, 2], csa_normal, atol=1e-4)
    assert image.metadata["mosaic_slice_normal_source"] == "CSA SliceNormalVector"
    vol = image.array if components == 1 else image.array[..., 0]
    for k in (0, size[2] // 2, size[2] - 1):
        assert np.array_equal(vol[k], _tile(ds.pixel_array, k, size[1], size[0], size[2]))


def test_scan_of_all_shared_data_finds_each_series_without_identity(shared_data):
    series = scan_dicom(shared_data)
    assert sorted(s.n_frames for s in series) == [20, 35, 44, 93, 243]
    for s in series:
        ds = pydicom.dcmread(s.files[0], stop_before_pixels=True)
        pid = str(ds.get("PatientID", "") or "")
        assert not pid or pid not in s.patient_key
        assert s.tags.get("Modality") == s.modality
