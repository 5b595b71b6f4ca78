"""DICOM reading on series the tests write with pydicom/highdicom and on pip-shipped DICOM files."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    BasicTextSRStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from radtriage.errors import InputError, UnsupportedInputError
from radtriage.io import DicomSeries, read_dicom_series, read_image, scan_dicom
from radtriage.io.dicom import patient_key

PATIENT_NAME = "Secretname^Jane"
PATIENT_ID = "PID-7731-SECRET"


def _rotation(deg_z: float, deg_x: float) -> np.ndarray:
    cz, sz = math.cos(math.radians(deg_z)), math.sin(math.radians(deg_z))
    cx, sx = math.cos(math.radians(deg_x)), math.sin(math.radians(deg_x))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1.0]])
    rx = np.array([[1.0, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ rx


def _base_dataset(sop_class: str, modality: str, series_uid: str, study_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 3
    ds.SeriesDescription = f"test {modality} series"
    ds.StudyDate = "20240101"
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "frame of reference"])
    ds.Manufacturer = "RadTriageTest"
    return ds


def write_series(
    folder: Path,
    *,
    modality: str = "CT",
    rows: int = 6,
    cols: int = 7,
    n: int = 5,
    pixel_spacing: tuple[float, float] = (0.8, 0.6),
    step: float = 2.5,
    rotation: np.ndarray | None = None,
    origin: tuple[float, float, float] = (-20.0, 15.0, 40.0),
    slopes: list[float] | None = None,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    depths: list[float] | None = None,
    shuffle_names: bool = True,
) -> tuple[list[Path], np.ndarray, dict]:
    """Write a classic single-frame series; return files, the expected rescaled array [k,j,i] and geometry."""
    folder.mkdir(parents=True, exist_ok=True)
    rot = np.eye(3) if rotation is None else rotation
    row_dir, col_dir, normal = rot[:, 0], rot[:, 1], rot[:, 2]
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    depths = depths if depths is not None else [k * step for k in range(n)]
    slopes = slopes or [1.0] * len(depths)
    sop = CTImageStorage if modality == "CT" else MRImageStorage
    expected = np.zeros((len(depths), rows, cols))
    files = []
    rng = np.random.default_rng(0)
    order = rng.permutation(len(depths)) if shuffle_names else np.arange(len(depths))
    for k, depth in enumerate(depths):
        ds = _base_dataset(sop, modality, series_uid, study_uid)
        stored = (np.arange(rows * cols).reshape(rows, cols) + 100 * k + 7).astype(np.uint16)
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [f"{pixel_spacing[0]:.6g}", f"{pixel_spacing[1]:.6g}"]
        ds.SliceThickness = f"{step:.6g}"
        ds.ImageOrientationPatient = [f"{v:.10f}" for v in (*row_dir, *col_dir)]
        position = np.asarray(origin) + depth * normal
        ds.ImagePositionPatient = [f"{v:.10f}" for v in position]
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.RescaleSlope = f"{slopes[k]:.6g}"
        ds.RescaleIntercept = f"{intercept:.6g}"
        ds.PixelData = stored.tobytes()
        expected[k] = stored * slopes[k] + intercept
        path = folder / f"img{int(order[k]):03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    geometry = {
        "origin": np.asarray(origin, dtype=float),
        "direction": rot,
        "spacing": (pixel_spacing[1], pixel_spacing[0], step),
    }
    return files, expected, geometry


def write_non_image(path: Path) -> Path:
    """A Basic Text SR object (no pixels)."""
    ds = _base_dataset(BasicTextSRStorage, "SR", generate_uid(), generate_uid())
    ds.ValueType = "CONTAINER"
    ds.save_as(path, enforce_file_format=True)
    return path


def _assert_geometry(image, geometry) -> None:
    assert np.allclose(image.spacing, geometry["spacing"], atol=1e-6)
    assert np.allclose(image.origin, geometry["origin"], atol=1e-6)
    assert np.allclose(image.direction, geometry["direction"], atol=1e-6)


# ------------------------------------------------------------ classic series
def test_ct_series_in_hu_with_exact_geometry_and_no_phi(tmp_path):
    files, expected, geometry = write_series(tmp_path / "ct")
    image = read_dicom_series(files)
    assert image.array.shape == expected.shape
    assert np.array_equal(image.array, expected)  # stored + intercept = HU
    assert image.array.min() < -900
    _assert_geometry(image, geometry)
    meta = image.metadata
    assert meta["format"] == "dicom" and meta["modality"] == "CT" and meta["rescale_applied"] is True
    for key in ("source_path", "series_description", "series_uid", "study_uid", "patient_key", "dicom_tags"):
        assert meta[key] not in (None, "")
    assert meta["patient_key"] == patient_key(PATIENT_ID)
    assert meta["dicom_tags"]["Modality"] == "CT"
    dumped = json.dumps(meta, default=str)
    assert "Secretname" not in dumped and PATIENT_ID not in dumped


def test_oblique_mr_series_matches_header_positions_and_simpleitk(tmp_path):
    rot = _rotation(25.0, 35.0)
    files, expected, geometry = write_series(
        tmp_path / "mr", modality="MR", rotation=rot, intercept=0.0, pixel_spacing=(0.9, 0.7), step=3.0
    )
    image = read_dicom_series(files)
    _assert_geometry(image, geometry)
    assert np.array_equal(image.array, expected)
    # voxel (i, j, k) must land where slice k's header puts it: IPP_k + i*row*dc + j*col*dr
    for path in files:
        ds = pydicom.dcmread(path)
        k = int(ds.InstanceNumber) - 1
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        dr, dc = (float(v) for v in ds.PixelSpacing)
        want = ipp + 4 * iop[:3] * dc + 2 * iop[3:] * dr
        assert np.allclose(image.index_to_lps([[4, 2, k]])[0], want, atol=1e-6)
    # independent reader: SimpleITK's own GDCM series sorting and geometry
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "mr")))
    ref = reader.Execute()
    assert np.allclose(image.origin, ref.GetOrigin(), atol=1e-5)
    assert np.allclose(image.spacing, ref.GetSpacing(), atol=1e-5)
    assert np.allclose(image.direction.ravel(), ref.GetDirection(), atol=1e-5)
    assert np.array_equal(image.array, sitk.GetArrayFromImage(ref))


def test_per_slice_fractional_rescale_is_exact(tmp_path):
    files, expected, _ = write_series(tmp_path / "s", slopes=[1.0, 0.5, 2.25, 1.0, 0.125], intercept=-1000.5)
    image = read_dicom_series(files)
    assert image.array.dtype.kind == "f"
    assert np.allclose(image.array, expected, atol=1e-4)


def test_scan_groups_series_recursively_and_skips_non_images(tmp_path):
    study = generate_uid()
    write_series(tmp_path / "a" / "deep", modality="CT", study_uid=study, n=4)
    files_b, _, _ = write_series(tmp_path / "b", modality="MR", study_uid=study, n=3, rotation=_rotation(0, 90))
    write_non_image(tmp_path / "b" / "report.dcm")
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "b" / "junk.dcm").write_bytes(b"\x00garbage" * 10)
    series = scan_dicom(tmp_path)
    assert len(series) == 2
    assert all(isinstance(s, DicomSeries) for s in series)
    by_mod = {s.modality: s for s in series}
    assert set(by_mod) == {"CT", "MR"}
    assert by_mod["CT"].n_frames == 4 and by_mod["MR"].n_frames == 3
    assert {s.study_uid for s in series} == {study}
    assert by_mod["MR"].tags["Modality"] == "MR" and by_mod["MR"].series_description == "test MR series"
    key = by_mod["CT"].patient_key
    assert key == patient_key(PATIENT_ID) and PATIENT_ID not in key and len(key) <= 16
    # files come sorted along the slice normal, whatever their names
    depths = []
    for path in by_mod["MR"].files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        depths.append(float(np.array([float(v) for v in ds.ImagePositionPatient]) @ np.cross(iop[:3], iop[3:])))
    assert depths == sorted(depths)
    assert set(by_mod["MR"].files) == set(files_b)


def test_read_image_folder_with_several_series_lists_them(tmp_path):
    write_series(tmp_path / "a", modality="CT")
    write_series(tmp_path / "b", modality="MR", intercept=0)
    series = scan_dicom(tmp_path)
    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    for s in series:
        assert s.series_uid in str(err.value)
    mr = next(s for s in series if s.modality == "MR")
    image = read_image(tmp_path, series_uid=mr.series_uid)
    assert image.metadata["series_uid"] == mr.series_uid and image.metadata["modality"] == "MR"
    with pytest.raises(InputError, match="no series with SeriesInstanceUID"):
        read_image(tmp_path, series_uid="1.2.3.4")


def test_read_image_single_file_and_empty_folder(tmp_path):
    files, expected, _ = write_series(tmp_path / "s", n=3)
    one = read_image(files[0])  # a single file is read on its own, not with its neighbours
    assert one.size[2] == 1 and one.metadata["format"] == "dicom"
    assert np.array_equal(one.array[0], expected[0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM image series"):
        read_image(tmp_path / "empty")


# ------------------------------------------------------------------ refusals
def test_inconsistent_orientation_is_refused_naming_files(tmp_path):
    files, _, _ = write_series(tmp_path / "s", n=4, shuffle_names=False)
    ds = pydicom.dcmread(files[2])
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(files[2])
    with pytest.raises(InputError, match="inconsistent orientation") as err:
        read_dicom_series(files)
    assert files[2].name in str(err.value)


def test_inconsistent_size_is_refused(tmp_path):
    files, _, _ = write_series(tmp_path / "s", n=3, shuffle_names=False)
    extra, _, _ = write_series(tmp_path / "t", n=1, rows=8, cols=8, shuffle_names=False)
    ds = pydicom.dcmread(extra[0])
    ds.SeriesInstanceUID = pydicom.dcmread(files[0]).SeriesInstanceUID
    ds.ImagePositionPatient = [-20.0, 15.0, 47.5]
    ds.save_as(tmp_path / "s" / "odd.dcm")
    with pytest.raises(InputError, match="inconsistent image size") as err:
        read_image(tmp_path / "s")
    assert "odd.dcm" in str(err.value)


def test_duplicate_positions_are_refused_naming_files(tmp_path):
    files, _, _ = write_series(tmp_path / "s", depths=[0, 2.5, 2.5, 5.0], shuffle_names=False)
    with pytest.raises(InputError, match="duplicate slice positions") as err:
        read_dicom_series(files)
    assert files[1].name in str(err.value) and files[2].name in str(err.value)


def test_gap_is_refused_naming_files(tmp_path):
    files, _, _ = write_series(tmp_path / "s", depths=[0, 2.5, 5.0, 10.0, 12.5], shuffle_names=False)
    with pytest.raises(InputError, match="gap") as err:
        read_dicom_series(files)
    assert files[2].name in str(err.value) and files[3].name in str(err.value)
    assert "1 missing slice" in str(err.value)


def test_gantry_tilt_is_refused(tmp_path):
    files, _, _ = write_series(tmp_path / "s", n=4, shuffle_names=False)
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ipp = [float(v) for v in ds.ImagePositionPatient]
        ipp[1] += 0.8 * k  # slices slide sideways: a tilted gantry
        ds.ImagePositionPatient = ipp
        ds.save_as(path)
    with pytest.raises(UnsupportedInputError, match="not stacked along their normal"):
        read_dicom_series(files)


def test_non_image_missing_and_corrupt_files_are_refused(tmp_path):
    sr = write_non_image(tmp_path / "report.dcm")
    with pytest.raises(UnsupportedInputError, match="non-image DICOM") as err:
        read_image(sr)
    assert "report.dcm" in str(err.value)
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "nope.dcm")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x01\x02" * 50)
    with pytest.raises(InputError) as err:
        read_image(bad)
    assert "bad.dcm" in str(err.value)
    (tmp_path / "only_sr").mkdir()
    write_non_image(tmp_path / "only_sr" / "x.dcm")
    with pytest.raises(InputError, match="no DICOM image series"):
        read_image(tmp_path / "only_sr")


def test_truncated_pixel_data_is_refused(tmp_path):
    files, _, _ = write_series(tmp_path / "s", n=3, shuffle_names=False)
    raw = files[1].read_bytes()
    files[1].write_bytes(raw[:-40])
    with pytest.raises(InputError) as err:
        read_dicom_series(files)
    assert str(tmp_path / "s") in str(err.value)


def test_pydicom_shipped_files():
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut

    ct_path = get_testdata_file("CT_small.dcm")
    ct = read_image(ct_path)
    ds = pydicom.dcmread(ct_path)
    assert ct.size == (int(ds.Columns), int(ds.Rows), 1)
    assert np.allclose(ct.array[0], apply_modality_lut(ds.pixel_array, ds))
    assert np.allclose(ct.origin, [float(v) for v in ds.ImagePositionPatient])
    assert np.allclose(ct.spacing[:2], [float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])])
    assert ct.metadata["modality"] == "CT" and ct.metadata["rescale_applied"]

    mr = read_image(get_testdata_file("MR_small.dcm"))
    assert mr.size == (64, 64, 1) and mr.metadata["modality"] == "MR"
    siemens = read_image(get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    assert siemens.size[:2] == (484, 484) and siemens.metadata["dicom_tags"]["Manufacturer"].upper() == "SIEMENS"
    # enhanced multi-frame with its functional groups stripped: no geometry -> refused, not guessed
    with pytest.raises(UnsupportedInputError, match="multi-frame"):
        read_image(get_testdata_file("emri_small.dcm"))
    # secondary capture without patient geometry; RT structure set without pixels
    with pytest.raises(UnsupportedInputError, match="not placed in patient space"):
        read_image(get_testdata_file("SC_rgb.dcm"))
    with pytest.raises(UnsupportedInputError, match="non-image"):
        read_image(get_testdata_file("rtstruct.dcm"))


# --------------------------------------------------------------- multi-frame
def test_enhanced_mr_multiframe_matches_classic_series(tmp_path):
    import highdicom as hd

    rot = _rotation(-20.0, 10.0)
    files, expected, geometry = write_series(
        tmp_path / "classic", modality="MR", rotation=rot, intercept=0.0, step=2.0, n=4
    )
    legacy = [pydicom.dcmread(f) for f in files]
    for ds in legacy:  # Type 2 attributes highdicom 0.27 (Slicer 5.12.3's) copies from the source images
        for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate", "StudyTime"):
            setattr(ds, keyword, getattr(ds, keyword, ""))
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy, series_instance_uid=generate_uid(), series_number=9, sop_instance_uid=generate_uid(), instance_number=1
    )
    path = tmp_path / "enhanced.dcm"
    enhanced.save_as(path)
    image = read_image(path)
    assert image.metadata["dicom_kind"] == "multiframe"
    assert image.size == (7, 6, 4)
    _assert_geometry(image, geometry)
    assert np.allclose(image.array, expected)
    assert "Secretname" not in json.dumps(image.metadata, default=str)


# -------------------------------------------------------------------- mosaic
def _write_fake_mosaic(path: Path, volume: np.ndarray, *, with_count_tag: bool = True) -> dict:
    """Tile volume [k, rows, cols] into a Siemens-style MOSAIC with the count in (0019,100A), no CSA header."""
    n, rows, cols = volume.shape
    tiles = math.ceil(math.sqrt(n))
    mosaic = np.zeros((tiles * rows, tiles * cols), dtype=np.uint16)
    for k in range(n):
        r, c = divmod(k, tiles)
        mosaic[r * rows : (r + 1) * rows, c * cols : (c + 1) * cols] = volume[k]
    rot = _rotation(10.0, 20.0)
    row_dir, col_dir = rot[:, 0], rot[:, 1]
    dr, dc = 2.0, 1.5
    first_slice = np.array([-30.0, -40.0, 10.0])
    # Siemens puts the MOSAIC's IPP at the corner of the whole tiled image, centred on the slice
    shift = ((tiles - 1) * rows / 2.0) * col_dir * dr + ((tiles - 1) * cols / 2.0) * row_dir * dc
    ds = _base_dataset(MRImageStorage, "MR", generate_uid(), generate_uid())
    ds.Manufacturer = "SIEMENS"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.Rows, ds.Columns = mosaic.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [dr, dc]
    ds.SliceThickness = 3.0
    ds.SpacingBetweenSlices = 3.5
    ds.ImageOrientationPatient = [f"{v:.10f}" for v in (*row_dir, *col_dir)]
    ds.ImagePositionPatient = [f"{v:.10f}" for v in first_slice - shift]
    ds.InstanceNumber = 1
    if with_count_tag:
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0A, "US", n)
    ds.PixelData = mosaic.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return {"origin": first_slice, "direction": rot, "spacing": (dc, dr, 3.5)}


def test_fake_mosaic_is_demosaiced(tmp_path):
    rng = np.random.default_rng(1)
    volume = rng.integers(0, 4000, size=(5, 4, 6)).astype(np.uint16)
    geometry = _write_fake_mosaic(tmp_path / "mosaic.dcm", volume)
    image = read_image(tmp_path / "mosaic.dcm")
    assert image.metadata["dicom_kind"] == "mosaic"
    assert image.size == (6, 4, 5)
    assert np.array_equal(image.array, volume)
    _assert_geometry(image, geometry)
    assert "cross product" in image.metadata["mosaic_slice_normal_source"]


def test_mosaic_without_slice_count_is_refused(tmp_path):
    volume = np.ones((5, 4, 6), dtype=np.uint16)
    _write_fake_mosaic(tmp_path / "nocount.dcm", volume, with_count_tag=False)
    with pytest.raises(UnsupportedInputError, match="NumberOfImagesInMosaic") as err:
        read_image(tmp_path / "nocount.dcm")
    assert "nocount.dcm" in str(err.value)


def test_nibabel_siemens_dwi_mosaic_matches_spm_geometry(tmp_path):
    """nibabel ships a real Siemens DWI MOSAIC; its expected affine there was derived with SPM."""
    import nibabel.nicom.tests as nicom_tests

    data = Path(nicom_tests.__file__).parent / "data"
    path = tmp_path / "siemens_dwi_1000.dcm"
    with gzip.open(data / "siemens_dwi_1000.dcm.gz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    image = read_image(path)
    assert image.size == (128, 128, 48)
    assert image.metadata["mosaic_slice_normal_source"] == "CSA SliceNormalVector"
    # SPM-derived voxel(row, col, slice)->RAS from nibabel's test_dicomwrappers.EXPECTED_AFFINE
    spm_ras = np.array(
        [
            [0, -1.796875, 0, 115],
            [-1.79684984, 0, -0.01570896, 135.028779],
            [-0.00940843750, 0, 2.99995887, -78.710481],
        ]
    )
    ours = image.ijk_to_ras[:3, [1, 0, 2, 3]]  # our i is the column index, j the row index
    assert np.allclose(ours, spm_ras, atol=1e-4)
    # the de-mosaiced slices are the tiles of the raw mosaic, in order
    raw = pydicom.dcmread(path).pixel_array
    for k in (0, 13, 47):
        r, c = divmod(k, 7)
        assert np.array_equal(image.array[k], raw[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128])


def test_mosaic_that_does_not_tile_is_refused_clearly():
    import nibabel.nicom.tests as nicom_tests

    path = Path(nicom_tests.__file__).parent / "data" / "0.dcm"  # 256x256 pixels claiming 48 slices
    with pytest.raises(InputError, match="cannot hold 48 slices") as err:
        read_image(path)
    assert "0.dcm" in str(err.value)
