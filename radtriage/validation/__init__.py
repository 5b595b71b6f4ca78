"""Input validation shared by every front end: file completeness, task input contracts, phase units.

* :mod:`.files` — a volume file holds every voxel its header promises (truncated / header-only / corrupt);
* :mod:`.contracts` — :class:`InputContract`, one declaration per task (bundle metadata may narrow it);
* :mod:`.content` — voxel values (finite, not blank, not a mask) and grid against a contract;
* :mod:`.dicom_tags` — DICOM modality, body part and image type against a contract;
* :mod:`.phase` — phase units (radians, milliradians, scanner integers) and conversion to radians;
* :mod:`.validate` — ``validate_inputs``: all of the above for one run, called by ``run_task``.
"""

from __future__ import annotations

from radtriage.lazy_exports import lazy_exports

__all__ = ["TASK_CONTRACTS", "InputContract", "ValidatedInputs", "contract_for", "validate_inputs"]


# lazy: the file checks are imported by the volume reader, which must not import the rest
__getattr__ = lazy_exports(
    __name__, {"contracts": ("InputContract", "TASK_CONTRACTS", "contract_for"),
               "validate": ("ValidatedInputs", "validate_inputs")}
)
