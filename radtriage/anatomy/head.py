"""Tissue layers of a whole head around the MNI template's brain: grey / white matter, CSF, skull, scalp.

The template that nilearn ships is brain-extracted; registering a whole-head scan to it lets the brain's edge
slide onto the scalp (the fit inflates the brain). These layers add a :data:`SKULL_MM` skull and a
:data:`SCALP_MM` scalp around the intracranial space (typical adult thickness at the vertex) so that the
registration target and the phantoms have a head's structure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from radtriage.image import Image

SKULL_MM = 5
SCALP_MM = 5


@dataclass(frozen=True)
class HeadLayers:
    """Probabilities (gm, wm, csf; 0-1) and masks (skull, scalp) on the template's 1 mm grid (``[k, j, i]``)."""

    grid: Image
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    skull: np.ndarray
    scalp: np.ndarray

    @property
    def intracranial(self) -> np.ndarray:
        """Brain and CSF: inside the inner skull surface."""
        return (self.gm + self.wm + self.csf) > 0.5

    @property
    def head(self) -> np.ndarray:
        """Everything inside the outer scalp surface."""
        return self.intracranial | self.skull | self.scalp

    def image(self, gm: float, wm: float, csf: float, skull: float, scalp: float) -> Image:
        """A piecewise-smooth head with these intensities per layer (air 0) on the template grid."""
        arr = (gm * self.gm + wm * self.wm + csf * self.csf).astype(np.float32)
        arr[self.skull] = skull
        arr[self.scalp] = scalp
        return self.grid.with_array(arr)


@functools.lru_cache(maxsize=1)
def head_layers() -> HeadLayers:
    """The layers, built once per process from :func:`radtriage.anatomy.mni.load_template`."""
    from scipy import ndimage

    from radtriage.anatomy.mni import load_template

    t = load_template()
    gm, wm, csf = t.gm.array, t.wm.array, t.csf()
    intracranial = (gm + wm + csf) > 0.5
    skull = ndimage.binary_dilation(intracranial, iterations=SKULL_MM) & ~intracranial
    scalp = ndimage.binary_dilation(intracranial | skull, iterations=SCALP_MM) & ~(intracranial | skull)
    return HeadLayers(t.t1, gm, wm, csf, skull, scalp)
