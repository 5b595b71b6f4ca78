"""The network side: a pynetdicom Storage SCP (+ C-ECHO) that puts every instance on disk, then in the queue.

Nothing is decoded beyond the UIDs and nothing runs here: the handler writes ``incoming/<study>/<series>/<sop>.dcm``
(atomically) and records the instance; an undecodable instance, a full disk or a full queue is refused with a
DIMSE failure status and logged.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from radtriage.dicom_node.queue import WorkQueue

log = logging.getLogger(__name__)

INCOMING = "incoming"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
STATUS_OK, STATUS_OUT_OF_RESOURCES, STATUS_CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC210


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (files removed meanwhile count nothing)."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


class StorageHandler:
    """The C-STORE handler: on disk first, then in the queue; bounded by ``max_bytes`` of incoming files."""

    def __init__(self, folder: Path, queue: WorkQueue, max_bytes: int, lge_per_slice: bool = True) -> None:
        self.incoming = Path(folder) / INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.queue, self.max_bytes, self.lge_per_slice = queue, max_bytes, lge_per_slice
        self._bytes = folder_bytes(self.incoming)
        self._lock = threading.Lock()

    def recount(self) -> None:
        """Re-measure the incoming folder (after the worker removed finished studies)."""
        with self._lock:
            self._bytes = folder_bytes(self.incoming)

    def __call__(self, event: Any) -> int:
        peer = f"{event.assoc.requestor.ae_title}@{event.assoc.requestor.address}"
        try:
            ds = event.dataset
            study, series, sop = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
            if not all(_UID.match(u) and len(u) <= 64 for u in (study, series, sop)):
                raise ValueError(f"invalid UIDs (study {study!r}, series {series!r}, instance {sop!r})")
            data = event.encoded_dataset()
        except Exception as exc:  # whatever pydicom raises for a broken stream
            reason = f"instance from {peer} refused: cannot decode it ({type(exc).__name__}: {exc})"
            log.warning(reason)
            self.queue.reject(peer, reason)
            return STATUS_CANNOT_UNDERSTAND
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                reason = (f"instance {sop} from {peer} refused: incoming folder is full "
                          f"({self._bytes / 1e9:.2f} GB of {self.max_bytes / 1e9:.2f}; raise --max-disk-gb)")
                self.queue.reject(peer, reason)
                log.warning(reason)
                return STATUS_OUT_OF_RESOURCES
            if not self.queue.has_room(study):
                reason = f"instance {sop} from {peer} refused: the work queue is full (raise --max-queue)"
                self.queue.reject(peer, reason)
                log.warning(reason)
                return STATUS_OUT_OF_RESOURCES
            self._bytes += len(data)
        key, quiet = study, None
        if self.lge_per_slice and _is_lge_instance(ds):
            key, quiet = f"{study}/{sop}", 0.0  # one job per LGE slice, due at once
        folder = self.incoming / (study if quiet is None else f"{study}-slice-{sop}")
        path = folder / series / f"{sop}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.queue.add_instance(key, folder, quiet_s=quiet)
        return STATUS_OK


def _is_lge_instance(ds: Any) -> bool:
    """A single-frame cardiac LGE image (by its header)."""
    from radtriage.dicom_node.routing import is_lge_tags
    from radtriage.io.tags import extract_tags

    try:
        return int(ds.get("NumberOfFrames", 1) or 1) == 1 and is_lge_tags(extract_tags(ds))
    except (TypeError, ValueError):
        return False


def make_ae(ae_title: str) -> Any:
    """A pynetdicom AE accepting the common storage SOP classes and Verification (C-ECHO)."""
    from pynetdicom import AE, StoragePresentationContexts
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title=ae_title)
    ae.require_called_aet = True
    ae.maximum_associations = 8
    for context in StoragePresentationContexts:  # 120 common storage classes: pynetdicom's curated list
        ae.add_supported_context(context.abstract_syntax)
    ae.add_supported_context(Verification)
    return ae
