"""Contrast of volume nodes in a real headless scene gives the same guess as ``classify_image`` on the source images.

The eight phantom brain contrasts are loaded as nodes three ways: (a) DICOM series with uninformative node names,
``DICOM.instanceUIDs`` and a DICOM database, (b) volume files read by Slicer's Volumes logic (storage node file name
only), (c) node names only. Slicer's ``ctkDICOMDatabase`` is not in PyPI ``slicer-core``: :class:`DicomDatabase`
below is a minimal object with the two methods of it that ``radtriage.mrml.contrast`` calls, ``fileForInstance`` and
``instanceValue``, answering as ctkDICOMDatabase does (file path or "", tag value text or "").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_series import write_mr_series

from radtriage.image import Image
from radtriage.io import read_image, write_volume
from radtriage.io.contrast import Contrast, assign_contrasts, classify_image
from radtriage.mrml import create_headless_scene, image_to_volume_node, volume_node_to_image
from radtriage.mrml.contrast import (
    EVIDENCE_ATTRIBUTE,
    INSTANCE_UIDS_ATTRIBUTE,
    assign_node_contrasts,
    classify_volume_node,
    node_metadata,
    store_image_evidence,
)
from radtriage.phantoms import make_brain_case

# (SeriesDescription, tags) per phantom contrast: what a scanner writes for such a series.
SERIES: dict[str, tuple[str, dict[str, object]]] = {
    "T1": (
        "Ax T1 SE",
        {
            "ScanningSequence": "SE",
            "RepetitionTime": "520",
            "EchoTime": "12",
            "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        },
    ),
    "T1post": (
        "Ax T1 SE +C",
        {"ScanningSequence": "SE", "RepetitionTime": "520", "EchoTime": "12", "ContrastBolusAgent": "Gadovist"},
    ),
    "T2": ("Ax T2 TSE", {"ScanningSequence": "SE", "RepetitionTime": "4200", "EchoTime": "102"}),
    "FLAIR": (
        "Ax T2 FLAIR",
        {"ScanningSequence": ["SE", "IR"], "RepetitionTime": "9000", "EchoTime": "120", "InversionTime": "2500"},
    ),
    "DWI": (
        "Ax DWI b1000",
        {
            "ScanningSequence": "EP",
            "RepetitionTime": "5200",
            "EchoTime": "89",
            "DiffusionBValue": 1000.0,
            "ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW"],
        },
    ),
    "ADC": ("Ax ADC", {"ScanningSequence": "EP", "ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]}),
    "SWI": (
        "Ax SWI",
        {
            "ScanningSequence": "GR",
            "RepetitionTime": "28",
            "EchoTime": "20",
            "FlipAngle": "15",
            "ImageType": ["ORIGINAL", "PRIMARY", "M", "SWI"],
        },
    ),
    "other": ("Ax PD TSE", {"ScanningSequence": "SE", "RepetitionTime": "3000", "EchoTime": "18"}),
}
FILE_NAMES = {
    "T1": "sub-01_T1w",
    "T1post": "sub-01_ce-gadolinium_T1w",
    "T2": "sub-01_T2w",
    "FLAIR": "sub-01_FLAIR",
    "DWI": "sub-01_dwi",
    "ADC": "sub-01_adc",
    "SWI": "sub-01_swi",
    "other": "sub-01_PDw",
}


class DicomDatabase:
    """``fileForInstance`` and ``instanceValue`` of ctkDICOMDatabase over a dict {SOPInstanceUID: file}."""

    def __init__(self, files: dict[str, Path], with_files: bool = True) -> None:
        self.files, self.with_files, self.calls = files, with_files, []

    def fileForInstance(self, uid: str) -> str:
        self.calls.append(("fileForInstance", uid))
        return str(self.files[uid]) if self.with_files and uid in self.files else ""

    def instanceValue(self, uid: str, tag: str) -> str:
        import pydicom

        self.calls.append(("instanceValue", uid))
        if uid not in self.files:
            return ""
        group, element = (int(part, 16) for part in tag.split(","))
        ds = pydicom.dcmread(self.files[uid], stop_before_pixels=True)
        if (group, element) not in ds:
            return ""
        value = ds[group, element].value
        return "\\".join(str(v) for v in value) if type(value).__name__ == "MultiValue" else str(value)


def _write_series(image: Image, folder: Path, contrast: str) -> dict[str, Path]:
    """One MR file per slice with the contrast's tags; returns {SOPInstanceUID: file} in slice order."""
    description, tags = SERIES[contrast]
    return write_mr_series(image, folder, description, tags)


def _same(node_guess, image_guess) -> bool:
    return (node_guess.contrast, node_guess.confidence, node_guess.usable) == (
        image_guess.contrast, image_guess.confidence, image_guess.usable)  # fmt: skip


@pytest.fixture(scope="module")
def case():
    return make_brain_case(2, shape=(20, 22, 5), spacing=(9.0, 9.0, 9.0))


@pytest.fixture(scope="module")
def dicom_study(case, tmp_path_factory: pytest.TempPathFactory):
    """{contrast: (folder, {uid: file})}; folders named series1..8 so that the path says nothing."""
    root = tmp_path_factory.mktemp("dicom")
    return {contrast: (root / f"series{i}", _write_series(image, root / f"series{i}", contrast))
            for i, (contrast, image) in enumerate(case.images.items(), 1)}  # fmt: skip


