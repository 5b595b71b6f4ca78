"""``radtriage bench --dicom-node``: seconds from the last instance received to the SR stored in the PACS, per task.

Phantom studies (CT body, cardiac LGE, brain MR with SWI) are C-STOREd to a node on loopback; the node forwards
its SR/SEG to a PACS: a throw-away Orthanc when ``/usr/sbin/Orthanc`` exists, else a pynetdicom Storage SCP
stand-in. The time counted ends when the PACS acknowledged the SR (C-STORE success = stored). It includes the
node's quiet time (``quiet_s``), reading the series, the task, writing SR/SEG and the send.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from radtriage.dicom_node.orthanc import ORTHANC

STUDIES = ("ct", "lge", "brain")


class _Receiver:
    """A minimal PACS stand-in: a Storage SCP that accepts everything (used when Orthanc is absent)."""

    def __init__(self) -> None:
        from pynetdicom import AE, StoragePresentationContexts, evt

        ae = AE(ae_title="PACS")
        ae.supported_contexts = StoragePresentationContexts
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0)])
        self.dicom_port, self.aet = self.server.server_address[1], "PACS"

    def stop(self) -> None:
        self.server.shutdown()


def _write(name: str, folder: Path) -> list[Path]:
    from radtriage.dicom_node import phantom_series as ps

    if name == "ct":
        return ps.write_body_series(folder, n_slices=60)
    if name == "lge":
        return ps.write_lge_series(folder, n_slices=10)
    return ps.write_brain_study(folder, shape=(64, 64, 48))


def run_node_benchmark(device: str = "cpu", quiet_s: float = 1.0, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run each phantom study through a node and a PACS; returns per-task seconds (and the setup)."""
    import logging

    import pydicom

    from radtriage.dicom_node.node import DicomNode, NodeConfig
    from radtriage.dicom_node.orthanc import Orthanc
    from radtriage.dicom_node.sender import Peer

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="radtriage-bench-node-") as tmp:
        root = Path(tmp)
        pacs: Any = Orthanc(root / "pacs") if ORTHANC.is_file() else _Receiver()
        node = DicomNode(NodeConfig(root / "node", port=0, quiet_s=quiet_s, device=device,
                                    forward=Peer(pacs.aet, "127.0.0.1", pacs.dicom_port), send_backoff_s=0.5))
        node.start()
        try:
            for name in STUDIES:
                files = _write(name, root / "studies" / name)
                study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
                _store(Peer(node.config.ae_title, "127.0.0.1", node.port), [pydicom.dcmread(f) for f in files])
                last = time.time()
                per_slice = name == "lge" and node.config.lge_per_slice
                rows.update(_wait(node, study_uid, name, last, timeout_s, len(files) if per_slice else 1))
        finally:
            node.stop()
            pacs.stop()
    return {"pacs": "Orthanc" if ORTHANC.is_file() else "pynetdicom Storage SCP stand-in", "quiet_s": quiet_s,
            "device": device, "tasks": rows}


def _store(peer: Any, datasets: list[Any], attempts: int = 3) -> None:
    """C-STORE like a scanner: a failed association is tried again (instances already sent are simply re-sent)."""
    from radtriage.dicom_node.sender import c_store

    for attempt in range(1, attempts + 1):
        try:
            c_store(peer, datasets, "BENCH", timeout=60.0)
            return
        except OSError:
            if attempt == attempts:
                raise


def _jobs(node: Any, study_uid: str) -> list[Any]:
    """The queue's jobs of one study: the study itself, or its one-slice LGE jobs (``study/instance``)."""
    return [s for s in node.queue.studies() if s.study_uid == study_uid or s.study_uid.startswith(f"{study_uid}/")]


def _wait(node: Any, study_uid: str, name: str, last: float, timeout_s: float, expected_jobs: int = 1,
          ) -> dict[str, Any]:
    """Per-task timings of one study once every task of its jobs has been sent to the PACS (or failed); per-slice
    LGE jobs count together (the last slice's SR ends the time)."""
    end = time.time() + timeout_s
    while time.time() < end:
        jobs = _jobs(node, study_uid)
        if len(jobs) >= expected_jobs and all(j.status in ("done", "failed") for j in jobs):
            rows: dict[str, dict[str, Any]] = {}
            complete = True
            for job in jobs:
                for task, t in job.summary.get("tasks", {}).items():
                    sent = node.sent_at.get(f"{job.study_uid}/{task}")
                    complete = complete and bool(sent or t.get("error"))
                    row = rows.setdefault(task, {"sent": 0.0, "task_s": 0.0, "error": "", "jobs": 0})
                    row["sent"] = max(row["sent"], max(sent.values()) if sent else 0.0)
                    row["task_s"] += t.get("seconds") or 0.0
                    row["error"] = row["error"] or t.get("error", "")
                    row["jobs"] += 1
            if complete:
                out = {}
                for task, r in rows.items():
                    label = f"{task} ({name}, {r['jobs']} slices)" if r["jobs"] > 1 else f"{task} ({name})"
                    out[label] = {"last_instance_to_sr_in_pacs_s": round(r["sent"] - last, 2) if r["sent"] else None,
                                  "task_s": round(r["task_s"], 3), "error": r["error"]}
                return out
        time.sleep(0.2)
    return {f"? ({name})": {"error": f"no result within {timeout_s:.0f} s"}}


def format_node_report(report: dict[str, Any]) -> str:
    """The report as text lines."""
    lines = [f"DICOM node, last instance received -> SR stored in the PACS ({report['pacs']}, quiet time "
             f"{report['quiet_s']:g} s, device {report['device']}):"]
    for task, row in report["tasks"].items():
        if row.get("last_instance_to_sr_in_pacs_s") is None:
            lines.append(f"  {task:<32} failed: {row.get('error')}")
        else:
            seconds = row["last_instance_to_sr_in_pacs_s"]
            lines.append(f"  {task:<32} {seconds:7.2f} s  (task alone {row['task_s']:.2f} s)")
    return "\n".join(lines)
