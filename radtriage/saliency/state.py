"""Leave a network exactly as it was after a saliency computation.

Saliency methods switch a network to eval mode, make gradients flow, register hooks and
turn off in-place activations (they break backward hooks); :func:`network_state_kept`
undoes all of that, whatever happens inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

logger = logging.getLogger(__name__)

_MISSING = object()


@contextmanager
def network_state_kept(network: nn.Module, freeze_parameters: bool = True) -> Iterator[nn.Module]:
    """Run a block with ``network`` in eval mode, in-place activations off, and restore everything after.

    Restored on exit: each module's train/eval flag and ``inplace`` attribute, each parameter's
    ``requires_grad`` and ``.grad`` (so no gradient is left behind or wiped), and the
    full-backward-hook flag torch sets when such a hook is registered. With ``freeze_parameters``
    the parameters do not require gradients inside the block (gradients then flow to the input only).
    """
    modules = list(network.modules())
    training = [m.training for m in modules]
    inplace = [m.__dict__.get("inplace", _MISSING) for m in modules]
    full_hook_flag = [m.__dict__.get("_is_full_backward_hook", _MISSING) for m in modules]
    params = list(network.parameters())
    requires_grad = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    grad_enabled = torch.is_grad_enabled()
    try:
        network.eval()
        for m, flag in zip(modules, inplace, strict=True):
            if flag is True:
                m.inplace = False
        if freeze_parameters:
            for p in params:
                p.requires_grad_(False)
        yield network
    finally:
        torch.set_grad_enabled(grad_enabled)
        for m, flag in zip(modules, training, strict=True):
            m.training = flag
        for m, flag in zip(modules, inplace, strict=True):
            if flag is not _MISSING:
                m.inplace = flag
        for m, flag in zip(modules, full_hook_flag, strict=True):
            if flag is _MISSING:
                m.__dict__.pop("_is_full_backward_hook", None)
            else:
                m._is_full_backward_hook = flag
        for p, flag, grad in zip(params, requires_grad, grads, strict=True):
            p.requires_grad_(flag)
            p.grad = grad
