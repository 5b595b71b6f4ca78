"""MONAI-style model bundles: the folder layout and the metadata (MONAI fields + a ``radtriage`` section).

Layout of a bundle folder ``<name>/``::

    configs/metadata.json    MONAI bundle metadata + "radtriage": {task, inputs, outputs, class_names,
                             thresholds, certainty_band, demo, weights: {file, sha256, format}}
    configs/inference.json   {"network_def": {"_target_": <allow-listed class>, ...args}}
    models/model.pt          MONAI's place: a plain state dict, loaded weights-only (or models/model.safetensors)
    docs/README.md           the model card

Reading and checking a bundle imports neither torch nor MONAI; :mod:`radtriage.models.safe_load` loads it and
:mod:`radtriage.models.writer` writes one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from radtriage.errors import InputError
from radtriage.models.networks import check_config
from radtriage.task_specs import TASKS

log = logging.getLogger(__name__)

METADATA_FILE = "configs/metadata.json"
INFERENCE_FILE = "configs/inference.json"
MODEL_CARD_FILE = "docs/README.md"
WEIGHT_FORMATS = {"safetensors": ".safetensors", "pytorch": ".pt"}
DEFAULT_WEIGHT_FILES = {fmt: f"models/model{suffix}" for fmt, suffix in WEIGHT_FORMATS.items()}
MONAI_SCHEMA = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
)
REQUIRED_MONAI_FIELDS = (
    "version",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "task",
    "description",
    "authors",
    "copyright",
    "network_data_format",
)
"""The mandatory keys of MONAI's bundle specification (``docs/source/mb_specification.rst``, "metadata.json
File"), plus one of :data:`PACKAGES_FIELDS`; ``changelog`` and ``intended_use`` are optional there."""
PACKAGES_FIELDS = ("optional_packages_version", "required_packages_version")
"""The specification's ``optional_packages_version``, or ``required_packages_version`` of the 2024 schema."""
MONAI_WEIGHTS_FILE = DEFAULT_WEIGHT_FILES["pytorch"]
"""Where MONAI keeps a bundle's weights (a state dict); the default of ``radtriage.weights.file``."""
MODALITIES = ("MR", "CT")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(InputError):
    """A model bundle is malformed, tampered with, unsafe or incompatible; the message names the file."""


