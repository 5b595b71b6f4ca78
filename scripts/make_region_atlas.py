"""Build ``radtriage/anatomy/data/mni_cmb_regions_2mm.nii.gz``: a lobar / deep / infratentorial map in MNI space.

Derived from the arterial territory atlas (ArterialAtlas136, MNI 1 mm, BSD-2, Copyright (c) 2023, Chris Rorden)
that ``../shared/data/SOOP/NIfTI`` holds; run from the project root::

    .venv/bin/python scripts/make_region_atlas.py [--shared ../shared/data] [--out radtriage/anatomy/data]

Classes (uint8): 0 outside the brain, 1 lobar, 2 deep, 3 infratentorial, from the atlas's territories:

* lobar: ACA, MCA (frontal, parietal, temporal, occipital, insular) and PCA (temporal, occipital) cortical
  territories, their cortex and the white matter they supply;
* deep: medial and lateral lenticulostriate (basal ganglia, internal/external capsule), anterior and posterior
  choroidal / thalamoperforator (thalamus) territories, the lateral ventricles and a 4 mm periventricular rim
  around them (MARS counts periventricular white matter as deep; the rest of the deep white matter that the atlas
  gives to the cortical arteries stays lobar, a documented simplification);
* infratentorial: basilar (brainstem), superior and inferior cerebellar territories, the part of the
  choroidal / thalamoperforator territories below the thalamus (MNI z < -6 mm) within 14 mm of the midline (the
  midbrain; farther out it is the medial temporal lobe: lobar), and the template's brain below the atlas's lower
  edge (MNI z < -50 mm: inferior cerebellum and medulla; the atlas stops there, the MNI template from the nilearn
  package gives the brain mask).

Every class is then grown up to 4 mm into the surrounding background (nearest labelled voxel) so that a cortical
microbleed a few millimetres off after an affine registration keeps its class, and the map is reduced to 2 mm by
majority vote over 2 x 2 x 2 blocks (ties go to the lower code, background first).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

ATLAS = Path("SOOP") / "NIfTI" / "ArterialAtlas136.nii.gz"
LICENSE = Path("SOOP") / "LICENSE.txt"
OUTPUT = "mni_cmb_regions_2mm.nii.gz"
CLASS_CODES = {"lobar": 1, "deep": 2, "infratentorial": 3}
TERRITORY_CLASS = {**{k: "lobar" for k in (1, 2, *range(7, 21))},
                   **{k: "deep" for k in (3, 4, 5, 6, 21, 22, 23, 24, 31, 32)},
                   **{k: "infratentorial" for k in range(25, 31)}}
VENTRICLES = (31, 32)
PERFORATORS = (21, 22, 23, 24)
MIDBRAIN_BELOW_Z = -6.0
MIDBRAIN_HALF_WIDTH_MM = 14.0
ATLAS_BOTTOM_Z = -50.0
TEMPLATE_BOTTOM_Z = -72.0
PERIVENTRICULAR_MM = 4
GROW_MM = 4


def class_map(labels: np.ndarray, mni_x: np.ndarray, mni_z: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Territory labels (1 mm) to class codes (uint8): rules of the module docstring, then the 4 mm growth.

    ``mni_x`` / ``mni_z`` are the MNI (RAS) x and z of every voxel, ``brain`` the template's brain mask there.
    """
    unknown = sorted(set(np.unique(labels).tolist()) - set(TERRITORY_CLASS) - {0})
    if unknown:
        raise SystemExit(f"atlas has labels the table does not classify: {unknown}")
    lut = np.zeros(int(labels.max()) + 1, np.uint8)
    for label, name in TERRITORY_CLASS.items():
        if label < len(lut):
            lut[label] = CLASS_CODES[name]
    codes = lut[labels]
    ball = ndimage.generate_binary_structure(3, 1)
    rim = ndimage.binary_dilation(np.isin(labels, VENTRICLES), ball, iterations=PERIVENTRICULAR_MM)
    codes[rim & (codes == CLASS_CODES["lobar"])] = CLASS_CODES["deep"]
    below = np.isin(labels, PERFORATORS) & (mni_z < MIDBRAIN_BELOW_Z)
    codes[below] = np.where(np.abs(mni_x[below]) <= MIDBRAIN_HALF_WIDTH_MM, CLASS_CODES["infratentorial"],
                            CLASS_CODES["lobar"])
    codes[(codes == 0) & brain & (mni_z < ATLAS_BOTTOM_Z)] = CLASS_CODES["infratentorial"]
    distance, nearest = ndimage.distance_transform_edt(codes == 0, return_indices=True)
    grown = codes[tuple(nearest)]
    return np.where((codes == 0) & (distance <= GROW_MM), grown, codes).astype(np.uint8)


