"""Upsampling layers selectable through ``upsample_cfg``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from detcli.registry import UPSAMPLE_LAYERS

from .lookup import resolve_layer
from .weight_init import xavier_init

UPSAMPLE_LAYERS.register_module("nearest", module=nn.Upsample)
UPSAMPLE_LAYERS.register_module("bilinear", module=nn.Upsample)
UPSAMPLE_LAYERS.register_module("deconv", module=nn.ConvTranspose2d)


@UPSAMPLE_LAYERS.register_module(name="pixel_shuffle")
class PixelShufflePack(nn.Module):
    """A conv that multiplies channels by ``scale_factor**2``, then ``pixel_shuffle``."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int, upsample_kernel: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor
        self.upsample_kernel = upsample_kernel
        self.upsample_conv = nn.Conv2d(
            in_channels, out_channels * scale_factor * scale_factor, upsample_kernel,
            padding=(upsample_kernel - 1) // 2,
        )
        self.init_weights()

    def init_weights(self) -> None:
        xavier_init(self.upsample_conv, distribution="uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), self.scale_factor)


def build_upsample_layer(cfg: Mapping, *args: Any, **kwargs: Any) -> nn.Module:
    """An upsampling layer; for ``nearest``/``bilinear`` the type is the interpolation mode."""
    layer_cls, extra = resolve_layer(UPSAMPLE_LAYERS, cfg, "upsample layer")
    if layer_cls is nn.Upsample:
        extra["mode"] = cfg["type"]
    return layer_cls(*args, **kwargs, **extra)
