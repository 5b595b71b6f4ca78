"""The DICOM node against a real PACS (Debian's Orthanc): Orthanc sends studies, SR/SEG come back to it.

Orthanc runs on free loopback ports with a temporary configuration (storage in tmp, the DICOMweb plugin). The node
gets a brain MR study (-> mri_triage, cmb_detect, body_region), a CT series (-> body_region) and a study with a
corrupt instance (reported in the worklist; the node goes on); results return by C-STORE, and by STOW-RS.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from test_dicom_node import wait_for

pytest.importorskip("pynetdicom", reason="the dicom-node extra (pynetdicom) is not installed")
pytest.importorskip("dicomweb_client", reason="the dicom-node extra (dicomweb-client) is not installed")

import highdicom as hd
import pydicom
import requests

from radtriage.dicom_node.node import DicomNode, NodeConfig
from radtriage.dicom_node.orthanc import ORTHANC, Orthanc, free_port
from radtriage.dicom_node.phantom_series import write_body_series, write_brain_study
from radtriage.dicom_node.sender import Peer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not ORTHANC.is_file(), reason="Orthanc is not installed (apt-get install orthanc "
                                                                    "orthanc-dicomweb)")]
SR_CLASS, SEG_CLASS = "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.66.4"
DISCLAIMER = "DEMO MODEL - NOT FOR CLINICAL USE"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    pacs = Orthanc(tmp_path_factory.mktemp("orthanc"))  # storage in tmp, free loopback ports, DICOMweb plugin
    yield pacs
    pacs.stop()


def at_least(items: list, n: int) -> list | None:
    return items if len(items) >= n else None


def _texts(ds: pydicom.Dataset) -> list[str]:
    out: list[str] = []

    def walk(items) -> None:
        for item in items:
            if item.ValueType == "TEXT":
                out.append(str(item.TextValue))
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    return out


def test_orthanc_sends_studies_and_gets_sr_and_seg_back(orthanc: Orthanc, tmp_path: Path) -> None:
    brain = write_brain_study(tmp_path / "brain", shape=(40, 40, 24))
    ct = write_body_series(tmp_path / "ct", n_slices=24)
    corrupt = write_body_series(tmp_path / "bad", seed=3, n_slices=16)
    ds = pydicom.dcmread(corrupt[2])
    ds.Rows = ds.Rows - 5  # a header that no longer fits the series (Orthanc stores it as it is)
    ds.save_as(corrupt[2])
    uploaded = {"brain": orthanc.upload(brain), "ct": orthanc.upload(ct), "bad": orthanc.upload(corrupt)}
    node = DicomNode(NodeConfig(tmp_path / "node", port=0, quiet_s=1.0, device="cpu",
                                forward=Peer(orthanc.aet, "127.0.0.1", orthanc.dicom_port), send_backoff_s=0.5))
    node.start()
    try:
        orthanc.add_modality("radtriage", "RADTRIAGE", node.port)
        for name in ("bad", "ct", "brain"):
            orthanc.send("radtriage", uploaded[name])
        sent_at = time.time()
        srs = wait_for(lambda: at_least(orthanc.instances("SR"), 4), timeout=150)
        assert srs, json.loads((tmp_path / "node" / "worklist.json").read_text())
        print(f"last instance -> 4 SRs in Orthanc: {time.time() - sent_at:.1f} s")
        wl = json.loads((tmp_path / "node" / "worklist.json").read_text())
        segs = wait_for(lambda: at_least(orthanc.instances("SEG"), 4), timeout=30)
    finally:
        node.stop()
    by_task = {str(ds.SeriesDescription).split()[1]: ds for ds in srs}
    assert set(by_task) == {"mri_triage", "cmb_detect", "body_region"} and len(srs) == 4
    brain_src = pydicom.dcmread(brain[0])
    triage = by_task["mri_triage"]
    assert triage.SOPClassUID == SR_CLASS and triage.StudyInstanceUID == brain_src.StudyInstanceUID
    assert triage.PatientID == brain_src.PatientID and triage.SeriesInstanceUID != brain_src.SeriesInstanceUID
    assert any(DISCLAIMER in t for t in _texts(triage))
    report = hd.sr.Comprehensive3DSR.from_dataset(triage)
    evidence = {ref.ReferencedSOPInstanceUID for s in report.CurrentRequestedProcedureEvidenceSequence
                for series in s.ReferencedSeriesSequence for ref in series.ReferencedSOPSequence}
    assert evidence == {pydicom.dcmread(f).SOPInstanceUID for f in brain}
    groups = {g.tracking_identifier: g for g in report.content.get_image_measurement_groups()}
    assert {"abnormal", "acute_infarct", "acute_haemorrhage", "mass_effect"} <= set(groups)
    assert 0 <= groups["abnormal"].get_measurements()[0].value <= 1
    cmb = hd.sr.Comprehensive3DSR.from_dataset(by_task["cmb_detect"])
    assert all(g.roi.GraphicType == "POINT" for g in cmb.content.get_planar_roi_measurement_groups())
    # the SEGs: body regions of both studies, heatmaps of triage and cmb; each referencing its source series
    assert all(s.SOPClassUID == SEG_CLASS for s in segs) and len(segs) == 4
    for seg in segs:
        ref = seg.ReferencedSeriesSequence[0]
        assert len(ref.ReferencedInstanceSequence) >= 6
    # the corrupt study is reported with its reason, and did not stop the others
    studies = {s["study_uid"]: s for s in wl["studies"]}
    bad_uid = str(pydicom.dcmread(corrupt[0]).StudyInstanceUID)
    assert studies[bad_uid]["status"] == "failed" and "inconsistent image size" in studies[bad_uid]["error"]
    ranks = [s["study_uid"] for s in wl["studies"]]
    assert ranks[0] == str(brain_src.StudyInstanceUID)  # critical brain study first
    assert studies[ranks[0]]["tasks"]["mri_triage"]["sent_at"]


def test_stow_rs_path_and_dead_letter(orthanc: Orthanc, tmp_path: Path) -> None:
    if not orthanc.has_dicomweb:
        pytest.skip("the Orthanc DICOMweb plugin (orthanc-dicomweb) is not installed")
    from radtriage.dicom_node.sender import c_store

    ct = write_body_series(tmp_path / "ct", seed=5, n_slices=16)
    study_uid = str(pydicom.dcmread(ct[0]).StudyInstanceUID)
    dead_port = free_port()
    node = DicomNode(NodeConfig(tmp_path / "node", port=0, quiet_s=0.5, device="cpu", tasks=["body_region"],
                                stow_url=f"{orthanc.url}/dicom-web"))
    dead = DicomNode(NodeConfig(tmp_path / "dead", port=0, quiet_s=0.5, device="cpu", tasks=["body_region"],
                                forward=Peer("NOBODY", "127.0.0.1", dead_port), send_attempts=2, send_backoff_s=0.1))
    node.start()
    dead.start()
    try:
        c_store(Peer("RADTRIAGE", "127.0.0.1", node.port), [pydicom.dcmread(f) for f in ct])
        c_store(Peer("RADTRIAGE", "127.0.0.1", dead.port), [pydicom.dcmread(f) for f in ct])
        url = f"{orthanc.url}/dicom-web/studies/{study_uid}/series"
        def results() -> list:  # the SR and the SEG, which arrive one after the other
            answer = requests.get(url, timeout=5)
            return [s for s in answer.json() if s.get("00080060", {}).get("Value") in (["SR"], ["SEG"])] \
                if answer.status_code == 200 else []

        got = wait_for(lambda: at_least(results(), 2), timeout=60)
        assert got and len(got) == 2
        letters = wait_for(lambda: at_least(sorted((tmp_path / "dead" / "dead-letter").glob("*.dcm")), 2), timeout=60)
        assert letters and len(letters) == 2
        reason = letters[0].with_name(letters[0].name + ".reason.txt").read_text()
        assert f"NOBODY@127.0.0.1:{dead_port}" in reason
    finally:
        node.stop()
        dead.stop()
    shutil.rmtree(tmp_path / "node", ignore_errors=True)
