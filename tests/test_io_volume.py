"""Volume files: NIfTI RAS -> LPS, shear refusal, 4D as components, bad files, exact write/read round trips."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from radtriage.errors import InputError, UnsupportedInputError
from radtriage.image import Image
from radtriage.io import VOLUME_SUFFIXES, read_image, read_volume, write_volume

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
DIPY_DATA = Path(__import__("dipy").__file__).parent / "data" / "files"


def _oblique_affine(zooms=(0.9, 1.3, 2.5), deg=(20.0, -15.0, 35.0), shift=(12.5, -40.0, 7.25)) -> np.ndarray:
    """A voxel -> RAS affine with a rotation about all three axes (no shear)."""
    a, b, c = np.radians(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ ry @ rx @ np.diag(zooms)
    affine[:3, 3] = shift
    return affine


def _assert_matches_nibabel(image: Image, path: Path) -> None:
    """Our geometry, taken to RAS, equals nibabel's affine; voxel [k,j,i] equals nibabel's [i,j,k]."""
    nii = nib.load(str(path))
    assert np.allclose(image.ijk_to_ras, nii.affine, atol=1e-4)
    # ITK (and so Slicer and this reader) turns NaN voxels of NIfTI files into 0
    data = np.nan_to_num(np.asanyarray(nii.dataobj), nan=0.0)
    if data.ndim == 3:
        assert np.allclose(image.array, np.transpose(data, (2, 1, 0)))
    else:
        assert np.allclose(image.array, np.transpose(data, (2, 1, 0, 3)))


def test_nifti_ras_comes_out_in_lps(tmp_path):
    affine = _oblique_affine()
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = tmp_path / "oblique.nii.gz"
    nib.Nifti1Image(data, affine).to_filename(path)
    image = read_volume(path)
    assert image.size == (4, 5, 6)
    assert np.allclose(image.spacing, (0.9, 1.3, 2.5), atol=1e-5)
    # LPS = RAS with x and y negated
    assert np.allclose(image.origin, (-12.5, 40.0, 7.25), atol=1e-4)
    assert np.allclose(image.ijk_to_lps, np.diag([-1, -1, 1, 1]) @ affine, atol=1e-5)
    _assert_matches_nibabel(image, path)
    meta = image.metadata
    assert meta["format"] == "nifti" and meta["description"] == "oblique" and meta["source_path"] == str(path)


@pytest.mark.parametrize(
    "path",
    [
        NIBABEL_DATA / "anatomical.nii",
        NIBABEL_DATA / "standard.nii.gz",
        NIBABEL_DATA / "resampled_anat_moved.nii",
        NIBABEL_DATA / "example4d.nii.gz",
        DIPY_DATA / "aniso_vox.nii.gz",
        DIPY_DATA / "small_25.nii.gz",
    ],
    ids=lambda p: p.name,
)
def test_shipped_nifti_files_agree_with_nibabel(path):
    image = read_volume(path)
    _assert_matches_nibabel(image, path)


def test_nibabel_sform_wins_over_a_different_qform(tmp_path):
    sform = _oblique_affine()
    nii = nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), sform)
    nii.set_qform(np.diag([2.0, 2.0, 2.0, 1.0]), code=1)
    path = tmp_path / "two_forms.nii"
    nii.to_filename(path)
    image = read_volume(path)
    assert np.allclose(image.ijk_to_ras, sform, atol=1e-4)


@pytest.mark.parametrize("with_qform", [True, False])
def test_sheared_nifti_is_refused(tmp_path, with_qform):
    sheared = np.array([[2.0, 0.6, 0, 10], [0, 2.0, 0, 20], [0, 0, 3.0, 30], [0, 0, 0, 1]])
    nii = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), sheared)
    if with_qform:  # ITK would silently fall back to this orthogonal qform
        nii.set_qform(np.diag([2.0, 2.0, 3.0, 1.0]), code=1)
    else:
        nii.set_qform(None, code=0)
    path = tmp_path / "sheared.nii.gz"
    nii.to_filename(path)
    with pytest.raises(UnsupportedInputError, match="shear") as err:
        read_image(path)
    assert "sheared.nii.gz" in str(err.value)


def test_sheared_nrrd_is_refused(tmp_path):
    raw = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    header = (
        "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 3 2\n"
        "space directions: (1,0,0) (0.5,1,0) (0,0,2)\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n\n"
    )
    path = tmp_path / "sheared.nrrd"
    path.write_bytes(header.encode() + raw.tobytes())
    with pytest.raises(UnsupportedInputError, match="shear"):
        read_volume(path)


def test_4d_nifti_loads_as_components(tmp_path):
    affine = _oblique_affine()
    data = np.random.default_rng(0).random((5, 4, 3, 3)).astype(np.float32)
    path = tmp_path / "multi_echo.nii.gz"
    nib.Nifti1Image(data, affine).to_filename(path)
    image = read_volume(path)
    assert image.array.shape == (3, 4, 5, 3) and image.n_components == 3
    for c in range(3):
        assert np.array_equal(image.array[..., c], data[..., c].transpose(2, 1, 0))
    assert np.allclose(image.ijk_to_ras, affine, atol=1e-5)


def test_nifti_nan_voxels_become_zero_like_itk(tmp_path):
    data = np.ones((3, 4, 5), np.float32)
    data[1, 2, 3] = np.nan
    path = tmp_path / "nan.nii"
    nib.Nifti1Image(data, np.eye(4)).to_filename(path)
    image = read_volume(path)
    assert not np.isnan(image.array).any() and image.array[3, 2, 1] == 0 and image.array.sum() == data.size - 1


def test_scaled_nifti_values_are_applied(tmp_path):
    nii = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    nii.header.set_slope_inter(0.5, -3.0)
    path = tmp_path / "scaled.nii"
    nii.to_filename(path)
    image = read_volume(path)
    assert np.allclose(image.array, nib.load(path).get_fdata().transpose(2, 1, 0))


def test_missing_corrupt_and_unknown_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "absent.nii.gz")
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "absent.nrrd")
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(gzip.compress(b"\x00not a nifti header" * 3))
    with pytest.raises(InputError) as err:
        read_volume(corrupt)
    assert "corrupt.nii.gz" in str(err.value)
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 40 30 20\nencoding: raw\n\n" + b"\x00" * 10)
    with pytest.raises(InputError, match="unreadable or corrupt") as err:
        read_volume(truncated)
    assert "truncated.nrrd" in str(err.value)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a volume file"):
        read_volume(text)
    with pytest.raises(InputError, match="not a recognised image file"):
        read_image(text)


def _oblique_image(components: int = 1, dtype=np.float32) -> Image:
    direction = np.diag([-1.0, -1.0, 1.0]) @ _oblique_affine(zooms=(1, 1, 1))[:3, :3]
    shape = (4, 5, 6) if components == 1 else (4, 5, 6, components)
    array = (np.random.default_rng(3).random(shape) * 100).astype(dtype)
    return Image(array, (0.7, 1.1, 2.9), (-101.123456, 33.5, 0.25), direction)


@pytest.mark.parametrize("suffix", VOLUME_SUFFIXES)
def test_write_read_round_trip_keeps_geometry(tmp_path, suffix):
    image = _oblique_image()
    path = write_volume(image, tmp_path / f"out{suffix}")
    back = read_volume(path)
    tol = 1e-5 if "nii" in suffix else 1e-9  # NIfTI stores its affine in single precision
    assert back.size == image.size
    assert np.allclose(back.spacing, image.spacing, atol=tol)
    assert np.allclose(back.origin, image.origin, atol=tol * 100)
    assert np.allclose(back.direction, image.direction, atol=tol)
    assert np.array_equal(back.array, image.array)
    assert back.metadata["description"] == "out"


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_multicomponent_and_boolean_round_trip(tmp_path, suffix):
    image = _oblique_image(components=3)
    back = read_volume(write_volume(image, tmp_path / f"vec{suffix}"))
    assert back.array.shape == image.array.shape
    assert np.array_equal(back.array, image.array)
    mask = image.with_array(image.array[..., 0] > 50)
    back_mask = read_volume(write_volume(mask, tmp_path / f"mask{suffix}"))
    assert np.array_equal(back_mask.array.astype(bool), mask.array)


def test_write_refuses_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="cannot write"):
        write_volume(_oblique_image(), tmp_path / "x.png")


def test_simpleitk_and_our_reader_agree_on_nrrd(tmp_path):
    image = _oblique_image()
    path = tmp_path / "ref.nrrd"
    ref = image.to_sitk()
    sitk.WriteImage(ref, str(path))
    ours = read_image(path)
    assert ours.metadata["format"] == "nrrd"
    assert np.allclose(ours.ijk_to_lps, image.ijk_to_lps, atol=1e-9)
