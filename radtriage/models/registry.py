"""Find model bundles on disk: the package's ``bundles/``, the user's model folder, then ``$RADTRIAGE_MODEL_DIR``.

Later folders override earlier ones for the same (task, name, version). A broken bundle is listed as invalid
with its reason. The weights are checked without importing torch (format, SHA-256, a safetensors header that
parses, or a ``torch.save`` archive whose pickle names only tensors and whose storages are all there; only
another ``.pt`` layout goes to torch's weights-only load); no network is built.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import pickle
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from radtriage.errors import InputError, RadTriageError
from radtriage.models.bundle import (
    METADATA_FILE,
    BundleError,
    BundleMeta,
    check_monai_version,
    file_stamps,
    read_inference_config,
    read_metadata,
    sha256_file,
    weights_path,
)

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "RADTRIAGE_MODEL_DIR"


class BundleNotFoundError(RadTriageError):
    """No valid bundle matches a request; the message says what was searched and what was found."""


@dataclass(frozen=True)
class BundleInfo:
    """One bundle found on disk: identity, where it is, and whether it passed the checks (and why not)."""

    name: str
    task: str
    version: str
    demo: bool
    path: Path
    valid: bool
    reason: str = ""
    meta: BundleMeta | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``radtriage models --json``)."""
        return {
            "name": self.name,
            "task": self.task,
            "version": self.version,
            "demo": self.demo,
            "path": str(self.path),
            "valid": self.valid,
            "reason": self.reason,
            "description": self.meta.description if self.meta else "",
        }


def default_bundle_dir() -> Path:
    """The bundles shipped inside the package (``radtriage/bundles/``)."""
    return Path(__file__).resolve().parent.parent / "bundles"


def user_model_dir() -> Path:
    """The user's model folder: ``$XDG_DATA_HOME/radtriage/models`` if set, else ``~/.radtriage/models``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "radtriage" / "models"
    return Path.home() / ".radtriage" / "models"


def model_search_dirs() -> list[Path]:
    """The folders searched, lowest priority first: package, user, then each ``$RADTRIAGE_MODEL_DIR`` entry."""
    dirs = [default_bundle_dir(), user_model_dir()]
    dirs += [Path(p).expanduser() for p in os.environ.get(MODEL_DIR_ENV, "").split(os.pathsep) if p.strip()]
    return dirs


_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_INSPECT_CACHE: collections.OrderedDict[tuple[Any, ...], BundleInfo] = collections.OrderedDict()
_INSPECT_CACHE_SIZE = 256
_WEIGHTS_CACHE: dict[tuple[str, int, int], str] = {}


def _weights_problem(path: Path, fmt: str) -> str:
    """Why the weights file cannot be loaded safely ('' when it can): the same deserialisation as
    :func:`radtriage.models.safe_load.read_state_dict` (safetensors header; ``torch.load(weights_only=True)``)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _WEIGHTS_CACHE:
        try:
            if fmt == "safetensors":
                from safetensors import safe_open

                with safe_open(str(path), framework="numpy") as fh:
                    list(fh.keys())
            else:
                problem = torch_archive_problem(path)
                if problem is None:  # not a torch.save zip of protocol 2: torch's own weights-only load decides
                    from radtriage.models.safe_load import read_state_dict

                    with warnings.catch_warnings():  # torch's note on the pickle protocol is not the user's concern
                        warnings.simplefilter("ignore", UserWarning)
                        read_state_dict(path, fmt)
                elif problem:
                    raise BundleError(path, problem)
            _WEIGHTS_CACHE[key] = ""
        except BundleError as exc:
            _WEIGHTS_CACHE[key] = exc.problem
        except Exception as exc:  # a corrupt or truncated safetensors file
            _WEIGHTS_CACHE[key] = f"cannot read {fmt} weights: {exc}"
    return _WEIGHTS_CACHE[key]


_STORAGE_TYPES = frozenset(f"{kind}Storage" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                                           "Short", "Char", "Byte", "Bool"))


class _AskTorchError(Exception):
    """The pickle names a torch object a plain float/int state dict does not (complex, quantised, sparse ...)."""


