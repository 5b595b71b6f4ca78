"""The allow-list of network classes a bundle's ``inference.json`` may name, and safe instantiation from it.

A bundle config never runs code: its ``network_def`` is ``{"_target_": NAME, **args}`` where NAME must be a
class registered here (task modules call :func:`register_network`) or one of a few MONAI network classes.
Expressions (``$...``), macros (``%...``), imports and references outside the config are refused by
:func:`check_config`, before anything is imported or built.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from radtriage.errors import InputError
from radtriage.preprocess.transforms import PREPROCESSING_KEY, transform_items

log = logging.getLogger(__name__)

NETWORK_KEY = "network_def"
RUN_KEY = "run"
"""Top-level item a ``python -m monai.bundle run`` executes (MONAI's default ``run_id``)."""
WORKFLOW_TARGET = "radtriage.bundle_run.run_bundle"
"""The one ``_target_`` allowed besides networks, and only as the :data:`RUN_KEY` item: the bundle's MONAI
inference workflow (:func:`radtriage.bundle_run.run_bundle`). This package never instantiates it; MONAI's
``run`` does, when a user runs the bundle with MONAI's own tooling."""
WORKFLOW_CONFIG: dict[str, Any] = {
    "bundle_root": ".",
    "image": "",
    "output_dir": "",
    "device": "auto",
    RUN_KEY: {"_target_": WORKFLOW_TARGET, "bundle_root": "@bundle_root", "image": "@image",
              "output_dir": "@output_dir", "device": "@device"},
}
"""The ``inference.json`` items of the MONAI inference workflow (``--bundle_root``, ``--image``, ``--output_dir``,
``--device`` on MONAI's command line fill them); :func:`radtriage.models.writer.write_bundle` adds them."""
"""Key of the network definition in ``configs/inference.json`` (the MONAI bundle convention)."""

MONAI_PREFIX = "monai.networks.nets."
ALLOWED_MONAI_NETWORKS: frozenset[str] = frozenset(
    {
        "AttentionUnet",
        "BasicUNet",
        "Classifier",
        "DenseNet",
        "DenseNet121",
        "DenseNet169",
        "DynUNet",
        "FullyConnectedNet",
        "HighResNet",
        "Regressor",
        "ResNet",
        "SegResNet",
        "SegResNetDS",
        "SwinUNETR",
        "UNETR",
        "UNet",
        "VNet",
    }
)
"""MONAI network classes a bundle may name (short or ``monai.networks.nets.``-qualified); none downloads weights."""

# Keys of the MONAI config syntax that only make sense with code execution or file inclusion.
_REFUSED_KEYS = {"_requires_", "_mode_", "imports"}
_SAFE_SPECIAL_KEYS = {"_target_", "_desc_"}
_ID_SEP = re.compile(r"::|#")

_REGISTERED: dict[str, type] = {}


class UnsafeConfigError(InputError):
    """A bundle config asks for something that would run code or is not on the allow-list."""


def register_network(name: str, cls: type) -> type:
    """Allow bundles to name ``cls`` as ``{"_target_": name}`` (e.g. ``"radtriage.nets.TinyClassifier"``).

    Returns ``cls`` so it can be used right after a class definition. Re-registering the same name with a
    different class is refused (that would silently change what existing bundles build).
    """
    if not isinstance(name, str) or not name or name.startswith(("$", "@", "%")):
        raise ValueError(f"invalid network name {name!r}")
    if not isinstance(cls, type):
        raise TypeError(f"register_network({name!r}, ...) needs a class, got {type(cls).__name__}")
    previous = _REGISTERED.get(name)
    if previous is not None and previous is not cls:
        owner = f"{previous.__module__}.{previous.__qualname__}"
        raise ValueError(f"network name {name!r} is already registered to {owner}")
    _REGISTERED[name] = cls
    return cls


def allowed_network_names() -> list[str]:
    """Every ``_target_`` value a bundle may use right now: the project's own networks, those registered since,
    and the qualified names of the allow-listed MONAI networks."""
    from radtriage.nets import BUILTIN_NETWORKS

    return sorted(BUILTIN_NETWORKS | set(_REGISTERED)) + sorted(MONAI_PREFIX + n for n in ALLOWED_MONAI_NETWORKS)


def _monai_short_name(name: str) -> str | None:
    short = name[len(MONAI_PREFIX) :] if name.startswith(MONAI_PREFIX) else name
    return short if short in ALLOWED_MONAI_NETWORKS else None


def _try_import_own_module(name: str) -> None:
    """A ``radtriage.*`` name may live in a task module not imported yet; importing our own package is safe."""
    if not name.startswith("radtriage.") or "." not in name:
        return
    module = name.rsplit(".", 1)[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", module):
        return
    try:
        importlib.import_module(module)
    except Exception as exc:  # a missing or broken task module must not crash bundle listing
        log.debug("could not import %s while resolving network %s: %s", module, name, exc)


def is_allowed_network(name: Any) -> bool:
    """Whether ``name`` is an allowed ``_target_`` (without importing anything outside ``radtriage``)."""
    if not isinstance(name, str):
        return False
    from radtriage.nets import BUILTIN_NETWORKS

    if name in _REGISTERED or name in BUILTIN_NETWORKS or _monai_short_name(name) is not None:
        return True
    _try_import_own_module(name)
    return name in _REGISTERED


def _not_allowed(name: Any, where: str | None) -> UnsafeConfigError:
    return UnsafeConfigError(
        where,
        f"_target_ {name!r} is not an allowed network class; refused. Allowed: "
        f"registered radtriage networks ({', '.join(sorted(_REGISTERED)) or 'none yet'}) and "
        f"monai.networks.nets.{{{', '.join(sorted(ALLOWED_MONAI_NETWORKS))}}}",
    )


def resolve_network(name: str, where: str | None = None) -> type:
    """The class for an allowed ``_target_`` name; :class:`UnsafeConfigError` naming ``where`` otherwise."""
    if not is_allowed_network(name):
        raise _not_allowed(name, where)
    if name not in _REGISTERED and _monai_short_name(name) is None:
        _try_import_own_module(name)  # a built-in network registers itself when its module is imported
        if name not in _REGISTERED:
            raise _not_allowed(name, where)
    if name in _REGISTERED:
        return _REGISTERED[name]
    import monai.networks.nets as nets

    return getattr(nets, _monai_short_name(name) or name)


def _lookup(config: Mapping[str, Any], ref: str, where: str | None) -> Any:
    node: Any = config
    for part in _ID_SEP.split(ref):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise UnsafeConfigError(where, f"reference '@{ref}' does not name an item of the config; refused")
    return node


_MAX_REFERENCE_VISITS = 10_000
"""Cap on ``@`` reference expansions while checking one config (stops 'billion laughs' style configs)."""


def _check_node(
    node: Any, config: Mapping[str, Any], path: str, where: str | None, seen: tuple[str, ...], visits: list[int]
) -> None:
    if isinstance(node, str):
        if node.startswith("$"):
            raise UnsafeConfigError(where, f"{path} = {node!r} is a code expression ('$...'); expressions are refused")
        if node.startswith("%"):
            raise UnsafeConfigError(where, f"{path} = {node!r} is a macro ('%...') that includes other files; refused")
        if node.startswith("@"):
            ref = node[1:]
            if not ref or ref.startswith("::") or ref in seen:
                raise UnsafeConfigError(where, f"{path} = {node!r} is a relative, empty or circular reference; refused")
            visits[0] += 1
            if visits[0] > _MAX_REFERENCE_VISITS:
                raise UnsafeConfigError(where, f"more than {_MAX_REFERENCE_VISITS} reference expansions; refused")
            _check_node(_lookup(config, ref, where), config, ref, where, (*seen, ref), visits)
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise UnsafeConfigError(where, f"{path}: non-string key {key!r}; refused")
            sub = f"{path}::{key}" if path else key
            if key in _REFUSED_KEYS:
                if key == "imports" and value in ([], None, ""):
                    continue
                raise UnsafeConfigError(where, f"{sub} = {value!r}: '{key}' could run code; refused")
            if key.startswith("_") and key.endswith("_") and key not in _SAFE_SPECIAL_KEYS:
                raise UnsafeConfigError(where, f"{sub}: unknown special key '{key}'; refused")
            if key == "_target_":
                if not (is_allowed_network(value) or (path == RUN_KEY and value == WORKFLOW_TARGET)):
                    raise _not_allowed(value, where)
                continue
            if key.startswith(("$", "@", "%")):
                raise UnsafeConfigError(where, f"{sub}: key {key!r} uses config syntax; refused")
            _check_node(value, config, sub, where, seen, visits)
        return
    if isinstance(node, list):
        for i, value in enumerate(node):
            _check_node(value, config, f"{path}::{i}", where, seen, visits)
        return
    if node is None or isinstance(node, (bool, int, float)):
        return
    raise UnsafeConfigError(where, f"{path}: value of type {type(node).__name__} is not plain JSON data; refused")


def check_config(config: Mapping[str, Any], where: str | None = None) -> None:
    """Refuse a whole inference config that could run code; ``where`` (the file) is named in every message.

    Every ``_target_`` must be an allowed network, every ``@`` reference must point at an item of this config
    (checked by the same rules, so at plain data or an allowed network), and ``$`` expressions, ``%`` macros,
    ``_requires_``/``_mode_`` and non-empty ``imports`` are refused. A ``Compose`` ``preprocessing`` item is
    checked by its own, stricter rules (:func:`radtriage.preprocess.transforms.transform_items`: allow-listed
    transforms, plain arguments, no references at all); the rest of the config cannot reach into it.
    """
    if not isinstance(config, Mapping):
        raise UnsafeConfigError(where, "inference config must be a JSON object")
    pipeline = config.get(PREPROCESSING_KEY)
    rest = config
    if isinstance(pipeline, Mapping) and "_target_" in pipeline:
        try:
            transform_items(pipeline)
        except ValueError as exc:
            raise UnsafeConfigError(where, str(exc)) from exc
        rest = {k: v for k, v in config.items() if k != PREPROCESSING_KEY}
    _check_node(rest, rest, "", where, (), [0])
    network = config.get(NETWORK_KEY)
    if not isinstance(network, Mapping) or "_target_" not in network:
        raise InputError(where, f"'{NETWORK_KEY}' must be an object with a '_target_' naming the network class")


def _resolve_value(node: Any, config: Mapping[str, Any], where: str | None) -> Any:
    if isinstance(node, str) and node.startswith("@"):
        return _resolve_value(_lookup(config, node[1:], where), config, where)
    if isinstance(node, Mapping):
        if "_target_" in node:
            return _instantiate(node, config, where)
        return {k: _resolve_value(v, config, where) for k, v in node.items() if k not in _SAFE_SPECIAL_KEYS}
    if isinstance(node, list):
        return [_resolve_value(v, config, where) for v in node]
    return node


def _instantiate(node: Mapping[str, Any], config: Mapping[str, Any], where: str | None) -> Any:
    cls = resolve_network(node["_target_"], where)
    args = {k: _resolve_value(v, config, where) for k, v in node.items() if k not in _SAFE_SPECIAL_KEYS}
    if args.get("pretrained"):
        raise UnsafeConfigError(where, f"{node['_target_']}: 'pretrained: true' would download weights; refused")
    try:
        return cls(**args)
    except Exception as exc:  # a bad argument list is a bad bundle, not a crash
        raise InputError(where, f"cannot build {node['_target_']} with arguments {args}: {exc}") from exc


def network_args(config: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
    """The resolved constructor arguments of the config's ``network_def`` (after :func:`check_config`)."""
    check_config(config, where)
    node = config[NETWORK_KEY]
    return {k: _resolve_value(v, config, where) for k, v in node.items() if k not in _SAFE_SPECIAL_KEYS}


def build_network(config: Mapping[str, Any], where: str | None = None) -> Any:
    """Check ``config`` and build its ``network_def`` from the allow-list (never imports a named module)."""
    check_config(config, where)
    return _instantiate(config[NETWORK_KEY], config, where)
