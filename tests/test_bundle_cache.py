"""A long-lived process keeps the bundles it loaded (the DICOM node, batch workers): an unchanged bundle is
loaded once; a changed one again; off by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radtriage.models.safe_load import keep_loaded_bundles, load_bundle
from radtriage.tasks.mri_triage import write_untrained_bundle


@pytest.fixture
def bundle(tmp_path: Path):
    yield write_untrained_bundle(tmp_path / "mri-cache-test")
    keep_loaded_bundles(0)


def test_off_by_default_then_one_load_per_unchanged_bundle(bundle: Path) -> None:
    keep_loaded_bundles(0)
    assert load_bundle(bundle, "cpu").network is not load_bundle(bundle, "cpu").network
    keep_loaded_bundles(2)
    first = load_bundle(bundle, "cpu")
    assert load_bundle(bundle, "cpu") is first
    weights = bundle / "models" / "model.pt"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000))
    assert load_bundle(bundle, "cpu") is not first  # the files changed: loaded (and checked) again


def test_a_bundle_check_is_kept_only_while_its_files_are_unchanged(bundle: Path) -> None:
    """Listing re-uses the last check of an unchanged bundle; any edit (here: tampered weights) is seen at once."""
    from radtriage.models import inspect_bundle

    first = inspect_bundle(bundle)
    assert first.valid and inspect_bundle(bundle) is first
    weights = bundle / "models" / "model.pt"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    again = inspect_bundle(bundle)
    assert not again.valid and "SHA-256" in again.reason
