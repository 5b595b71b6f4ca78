"""A DICOM node: receive studies (Storage SCP), route them to tasks, return DICOM SR/SEG to the PACS.

``radtriage listen`` runs it (:mod:`radtriage.commands.listen`); pieces: :mod:`.node`, :mod:`.scp` (network,
disk), :mod:`.queue` (persistent work queue), :mod:`.routing`, :mod:`.worker` (the one task thread), :mod:`.sender`
(C-STORE / STOW-RS with retries), :mod:`.worklist` (``worklist.json``), :mod:`.requirements` (the extra's check).
Needs ``radtriage[dicom-node]``.
"""