@pytest.fixture
def scene():
    headless = create_headless_scene()
    yield headless
    headless.close()


def _dicom_nodes(scene, dicom_study) -> dict[str, tuple[object, Image]]:
    """Nodes as Slicer's DICOM plugin leaves them: voxels, an uninformative name, ``DICOM.instanceUIDs``."""
    out = {}
    for i, (contrast, (folder, files)) in enumerate(dicom_study.items(), 1):
        image = read_image(folder)
        node = image_to_volume_node(scene, image, f"Volume {i}")
        node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join(files))
        out[contrast] = (node, image)
    return out


def test_dicom_nodes_give_the_image_guess_through_the_database(scene, dicom_study) -> None:
    files = {uid: path for _, uids in dicom_study.values() for uid, path in uids.items()}
    database = DicomDatabase(files)
    nodes = _dicom_nodes(scene.scene, dicom_study)
    for contrast, (node, image) in nodes.items():
        image_guess = classify_image(image)
        assert image_guess.contrast == Contrast(contrast), image_guess.explanation
        database.calls.clear()
        node_guess = classify_volume_node(node, database)
        assert database.calls == [("fileForInstance", node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE).split()[0])]
        assert _same(node_guess, image_guess), (contrast, node_guess.explanation, image_guess.explanation)
        assert node_guess.source == "dicom"
        assert node_metadata(node, database)["series_description"] == SERIES[contrast][0]
    assignment = assign_node_contrasts([node for node, _ in nodes.values()], database)
    assert {c.value: key for c, key in assignment.by_contrast().items()} == {
        contrast: node.GetID() for contrast, (node, _) in nodes.items()}  # fmt: skip


def test_dicom_nodes_without_files_use_instance_values(scene, dicom_study) -> None:
    files = {uid: path for _, uids in dicom_study.values() for uid, path in uids.items()}
    database = DicomDatabase(files, with_files=False)
    for contrast, (node, image) in _dicom_nodes(scene.scene, dicom_study).items():
        node_guess, image_guess = classify_volume_node(node, database), classify_image(image)
        assert _same(node_guess, image_guess), (contrast, node_guess.explanation, image_guess.explanation)


def test_voxels_and_names_alone_lose_what_the_database_knows(scene, dicom_study) -> None:
    """What the module did before: classify ``volume_node_to_image(node)``, the node name only."""
    nodes = _dicom_nodes(scene.scene, dicom_study)
    before = assign_contrasts({contrast: volume_node_to_image(node) for contrast, (node, _) in nodes.items()})
    assert all(guess.contrast is Contrast.OTHER and guess.confidence == 0 for guess in before.values())
    without = [classify_volume_node(node) for node, _ in nodes.values()]  # no database: no tags either
    assert all(not guess.usable for guess in without)


def test_file_nodes_give_the_image_guess_through_the_storage_node(scene, case, tmp_path: Path) -> None:
    volumes = scene.logics["Volumes"]
    for i, (contrast, image) in enumerate(case.images.items(), 1):
        path = write_volume(image, tmp_path / f"{FILE_NAMES[contrast]}.nii.gz")
        node = volumes.AddArchetypeVolume(str(path), f"Volume {i}", 0)  # what slicer.util.loadVolume calls
        assert node is not None and node.GetStorageNode().GetFileName() == str(path)
        image_guess = classify_image(read_image(path))
        assert image_guess.contrast == Contrast(contrast), image_guess.explanation
        assert _same(classify_volume_node(node), image_guess), contrast


def test_name_only_nodes_give_the_image_contrast(scene, case) -> None:
    for contrast, image in case.images.items():
        node = image_to_volume_node(scene.scene, image, image.metadata["description"])
        assert classify_volume_node(node).contrast == classify_image(image).contrast == Contrast(contrast)


def test_reader_evidence_kept_on_the_node_survives_without_a_database(scene, dicom_study) -> None:
    for contrast, (folder, _) in dicom_study.items():
        image = read_image(folder)
        node = image_to_volume_node(scene.scene, image, "Series")
        store_image_evidence(node, image)
        assert _same(classify_volume_node(node), classify_image(image)), contrast
    node.SetAttribute(EVIDENCE_ATTRIBUTE, "{not json")
    assert classify_volume_node(node).contrast is Contrast.OTHER  # "Series" says nothing; no traceback


def test_subject_hierarchy_series_description_is_used(scene, case) -> None:
    from radtriage.mrml import subject_hierarchy

    node = image_to_volume_node(scene.scene, case.images["FLAIR"], "Volume")
    sh_node = subject_hierarchy(scene.scene)
    item = sh_node.GetItemByDataNode(node) or sh_node.CreateItem(sh_node.GetSceneItemID(), node)  # as DICOMPlugin
    sh_node.SetItemAttribute(item, "DICOM.SeriesDescription", "Ax T2 FLAIR")
    sh_node.SetItemAttribute(item, "DICOM.Modality", "MR")
    meta = node_metadata(node)
    assert (meta["series_description"], meta["modality"]) == ("Ax T2 FLAIR", "MR")
    assert classify_volume_node(node).contrast is Contrast.FLAIR
