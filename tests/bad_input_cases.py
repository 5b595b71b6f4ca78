"""Generators of bad (and a few good) inputs for the input-validation tests: files, DICOM series, phase.

Every generator writes small volumes (a few hundred kB) so the whole corpus runs in well under a minute.
``CASES`` lists the corpus: each case writes its inputs into a folder and names the task, the inputs
(``KEY=PATH`` as on the command line) and the exact expected behaviour (refusal or notice, by a regex).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from dicom_series import new_dataset
from pydicom.uid import CTImageStorage, MRImageStorage, RTDoseStorage, generate_uid

REFUSED = "refused"
NOTICE = "notice"


def head_array(shape: tuple[int, int, int] = (40, 48, 48), seed: int = 0, level: float = 600.0) -> np.ndarray:
    """A [k, j, i] float32 ellipsoid 'head' with texture and background noise (varied, finite, not a mask)."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    inside = (k / 0.85) ** 2 + (j / 0.8) ** 2 + (i / 0.75) ** 2 < 1.0
    arr = rng.normal(5.0, 2.0, shape)
    arr[inside] = level + 80.0 * np.sin(6 * i[inside]) * np.cos(5 * j[inside]) + rng.normal(0, 20, inside.sum())
    return np.abs(arr).astype(np.float32)


def write_nifti(path: Path, arr: np.ndarray, spacing: tuple[float, ...] = (4.0, 4.0, 4.0), *,
                dtype: type | None = None, codes: tuple[int, int] = (1, 1)) -> Path:
    """A NIfTI of ``arr`` given [k, j, i] (written i, j, k as NIfTI stores it) with a diagonal RAS affine."""
    data = np.asarray(arr)
    data = np.transpose(data, tuple(reversed(range(min(data.ndim, 3))))) if data.ndim <= 3 else data
    if dtype is not None:
        data = data.astype(dtype)
    affine = np.diag([*(float(s) for s in spacing[:3]), 1.0])
    img = nib.Nifti1Image(data, affine if any(codes) else None)
    if any(codes):
        img.header.set_qform(affine, code=codes[0])
        img.header.set_sform(affine, code=codes[1])
    if spacing and data.ndim >= 1:
        img.header.set_zooms(tuple(float(s) for s in spacing[: data.ndim]) + (1.0,) * max(0, data.ndim - 3))
    nib.save(img, str(path))
    return path


def write_sitk(path: Path, arr: np.ndarray, spacing: tuple[float, float, float] = (4.0, 4.0, 4.0),
               compress: bool = False) -> Path:
    """NRRD/MHA (by suffix) of a [k, j, i] array."""
    img = sitk.GetImageFromArray(np.asarray(arr))
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path), useCompression=compress)
    return path


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cut ``path`` to ``fraction`` of its size (in place)."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    return path


def gzip_truncated(path: Path, arr: np.ndarray, spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)) -> Path:
    """A .nii.gz whose compressed stream stops half-way."""
    write_nifti(path, arr, spacing)
    return truncate(path, 0.5)


