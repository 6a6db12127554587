"""``SSDNeck``: SSD's extra feature levels (1x1 reduce + strided 3x3, optionally depthwise-separable
for SSDLite) stacked after the backbone outputs, and the L2 normalisation of the first output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule, DepthwiseSeparableConvModule
from detcli.registry import NECKS


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (initialised to ``scale``)."""

    def __init__(self, n_dims: int, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.n_dims = n_dims
        self.weight = nn.Parameter(torch.Tensor(n_dims))
        self.eps = eps
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_float = x.float()  # the norm in fp32 also under fp16 training
        norm = x_float.pow(2).sum(1, keepdim=True).sqrt() + self.eps
        return (self.weight[None, :, None, None].float().expand_as(x_float) * x_float / norm).type_as(x)


@NECKS.register_module()
class SSDNeck(BaseModule):
    """``out_channels`` starts with ``in_channels`` (passed through), then one entry per extra level."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], level_strides: Sequence[int],
                 level_paddings: Sequence[int], l2_norm_scale: float | None = 20.0, last_kernel_size: int = 3,
                 use_depthwise: bool = False, conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None,
                 act_cfg: Mapping | None = dict(type="ReLU"),
                 init_cfg: Mapping | Sequence[Mapping] | None = (
                     dict(type="Xavier", distribution="uniform", layer="Conv2d"),
                     dict(type="Constant", val=1, layer="BatchNorm2d"))) -> None:
        init_cfg = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg or [])
        if l2_norm_scale:
            init_cfg.append(dict(type="Constant", val=l2_norm_scale, override=dict(name="l2_norm")))
        super().__init__(init_cfg or None)
        num_extra = len(out_channels) - len(in_channels)
        if num_extra <= 0 or num_extra != len(level_strides) or len(level_strides) != len(level_paddings):
            raise ConfigError(f"SSDNeck: {len(out_channels)} out_channels for {len(in_channels)} in_channels need "
                              f"{num_extra} level_strides and level_paddings, got {len(level_strides)} and "
                              f"{len(level_paddings)}")
        if tuple(in_channels) != tuple(out_channels[:len(in_channels)]):
            raise ConfigError(f"SSDNeck: out_channels {tuple(out_channels)} must start with in_channels "
                              f"{tuple(in_channels)}")
        if l2_norm_scale:
            self.l2_norm = L2Norm(in_channels[0], l2_norm_scale)
        second_conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.extra_layers = nn.ModuleList()
        for i, (channels, stride, padding) in enumerate(zip(out_channels[len(in_channels):], level_strides,
                                                            level_paddings)):
            kernel_size = last_kernel_size if i == num_extra - 1 else 3
            self.extra_layers.append(nn.Sequential(
                ConvModule(out_channels[len(in_channels) - 1 + i], channels // 2, 1, **cfg),
                second_conv(channels // 2, channels, kernel_size, stride=stride, padding=padding, **cfg)))

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        outs = list(inputs)
        if hasattr(self, "l2_norm"):
            outs[0] = self.l2_norm(outs[0])
        feat = outs[-1]
        for layer in self.extra_layers:
            feat = layer(feat)
            outs.append(feat)
        return tuple(outs)
