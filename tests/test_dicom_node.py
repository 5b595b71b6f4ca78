"""The DICOM node without a PACS: routing, the persistent queue, C-STORE/C-ECHO from pynetdicom, refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("pynetdicom", reason="the dicom-node extra (pynetdicom) is not installed")

from radtriage.cli import main
from radtriage.dicom_node.node import DicomNode, NodeConfig
from radtriage.dicom_node.phantom_series import write_body_series, write_brain_study, write_lge_series
from radtriage.dicom_node.queue import WorkQueue
from radtriage.dicom_node.routing import route
from radtriage.dicom_node.sender import Peer, c_store
from radtriage.io import scan_dicom


def wait_for(predicate, timeout: float = 90.0, step: float = 0.3):
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass (None)."""
    end = time.time() + timeout
    while time.time() < end:
        if value := predicate():
            return value
        time.sleep(step)
    return None


def worklist(folder: Path) -> dict:
    path = folder / "worklist.json"
    return json.loads(path.read_text()) if path.is_file() else {"studies": [], "rejected_instances": []}


def test_routing_by_modality_contrast_and_body_part(tmp_path: Path) -> None:
    write_brain_study(tmp_path / "brain", shape=(24, 24, 8))
    write_lge_series(tmp_path / "lge", n_slices=3)
    write_body_series(tmp_path / "ct", n_slices=8)
    brain = [(j.task, sorted(j.inputs)) for j in route(scan_dicom(tmp_path / "brain"))]
    assert brain[0] == ("mri_triage", ["DWI_b1000", "FLAIR", "SWI", "T1_MPRAGE", "T2_TSE"])
    assert brain[1][0] == "body_region" and brain[2] == ("cmb_detect", ["swi"])  # the slowest last
    assert [j.task for j in route(scan_dicom(tmp_path / "lge"))] == ["lge_certainty"]
    assert [j.task for j in route(scan_dicom(tmp_path / "ct"))] == ["body_region"]
    assert [j.task for j in route(scan_dicom(tmp_path / "brain"), tasks=["cmb_detect"])] == ["cmb_detect"]


def test_warm_up_runs_every_enabled_task_once_and_leaves_nothing(tmp_path: Path) -> None:
    """Before the first study the worker runs each task on small phantom studies: real task runs (results
    discarded), nothing queued, sent or left on disk."""
    from radtriage.dicom_node.sender import OUTBOX, Sender
    from radtriage.dicom_node.worker import Worker, local_runner

    ran: list[tuple[str, str]] = []
    real = local_runner("cpu")

    def recording(task, images):
        result = real(task, images)
        ran.append((task, result.task))
        return result

    queue = WorkQueue(tmp_path / "node")
    worker = Worker(tmp_path / "node", queue, Sender(tmp_path / "node", None, None), runner=recording)
    seconds = worker.warm_up()
    assert seconds > 0 and worker.warm_up_s == seconds
    assert sorted(task for task, _ in ran) == sorted(["mri_triage", "body_region", "cmb_detect", "lge_certainty",
                                                      "body_region"])  # brain study + CT
    assert all(task == done for task, done in ran)
    assert queue.studies() == [] and sorted(p.name for p in (tmp_path / "node").iterdir()
                                            if p.name.startswith(".warm-up")) == []
    assert list((tmp_path / "node" / OUTBOX).iterdir()) == []
    queue.close()


def test_queue_survives_a_restart(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path)
    q.add_instance("1.2.3", tmp_path / "incoming" / "1.2.3", now=100.0)
    q.add_instance("1.2.3", tmp_path / "incoming" / "1.2.3", now=101.0)
    assert q.promote_quiet(5.0, now=103.0) == 0 and q.promote_quiet(5.0, now=107.0) == 1
    assert q.take().study_uid == "1.2.3"  # running when the node dies
    q.close()
    again = WorkQueue(tmp_path)
    study = again.get("1.2.3")
    assert (study.status, study.n_instances) == ("queued", 2)
    assert again.take() is not None
    again.finish("1.2.3", {"tasks": {}}, error="no task applies")
    assert again.get("1.2.3").status == "failed" and again.pending() == 0


def test_cstore_from_pynetdicom_runs_the_task_and_refuses_a_broken_instance(tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import MRImageStorage, Verification

    files = write_body_series(tmp_path / "ct", n_slices=12)
    node = DicomNode(NodeConfig(tmp_path / "node", port=0, quiet_s=0.5, device="cpu", tasks=["body_region"]))
    node.start()
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        ae.add_requested_context(MRImageStorage)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="RADTRIAGE")
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        broken = pydicom.dcmread(files[0])
        broken.SOPClassUID = broken.file_meta.MediaStorageSOPClassUID = MRImageStorage
        del broken.StudyInstanceUID  # an instance the node cannot file
        assert assoc.send_c_store(broken).Status == 0xC210
        assoc.release()
        c_store(Peer("RADTRIAGE", "127.0.0.1", node.port), [pydicom.dcmread(f) for f in files], "TESTSCU")
        done = wait_for(lambda: [s for s in worklist(tmp_path / "node")["studies"] if s["status"] == "done"])
        assert done, worklist(tmp_path / "node")
        task = done[0]["tasks"]["body_region"]
        assert task["status"] == "done" and done[0]["n_instances"] == 12
        rejected = worklist(tmp_path / "node")["rejected_instances"]
        assert len(rejected) == 1 and "cannot decode" in rejected[0]["reason"] and "TESTSCU" in rejected[0]["source"]
        sent = sorted(pydicom.dcmread(f).Modality for f in (tmp_path / "node" / "sent").glob("*.dcm"))
        assert sent == ["SEG", "SR"]  # no destination: kept in sent/
        assert not (tmp_path / "node" / "incoming" / done[0]["study_uid"]).exists()  # finished: files removed
    finally:
        node.stop()