# ------------------------------------------------------------------------------------------------ DICOM
def write_dicom_series(folder: Path, arr: np.ndarray, *, modality: str = "MR", spacing: tuple[float, float, float]
                       = (4.0, 4.0, 4.0), body_part: str | None = None, image_type: tuple[str, ...] =
                       ("ORIGINAL", "PRIMARY", "M", "ND"), description: str = "t1_mprage_sag",
                       slope: float = 1.0, intercept: float = 0.0, signed: bool = False,
                       bits_stored: int = 16, extra: dict | None = None, sop_class: str | None = None) -> Path:
    """A classic single-frame series of ``arr`` ([k, j, i] stored values) with the given tags."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    sop_class = sop_class or (CTImageStorage if modality == "CT" else MRImageStorage)
    stored = np.asarray(arr)
    stored = stored.astype(np.int16 if signed else np.uint16)
    for k in range(stored.shape[0]):
        ds = new_dataset(sop_class)
        ds.Modality = modality
        ds.PatientID, ds.PatientName = "BADINPUT", "Bad^Input"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.SeriesNumber, ds.InstanceNumber = 5, k + 1
        ds.SeriesDescription = description
        if body_part is not None:
            ds.BodyPartExamined = body_part
        ds.ImageType = list(image_type)
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.PixelSpacing = [f"{spacing[1]:.6g}", f"{spacing[0]:.6g}"]
        ds.SliceThickness = f"{spacing[2]:.6g}"
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.ImagePositionPatient = ["-90", "-100", f"{-60 + k * spacing[2]:.6g}"]
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.6g}", f"{intercept:.6g}"
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(folder / f"im{k:03d}.dcm", enforce_file_format=True)
    return folder


def ct_head_array(shape: tuple[int, int, int] = (40, 48, 48), seed: int = 2) -> np.ndarray:
    """A [k, j, i] float32 'CT head' in Hounsfield units: air -1000 outside, brain ~35, a skull ring ~1000."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    r = np.sqrt((k / 0.85) ** 2 + (j / 0.8) ** 2 + (i / 0.75) ** 2)
    arr = np.where(r < 0.88, 35.0, np.where(r < 1.0, 1000.0, -1000.0)) + rng.normal(0, 12, shape)
    return np.round(arr).astype(np.float32)