def downsample_majority(codes: np.ndarray) -> np.ndarray:
    """Majority class over 2 x 2 x 2 blocks (arrays padded with background to even sizes)."""
    pad = [(0, s % 2) for s in codes.shape]
    a = np.pad(codes, pad)
    blocks = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, a.shape[2] // 2, 2)
    counts = np.stack([(blocks == c).sum(axis=(1, 3, 5)) for c in range(4)])
    return np.argmax(counts, axis=0).astype(np.uint8)


def build(shared: Path) -> object:
    """The 2 mm class map as a ``SimpleITK.Image`` (LPS geometry of the atlas, block centres)."""
    import SimpleITK as sitk

    from radtriage.anatomy.mni import load_template
    from radtriage.image import Image
    from radtriage.preprocess.resample import resample

    atlas = Image.from_sitk(sitk.ReadImage(str(shared / ATLAS)))
    if not np.allclose(np.abs(atlas.direction), np.eye(3)) or atlas.direction[2, 2] < 0:
        raise SystemExit("the atlas is expected on an axis-aligned grid with k pointing superior")
    extra = round((atlas.origin[2] - TEMPLATE_BOTTOM_Z) / atlas.spacing[2])  # slices down to the template's base
    labels = np.pad(atlas.array.astype(np.int32), [(extra, 0), (0, 0), (0, 0)])
    grid = Image(labels, atlas.spacing, (atlas.origin[0], atlas.origin[1], atlas.origin[2] - extra * atlas.spacing[2]),
                 atlas.direction.copy())
    template = load_template()
    brain = resample(template.t1.with_array((template.gm.array + template.wm.array).astype(np.float32)), grid)
    kji = np.indices(labels.shape).reshape(3, -1).T
    lps = grid.index_to_lps(kji[:, ::-1].astype(float))
    mni_x = (-lps[:, 0]).reshape(labels.shape)
    mni_z = lps[:, 2].reshape(labels.shape)
    small = downsample_majority(class_map(labels, mni_x, mni_z, np.asarray(brain.array) > 0.5))
    out = sitk.GetImageFromArray(small)
    spacing = np.asarray(grid.spacing)
    out.SetSpacing(tuple(float(s) for s in spacing * 2))
    out.SetDirection(tuple(float(v) for v in grid.direction.ravel()))
    out.SetOrigin(tuple(float(v) for v in np.asarray(grid.origin) + grid.direction @ (spacing * 0.5)))
    return out


def notice(shared: Path) -> str:
    """The licence notice shipped beside the map (the atlas's BSD-2 text, verbatim)."""
    text = (shared / LICENSE).read_text(encoding="utf-8").strip()
    return ("# Licence of mni_cmb_regions_2mm.nii.gz\n\n"
            "Derived by `scripts/make_region_atlas.py` from ArterialAtlas136 (arterial territory atlas in MNI space, "
            "neurolabusc/StrokeOutcomeOptimizationProjectDemo), under its BSD 2-Clause licence:\n\n"
            f"```\n{text}\n```\n")


def main(argv: list[str] | None = None) -> int:
    """Write the map and its licence notice."""
    import SimpleITK as sitk

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("radtriage") / "anatomy" / "data")
    args = parser.parse_args(argv)
    if not (args.shared / ATLAS).is_file():
        raise SystemExit(f"{args.shared / ATLAS}: not found (pass --shared the folder that holds SOOP/)")
    args.out.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(build(args.shared), str(args.out / OUTPUT), True)
    (args.out / "REGIONS_LICENSE.md").write_text(notice(args.shared), encoding="utf-8")
    print(f"wrote {args.out / OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