def test_wrong_called_ae_title_is_rejected(tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    node = DicomNode(NodeConfig(tmp_path / "node", port=0, tasks=["body_region"]))
    node.start()
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="SOMEONE")
        assert not assoc.is_established
    finally:
        node.stop()


@pytest.mark.parametrize(("args", "expected"), [
    (["--forward", "nonsense"], "AET@HOST:PORT"),
    (["--tasks", "mri_triage,nope"], "comma-separated list"),
    (["--stow", "ftp://x"], "http(s)://"),
    (["--ae-title", "A" * 17], "1 to 16 characters"),
])
def test_listen_refuses_bad_arguments_in_one_line(tmp_path: Path, capsys, args: list[str], expected: str) -> None:
    assert main(["listen", "--out", str(tmp_path / "n"), "--port", "0", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


def test_missing_extra_is_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynetdicom", None)  # import fails like a missing package
    assert main(["listen", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'radtriage[dicom-node]'" in err[0]


def test_full_disk_refuses_with_out_of_resources_and_logs(tmp_path: Path) -> None:
    files = write_body_series(tmp_path / "ct", n_slices=4)
    node = DicomNode(NodeConfig(tmp_path / "node", port=0, max_disk_gb=1e-6, tasks=["body_region"]))  # 1 kB
    node.start()
    try:
        from pynetdicom import AE

        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(str(pydicom.dcmread(files[0]).SOPClassUID))
        assoc = ae.associate("127.0.0.1", node.port, ae_title="RADTRIAGE")
        assert assoc.send_c_store(pydicom.dcmread(files[0])).Status == 0xA700
        assoc.release()
        node.refresh()
        reason = worklist(tmp_path / "node")["rejected_instances"][0]["reason"]
        assert "incoming folder is full" in reason and "--max-disk-gb" in reason
        assert not list((tmp_path / "node" / "incoming").rglob("*.dcm"))
    finally:
        node.stop()


def test_listen_command_answers_echo_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    proc = subprocess.Popen([sys.executable, "-m", "radtriage", "listen", "--port", "0", "--out", str(tmp_path / "n"),
                             "--tasks", "body_region"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("radtriage listen: RADTRIAGE on 127.0.0.1:"), line + proc.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", port, ae_title="RADTRIAGE")
        assert assoc.send_c_echo().Status == 0
        assoc.release()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped" in out, err
    assert "Traceback" not in err
    assert (tmp_path / "n" / "worklist.json").is_file() and (tmp_path / "n" / "queue.sqlite").is_file()


@pytest.mark.parametrize("per_slice", [True, False])
def test_lge_images_run_per_slice_at_once_or_as_one_series(tmp_path: Path, per_slice: bool) -> None:
    import highdicom as hd

    files = write_lge_series(tmp_path / "lge", n_slices=3)
    node = DicomNode(NodeConfig(tmp_path / "node", port=0, quiet_s=0.5 if not per_slice else 3600.0, device="cpu",
                                lge_per_slice=per_slice))
    node.start()
    try:
        c_store(Peer("RADTRIAGE", "127.0.0.1", node.port), [pydicom.dcmread(f) for f in files], "TESTSCU")
        expected = 3 if per_slice else 1  # per slice: due at once although the quiet time is an hour
        done = wait_for(lambda: [s for s in worklist(tmp_path / "node")["studies"] if s["status"] == "done"]
                        if len(worklist(tmp_path / "node")["studies"]) == expected and all(
                            s["status"] == "done" for s in worklist(tmp_path / "node")["studies"]) else None, 60)
        assert done, worklist(tmp_path / "node")
    finally:
        node.stop()
    assert all(list(s["tasks"]) == ["lge_certainty"] for s in done)
    srs = [hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(f))
           for f in (tmp_path / "node" / "sent").glob("*.dcm") if pydicom.dcmread(f).Modality == "SR"]
    assert len(srs) == expected
    referenced = sorted(g.source_images[0].referenced_sop_instance_uid for sr in srs
                        for g in sr.content.get_image_measurement_groups() if g.source_images)
    assert referenced == sorted(str(pydicom.dcmread(f).SOPInstanceUID) for f in files)
    if per_slice:
        assert sorted(s["instance_uid"] for s in done) == referenced
