"""Explicit padding layers, for padding modes ``nn.Conv2d`` does not offer itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from detcli.registry import Registry

from .lookup import resolve_layer

PADDING_LAYERS = Registry("padding layers")
PADDING_LAYERS.register_module("zero", module=nn.ZeroPad2d)
PADDING_LAYERS.register_module("reflect", module=nn.ReflectionPad2d)
PADDING_LAYERS.register_module("replicate", module=nn.ReplicationPad2d)


def build_padding_layer(cfg: Mapping, *args: Any, **kwargs: Any) -> nn.Module:
    """A padding layer, e.g. ``build_padding_layer(dict(type='reflect'), 1)``."""
    layer_cls, extra = resolve_layer(PADDING_LAYERS, cfg, "padding layer")
    return layer_cls(*args, **kwargs, **extra)
