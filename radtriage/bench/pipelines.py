"""The pipeline a benchmark times: the installed bundle's, or the same pipeline around an untrained network when no
bundle is installed (the timing is the network's either way; the report says which)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UNTRAINED = "untrained network (no bundle)"


def bundle_or_untrained(from_bundle: Callable[[str], Any], untrained: Callable[[Any], Any], device: str
                        ) -> tuple[Any, str]:
    """``(pipeline, what it runs)``: ``from_bundle(device)`` with the bundle's ``name version``, or, when no bundle
    is installed, ``untrained(torch_device)`` with :data:`UNTRAINED`."""
    from radtriage.models import BundleNotFoundError

    try:
        pipeline = from_bundle(device)
    except BundleNotFoundError:
        from radtriage.runtime.device import select_device

        return untrained(select_device(device)), UNTRAINED
    return pipeline, f"{pipeline.bundle_info['name']} {pipeline.bundle_info['version']}"
