"""Every settings dataclass read from a dict refuses a key it does not know, and reads its own to_dict back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from radtriage.models import BundleError
from radtriage.tasks.cmb_detect.detector import SETTINGS_KEY, CmbPipeline, DetectSettings
from radtriage.tasks.lge_certainty.certainty import ReaderCertaintyRule
from radtriage.tasks.lge_certainty.prep import SlicePrep
from radtriage.training.settings import AugmentConfig

BUNDLES = Path(__file__).resolve().parents[1] / "radtriage" / "bundles"


@pytest.mark.parametrize("cls", [AugmentConfig, SlicePrep, ReaderCertaintyRule, DetectSettings])
def test_a_settings_class_reads_its_own_dict_back_and_refuses_an_unknown_key(cls):
    default = cls()
    assert cls.from_dict(default.to_dict()) == default
    assert cls.from_dict(None) == default
    with pytest.raises(ValueError, match=r"unknown setting\(s\) detecton_threshold; known: .*"):
        cls.from_dict({**default.to_dict(), "detecton_threshold": 0.5})


def test_a_bundle_whose_cmb_settings_carry_a_typo_is_refused_with_one_line_naming_it(tmp_path):
    source = sorted(BUNDLES.glob("cmb-detect-demo-*"))[-1]
    bundle = tmp_path / source.name
    shutil.copytree(source, bundle)
    path = bundle / "configs" / "inference.json"
    config = json.loads(path.read_text())
    config[SETTINGS_KEY]["merge_radius_mm"] = 3.0
    path.write_text(json.dumps(config))
    with pytest.raises(BundleError) as raised:
        CmbPipeline.from_bundle(bundle, device="cpu")
    message = str(raised.value)
    assert "\n" not in message and str(bundle) in message and "merge_radius_mm" in message