class _StateDictReader(pickle.Unpickler):
    """Reads the pickle of a ``torch.save`` state dict without torch and without running anything: an ordered
    dict, tensor rebuilds and storage types resolve to a stand-in class made for this reader (so whatever the pickle
    does to it stays here); another ``torch`` name is left to torch's own weights-only load (:class:`_AskTorchError`);
    any other global is refused. The storage keys it meets are collected."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.tensor: type = type("Tensor", (), {"__init__": lambda self, *args: None})
        self.storage_keys: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_parameter")) or (
            module == "torch" and name in _STORAGE_TYPES
        ):
            return self.tensor
        if module == "torch" or module.startswith("torch."):
            raise _AskTorchError(f"{module}.{name}")
        raise pickle.UnpicklingError(f"it names {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
            self.storage_keys.append(str(pid[2]))
        return None  # the storage's bytes are the archive's data/<key> member, checked by its CRC


_MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""A state dict's pickle holds names and shapes only; a larger one is not read."""


def torch_archive_problem(path: Path) -> str | None:
    """Without importing torch: why the ``torch.save`` archive ``path`` is not a loadable flat state dict ('' when
    it is one), or None when torch's own weights-only load must decide (not a zip: the legacy format; a pickle
    protocol other than torch.save's 2; a torch type beyond float/int tensors). Every member must be stored
    uncompressed, as torch.save writes them; the pickle is read by :class:`_StateDictReader`, and every storage
    it names must have its data member. The bytes themselves are the SHA-256 check's (not read twice here)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if any(m.compress_type != zipfile.ZIP_STORED for m in members):
                return "cannot read pytorch weights: a compressed member (torch.save stores every member as is)"
            pickles = [m for m in members if m.filename.endswith("/data.pkl")]
            if len(pickles) != 1:
                return "cannot read pytorch weights: not a torch.save archive (no single data.pkl)"
            if pickles[0].file_size > _MAX_PICKLE_BYTES:
                return f"cannot read pytorch weights: data.pkl is {pickles[0].file_size} bytes, not a state dict's"
            data = archive.read(pickles[0])
            names = {m.filename for m in members}
    except zipfile.BadZipFile:
        return None
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        return f"cannot read pytorch weights: {exc}"
    if data[:2] != b"\x80\x02":
        return None
    reader = _StateDictReader(data)
    try:
        state = reader.load()
    except _AskTorchError:
        return None
    except pickle.UnpicklingError as exc:
        return f"refused: the pickle holds objects other than tensors ({exc})"
    except Exception as exc:  # a malformed pickle
        return f"cannot read pytorch weights: {exc}"
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, reader.tensor)
                                                 for k, v in state.items()):
        return "weights file must hold a flat state dict {name: tensor}"
    prefix = pickles[0].filename[: -len("data.pkl")]
    missing = [k for k in reader.storage_keys if f"{prefix}data/{k}" not in names]
    if missing:
        return f"cannot read pytorch weights: the data of storage(s) {', '.join(missing[:5])} is missing"
    return ""


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = sha256_file(path)
    return _HASH_CACHE[key]


def inspect_bundle(path: str | Path) -> BundleInfo:
    """Check a bundle folder without loading it (metadata, safe config, MONAI version, weights present + hash).

    The answer is kept while none of the bundle's files changes (:func:`file_stamps`): a long-lived process (the
    warm worker, the DICOM node) lists the model folders on every run, and re-validating every bundle each time
    cost tens of milliseconds per run.
    """
    folder = Path(path)
    key = (str(folder.resolve()), file_stamps(folder))
    info = _INSPECT_CACHE.get(key)
    if info is None:
        info = _inspect(folder)
        _INSPECT_CACHE[key] = info
        while len(_INSPECT_CACHE) > _INSPECT_CACHE_SIZE:
            _INSPECT_CACHE.popitem(last=False)
    return info


def _inspect(folder: Path) -> BundleInfo:
    try:
        meta = read_metadata(folder)
    except InputError as exc:
        return BundleInfo(folder.name, "?", "?", False, folder, False, str(exc))
    try:
        check_monai_version(meta, folder / METADATA_FILE)
        read_inference_config(folder)
        file = weights_path(folder, meta)
        if not file.is_file():
            raise BundleError(file, "weights file is missing")
        if _cached_sha256(file) != meta.weights.sha256:
            raise BundleError(file, "SHA-256 of the weights does not match the metadata (tampered or corrupted)")
        if problem := _weights_problem(file, meta.weights.format):
            raise BundleError(file, problem)
    except (InputError, OSError) as exc:
        return BundleInfo(meta.name, meta.task, meta.version, meta.demo, folder, False, str(exc), meta)
    return BundleInfo(meta.name, meta.task, meta.version, meta.demo, folder, True, "", meta)


def _bundle_folders(directory: Path) -> list[Path]:
    if (directory / METADATA_FILE).is_file():  # the entry names one bundle directly
        return [directory]
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and (p / "configs").is_dir())


def list_bundles(dirs: list[Path] | None = None) -> list[BundleInfo]:
    """Every bundle in ``dirs`` (default :func:`model_search_dirs`), valid or not, sorted by task, name, version.

    A bundle in a later folder replaces one with the same (task, name, version) from an earlier folder.
    """
    found: dict[tuple[str, ...], BundleInfo] = {}
    for directory in model_search_dirs() if dirs is None else dirs:
        for folder in _bundle_folders(Path(directory)):
            info = inspect_bundle(folder)
            key = (info.task, info.name, info.version) if info.meta else ("?", str(folder.resolve()))
            if key in found:
                log.debug("bundle %s overrides %s", folder, found[key].path)
            found[key] = info
    return sorted(found.values(), key=lambda b: (b.task, b.name, _version_key(b.version), str(b.path)))


def _version_key(text: str) -> tuple[int, Any]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


def default_bundles(bundles: list[BundleInfo]) -> list[BundleInfo]:
    """The bundle each task uses by default: the newest valid one per (task, input modality)."""
    best: dict[tuple[str, str], BundleInfo] = {}
    for b in bundles:
        if not b.valid:
            continue
        key = (b.task, b.meta.inputs.modality if b.meta else "")
        if key not in best or _version_key(b.version) > _version_key(best[key].version):
            best[key] = b
    return list(best.values())


def _newer_invalid(wanted: list[BundleInfo], best: BundleInfo) -> list[BundleInfo]:
    return [b for b in wanted if not b.valid and _version_key(b.version) > _version_key(best.version)]


def skipped_bundle_notices(task: str, bundle: str | Path | None = None, dirs: list[Path] | None = None) -> list[str]:
    """Notices for a result: each invalid bundle newer than the one :func:`find_bundle` picks for ``task`` (and
    ``bundle`` as a name), with why it was skipped. None when ``bundle`` is a folder or nothing was skipped."""
    if bundle is not None and Path(bundle).is_dir():
        return []
    wanted = [b for b in list_bundles(dirs) if b.task == task and (bundle is None or b.name == str(bundle))]
    valid = [b for b in wanted if b.valid]
    if not valid:
        return []
    best = max(valid, key=lambda b: _version_key(b.version))
    return [
        f"model bundle {b.name} {b.version} ({b.path}) was skipped: {b.reason}; "
        f"{best.name} {best.version} was used instead"
        for b in _newer_invalid(wanted, best)
    ]


def resolve_bundle_path(task: str, bundle: str | Path | None = None) -> Path:
    """The folder of ``bundle`` for ``task``: a bundle folder as given, else the newest valid bundle with that name
    (or for the task when ``bundle`` is None). Raises :class:`BundleNotFoundError` when none matches."""
    if bundle is not None and Path(bundle).is_dir():
        return Path(bundle)
    return Path(find_bundle(task, name=None if bundle is None else str(bundle)).path)


def find_bundle(
    task: str, name: str | None = None, version: str | None = None, dirs: list[Path] | None = None
) -> BundleInfo:
    """The newest valid bundle for ``task`` (optionally with this ``name`` / ``version``).

    Raises :class:`BundleNotFoundError` listing what was found instead (and why invalid ones were skipped).
    """
    bundles = list_bundles(dirs)
    wanted = [
        b
        for b in bundles
        if b.task == task and (name is None or b.name == name) and (version is None or b.version == version)
    ]
    valid = [b for b in wanted if b.valid]
    if valid:
        best = max(valid, key=lambda b: _version_key(b.version))
        for b in _newer_invalid(wanted, best):
            log.warning("skipped invalid bundle %s %s (newer than %s %s): %s", b.name, b.version, best.name,
                        best.version, b.reason)
        return best
    what = f"task {task!r}" + (f", name {name!r}" if name else "") + (f", version {version!r}" if version else "")
    searched = ", ".join(str(d) for d in (model_search_dirs() if dirs is None else dirs))
    if wanted:
        reasons = "; ".join(f"{b.path}: {b.reason}" for b in wanted)
        raise BundleNotFoundError(f"no valid model bundle for {what}; invalid ones found: {reasons}")
    others = ", ".join(sorted({f"{b.task}/{b.name} {b.version}" for b in bundles})) or "none"
    raise BundleNotFoundError(f"no model bundle for {what} in {searched} (found: {others})")
