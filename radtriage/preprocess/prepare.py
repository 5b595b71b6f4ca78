"""Put the series of one study on a model's grid, and map model outputs back to the native volume.

:func:`prepare_to_grid` registers every series rigidly to a reference series, normalises
intensities, and resamples all of them onto one model grid in the reference's patient
(LPS) space. The returned :class:`PreparedInputs` keeps the forward geometry (model grid,
the reference's native grid, and each series' transform) so a probability map, heatmap
or point list predicted on the model grid goes back onto the native reference volume
exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radtriage.errors import InputError
from radtriage.image import Image
from radtriage.preprocess.grid import GridSpec
from radtriage.preprocess.normalize import normalize_intensity
from radtriage.preprocess.register import RigidRegistration, overlap_fraction, register_rigid, source_of
from radtriage.preprocess.resample import resample

logger = logging.getLogger(__name__)


def _identity() -> Any:
    import SimpleITK as sitk

    return sitk.Transform(3, sitk.sitkIdentity)


@dataclass
class PreparedInputs:
    """Series of one study on a model grid, with the geometry to go back to the native reference volume.

    ``transforms[name]`` maps points of the reference's LPS space to series ``name``'s own
    LPS space (identity for the reference, or when registration was off). ``channels`` holds
    the prepared images on ``grid`` for the available series, in ``names`` order.
    """

    grid: GridSpec
    reference: str
    native_grid: GridSpec
    names: tuple[str, ...]
    channels: dict[str, Image]
    transforms: dict[str, Any]
    native_grids: dict[str, GridSpec]
    registrations: dict[str, RigidRegistration] = field(default_factory=dict)

    # ------------------------------------------------------------- model input
    @property
    def available(self) -> np.ndarray:
        """Boolean [C] mask of which of ``names`` were given."""
        return np.array([n in self.channels for n in self.names], dtype=bool)

    def stack(self, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A float32 array [C, k, j, i] of the channels (zeros for missing ones) and the availability mask [C]."""
        order = tuple(names) if names is not None else self.names
        out = np.zeros((len(order), *self.grid.shape), dtype=np.float32)
        avail = np.zeros(len(order), dtype=bool)
        for c, name in enumerate(order):
            if name in self.channels:
                out[c] = self.channels[name].array
                avail[c] = True
        return out, avail

    # ----------------------------------------------------------- model output
    def _as_model_image(self, model_map: np.ndarray | Image) -> Image:
        if isinstance(model_map, Image):
            return model_map
        arr = np.asarray(model_map)
        if arr.shape == self.grid.shape:
            data = arr
        elif arr.ndim == 4 and arr.shape[1:] == self.grid.shape:
            data = np.moveaxis(arr, 0, -1)  # channel-first model output -> components
        else:
            raise ValueError(
                f"model map shape {arr.shape} matches neither the model grid {self.grid.shape} nor [C, *grid]"
            )
        return Image(np.ascontiguousarray(data), self.grid.spacing, self.grid.origin, self.grid.direction.copy())

    def to_native(
        self, model_grid_map: np.ndarray | Image, interpolator: str = "linear", default: float = 0.0
    ) -> Image:
        """Resample a map on the model grid onto the reference's native grid (exactly its geometry).

        Accepts a ``[k, j, i]`` array, a channel-first ``[C, k, j, i]`` array (returned as
        components ``[k, j, i, C]``), or an :class:`Image` on any grid in the reference space.
        Use ``interpolator="nearest"`` for label maps.
        """
        return resample(self._as_model_image(model_grid_map), self.native_grid, None, interpolator, default)

    def to_input_native(
        self, name: str, model_grid_map: np.ndarray | Image, interpolator: str = "linear", default: float = 0.0
    ) -> Image:
        """Like :meth:`to_native`, onto the native grid of series ``name`` (through its registration)."""
        if name not in self.native_grids:
            raise KeyError(f"no series {name!r} in this study (have {sorted(self.native_grids)})")
        inverse = self.transforms[name].GetInverse()
        return resample(self._as_model_image(model_grid_map), self.native_grids[name], inverse, interpolator, default)

    def from_native(self, image: Image, name: str | None = None, interpolator: str = "nearest") -> Image:
        """Put an image in the native space of series ``name`` (default: the reference) onto the model grid.

        Handy for labels drawn on a native series (``interpolator="nearest"``, the default).
        """
        transform = self.transforms[name] if name is not None else None
        return resample(image, self.grid, transform, interpolator)

    # ----------------------------------------------------------------- points
    def points_to_native_lps(self, points_model_ijk: np.ndarray) -> np.ndarray:
        """Continuous model-grid indices (i, j, k), shape (N, 3), to the reference's LPS millimetres."""
        return self.grid.index_to_lps(points_model_ijk)

    def points_to_native_index(self, points_model_ijk: np.ndarray) -> np.ndarray:
        """Continuous model-grid indices (i, j, k) to continuous indices of the reference's native grid."""
        return self.native_grid.lps_to_index(self.grid.index_to_lps(points_model_ijk))

    def native_lps_to_model_index(self, points_lps: np.ndarray) -> np.ndarray:
        """Reference LPS millimetres, shape (N, 3), to continuous model-grid indices (i, j, k)."""
        return self.grid.lps_to_index(points_lps)

    def points_to_input_lps(self, name: str, points_model_ijk: np.ndarray) -> np.ndarray:
        """Model-grid indices to LPS millimetres in series ``name``'s own space (through its registration)."""
        pts = self.grid.index_to_lps(points_model_ijk)
        tx = self.transforms[name]
        return np.array([tx.TransformPoint(tuple(float(v) for v in p)) for p in pts]).reshape(-1, 3)


