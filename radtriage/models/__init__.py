"""Model bundles: MONAI-style folders, the registry that finds them, and loading them safely.

Listing and checking bundles imports neither torch nor MONAI; :func:`load_bundle` (and the other names
from :mod:`radtriage.models.safe_load`) and :func:`write_bundle` (:mod:`radtriage.models.writer`) import torch
when first used.
"""

from __future__ import annotations

from radtriage.lazy_exports import lazy_exports
from radtriage.models.bundle import (
    BundleError,
    BundleMeta,
    InputSpec,
    WeightsSpec,
    default_metadata,
    read_inference_config,
    read_metadata,
    sha256_file,
)
from radtriage.models.networks import (
    UnsafeConfigError,
    allowed_network_names,
    build_network,
    check_config,
    register_network,
)
from radtriage.models.registry import (
    BundleInfo,
    BundleNotFoundError,
    default_bundle_dir,
    find_bundle,
    inspect_bundle,
    list_bundles,
    model_search_dirs,
    resolve_bundle_path,
    user_model_dir,
)

__getattr__ = lazy_exports(
    __name__,
    {
        "safe_load": ("LoadedBundle", "load_bundle", "verify_weights", "read_state_dict", "check_state_dict"),
        "writer": ("write_bundle",),
        "preprocessing": ("bundle_preprocessing",),
    },
)

__all__ = [
    "BundleError",
    "BundleInfo",
    "BundleMeta",
    "BundleNotFoundError",
    "InputSpec",
    "LoadedBundle",
    "UnsafeConfigError",
    "WeightsSpec",
    "allowed_network_names",
    "build_network",
    "bundle_preprocessing",
    "check_config",
    "check_state_dict",
    "default_bundle_dir",
    "default_metadata",
    "find_bundle",
    "inspect_bundle",
    "list_bundles",
    "load_bundle",
    "model_search_dirs",
    "read_inference_config",
    "read_metadata",
    "read_state_dict",
    "register_network",
    "resolve_bundle_path",
    "sha256_file",
    "user_model_dir",
    "verify_weights",
    "write_bundle",
]
