"""MobileNetV2 (Sandler et al., 2018): inverted residual blocks with linear bottlenecks.

``out_indices`` count the seven block stages as 0..6 and the final 1x1 conv (``conv2``,
1280 channels, or ``1280 * widen_factor`` when widened) as 7. Names follow mmdetection 2.x
(``conv1``, ``layer<i>.<j>.expand_conv/depthwise_conv/linear_conv``, ``conv2``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import BACKBONES


def make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """The nearest multiple of ``divisor`` to ``value``, at least ``min_value`` and not below 90 % of it."""
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new_value + divisor if new_value < min_ratio * value else new_value


class InvertedResidual(BaseModule):
    """1x1 expansion (skipped at ratio 1), depthwise ``k x k``, linear 1x1 projection; identity shortcut
    when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, kernel_size: int = 3, stride: int = 1,
                 with_expand_conv: bool = True, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type="BN"), act_cfg: Mapping = dict(type="ReLU"), with_cp: bool = False,
                 init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        if stride not in (1, 2):
            raise ConfigError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        if not with_expand_conv and mid_channels != in_channels:
            raise ConfigError("InvertedResidual without expansion needs mid_channels == in_channels")
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        self.with_cp = with_cp
        self.with_expand_conv = with_expand_conv
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if with_expand_conv:
            self.expand_conv = ConvModule(in_channels, mid_channels, 1, act_cfg=act_cfg, **cfg)
        self.depthwise_conv = ConvModule(mid_channels, mid_channels, kernel_size, stride=stride,
                                         padding=kernel_size // 2, groups=mid_channels, act_cfg=act_cfg, **cfg)
        self.linear_conv = ConvModule(mid_channels, out_channels, 1, act_cfg=None, **cfg)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_conv(x) if self.with_expand_conv else x
        out = self.linear_conv(self.depthwise_conv(out))
        return x + out if self.with_res_shortcut else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner, x, use_reentrant=False)
        return self._inner(x)


@BACKBONES.register_module()
class MobileNetV2(BaseModule):
    # expand ratio, channels, blocks, stride of the first block
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                     [6, 320, 1, 1]]

    def __init__(self, widen_factor: float = 1.0, out_indices: Sequence[int] = (1, 2, 4, 7), frozen_stages: int = -1,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type="BN"),
                 act_cfg: Mapping = dict(type="ReLU6"), norm_eval: bool = False, with_cp: bool = False,
                 pretrained: str | None = None, init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        if init_cfg and pretrained:
            raise ConfigError("MobileNetV2: init_cfg and pretrained cannot be set at the same time")
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"),
                             dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]
        if not set(out_indices) <= set(range(8)):
            raise ConfigError(f"MobileNetV2 out_indices must be within 0..7, got {tuple(out_indices)}")
        if frozen_stages not in range(-1, 8):
            raise ConfigError(f"MobileNetV2 frozen_stages must be within -1..7, got {frozen_stages}")
        self.pretrained = pretrained
        self.widen_factor = widen_factor
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp

        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, **cfg)
        self.layers = []
        for i, (expand_ratio, channels, num_blocks, stride) in enumerate(self.arch_settings):
            name = f"layer{i + 1}"
            self.add_module(name, self.make_layer(make_divisible(channels * widen_factor, 8), num_blocks, stride,
                                                  expand_ratio))
            self.layers.append(name)
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.add_module("conv2", ConvModule(self.in_channels, self.out_channel, 1, **cfg))
        self.layers.append("conv2")

    def make_layer(self, out_channels: int, num_blocks: int, stride: int, expand_ratio: float) -> nn.Sequential:
        blocks = []
        for i in range(num_blocks):
            blocks.append(InvertedResidual(
                self.in_channels, out_channels, mid_channels=int(round(self.in_channels * expand_ratio)),
                stride=stride if i == 0 else 1, with_expand_conv=expand_ratio != 1, conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            for param in self.conv1.parameters():
                param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            layer = getattr(self, f"layer{i}")
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> MobileNetV2:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
