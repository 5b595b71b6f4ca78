"""The DICOM node: the Storage SCP, the work queue, the one task worker and the sender, started and stopped together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtriage.dicom_node.queue import WorkQueue
from radtriage.dicom_node.routing import ALL_TASKS
from radtriage.dicom_node.scp import StorageHandler, make_ae
from radtriage.dicom_node.sender import Peer, Sender
from radtriage.dicom_node.worker import TaskRunner, Worker
from radtriage.dicom_node.worklist import write_worklist

log = logging.getLogger(__name__)


@dataclass
class NodeConfig:
    """What ``radtriage listen`` is told."""

    folder: Path
    ae_title: str = "RADTRIAGE"
    host: str = "127.0.0.1"
    port: int = 11112
    forward: Peer | None = None
    stow_url: str | None = None
    tasks: Sequence[str] = ALL_TASKS
    quiet_s: float = 10.0
    max_disk_gb: float = 20.0
    max_queue: int = 200
    device: str = "auto"
    keep_incoming: bool = False
    lge_per_slice: bool = True
    """Run each cardiac LGE image on its own as soon as it arrives (single-slice LGE), not after the quiet time."""
    warm_up: bool = True
    """Before the first study, run each task once on small phantom studies (every model loaded in advance)."""
    send_attempts: int = 5
    send_backoff_s: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict)


class DicomNode:
    """Start with :meth:`start`, stop with :meth:`stop` (also on SIGINT/SIGTERM via ``radtriage listen``)."""

    def __init__(self, config: NodeConfig, runner: TaskRunner | None = None) -> None:
        from radtriage.dicom_node.worker import local_runner

        self.config = config
        self.folder = Path(config.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.queue = WorkQueue(self.folder, max_studies=config.max_queue)
        self.sender = Sender(self.folder, config.forward, config.stow_url, calling_aet=config.ae_title,
                             max_attempts=config.send_attempts, backoff_s=config.send_backoff_s)
        self.sent_at: dict[str, dict[str, float]] = {}
        self.sender.on_sent = self._sent
        self.handler = StorageHandler(self.folder, self.queue, int(config.max_disk_gb * 1e9), config.lge_per_slice)
        self.worker = Worker(self.folder, self.queue, self.sender, runner=runner or local_runner(config.device),
                             tasks=config.tasks, quiet_s=config.quiet_s, keep_incoming=config.keep_incoming,
                             on_change=self.refresh, warm_up=config.warm_up)
        self._server: Any = None
        self._lock = threading.Lock()

    def _sent(self, file: Path, destination: str) -> None:
        owner = self.worker.outbox_owner.get(file.name)
        if owner is not None:
            with self._lock:
                self.sent_at.setdefault(f"{owner[0]}/{owner[1]}", {})[destination] = time.time()
        self.refresh()

    def refresh(self) -> None:
        """Rewrite ``worklist.json`` (and re-measure the incoming folder); a failure is logged, never raised (the
        worker and sender threads call this)."""
        try:
            self._refresh()
        except (OSError, ValueError) as exc:
            log.warning("worklist not updated: %s", exc)

    def _refresh(self) -> None:
        self.handler.recount()
        studies = self.queue.studies()
        with self._lock:
            for s in studies:
                for name, task in s.summary.get("tasks", {}).items():
                    if (sent := self.sent_at.get(f"{s.study_uid}/{name}")) is not None:
                        task["sent_at"] = dict(sent)
            write_worklist(self.folder, studies, self.queue.rejected())

    def start(self) -> None:
        """Bind the port and start every thread (queued work from a previous run is picked up)."""
        from pynetdicom import evt

        ae = make_ae(self.config.ae_title)
        self._server = ae.start_server((self.config.host, self.config.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self.handler)])
        self.port = self._server.server_address[1]
        self.sender.start()
        self.worker.start()
        self.refresh()
        log.info("DICOM node %s listening on %s:%d, results in %s", self.config.ae_title, self.config.host,
                 self.port, self.folder)

    def stop(self) -> None:
        """Stop taking instances, finish the current study, stop sending, close the queue."""
        if self._server is not None:
            self._server.shutdown()
        self.worker.stop()
        self.sender.stop()
        self.refresh()
        self.queue.close()
