"""Normalisation layers selectable through ``norm_cfg`` (``BN``, ``GN``, ``SyncBN``...).

The layer name (``bn1``, ``gn``...) is part of the state_dict keys, so it is derived
from the layer type exactly as mmdetection 2.x checkpoints expect.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from detcli.errors import ConfigError
from detcli.registry import NORM_LAYERS

from .lookup import resolve_layer

NORM_LAYERS.register_module("BN", module=nn.BatchNorm2d)
NORM_LAYERS.register_module("BN1d", module=nn.BatchNorm1d)
NORM_LAYERS.register_module("BN2d", module=nn.BatchNorm2d)
NORM_LAYERS.register_module("BN3d", module=nn.BatchNorm3d)
NORM_LAYERS.register_module("SyncBN", module=nn.SyncBatchNorm)
NORM_LAYERS.register_module("GN", module=nn.GroupNorm)
NORM_LAYERS.register_module("LN", module=nn.LayerNorm)
NORM_LAYERS.register_module("IN", module=nn.InstanceNorm2d)
NORM_LAYERS.register_module("IN1d", module=nn.InstanceNorm1d)
NORM_LAYERS.register_module("IN2d", module=nn.InstanceNorm2d)
NORM_LAYERS.register_module("IN3d", module=nn.InstanceNorm3d)

NORM_BASES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def infer_abbr(class_type: type) -> str:
    """The short name used for attributes holding a norm layer (``bn``, ``gn``, ``ln``, ``in``)."""
    if not inspect.isclass(class_type):
        raise TypeError(f"class_type must be a type, got {type(class_type)}")
    if hasattr(class_type, "_abbr_"):
        return class_type._abbr_
    if issubclass(class_type, _InstanceNorm):  # before _BatchNorm: IN derives from it
        return "in"
    if issubclass(class_type, _BatchNorm):
        return "bn"
    if issubclass(class_type, nn.GroupNorm):
        return "gn"
    if issubclass(class_type, nn.LayerNorm):
        return "ln"
    name = class_type.__name__.lower()
    for key, abbr in (("batch", "bn"), ("group", "gn"), ("layer", "ln"), ("instance", "in")):
        if key in name:
            return abbr
    return "norm_layer"


def build_norm_layer(cfg: Mapping, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """``(name, layer)``: e.g. ``('bn1', BatchNorm2d(64))`` for ``dict(type='BN')`` and postfix 1.

    ``requires_grad=False`` in the cfg freezes the affine parameters.
    """
    layer_cls, kwargs = resolve_layer(NORM_LAYERS, cfg, "norm layer")
    name = infer_abbr(layer_cls) + str(postfix)
    requires_grad = kwargs.pop("requires_grad", True)
    kwargs.setdefault("eps", 1e-5)
    if layer_cls is nn.GroupNorm:
        if "num_groups" not in kwargs:
            raise ConfigError(
                f"norm_cfg {dict(cfg)} needs 'num_groups' for GroupNorm",
                hint="e.g. norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)",
            )
        layer = layer_cls(num_channels=num_features, **kwargs)
    else:
        layer = layer_cls(num_features, **kwargs)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return name, layer


def is_norm(layer: nn.Module, exclude: type | tuple[type, ...] | None = None) -> bool:
    """Whether ``layer`` is a normalisation layer (optionally not one of ``exclude``)."""
    if exclude is not None and isinstance(layer, exclude):
        return False
    return isinstance(layer, NORM_BASES)
