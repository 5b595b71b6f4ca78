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

import contextlib
import hashlib
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from radtriage.errors import InputError
from radtriage.models.networks import check_config
from radtriage.models.schema import load_schema, metadata_problem
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
REQUIRED_MONAI_FIELDS = tuple(k for k in load_schema()["required"] if k != "radtriage")
"""The mandatory keys of MONAI's bundle specification (``docs/source/mb_specification.rst``, "metadata.json
File"), as the schema requires them, plus one of the packages fields; ``changelog`` and ``intended_use`` are
optional there."""
MONAI_WEIGHTS_FILE = DEFAULT_WEIGHT_FILES["pytorch"]
"""Where MONAI keeps a bundle's weights (a state dict); the default of ``radtriage.weights.file``."""


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


def _input_spec(value: Mapping[str, Any]) -> InputSpec:
    return InputSpec(tuple(value["contrasts"]), value["modality"], tuple(float(v) for v in value["spacing"]),
                     tuple(value["patch_size"]))


def _parse_weights(value: Mapping[str, Any], where: Path) -> WeightsSpec:
    """The weights entry, with what the schema cannot say: format from the suffix, the file inside the bundle."""
    file = value.get("file", MONAI_WEIGHTS_FILE)
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
    return WeightsSpec(file, value["sha256"], fmt)


def parse_metadata(raw: Any, where: Path, default_name: str) -> BundleMeta:
    """Check a metadata object (MONAI fields + ``radtriage`` section) and return it as :class:`BundleMeta`."""
    problem = metadata_problem(raw)
    _need(problem is None, where, problem or "")
    parse_version(raw["version"], where)
    parse_version(raw["monai_version"], where, "monai_version")
    rt = raw["radtriage"]
    task, names, outputs = rt["task"], rt["class_names"], rt.get("outputs", {})
    if "output_requirements" in rt:
        from radtriage.models.output_requirements import check_requirements

        problem = check_requirements(rt["output_requirements"], names, rt["inputs"]["contrasts"])
        _need(problem is None, where, problem or "")
    band = rt.get("certainty_band")
    if task == "lge_certainty" or band is not None:
        _need(
            band is not None and band[0] < band[1],
            where,
            f"radtriage.certainty_band must be [low, high] with low < high (required for lge_certainty), got {band!r}",
        )
    name = raw.get("name", default_name)
    return BundleMeta(
        name=name,
        version=str(raw["version"]),
        task=task,
        description=str(raw["description"]),
        demo=rt["demo"],
        monai_version=str(raw["monai_version"]),
        inputs=_input_spec(rt["inputs"]),
        outputs=dict(outputs),
        class_names=tuple(names),
        thresholds=dict(rt.get("thresholds", {})),
        certainty_band=None if band is None else (float(band[0]), float(band[1])),
        weights=_parse_weights(rt["weights"], where),
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


def file_stamps(folder: str | Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime ns, size) of every file of a bundle (``configs/*.json``, ``models/*``): what changes when any
    of them is edited, replaced or removed, so a cache keyed on it never serves a stale bundle."""
    root = Path(folder)
    files = sorted((root / "configs").glob("*.json")) + sorted((root / "models").glob("*"))
    stamps = []
    for p in files:
        with contextlib.suppress(OSError):
            st = p.stat()
            if p.is_file():
                stamps.append((f"{p.parent.name}/{p.name}", st.st_mtime_ns, st.st_size))
    return tuple(stamps)


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