@dataclass(frozen=True)
class InputSpec:
    """What a bundle's network expects: contrasts (one channel each), modality, voxel spacing and patch size."""

    contrasts: tuple[str, ...]
    modality: str
    spacing: tuple[float, ...]
    patch_size: tuple[int, ...]

    @property
    def channels(self) -> int:
        """Number of input channels (one per contrast)."""
        return len(self.contrasts)

    @property
    def spatial_dims(self) -> int:
        """2 or 3: the number of axes of the patch."""
        return len(self.patch_size)


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights are, their SHA-256 and their format ("safetensors" or "pytorch")."""

    file: str
    sha256: str
    format: str


@dataclass(frozen=True)
class BundleMeta:
    """The checked contents of ``configs/metadata.json``; ``raw`` is the whole JSON object."""

    name: str
    version: str
    task: str
    description: str
    demo: bool
    monai_version: str
    inputs: InputSpec
    outputs: dict[str, Any]
    class_names: tuple[str, ...]
    thresholds: dict[str, Any]
    certainty_band: tuple[float, float] | None
    weights: WeightsSpec
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def output_channels(self) -> int:
        """Channels the network outputs: ``outputs["channels"]`` if given, else one per class name."""
        return int(self.outputs.get("channels", len(self.class_names)))


def parse_version(text: str, where: str | Path | None, what: str = "version") -> Version:
    """A PEP 440 version, or :class:`BundleError` naming ``where``."""
    try:
        return Version(str(text))
    except InvalidVersion as exc:
        raise BundleError(where, f"{what} {text!r} is not a valid version") from exc


def _need(cond: bool, where: Path, problem: str) -> None:
    if not cond:
        raise BundleError(where, problem)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_thresholds(value: Any, where: Path) -> dict[str, Any]:
    _need(isinstance(value, Mapping), where, "radtriage.thresholds must be an object of operating points")

    def ok(v: Any) -> bool:
        return _is_number(v) or (isinstance(v, Mapping) and all(isinstance(k, str) and ok(x) for k, x in v.items()))

    for key, v in value.items():
        _need(ok(v), where, f"radtriage.thresholds[{key!r}] must be a number or an object of numbers, got {v!r}")
    return dict(value)


def _parse_inputs(value: Any, where: Path) -> InputSpec:
    _need(isinstance(value, Mapping), where, "radtriage.inputs must be an object")
    contrasts = value.get("contrasts")
    _need(
        isinstance(contrasts, list) and len(contrasts) > 0 and all(isinstance(c, str) and c for c in contrasts),
        where,
        f"radtriage.inputs.contrasts must be a non-empty list of names, got {contrasts!r}",
    )
    modality = value.get("modality")
    _need(modality in MODALITIES, where, f"radtriage.inputs.modality must be one of {MODALITIES}, got {modality!r}")
    spacing = value.get("spacing")
    _need(
        isinstance(spacing, list) and len(spacing) in (2, 3) and all(_is_number(s) and s > 0 for s in spacing),
        where,
        f"radtriage.inputs.spacing must be 2 or 3 positive numbers (mm), got {spacing!r}",
    )
    patch = value.get("patch_size")
    _need(
        isinstance(patch, list)
        and len(patch) in (2, 3)
        and all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in patch),
        where,
        f"radtriage.inputs.patch_size must be 2 or 3 positive integers, got {patch!r}",
    )
    return InputSpec(tuple(contrasts), modality, tuple(float(s) for s in spacing), tuple(patch))


def _parse_weights(value: Any, where: Path) -> WeightsSpec:
    _need(isinstance(value, Mapping), where,
          "radtriage.weights must be an object with the weights' sha256 (file: default models/model.pt, MONAI's; "
          "format: from the file's suffix)")
    file = value.get("file", MONAI_WEIGHTS_FILE)
    _need(isinstance(file, str) and file != "", where, "radtriage.weights.file must be a relative path")
    by_suffix = {suffix: fmt for fmt, suffix in WEIGHT_FORMATS.items()}
    fmt = value.get("format", by_suffix.get(Path(file).suffix))
    _need(fmt in WEIGHT_FORMATS, where, f"radtriage.weights.format must be one of {list(WEIGHT_FORMATS)}, got {fmt!r}")
    rel = Path(file)
    _need(
        not rel.is_absolute() and ".." not in rel.parts,
        where,
        f"radtriage.weights.file {file!r} must be a path inside the bundle",
    )
    _need(
        rel.suffix == WEIGHT_FORMATS[fmt],
        where,
        f"radtriage.weights.file {file!r} does not end in {WEIGHT_FORMATS[fmt]} as format {fmt!r} requires",
    )
    sha = value.get("sha256")
    _need(
        isinstance(sha, str) and _SHA256.fullmatch(sha) is not None,
        where,
        f"radtriage.weights.sha256 must be 64 lower-case hex digits, got {sha!r}",
    )
    return WeightsSpec(file, sha, fmt)


def parse_metadata(raw: Any, where: Path, default_name: str) -> BundleMeta:
    """Check a metadata object (MONAI fields + ``radtriage`` section) and return it as :class:`BundleMeta`."""
    _need(isinstance(raw, Mapping), where, "metadata must be a JSON object")
    missing = [k for k in REQUIRED_MONAI_FIELDS if k not in raw]
    if not any(k in raw for k in PACKAGES_FIELDS):
        missing.append(" or ".join(PACKAGES_FIELDS))
    _need(not missing, where, f"missing MONAI bundle metadata field(s): {', '.join(missing)}")
    parse_version(raw["version"], where)
    parse_version(raw["monai_version"], where, "monai_version")
    ndf = raw["network_data_format"]
    _need(
        isinstance(ndf, Mapping) and isinstance(ndf.get("inputs"), Mapping) and isinstance(ndf.get("outputs"), Mapping),
        where,
        "network_data_format must have 'inputs' and 'outputs' objects",
    )
    rt = raw.get("radtriage")
    _need(isinstance(rt, Mapping), where, "missing the 'radtriage' section (task, inputs, outputs, class_names, ...)")
    task = rt.get("task")
    _need(task in TASKS, where, f"radtriage.task {task!r} is not one of {', '.join(TASKS)}")
    demo = rt.get("demo")
    _need(isinstance(demo, bool), where, f"radtriage.demo must be true or false, got {demo!r}")
    names = rt.get("class_names")
    _need(
        isinstance(names, list)
        and len(names) > 0
        and all(isinstance(n, str) and n for n in names)
        and len(set(names)) == len(names),
        where,
        f"radtriage.class_names must be a non-empty list of distinct names, got {names!r}",
    )
    outputs = rt.get("outputs", {})
    _need(isinstance(outputs, Mapping), where, "radtriage.outputs must be an object")
    if "channels" in outputs:
        ch = outputs["channels"]
        ok = isinstance(ch, int) and not isinstance(ch, bool) and ch > 0
        _need(ok, where, f"radtriage.outputs.channels must be a positive integer, got {ch!r}")
    if "output_requirements" in rt:
        from radtriage.models.output_requirements import check_requirements

        contrasts = (rt.get("inputs") or {}).get("contrasts") or []
        problem = check_requirements(rt["output_requirements"], names, contrasts)
        _need(problem is None, where, problem or "")
    band = rt.get("certainty_band")
    if task == "lge_certainty" or band is not None:
        _need(
            isinstance(band, list) and len(band) == 2 and all(_is_number(b) for b in band) and band[0] < band[1],
            where,
            f"radtriage.certainty_band must be [low, high] with low < high (required for lge_certainty), got {band!r}",
        )
    name = raw.get("name", default_name)
    _need(isinstance(name, str) and name != "", where, f"name must be a non-empty string, got {name!r}")
    return BundleMeta(
        name=name,
        version=str(raw["version"]),
        task=task,
        description=str(raw["description"]),
        demo=demo,
        monai_version=str(raw["monai_version"]),
        inputs=_parse_inputs(rt.get("inputs"), where),
        outputs=dict(outputs),
        class_names=tuple(names),
        thresholds=_parse_thresholds(rt.get("thresholds", {}), where),
        certainty_band=None if band is None else (float(band[0]), float(band[1])),
        weights=_parse_weights(rt.get("weights"), where),
        raw=dict(raw),
    )


def _read_json(path: Path) -> Any:
    """Plain JSON (the same files ``monai.bundle.ConfigParser`` reads; json keeps listing bundles torch-free)."""
    if not path.is_file():
        raise BundleError(path, "file is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise BundleError(path, f"not valid JSON: {exc}") from exc


def read_metadata(folder: str | Path) -> BundleMeta:
    """Read and check ``<folder>/configs/metadata.json``."""
    folder = Path(folder)
    return parse_metadata(_read_json(folder / METADATA_FILE), folder / METADATA_FILE, folder.name)


def read_inference_config(folder: str | Path) -> dict[str, Any]:
    """Read ``<folder>/configs/inference.json`` and refuse it if it could run code (see ``networks.check_config``)."""
    path = Path(folder) / INFERENCE_FILE
    config = _read_json(path)
    check_config(config, str(path))
    return dict(config)


def installed_version(package: str) -> str | None:
    """The installed version of a distribution, or None (without importing it)."""
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def running_monai_version() -> str | None:
    """MONAI's version: the imported module's own when MONAI is already imported (the code that will run, and
    no metadata read: bundle listings call this once per bundle), else the installed distribution's."""
    imported = getattr(sys.modules.get("monai"), "__version__", None)
    return str(imported) if imported else installed_version("monai")


