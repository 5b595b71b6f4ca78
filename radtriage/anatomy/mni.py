"""The MNI ICBM152 2009a symmetric template (T1, grey- and white-matter probability) that the nilearn wheel ships.

The files are read from the installed ``nilearn`` package's data folder without importing nilearn's modules
(1 mm, 197 x 233 x 189 voxels, stored as 0-255). Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging
Centre, Montreal Neurological Institute, McGill University (permissive licence, see nilearn's
``datasets/data`` folder); used for semi-synthetic phantoms on real anatomy and for registration to MNI space.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image

TEMPLATE_NAMES = {"t1": "t1", "gm": "gm", "wm": "wm"}
_FILE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def template_folder() -> Path:
    """The nilearn package's ``datasets/data`` folder; refused in one line when nilearn is not installed."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the MNI template comes from the nilearn package, which is not installed; "
                         "install it with: pip install 'nilearn>=0.10'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not (folder / _FILE.format("t1")).is_file():
        raise InputError(f"{folder}: the installed nilearn has no MNI ICBM152 2009a template; "
                         "reinstall it with: pip install --force-reinstall 'nilearn>=0.10'")
    return folder


@dataclass(frozen=True)
class MniTemplate:
    """T1 intensity (0-1) and tissue probabilities (0-1) on the template's 1 mm grid (LPS geometry)."""

    t1: Image
    gm: Image
    wm: Image

    @property
    def brain(self) -> np.ndarray:
        """Brain parenchyma: grey + white matter probability above 0.5 (``[k, j, i]`` bool)."""
        return (self.gm.array + self.wm.array) > 0.5

    def csf(self) -> np.ndarray:
        """Cerebrospinal-fluid probability inside the intracranial space: what is neither tissue nor skull."""
        from scipy import ndimage

        tissue = self.gm.array + self.wm.array
        intracranial = ndimage.binary_fill_holes(ndimage.binary_closing(tissue > 0.2, iterations=4))
        return np.where(intracranial, np.clip(1.0 - tissue, 0.0, 1.0), 0.0).astype(np.float32)


def _read(name: str) -> Image:
    import SimpleITK as sitk

    path = template_folder() / _FILE.format(name)
    image = Image.from_sitk(sitk.ReadImage(str(path)), metadata={"source_path": str(path)})
    image.array = (image.array.astype(np.float32) / 255.0)
    return image


@functools.lru_cache(maxsize=1)
def load_template() -> MniTemplate:
    """The template, read once per process."""
    return MniTemplate(t1=_read("t1"), gm=_read("gm"), wm=_read("wm"))
