"""Activation layers selectable through ``act_cfg``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from detcli.registry import ACTIVATION_LAYERS

from .lookup import resolve_layer

for _module in (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6, nn.ELU, nn.Sigmoid, nn.Tanh,
                nn.SiLU, nn.GELU, nn.Hardsigmoid, nn.Hardswish, nn.Mish):
    ACTIVATION_LAYERS.register_module(module=_module)
ACTIVATION_LAYERS.register_module("Swish", module=nn.SiLU)
ACTIVATION_LAYERS.register_module("HSigmoid", module=nn.Hardsigmoid)
ACTIVATION_LAYERS.register_module("HSwish", module=nn.Hardswish)


@ACTIVATION_LAYERS.register_module(name=["Clamp", "Clip"])
class Clamp(nn.Module):
    """Clamp values to ``[min, max]``."""

    def __init__(self, min: float = -1.0, max: float = 1.0) -> None:  # noqa: A002 - config names
        super().__init__()
        self.min = min
        self.max = max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=self.min, max=self.max)


def build_activation_layer(cfg: Mapping) -> nn.Module:
    """An activation layer from ``dict(type='ReLU', inplace=True)`` and the like."""
    layer_cls, kwargs = resolve_layer(ACTIVATION_LAYERS, cfg, "activation layer")
    return layer_cls(**kwargs)
