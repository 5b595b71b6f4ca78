"""The phantom cases offered in Slicer's Sample Data module (category "RadTriage"): which, file names, writing them.

Nothing is downloaded. A sample's button generates its phantom with :func:`radtriage.phantom_export.export_phantom`
(numpy, scipy and SimpleITK: no torch) into Slicer's cache folder, the folder Sample Data downloads into
(``SampleDataLogic.downloadFileIntoCache``), and Sample Data then loads it: a file already in its cache is reused,
not downloaded (``SampleDataLogic.downloadFile``, ``Modules/Scripted/SampleData/SampleData.py`` v5.12.3). The
``file://`` URIs name where each file lives. Nothing here imports ``slicer``; ``radtriage`` only when writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_CATEGORY = "RadTriage"
"""Sample Data category (the group box the buttons are in)."""

CACHE_SUBFOLDER = "RadTriage"
"""Folder under Slicer's cache folder that holds the generated phantoms (``export_phantom``'s layout)."""


@dataclass(frozen=True)
class PhantomSample:
    """One Sample Data entry: a seeded phantom case of one task, made by ``export_phantom``."""

    name: str
    """Sample name: the button text, unique over all of Sample Data."""
    kind: str
    """``export_phantom`` kind (``brain``, ``swi``, ``lge``, ``body-ct``)."""
    seed: int
    volumes: tuple[str, ...]
    """Volume files that the button loads, in order (names ``export_phantom`` writes for ``kind``)."""
    node_prefix: str

    @property
    def file_names(self) -> tuple[str, ...]:
        """Each volume's path relative to the cache folder, as Sample Data's ``fileNames``."""
        return tuple(f"{CACHE_SUBFOLDER}/{self.kind}-{self.seed:04d}/{volume}" for volume in self.volumes)

    @property
    def node_names(self) -> tuple[str, ...]:
        """Node name of each volume: prefix and file stem (``BrainPhantom_FLAIR``), so the name tells the contrast."""
        return tuple(f"{self.node_prefix}_{volume.split('.', 1)[0]}" for volume in self.volumes)


BRAIN_CONTRAST_FILES = tuple(f"{c}.nii.gz" for c in ("T1", "T1post", "T2", "FLAIR", "DWI", "ADC", "SWI", "other"))

PHANTOM_SAMPLES: tuple[PhantomSample, ...] = (
    PhantomSample("RadTriageBrainMR", "brain", 2, BRAIN_CONTRAST_FILES, "BrainPhantom"),  # seed 2: haemorrhage
    PhantomSample("RadTriageSWI", "swi", 1, ("swi_magnitude.nii.gz", "swi_phase.nii.gz"), "SWIPhantom"),  # 6 CMBs
    PhantomSample("RadTriageLGE", "lge", 0, ("lge_sax.nii.gz",), "LGEPhantom"),
    PhantomSample("RadTriageBodyCT", "body-ct", 0, ("body_ct.nii.gz",), "BodyCTPhantom"),
)
"""One sample per task: multi-contrast brain MR (MRITriage), SWI with microbleeds (CMBDetect), short-axis LGE
(LGECertainty) and a head-to-feet body CT (BodyRegion)."""


def sample_named(name: str) -> PhantomSample:
    """The sample called ``name``; ``KeyError`` naming the known ones otherwise."""
    for sample in PHANTOM_SAMPLES:
        if sample.name == name:
            return sample
    raise KeyError(f"no RadTriage sample {name!r}; known: {', '.join(s.name for s in PHANTOM_SAMPLES)}")


def volume_paths(sample: PhantomSample, cache_dir: str | Path) -> list[Path]:
    """Where the sample's volumes are (or will be) under ``cache_dir``."""
    return [Path(cache_dir) / name for name in sample.file_names]


def write_sample(sample: PhantomSample, cache_dir: str | Path) -> list[Path]:
    """Generate the sample's phantom under ``cache_dir`` unless all its volumes are there; returns their paths."""
    paths = volume_paths(sample, cache_dir)
    if all(path.is_file() and path.stat().st_size > 0 for path in paths):
        return paths
    from radtriage.phantom_export import export_phantom

    export_phantom(sample.kind, Path(cache_dir) / CACHE_SUBFOLDER, seed=sample.seed)
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise RuntimeError(f"phantom {sample.kind} seed {sample.seed} did not write {', '.join(missing)}")
    return paths


def source_arguments(sample: PhantomSample, cache_dir: str | Path) -> dict[str, object]:
    """Keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for ``sample`` (no downloader)."""
    return {
        "category": SAMPLE_CATEGORY,
        "sampleName": sample.name,
        "uris": [path.absolute().as_uri() for path in volume_paths(sample, cache_dir)],
        "fileNames": list(sample.file_names),
        "nodeNames": list(sample.node_names),
        "loadFileTypes": "VolumeFile",
    }
