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


ROUNDS = ("first", "second")
"""Each study is sent twice (new UIDs): the first after the node's warm-up, then again."""
LGE_SLICE_GAP_S = 1.0
"""LGE slices arrive one at a time (a scanner sends each breath-hold's slice as it is reconstructed)."""


def run_node_benchmark(device: str = "cpu", quiet_s: float = 1.0, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run each phantom study through a node and a PACS, twice (:data:`ROUNDS`); returns per-round, per-task
    seconds, the whole study's, and per LGE slice (arrival -> its SR in the PACS)."""
    import logging

    from radtriage.dicom_node.node import DicomNode, NodeConfig
    from radtriage.dicom_node.orthanc import Orthanc
    from radtriage.dicom_node.sender import Peer

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    rounds: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="radtriage-bench-node-") as tmp:
        root = Path(tmp)
        pacs: Any = Orthanc(root / "pacs") if ORTHANC.is_file() else _Receiver()
        node = DicomNode(NodeConfig(root / "node", port=0, quiet_s=quiet_s, device=device,
                                    forward=Peer(pacs.aet, "127.0.0.1", pacs.dicom_port), send_backoff_s=0.5))
        node.start()
        peer = Peer(node.config.ae_title, "127.0.0.1", node.port)
        try:
            deadline = time.time() + timeout_s
            while node.worker.warm_up_s is None and time.time() < deadline:
                time.sleep(0.2)  # a node runs long before its first study
            for name in ROUNDS:
                rows: dict[str, Any] = {}
                for study in STUDIES:
                    rows.update(_run_study(node, peer, study, root / "studies" / name / study, timeout_s))
                rounds[name] = rows
        finally:
            node.stop()
            pacs.stop()
    return {"pacs": "Orthanc" if ORTHANC.is_file() else "pynetdicom Storage SCP stand-in", "quiet_s": quiet_s,
            "device": device, "lge_slice_gap_s": LGE_SLICE_GAP_S, "warm_up_s": round(node.worker.warm_up_s or 0, 2),
            "rounds": rounds,
            "tasks": rounds[ROUNDS[-1]],
            "targets": node_targets(rounds)}


TARGETS_S = {"brain": ("whole study (brain", 10.0), "lge": ("lge_certainty (lge", 1.0)}
"""The node's targets: a brain MR study's last instance to its last SR in the PACS, and each LGE slice's
arrival to its own SR (the slowest slice counts), in seconds."""


def node_targets(rounds: dict[str, Any]) -> dict[str, Any]:
    """Per target and round: the measured seconds, the limit and whether it was met (a failed row is not)."""
    out: dict[str, Any] = {}
    for target, (prefix, limit) in TARGETS_S.items():
        for name, rows in rounds.items():
            seconds = next((r.get("last_instance_to_sr_in_pacs_s") for k, r in rows.items() if k.startswith(prefix)),
                           None)
            out[f"{target} ({name} study)"] = {"seconds": seconds, "limit_s": limit,
                                               "met": seconds is not None and seconds <= limit}
    return out


def _run_study(node: Any, peer: Any, name: str, folder: Path, timeout_s: float) -> dict[str, Any]:
    """Send one phantom study (LGE slice by slice) and time its results."""
    import pydicom

    datasets = [pydicom.dcmread(f) for f in _write(name, folder)]
    study_uid = str(datasets[0].StudyInstanceUID)
    if name == "lge" and node.config.lge_per_slice:
        arrived: dict[str, float] = {}
        for ds in datasets:
            _store(peer, [ds])
            arrived[f"{study_uid}/{ds.SOPInstanceUID}"] = time.time()
            time.sleep(LGE_SLICE_GAP_S)
        return _wait(node, study_uid, name, arrived, timeout_s)
    _store(peer, datasets)
    return _wait(node, study_uid, name, {study_uid: time.time()}, timeout_s)


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


def _wait(node: Any, study_uid: str, name: str, arrived: dict[str, float], timeout_s: float) -> dict[str, Any]:
    """Timings of one study once every task of its jobs has been sent to the PACS (or failed). ``arrived``: job
    -> when its last instance was stored (the study, or each LGE slice); per task the seconds from there to its SR
    in the PACS (LGE: median and maximum over slices), and the whole study's (last instance -> last SR)."""
    end = time.time() + timeout_s
    while time.time() < end:
        jobs = _jobs(node, study_uid)
        if len(jobs) >= len(arrived) and all(j.status in ("done", "failed") for j in jobs):
            rows: dict[str, dict[str, Any]] = {}
            complete = True
            for job in jobs:
                for task, t in job.summary.get("tasks", {}).items():
                    sent = node.sent_at.get(f"{job.study_uid}/{task}")
                    complete = complete and bool(sent or t.get("error"))
                    row = rows.setdefault(task, {"latency": [], "sent": 0.0, "task_s": 0.0, "error": ""})
                    if sent:
                        row["latency"].append(max(sent.values()) - arrived[job.study_uid])
                        row["sent"] = max(row["sent"], max(sent.values()))
                    row["task_s"] += t.get("seconds") or 0.0
                    row["error"] = row["error"] or t.get("error", "")
            if complete:
                return _rows(rows, name, max(arrived.values()))
        time.sleep(0.2)
    return {f"? ({name})": {"error": f"no result within {timeout_s:.0f} s"}}


def _rows(rows: dict[str, dict[str, Any]], name: str, last: float) -> dict[str, Any]:
    import statistics

    out: dict[str, Any] = {}
    for task, r in rows.items():
        n = len(r["latency"])
        label = f"{task} ({name}, per slice of {n})" if n > 1 else f"{task} ({name})"
        out[label] = {"last_instance_to_sr_in_pacs_s": round(max(r["latency"]), 2) if n else None,
                      "task_s": round(r["task_s"], 3), "error": r["error"]}
        if n > 1:
            out[label]["median_s"] = round(statistics.median(r["latency"]), 2)
    if len(rows) > 1:
        sent = max(r["sent"] for r in rows.values())
        out[f"whole study ({name}, {len(rows)} tasks)"] = {
            "last_instance_to_sr_in_pacs_s": round(sent - last, 2) if sent else None,
            "task_s": round(sum(r["task_s"] for r in rows.values()), 3), "error": ""}
    return out


def format_node_report(report: dict[str, Any]) -> str:
    """The report as text lines (each round; LGE per slice: the slowest slice, and the median)."""
    lines = [f"DICOM node, last instance received -> SR stored in the PACS ({report['pacs']}, quiet time "
             f"{report['quiet_s']:g} s, device {report['device']}, LGE slices {report['lge_slice_gap_s']:g} s apart; "
             f"node warm-up {report['warm_up_s']:.1f} s before the first study):"]
    for name, rows in report["rounds"].items():
        lines.append(f" {name} studies:")
        for task, row in rows.items():
            if row.get("last_instance_to_sr_in_pacs_s") is None:
                lines.append(f"  {task:<40} failed: {row.get('error')}")
                continue
            seconds = row["last_instance_to_sr_in_pacs_s"]
            median = f", median {row['median_s']:.2f} s" if "median_s" in row else ""
            lines.append(f"  {task:<40} {seconds:7.2f} s{median}  (task alone {row['task_s']:.2f} s)")
    lines.append(" targets:")
    for name, target in report.get("targets", {}).items():
        seconds = "failed" if target["seconds"] is None else f"{target['seconds']:.2f} s"
        lines.append(f"  {name:<40} {seconds:>9} <= {target['limit_s']:g} s: {'yes' if target['met'] else 'NO'}")
    return "\n".join(lines)
