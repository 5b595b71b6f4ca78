"""Pick the layer a class-activation map is read from."""

from __future__ import annotations

from torch import nn

_CONV_TYPES: dict[int | None, tuple[type[nn.Module], ...]] = {
    2: (nn.Conv2d,),
    3: (nn.Conv3d,),
    None: (nn.Conv2d, nn.Conv3d),
}


def conv_layer_names(network: nn.Module, spatial_dims: int | None = None) -> list[str]:
    """Names (as in ``named_modules()``) of the network's Conv2d/Conv3d layers, in registration order."""
    if spatial_dims not in _CONV_TYPES:
        raise ValueError(f"spatial_dims must be 2, 3 or None, got {spatial_dims!r}")
    types = _CONV_TYPES[spatial_dims]
    return [name for name, module in network.named_modules() if name and isinstance(module, types)]


def find_target_layer(network: nn.Module, spatial_dims: int | None = None) -> str:
    """The module name of the network's last Conv2d/Conv3d layer (only ``spatial_dims``-D convs when given).

    Raises ``ValueError`` when the network has no such layer: pass ``target_layer`` explicitly then.
    """
    names = conv_layer_names(network, spatial_dims)
    if not names:
        kind = {2: "Conv2d", 3: "Conv3d", None: "Conv2d/Conv3d"}[spatial_dims]
        raise ValueError(
            f"{type(network).__name__} has no {kind} layer to read a class-activation map from; "
            "pass target_layer=<module name> (see network.named_modules())"
        )
    return names[-1]


def check_target_layer(network: nn.Module, target_layer: str) -> nn.Module:
    """The module named ``target_layer``; ``ValueError`` listing the conv layers when there is none."""
    modules = dict(network.named_modules())
    if not isinstance(target_layer, str) or not target_layer or target_layer not in modules:
        convs = conv_layer_names(network)
        hint = f"; its conv layers are: {', '.join(convs[-8:])}" if convs else ""
        raise ValueError(f"{type(network).__name__} has no layer named {target_layer!r}{hint}")
    return modules[target_layer]
