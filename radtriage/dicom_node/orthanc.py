"""A throw-away Orthanc PACS on free loopback ports (Debian's ``orthanc`` package): for tests and benchmarks."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from radtriage.errors import RadTriageError

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc/plugins"))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    """An Orthanc with its storage under ``folder``: ``url`` (REST), ``dicom_port``, ``aet``; :meth:`stop` ends it."""

    def __init__(self, folder: str | Path, binary: Path = ORTHANC, aet: str = "ORTHANC") -> None:
        import requests

        if not binary.is_file():
            raise RadTriageError(f"{binary} not found: apt-get install orthanc orthanc-dicomweb")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        plugin = next((d / "libOrthancDicomWeb.so" for d in PLUGIN_DIRS if (d / "libOrthancDicomWeb.so").is_file()),
                      None)
        self.http_port, self.dicom_port, self.aet = free_port(), free_port(), aet
        storage = str(folder / "db")
        config = {"Name": "radtriage-test", "StorageDirectory": storage, "IndexDirectory": storage,
                  "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": aet,
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomAlwaysAllowStore": True,
                  "DicomAlwaysAllowEcho": True, "Plugins": [str(plugin)] if plugin else [],
                  "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self._log = (folder / "orthanc.log").open("w")
        self.proc = subprocess.Popen([str(binary), str(folder / "orthanc.json")], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.has_dicomweb = plugin is not None
        for _ in range(150):
            try:
                requests.get(f"{self.url}/system", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RadTriageError(f"Orthanc did not start; see {folder / 'orthanc.log'}")

    def stop(self) -> None:
        """End the Orthanc process."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()

    def upload(self, files: list[Path]) -> set[str]:
        """POST each file; returns the Orthanc study IDs."""
        import requests

        studies = set()
        for f in files:
            r = requests.post(f"{self.url}/instances", data=f.read_bytes(), timeout=10)
            r.raise_for_status()
            studies.add(r.json()["ParentStudy"])
        return studies

    def add_modality(self, name: str, aet: str, port: int, host: str = "127.0.0.1") -> None:
        """Declare a DICOM peer (the node) under ``name``."""
        import requests

        requests.put(f"{self.url}/modalities/{name}", json={"AET": aet, "Host": host, "Port": port},
                     timeout=5).raise_for_status()

    def send(self, modality: str, studies: set[str]) -> None:
        """C-STORE ``studies`` (Orthanc IDs) to the peer ``modality``; returns when Orthanc has sent them."""
        import requests

        requests.post(f"{self.url}/modalities/{modality}/store", json={"Resources": sorted(studies),
                                                                       "Synchronous": True}, timeout=120
                      ).raise_for_status()

    def instances(self, modality: str) -> list[Any]:
        """Every stored instance of ``modality`` (e.g. SR, SEG), read back from Orthanc as pydicom datasets."""
        import pydicom
        import requests

        found = requests.post(f"{self.url}/tools/find", json={"Level": "Series", "Query": {"Modality": modality}},
                              timeout=5).json()
        out = []
        for series in found:
            for inst in requests.get(f"{self.url}/series/{series}/instances", timeout=5).json():
                data = requests.get(f"{self.url}/instances/{inst['ID']}/file", timeout=5).content
                out.append(pydicom.dcmread(io.BytesIO(data)))
        return out
