"""Convolution layers selectable through ``conv_cfg``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from detcli.registry import CONV_LAYERS

from .lookup import resolve_layer

CONV_LAYERS.register_module("Conv1d", module=nn.Conv1d)
CONV_LAYERS.register_module("Conv2d", module=nn.Conv2d)
CONV_LAYERS.register_module("Conv3d", module=nn.Conv3d)
CONV_LAYERS.register_module("Conv", module=nn.Conv2d)
CONV_LAYERS.register_module("deconv", module=nn.ConvTranspose2d)
CONV_LAYERS.register_module("deconv3d", module=nn.ConvTranspose3d)


def build_conv_layer(cfg: Mapping | None, *args: Any, **kwargs: Any) -> nn.Module:
    """A conv layer; ``cfg=None`` means a plain ``nn.Conv2d``."""
    layer_cls, extra = resolve_layer(CONV_LAYERS, cfg or {"type": "Conv2d"}, "conv layer")
    return layer_cls(*args, **kwargs, **extra)