def siemens_phase_stored(shape: tuple[int, int, int] = (40, 48, 48), seed: int = 1) -> np.ndarray:
    """Stored values 0..4095 of a raw Siemens phase (slope 2, intercept -4096 -> -4096..4094): wrapped ramp."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    radians = np.angle(np.exp(1j * (0.35 * i + 0.2 * j + 0.1 * k)))
    rng = np.random.default_rng(seed)
    radians = np.angle(np.exp(1j * (radians + rng.normal(0, 0.05, shape))))
    return np.clip(np.round((radians / np.pi) * 2048 + 2048), 0, 4095).astype(np.uint16)


# ------------------------------------------------------------------------------------------------ corpus
@dataclass
class Case:
    """One corpus entry: what it writes, which task it goes to and the expected behaviour."""

    name: str
    task: str
    make: Callable[[Path], dict[str, Path]]
    outcome: str
    match: str
    cli: bool = False
    options: dict = field(default_factory=dict)


def _one(key: str, writer: Callable[[Path], Path], file_name: str) -> Callable[[Path], dict[str, Path]]:
    return lambda d: {key: writer(d / file_name)}


HEAD = head_array()
SMALL_CMB = head_array((40, 48, 48), seed=3)
LGE_STACK = head_array((8, 64, 64), seed=4)
CT_HEAD = ct_head_array()


CMB_MM = (2.5, 2.5, 2.5)


def _mag_phase(phase_writer: Callable[[Path], Path]) -> Callable[[Path], dict[str, Path]]:
    def make(d: Path) -> dict[str, Path]:
        return {"magnitude": write_nifti(d / "mag.nii.gz", SMALL_CMB, CMB_MM),
                "phase": phase_writer(d / "phase.nii.gz")}
    return make


def _ramp_phase(shape: tuple[int, int, int] = (40, 48, 48)) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return np.angle(np.exp(1j * (0.35 * i + 0.2 * j + 0.1 * k))).astype(np.float32)


def _dicom_mag_phase(d: Path) -> dict[str, Path]:
    mag = write_dicom_series(d / "mag", SMALL_CMB, description="swi_mag", body_part="HEAD", spacing=CMB_MM)
    phase = write_dicom_series(d / "pha", siemens_phase_stored(), description="swi_pha", body_part="HEAD",
                               spacing=CMB_MM,
                               image_type=("ORIGINAL", "PRIMARY", "P", "ND"), slope=2.0, intercept=-4096.0,
                               bits_stored=12)
    return {"magnitude": mag, "phase": phase}


FLAIR_TAGS = {"RepetitionTime": "9000", "EchoTime": "85", "InversionTime": "2500", "ScanningSequence": "SE\\IR"}


def _binary(arr: np.ndarray) -> np.ndarray:
    return (arr > arr.mean()).astype(np.float32)


CASES: list[Case] = [
    # ---------------------------------------------------------------- file completeness
    Case("nii_gz_truncated_half", "mri_triage", _one("T1", lambda p: gzip_truncated(p, HEAD), "t1.nii.gz"),
         REFUSED, r"compressed stream ends early|truncated", cli=True),
    Case("nii_raw_truncated_half", "mri_triage", _one("T1", lambda p: truncate(write_nifti(p, HEAD)), "t1.nii"),
         REFUSED, r"truncated, the header describes", cli=True),
    Case("nii_header_only_348", "body_region",
         _one("ct", lambda p: p.write_bytes(write_nifti(p, HEAD).read_bytes()[:348]) and p, "ct.nii"),
         REFUSED, r"header only|truncated", cli=True),
    Case("nii_gz_corrupt_crc", "body_region", _one("ct", lambda p: _corrupt_gzip(write_nifti(p, HEAD)), "ct.nii.gz"),
         REFUSED, r"corrupt compressed stream|compressed stream ends early"),
    Case("nrrd_raw_truncated", "body_region", _one("ct", lambda p: truncate(write_sitk(p, HEAD), 0.6), "ct.nrrd"),
         REFUSED, r"truncated", cli=True),
    Case("nrrd_gzip_truncated", "body_region",
         _one("ct", lambda p: truncate(write_sitk(p, HEAD, compress=True), 0.6), "ct.nrrd"),
         REFUSED, r"truncated|compressed stream ends early"),
    Case("mha_raw_truncated", "body_region", _one("ct", lambda p: truncate(write_sitk(p, HEAD), 0.6), "ct.mha"),
         REFUSED, r"truncated"),
    Case("mha_compressed_truncated", "body_region",
         _one("ct", lambda p: truncate(write_sitk(p, HEAD, compress=True), 0.6), "ct.mha"),
         REFUSED, r"truncated|compressed stream ends early"),
    Case("nii_complex64", "mri_triage",
         _one("T1", lambda p: write_nifti(p, HEAD.astype(np.complex64) * (1 + 1j)), "t1.nii.gz"),
         REFUSED, r"complex", cli=True),
    Case("nii_1x1x1", "body_region", _one("ct", lambda p: write_nifti(p, np.ones((1, 1, 1), np.float32)), "ct.nii.gz"),
         REFUSED, r"1x1x1|a single voxel", cli=True),
    Case("nii_qform_sform_zero", "body_region",
         _one("ct", lambda p: write_nifti(p, HEAD, codes=(0, 0)), "ct.nii.gz"),
         NOTICE, r"no orientation.*assumed", cli=True),
    # ---------------------------------------------------------------- values
    Case("nii_some_nan", "body_region",
         _one("ct", lambda p: write_nifti(p, _with(HEAD, np.nan, 500)), "ct.nii.gz"),
         NOTICE, r"500 voxel\(s\) .*NaN or infinite", cli=True),
    Case("nii_some_inf_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, _with(LGE_STACK, np.inf, 37), (1.8, 1.8, 8.0)), "lge.nii.gz"),
         NOTICE, r"37 voxel\(s\) .*NaN or infinite"),
    Case("nii_all_nan_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, np.full((8, 64, 64), np.nan, np.float32), (1.8, 1.8, 8.0)),
              "lge.nii.gz"), REFUSED, r"no finite voxel values", cli=True),
    Case("nii_all_nan_body", "body_region",
         _one("ct", lambda p: write_nifti(p, np.full(HEAD.shape, np.nan, np.float32)), "ct.nii.gz"),
         REFUSED, r"no finite voxel values"),
    Case("nii_all_zero_body", "body_region",
         _one("ct", lambda p: write_nifti(p, np.zeros(HEAD.shape, np.float32)), "ct.nii.gz"),
         REFUSED, r"blank|constant", cli=True),
    Case("nii_constant_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, np.full((8, 64, 64), 300.0, np.float32), (1.8, 1.8, 8.0)),
              "lge.nii.gz"), REFUSED, r"constant", cli=True),
    Case("nii_constant_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, np.full(HEAD.shape, 7.0, np.float32)), "swi.nii.gz"),
         REFUSED, r"constant"),
    Case("nii_almost_blank_body", "body_region",
         _one("ct", lambda p: write_nifti(p, _almost_blank(HEAD.shape)), "ct.nii.gz"), REFUSED, r"blank"),
    Case("nii_binary_mask_as_T1", "mri_triage",
         _one("T1", lambda p: write_nifti(p, _binary(HEAD), dtype=np.uint8), "mask.nii.gz"),
         REFUSED, r"mask or label map", cli=True),
    Case("nii_binary_mask_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, _binary(HEAD)), "swi.nii.gz"), REFUSED, r"mask or label map"),
    Case("nii_label_map_body", "body_region",
         _one("ct", lambda p: write_nifti(p, np.round(HEAD / 150.0), dtype=np.int16), "seg.nii.gz"),
         REFUSED, r"mask or label map"),
    # ---------------------------------------------------------------- dimensionality and extent (contracts)
    Case("nii_2d_slice_triage", "mri_triage",
         _one("T1", lambda p: _write_2d(p, HEAD[20]), "slice.nii.gz"), REFUSED, r"single slice|1 slice", cli=True),
    Case("nii_one_slice_volume_triage", "mri_triage",
         _one("T1", lambda p: write_nifti(p, HEAD[20:21]), "t1.nii.gz"), REFUSED, r"single slice"),
    Case("nii_4cube_triage", "mri_triage",
         _one("T1", lambda p: write_nifti(p, head_array((4, 4, 4))), "t1.nii.gz"), REFUSED, r"4x4x4", cli=True),
    Case("nii_10mm_head_triage", "mri_triage",
         _one("T1", lambda p: write_nifti(p, head_array((91, 109, 91)), (10.0, 10.0, 10.0)), "t1.nii.gz"),
         REFUSED, r"field of view|voxel", cli=True),
    Case("nii_10mm_head_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, head_array((91, 109, 91)), (10.0, 10.0, 10.0)), "swi.nii.gz"),
         REFUSED, r"field of view|voxel", cli=True),
    Case("nii_2d_slice_cmb", "cmb_detect",
         _one("magnitude", lambda p: _write_2d(p, HEAD[20]), "swi.nii.gz"), REFUSED, r"single slice|1 slice"),
    Case("nii_one_slice_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, HEAD[20:21]), "swi.nii.gz"), REFUSED, r"single slice"),
    Case("nii_4cube_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, head_array((4, 4, 4))), "swi.nii.gz"), REFUSED, r"4x4x4"),
    Case("nii_tiny_fov_triage", "mri_triage",
         _one("T1", lambda p: write_nifti(p, HEAD, (0.5, 0.5, 0.5)), "t1.nii.gz"), REFUSED, r"field of view"),
    Case("nii_thick_voxels_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, head_array((12, 48, 48)), (4.0, 4.0, 12.0)), "swi.nii.gz"),
         REFUSED, r"voxel"),
    Case("nii_tiny_inplane_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, head_array((8, 8, 8)), (1.8, 1.8, 8.0)), "lge.nii.gz"),
         REFUSED, r"8x8"),
    Case("nii_huge_pixels_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, LGE_STACK, (20.0, 20.0, 8.0)), "lge.nii.gz"), REFUSED, r"voxel|field"),
    Case("nii_4cube_body", "body_region",
         _one("ct", lambda p: write_nifti(p, head_array((4, 4, 4))), "ct.nii.gz"), REFUSED, r"4x4x4"),
    # ---------------------------------------------------------------- DICOM tags: modality, body part, image type
    Case("dicom_ct_to_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_dicom_series(p, HEAD, modality="CT", intercept=-1024.0), "ct"),
         REFUSED, r"Modality CT.*cmb_detect", cli=True),
    Case("dicom_ct_to_lge", "lge_certainty",
         _one("lge", lambda p: write_dicom_series(p, LGE_STACK, modality="CT", spacing=(1.8, 1.8, 8.0),
                                                  intercept=-1024.0), "ct"),
         REFUSED, r"Modality CT.*lge_certainty", cli=True),
    Case("dicom_ct_as_T1_triage", "mri_triage",
         _one("T1", lambda p: write_dicom_series(p, HEAD, modality="CT", intercept=-1024.0), "ct"),
         REFUSED, r"Modality CT.*mri_triage"),
    Case("dicom_ct_as_T2_triage", "mri_triage",
         _one("T2", lambda p: write_dicom_series(p, HEAD, modality="CT", intercept=-1024.0), "ct"),
         REFUSED, r"Modality CT"),
    Case("dicom_chest_to_triage", "mri_triage",
         _one("T1", lambda p: write_dicom_series(p, HEAD, body_part="CHEST"), "chest"),
         REFUSED, r"BodyPartExamined CHEST", cli=True),
    Case("dicom_knee_to_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_dicom_series(p, HEAD, body_part="KNEE", description="swi"), "knee"),
         REFUSED, r"BodyPartExamined KNEE"),
    Case("dicom_brain_to_lge", "lge_certainty",
         _one("lge", lambda p: write_dicom_series(p, HEAD, body_part="BRAIN"), "brain"),
         REFUSED, r"BodyPartExamined BRAIN.*not cardiac", cli=True),
    Case("dicom_phase_as_T1", "mri_triage",
         _one("T1", lambda p: write_dicom_series(p, siemens_phase_stored(), slope=2.0, intercept=-4096.0,
                                                 image_type=("ORIGINAL", "PRIMARY", "P", "ND"), body_part="HEAD"),
              "phase"), REFUSED, r"ImageType .*P.*phase image, not T1", cli=True),
    Case("dicom_phase_as_cmb_magnitude", "cmb_detect",
         _one("magnitude", lambda p: write_dicom_series(p, siemens_phase_stored(), slope=2.0, intercept=-4096.0,
                                                        image_type=("ORIGINAL", "PRIMARY", "P", "ND")), "phase"),
         REFUSED, r"phase image.*magnitude"),
    # ---------------------------------------------------------------- CT values in a file without tags
    Case("nifti_ct_hu_to_cmb", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, CT_HEAD, dtype=np.int16), "head.nii.gz"),
         REFUSED, r"look like CT Hounsfield units .*cmb_detect reads MR only", cli=True),
    Case("nifti_ct_hu_to_lge", "lge_certainty",
         _one("lge", lambda p: write_nifti(p, ct_head_array((8, 64, 64)), (1.8, 1.8, 8.0), dtype=np.int16),
              "chest.nii.gz"), REFUSED, r"look like CT Hounsfield units .*lge_certainty", cli=True),
    Case("nifti_ct_hu_as_T1", "mri_triage",
         _one("T1", lambda p: write_nifti(p, CT_HEAD, dtype=np.int16), "t1.nii.gz"),
         REFUSED, r"look like CT Hounsfield units .*mri_triage"),
    Case("dicom_pet_to_body", "body_region",
         _one("ct", lambda p: write_dicom_series(p, HEAD, modality="PT"), "pet"), REFUSED, r"Modality PT"),
    Case("dicom_rtdose_to_body", "body_region",
         _one("ct", lambda p: write_dicom_series(p, HEAD, modality="RTDOSE", sop_class=RTDoseStorage), "dose"),
         REFUSED, r"non-image DICOM object|no DICOM image series", cli=True),
    Case("dicom_flair_named_T1", "mri_triage",
         _one("T1", lambda p: write_dicom_series(p, HEAD, description="t2_tirm_tra_dark-fluid", body_part="HEAD",
                                                 extra=FLAIR_TAGS), "flair"),
         NOTICE, r"named T1 but its DICOM tags read as FLAIR"),
    Case("dicom_sr_only_folder", "body_region", lambda d: {"ct": _sr_folder(d / "sr")}, REFUSED,
         r"no DICOM image series|not an image"),
    # ---------------------------------------------------------------- phase
    Case("phase_dicom_siemens_units", "cmb_detect", _dicom_mag_phase, NOTICE,
         r"phase converted from scanner units .*-4096.*radians", cli=True),
    Case("phase_nifti_int_units", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, siemens_phase_stored().astype(np.int16) * 2 - 4096, CMB_MM,
                                          dtype=np.int16)),
         NOTICE, r"phase converted from scanner units"),
    Case("phase_nifti_uint12_units", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, siemens_phase_stored(), CMB_MM, dtype=np.uint16)),
         NOTICE, r"phase converted from scanner units .*0\.\.4095"),
    Case("phase_nifti_milliradians", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, np.round(_ramp_phase() * 1000.0), CMB_MM, dtype=np.int16)),
         NOTICE, r"phase converted from milliradians"),
    Case("phase_nifti_constant", "cmb_detect", _mag_phase(lambda p: write_nifti(p, np.zeros(HEAD.shape), CMB_MM)),
         REFUSED, r"phase .*constant"),
    Case("phase_nifti_all_nan", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, np.full(HEAD.shape, np.nan, np.float32), CMB_MM)),
         REFUSED, r"phase .*no finite voxel values"),
    Case("phase_nifti_unknown_units", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, _ramp_phase() * 37.3 + 200.0, CMB_MM)),
         REFUSED, r"phase units not recognised"),
    Case("phase_nifti_other_grid", "cmb_detect",
         _mag_phase(lambda p: write_nifti(p, _ramp_phase((20, 24, 24)), (8.0, 8.0, 8.0))),
         REFUSED, r"phase .*not on the magnitude's grid"),
    Case("cmb_working_grid_cap", "cmb_detect",
         _one("magnitude", lambda p: write_nifti(p, head_array((90, 90, 90)), (4.0, 4.0, 4.0)), "swi.nii.gz"),
         REFUSED, r"working grid .*voxels", options={}),
]


def _with(arr: np.ndarray, value: float, count: int) -> np.ndarray:
    out = arr.copy().ravel()
    out[np.linspace(0, out.size - 1, count).astype(int)] = value
    return out.reshape(arr.shape)


def _almost_blank(shape: tuple[int, int, int]) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out.ravel()[:5] = [1.0, 2.0, 3.0, 4.0, 5.0]
    return out


def _write_2d(path: Path, slice2d: np.ndarray) -> Path:
    img = nib.Nifti1Image(np.ascontiguousarray(slice2d.T), np.diag([4.0, 4.0, 4.0, 1.0]))
    nib.save(img, str(path))
    return path


def _corrupt_gzip(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    for pos in range(len(data) // 2, len(data) // 2 + 64):
        data[pos] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def _sr_folder(folder: Path) -> Path:
    from pydicom.uid import BasicTextSRStorage

    folder.mkdir(parents=True, exist_ok=True)
    ds = new_dataset(BasicTextSRStorage)
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = "SR", generate_uid(), generate_uid()
    ds.save_as(folder / "sr.dcm", enforce_file_format=True)
    return folder


__all__ = ["CASES", "NOTICE", "REFUSED", "Case", "head_array", "write_dicom_series", "write_nifti"]
