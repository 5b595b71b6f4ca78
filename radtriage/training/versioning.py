"""Versioned output bundles: a new training run never overwrites; it gets the next version of its name."""

from __future__ import annotations

import logging
from pathlib import Path

from packaging.version import InvalidVersion, Version

from radtriage.errors import InputError
from radtriage.models.bundle import METADATA_FILE, read_metadata

log = logging.getLogger(__name__)


def existing_versions(out_dir: str | Path, name: str) -> list[Version]:
    """Versions of the bundles called ``name`` directly inside ``out_dir`` (unreadable bundles are skipped)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = []
    for folder in sorted(out_dir.iterdir()):
        if not (folder / METADATA_FILE).is_file():
            continue
        try:
            meta = read_metadata(folder)
            if meta.name == name:
                found.append(Version(meta.version))
        except (InputError, InvalidVersion) as exc:
            log.warning("ignoring unreadable bundle %s while choosing a version: %s", folder, exc)
    return sorted(found)


def bump(version: Version) -> Version:
    """The next patch version: 0.1.0 -> 0.1.1 (pre/post/dev parts dropped)."""
    major, minor, micro = [*version.release, 0, 0, 0][:3]
    return Version(f"{major}.{minor}.{micro + 1}")


def bundle_folder_name(name: str, version: str) -> str:
    """Folder of bundle ``name`` version ``version``: ``<name>-<version>``."""
    return f"{name}-{version}"


def next_bundle_version(out_dir: str | Path, name: str, first: str = "0.1.0") -> tuple[str, Path]:
    """The version and folder for a new bundle ``name`` in ``out_dir``: ``first`` if none exists, else one patch
    version above the newest (or ``first`` if that is higher); a folder that is already taken (by anything) is
    skipped, never overwritten."""
    versions = existing_versions(out_dir, name)
    version = max(bump(versions[-1]), Version(first)) if versions else Version(first)
    while (Path(out_dir) / bundle_folder_name(name, str(version))).exists():
        version = bump(version)
    return str(version), Path(out_dir) / bundle_folder_name(name, str(version))
