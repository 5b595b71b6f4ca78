"""Back to the PACS: C-STORE of result objects to ``--forward`` and/or STOW-RS to ``--stow``, with retries.

Results wait in ``<dir>/outbox/``; each destination gets its own attempt count. A file that no destination took
after ``max_attempts`` tries moves to ``<dir>/dead-letter/`` with a ``.reason.txt`` beside it; one that all took
moves to ``<dir>/sent/``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radtriage.errors import RadTriageError

log = logging.getLogger(__name__)

OUTBOX, SENT, DEAD_LETTER = "outbox", "sent", "dead-letter"
_PEER = re.compile(r"^(?P<aet>[^@\s]{1,16})@(?P<host>[^:\s]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Peer:
    """A DICOM peer to C-STORE to: ``AET@HOST:PORT``."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Peer:
        """``AET@HOST:PORT``; RadTriageError (one line) otherwise."""
        match = _PEER.match(text.strip())
        if not match or not 0 < int(match["port"]) < 65536:
            raise RadTriageError(f"--forward {text!r} must look like AET@HOST:PORT (AE title up to 16 characters)")
        return cls(match["aet"], match["host"], int(match["port"]))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def c_store(peer: Peer, datasets: list[Any], calling_aet: str = "RADTRIAGE", timeout: float = 30.0) -> None:
    """C-STORE ``datasets`` to ``peer`` in one association; raises OSError on any failure."""
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    if not assoc.is_established:
        raise OSError(f"association with {peer} not established")
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            if not status or int(status.Status) not in (0x0000, 0xB000, 0xB007, 0xB006):
                code = f"0x{int(status.Status):04X}" if status else "no response"
                raise OSError(f"{peer} refused {ds.SOPInstanceUID}: status {code}")
    finally:
        assoc.release()


def stow(url: str, datasets: list[Any], timeout: float = 30.0) -> None:
    """STOW-RS ``datasets`` to the DICOMweb service at ``url``; raises OSError on any failure."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    try:
        DICOMwebClient(url, timeout=timeout).store_instances(datasets)
    except (requests.RequestException, ValueError) as exc:
        raise OSError(f"STOW-RS to {url} failed: {exc}") from exc


class Sender:
    """A thread that sends every file of the outbox to each destination, retrying with backoff."""

    def __init__(self, folder: Path, forward: Peer | None, stow_url: str | None, *, calling_aet: str = "RADTRIAGE",
                 max_attempts: int = 5, backoff_s: float = 2.0) -> None:
        self.folder, self.forward, self.stow_url = Path(folder), forward, stow_url
        self.calling_aet, self.max_attempts, self.backoff_s = calling_aet, max_attempts, backoff_s
        for name in (OUTBOX, SENT, DEAD_LETTER):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="radtriage-sender", daemon=True)
        self.on_sent: Any = None
        """Called with (file, destination) after each successful send (the node records the time)."""

    @property
    def destinations(self) -> list[str]:
        """The configured destinations, as text."""
        return [d for d in (str(self.forward) if self.forward else None, self.stow_url) if d]

    def start(self) -> None:
        """Start the sending thread (files already in the outbox are sent too: nothing is lost on restart)."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current attempt."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def submit(self, files: list[Path]) -> list[Path]:
        """Move ``files`` into the outbox (kept in ``sent/`` at once when there is no destination)."""
        target = OUTBOX if self.destinations else SENT
        moved = []
        for f in files:
            dest = self.folder / target / f.name
            shutil.copy2(f, dest)
            moved.append(dest)
        self._wake.set()
        return moved

    def _state(self, file: Path) -> dict[str, Any]:
        path = file.with_name(file.name + ".state.json")
        return json.loads(path.read_text()) if path.is_file() else {}

    def _send_one(self, file: Path) -> None:
        import pydicom

        state = self._state(file)
        now = time.time()
        if state.get("next_try", 0) > now:
            return
        ds = pydicom.dcmread(file)
        for dest in self.destinations:
            entry = state.setdefault(dest, {"attempts": 0, "done": False, "error": ""})
            if entry["done"] or entry["attempts"] >= self.max_attempts:
                continue
            entry["attempts"] += 1
            try:
                if self.forward is not None and dest == str(self.forward):
                    c_store(self.forward, [ds], self.calling_aet)
                else:
                    stow(dest, [ds])
                entry["done"] = True
                if self.on_sent is not None:
                    self.on_sent(file, dest)
            except OSError as exc:
                entry["error"] = str(exc)
                log.warning("send %s to %s failed (attempt %d of %d): %s", file.name, dest, entry["attempts"],
                            self.max_attempts, exc)
        entries = [state[d] for d in self.destinations]
        state_file = file.with_name(file.name + ".state.json")
        if all(e["done"] for e in entries):
            file.rename(self.folder / SENT / file.name)
            state_file.unlink(missing_ok=True)
        elif all(e["done"] or e["attempts"] >= self.max_attempts for e in entries):
            dead = self.folder / DEAD_LETTER / file.name
            file.rename(dead)
            reasons = "; ".join(f"{d}: {state[d]['error']}" for d in self.destinations if not state[d]["done"])
            dead.with_name(dead.name + ".reason.txt").write_text(reasons + "\n")
            state_file.unlink(missing_ok=True)
            log.error("gave up sending %s: %s (kept in %s)", file.name, reasons, dead)
        else:
            attempts = max(e["attempts"] for e in entries)
            state["next_try"] = now + self.backoff_s * 2 ** (attempts - 1)
            state_file.write_text(json.dumps(state))

    def pending(self) -> int:
        """Files still waiting in the outbox."""
        return sum(1 for f in (self.folder / OUTBOX).glob("*.dcm"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            for file in sorted((self.folder / OUTBOX).glob("*.dcm")):
                if self._stop.is_set():
                    return
                try:
                    self._send_one(file)
                except Exception as exc:  # an unreadable outbox file must not stop the sender
                    log.error("cannot send %s: %s", file.name, exc)
                    file.rename(self.folder / DEAD_LETTER / file.name)
            self._wake.wait(0.5)
            self._wake.clear()