def check_monai_version(meta: BundleMeta, where: str | Path) -> None:
    """Refuse a bundle made for another MONAI major version or a newer MONAI than the one running."""
    have_text = running_monai_version()
    if have_text is None:
        raise BundleError(where, "MONAI is not installed; cannot load a MONAI bundle")
    need, have = parse_version(meta.monai_version, where, "monai_version"), Version(have_text)
    if need.major != have.major or need.release[:2] > have.release[:2]:
        raise BundleError(
            where, f"bundle needs MONAI {meta.monai_version}, but MONAI {have_text} is installed (incompatible)"
        )


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weights_path(folder: str | Path, meta: BundleMeta) -> Path:
    """The weights file of a bundle, refused if it would lie outside the bundle folder."""
    folder = Path(folder)
    path = folder / meta.weights.file
    if not path.resolve().is_relative_to(folder.resolve()):
        raise BundleError(path, "weights file lies outside the bundle folder (a link?); refused")
    return path


def default_metadata(
    name: str,
    task: str,
    *,
    version: str,
    description: str,
    class_names: Sequence[str],
    inputs: Mapping[str, Any],
    demo: bool,
    outputs: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    certainty_band: Sequence[float] | None = None,
    authors: str = "SlicerRadTriage contributors",
    copyright: str = "Copyright (c) SlicerRadTriage contributors",
    intended_use: str = "Research reading aid only; not for clinical diagnosis.",
    changelog: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A complete metadata object for :func:`radtriage.models.writer.write_bundle` (versions filled from the
    installed packages)."""
    rt: dict[str, Any] = {
        "task": task,
        "inputs": dict(inputs),
        "outputs": dict(outputs or {}),
        "class_names": list(class_names),
        "thresholds": dict(thresholds or {}),
        "demo": demo,
    }
    if certainty_band is not None:
        rt["certainty_band"] = [float(certainty_band[0]), float(certainty_band[1])]
    patch = list(inputs.get("patch_size", []))
    return {
        "schema": MONAI_SCHEMA,
        "name": name,
        "version": version,
        "changelog": dict(changelog or {version: "first version"}),
        "monai_version": installed_version("monai") or "unknown",
        "pytorch_version": installed_version("torch") or "unknown",
        "numpy_version": installed_version("numpy") or "unknown",
        "required_packages_version": {},
        "task": TASKS[task].summary if task in TASKS else task,
        "description": description,
        "authors": authors,
        "copyright": copyright,
        "intended_use": intended_use,
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": inputs.get("modality"),
                    "num_channels": len(inputs.get("contrasts", [])),
                    "spatial_shape": patch,
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": True,
                    "channel_def": {str(i): c for i, c in enumerate(inputs.get("contrasts", []))},
                }
            },
            "outputs": {
                "pred": {
                    "type": "probabilities",
                    "format": "classes",
                    "num_channels": int((outputs or {}).get("channels", len(class_names))),
                    "spatial_shape": [],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                    "channel_def": {str(i): c for i, c in enumerate(class_names)},
                }
            },
        },
        "radtriage": rt,
    }


def model_card(meta: BundleMeta) -> str:
    """A Markdown model card made from the metadata (used when :func:`radtriage.models.writer.write_bundle` is
    given none)."""
    lines = [f"# {meta.name} {meta.version}", ""]
    if meta.demo:
        lines += ["> **DEMO MODEL — trained on synthetic phantoms, not for clinical use.**", ""]
    lines += [
        meta.description,
        "",
        f"- Task: `{meta.task}`",
        f"- Intended use: {meta.raw.get('intended_use', '')}",
        f"- Inputs: {meta.inputs.modality} {', '.join(meta.inputs.contrasts)}; spacing {list(meta.inputs.spacing)} mm;"
        f" patch {list(meta.inputs.patch_size)}",
        f"- Classes: {', '.join(meta.class_names)}",
        f"- Operating points: {json.dumps(meta.thresholds)}",
    ]
    if meta.certainty_band is not None:
        lines.append(f"- Low-certainty band: {list(meta.certainty_band)}")
    lines += [
        f"- Weights: `{meta.weights.file}` ({meta.weights.format}), SHA-256 `{meta.weights.sha256}`",
        f"- Made with MONAI {meta.monai_version}, PyTorch {meta.raw.get('pytorch_version')}",
        f"- Authors: {meta.raw.get('authors', '')}",
        f"- {meta.raw.get('copyright', '')}",
        "",
    ]
    return "\n".join(lines)
