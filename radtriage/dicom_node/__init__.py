"""A DICOM node: receive studies (Storage SCP), route them to tasks, return DICOM SR/SEG to the PACS.

``radtriage listen`` runs it (:mod:`radtriage.dicom_node.command`); pieces: :mod:`.scp` (network, disk),
:mod:`.queue` (persistent work queue), :mod:`.routing`, :mod:`.worker` (the one task thread), :mod:`.sender`
(C-STORE / STOW-RS with retries), :mod:`.worklist` (``worklist.json``). Needs ``radtriage[dicom-node]``.
"""

from __future__ import annotations

from radtriage.dicom_node.command import add_listen_arguments, run_listen

__all__ = ["add_listen_arguments", "run_listen"]
