"""``DepthwiseSeparableConvModule``: a per-channel ``k x k`` conv followed by a ``1 x 1`` conv.

Used by the SSDLite neck and head (``use_depthwise=True``); its two halves are named
``depthwise_conv`` and ``pointwise_conv`` as in mmcv 1.x checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .conv_module import ConvModule


def _or_default(value: Mapping | str | None, default: Mapping | None) -> Mapping | None:
    return default if value == "default" else value


class DepthwiseSeparableConvModule(nn.Module):
    """``norm_cfg`` / ``act_cfg`` apply to both halves unless ``dw_*`` / ``pw_*`` override them."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, norm_cfg: Mapping | None = None,
                 act_cfg: Mapping | None = dict(type="ReLU"), dw_norm_cfg: Mapping | str | None = "default",
                 dw_act_cfg: Mapping | str | None = "default", pw_norm_cfg: Mapping | str | None = "default",
                 pw_act_cfg: Mapping | str | None = "default", **kwargs: Any) -> None:
        super().__init__()
        if "groups" in kwargs:
            raise TypeError("DepthwiseSeparableConvModule sets groups itself")
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                                         dilation=dilation, groups=in_channels,
                                         norm_cfg=_or_default(dw_norm_cfg, norm_cfg),
                                         act_cfg=_or_default(dw_act_cfg, act_cfg), **kwargs)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm_cfg=_or_default(pw_norm_cfg, norm_cfg),
                                         act_cfg=_or_default(pw_act_cfg, act_cfg), **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
