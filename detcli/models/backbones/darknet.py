"""Darknet-53 (YOLOv3's backbone): a 3x3 stem and five stages of a strided conv + residual blocks.

Checkpoint names follow mmdetection 2.x: ``conv1``, ``conv_res_block<i>.conv``,
``conv_res_block<i>.res<j>.conv1/conv2`` (each a ConvModule with ``bn``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import BACKBONES

_DEFAULT_NORM = dict(type="BN", requires_grad=True)
_DEFAULT_ACT = dict(type="LeakyReLU", negative_slope=0.1)


class ResBlock(BaseModule):
    """1x1 conv to half the channels, 3x3 conv back, plus the input."""

    def __init__(self, in_channels: int, conv_cfg: Mapping | None = None, norm_cfg: Mapping = _DEFAULT_NORM,
                 act_cfg: Mapping = _DEFAULT_ACT, init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        if in_channels % 2:
            raise ConfigError(f"Darknet ResBlock needs an even channel count, got {in_channels}")
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, in_channels // 2, 1, **cfg)
        self.conv2 = ConvModule(in_channels // 2, in_channels, 3, padding=1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


@BACKBONES.register_module()
class Darknet(BaseModule):
    """``out_indices`` count the stem as 0 and the five stages as 1..5 (YOLOv3 uses 3, 4, 5)."""

    arch_settings = {
        53: ((1, 2, 8, 8, 4), ((32, 64), (64, 128), (128, 256), (256, 512), (512, 1024))),
    }

    def __init__(self, depth: int = 53, out_indices: Sequence[int] = (3, 4, 5), frozen_stages: int = -1,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = _DEFAULT_NORM, act_cfg: Mapping = _DEFAULT_ACT,
                 norm_eval: bool = True, pretrained: str | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ConfigError(f"invalid depth {depth} for Darknet", hint=f"choose one of {sorted(self.arch_settings)}")
        if init_cfg and pretrained:
            raise ConfigError("Darknet: init_cfg and pretrained cannot be set at the same time")
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"),
                             dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]
        self.depth = depth
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.layers, self.channels = self.arch_settings[depth]
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(3, 32, 3, padding=1, **cfg)
        self.cr_blocks = ["conv1"]
        for i, num_blocks in enumerate(self.layers):
            name = f"conv_res_block{i + 1}"
            self.add_module(name, self.make_conv_res_block(*self.channels[i], num_blocks, **cfg))
            self.cr_blocks.append(name)

    @staticmethod
    def make_conv_res_block(in_channels: int, out_channels: int, res_repeat: int, conv_cfg: Mapping | None = None,
                            norm_cfg: Mapping = _DEFAULT_NORM, act_cfg: Mapping = _DEFAULT_ACT) -> nn.Sequential:
        """A stride-2 3x3 conv (``conv``) followed by ``res_repeat`` residual blocks (``res0``...)."""
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        block = nn.Sequential()
        block.add_module("conv", ConvModule(in_channels, out_channels, 3, stride=2, padding=1, **cfg))
        for i in range(res_repeat):
            block.add_module(f"res{i}", ResBlock(out_channels, **cfg))
        return block

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, name in enumerate(self.cr_blocks):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for name in self.cr_blocks[:max(self.frozen_stages, 0)]:
            module = getattr(self, name)
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> Darknet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
