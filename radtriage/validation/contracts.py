"""What each task accepts as input: one declaration per task, model-specific parts from the bundle metadata.

A contract bounds the grid (slices, in-plane voxels, voxel size, field of view), names the DICOM modalities
and the body region the task reads, and says whether a phase image may feed it. A bundle may narrow or widen
the declaration for its own model with a ``radtriage.input_contract`` object in ``configs/metadata.json``
(same field names); its ``radtriage.inputs.modality`` is honoured as the accepted modality.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtriage.errors import RadTriageError

log = logging.getLogger(__name__)

BUNDLE_SECTION = "input_contract"
"""Key under the bundle metadata's ``radtriage`` object that overrides contract fields for that model."""


@dataclass(frozen=True)
class InputContract:
    """The inputs a task can read; a volume outside these bounds is refused before any model runs."""

    task: str
    modalities: tuple[str, ...]
    """DICOM Modality values accepted (checked only when the input carries DICOM tags)."""
    body: str | None
    """``"head"``, ``"heart"`` or None (any body part)."""
    min_slices: int
    """Voxels along the shortest axis (the slice axis of a stack)."""
    min_inplane_voxels: int
    """Voxels along each of the two longer axes."""
    max_inplane_voxel_mm: float
    max_slice_mm: float
    """Largest voxel edge along the slice axis."""
    min_fov_mm: float
    """Smallest extent (mm) along each in-plane axis."""
    max_fov_mm: float
    """Largest extent (mm) along any axis."""
    phase_allowed: bool = False
    """Whether an input whose ImageType marks phase may feed the task (only as its phase input)."""
    multi_series: bool = False
    """A study of several series: an unusable one is skipped with a notice while one usable series remains."""
    working_spacing_mm: float | None = None
    max_working_voxels: int | None = None
    """Cap of the task's working grid (``working_spacing_mm`` isotropic over the input's extent)."""

    def with_overrides(self, overrides: Mapping[str, Any], where: str) -> InputContract:
        """A copy with the fields of ``overrides`` (unknown names refused, so a typo is not silently ignored)."""
        names = {f.name for f in dataclasses.fields(self)} - {"task"}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise RadTriageError(f"{where}: unknown {BUNDLE_SECTION} field(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(names))}")
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()}
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``result.json``."""
        return dataclasses.asdict(self)


TASK_CONTRACTS: dict[str, InputContract] = {
    c.task: c
    for c in (
        # Brain MRI: a head is 140-200 mm across; clinical voxels 0.4-1.5 mm in-plane (EPI up to ~3.6 mm),
        # slices up to ~7 mm plus gap; a head-and-neck field of view stays under 400 mm. The coarse limits admit
        # the 8 mm test phantoms (the demo model's own grid is 6 mm).
        InputContract("mri_triage", ("MR",), "head", min_slices=5, min_inplane_voxels=16, max_inplane_voxel_mm=8.0,
                      max_slice_mm=8.0, min_fov_mm=100.0, max_fov_mm=400.0, multi_series=True),
        # SWI / T2*-GRE for microbleeds (2-10 mm): the 1 mm working grid is capped (32 M voxels ~ 128 MB per
        # float32 copy) so the whole cascade stays well under 4 GB. The smallest field of view admits the
        # small test and demo SWI phantoms (a real head is 140 mm or more across).
        InputContract("cmb_detect", ("MR",), "head", min_slices=8, min_inplane_voxels=32, max_inplane_voxel_mm=4.0,
                      max_slice_mm=6.0, min_fov_mm=30.0, max_fov_mm=400.0, phase_allowed=True,
                      working_spacing_mm=1.0, max_working_voxels=32_000_000),
        # Cardiac LGE: one short-axis slice is a valid input; pixels 1-2.5 mm, slices 5-10 mm (+ gap).
        InputContract("lge_certainty", ("MR",), "heart", min_slices=1, min_inplane_voxels=32,
                      max_inplane_voxel_mm=4.0, max_slice_mm=20.0, min_fov_mm=40.0, max_fov_mm=600.0),
        # Body region: any CT or MR from a single slab (a small-FOV MR slice, 20 mm) to whole body (2 m); slices
        # as coarse as a 24-slice head-to-feet survey (~60 mm).
        InputContract("body_region", ("CT", "MR"), None, min_slices=1, min_inplane_voxels=16,
                      max_inplane_voxel_mm=20.0, max_slice_mm=100.0, min_fov_mm=15.0, max_fov_mm=2500.0),
    )
}


def _bundle_metadata(task: str, bundle: str | Path | None) -> dict[str, Any] | None:
    """The ``radtriage`` metadata section of the bundle a run would use, or None when none resolves."""
    from radtriage.models.bundle import read_metadata
    from radtriage.models.registry import resolve_bundle_path

    try:
        folder = resolve_bundle_path(task, bundle)
        return dict(read_metadata(folder).raw.get("radtriage") or {})
    except Exception as exc:  # no bundle or an invalid one: the runner reports it
        log.debug("no bundle metadata for the %s input contract: %s", task, exc)
        return None


def contract_for(task: str, bundle: str | Path | None = None) -> InputContract | None:
    """The contract of ``task`` (None for a task without one), narrowed by the bundle's own section if any."""
    contract = TASK_CONTRACTS.get(task)
    if contract is None:
        return None
    section = _bundle_metadata(task, bundle) if task != "body_region" else None
    if not section:
        return contract
    overrides = dict(section.get(BUNDLE_SECTION) or {})
    modality = (section.get("inputs") or {}).get("modality")
    if modality and "modalities" not in overrides and modality in contract.modalities:
        overrides["modalities"] = (modality,)
    return contract.with_overrides(overrides, f"bundle {bundle or 'default'} of {task}") if overrides else contract