def prepare_to_grid(
    images: Mapping[str, Image | None],
    reference: str,
    grid: GridSpec | None = None,
    register: bool | Collection[str] = True,
    *,
    names: Sequence[str] | None = None,
    normalize: str | None = "zscore",
    nonzero: bool = False,
    interpolator: str = "linear",
    registration_options: Mapping[str, Any] | None = None,
) -> PreparedInputs:
    """Register, normalise and resample the series of one study onto one model grid.

    ``images`` maps a channel name (e.g. ``"T1"``, ``"FLAIR"``) to its native image (``None``
    for a missing series); ``reference`` names the series whose space is the world of the
    result. Each other series is registered rigidly to the reference (:func:`register_rigid`,
    options in ``registration_options``) when ``register`` is True or names it; otherwise it is taken to share the
    reference's patient space (same frame of reference). Each series is normalised in its own
    native space (``normalize``: ``"zscore"``, ``"percentile"`` or ``None``; ``nonzero`` takes
    statistics from non-zero voxels only) and then resampled onto ``grid`` (default: the
    reference's own grid). ``names`` fixes the channel order of :meth:`PreparedInputs.stack`
    (default: the keys of ``images``) and may list series that are absent.
    """
    given = {k: v for k, v in images.items() if v is not None}
    if reference not in given:
        raise InputError(None, f"reference series {reference!r} is missing (have {sorted(given)})")
    ref = given[reference]
    if ref.n_components != 1:
        raise InputError(source_of(ref, reference), "reference series must be a scalar volume")
    order = tuple(names) if names is not None else tuple(images)
    extra = sorted(set(given) - set(order))
    if extra:
        raise ValueError(f"series {extra} are not in names {list(order)}")
    target = grid if grid is not None else GridSpec.from_image(ref)
    if overlap_fraction(ref, target) <= 0:
        raise InputError(source_of(ref, reference), f"model grid {target} does not overlap the reference volume")

    channels: dict[str, Image] = {}
    transforms: dict[str, Any] = {}
    native_grids: dict[str, GridSpec] = {}
    registrations: dict[str, RigidRegistration] = {}
    for name in order:
        if name not in given:
            continue
        img = given[name]
        if img.array.size == 0:
            raise InputError(source_of(img, name), f"series {name!r} is empty")
        native_grids[name] = GridSpec.from_image(img)
        if name == reference:
            transforms[name] = _identity()
        elif register is True or (not isinstance(register, bool) and name in register):
            result = register_rigid(img, ref, **dict(registration_options or {}))
            registrations[name] = result
            transforms[name] = result.transform
        else:
            if overlap_fraction(ref, img) <= 0:
                raise InputError(source_of(img, name), f"series {name!r} does not overlap the reference {reference!r}")
            transforms[name] = _identity()
        prepared = normalize_intensity(img, normalize, nonzero=nonzero) if normalize else img
        channels[name] = resample(prepared, target, transforms[name], interpolator)
        logger.debug("prepared series %s onto %s", name, target)
    return PreparedInputs(
        grid=target,
        reference=reference,
        native_grid=GridSpec.from_image(ref),
        names=order,
        channels=channels,
        transforms=transforms,
        native_grids=native_grids,
        registrations=registrations,
    )
