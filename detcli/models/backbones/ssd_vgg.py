"""``SSDVGG``: VGG (11/13/16/19) as SSD uses it — ceil-mode pooling, no last pool, then a dilated
fc6 (3x3, dilation 6) and fc7 (1x1) as convolutions.

All layers live in one ``features`` Sequential (checkpoint keys ``features.<i>.weight``);
the outputs are the activations after the layers listed in ``out_feature_indices``
(conv4_3 and fc7 for SSD300: 22 and 34).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, MaxPool2d
from detcli.registry import BACKBONES

# blocks per stage; stage i has 64 * 2**i channels (512 from the fourth on)
VGG_STAGE_BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg_layers(depth: int, num_stages: int = 5, with_bn: bool = False, ceil_mode: bool = False,
               with_last_pool: bool = True) -> list[nn.Module]:
    """The plain VGG feature layers: per stage ``[conv3x3, (bn), relu] * blocks + maxpool``."""
    layers: list[nn.Module] = []
    in_channels = 3
    for i, num_blocks in enumerate(VGG_STAGE_BLOCKS[depth][:num_stages]):
        planes = 64 * 2**i if i < 4 else 512
        for _ in range(num_blocks):
            layers.append(nn.Conv2d(in_channels, planes, kernel_size=3, padding=1))
            if with_bn:
                layers.append(nn.BatchNorm2d(planes))
            layers.append(nn.ReLU(inplace=True))
            in_channels = planes
        layers.append(MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
    if not with_last_pool:
        layers.pop(-1)
    return layers


@BACKBONES.register_module()
class SSDVGG(BaseModule):
    def __init__(self, depth: int, with_last_pool: bool = False, ceil_mode: bool = True,
                 out_indices: Sequence[int] = (3, 4), out_feature_indices: Sequence[int] = (22, 34),
                 pretrained: str | None = None, init_cfg: Mapping | Sequence[Mapping] | None = None,
                 input_size: int | None = None, l2_norm_scale: float | None = None) -> None:
        super().__init__(init_cfg)
        if depth not in VGG_STAGE_BLOCKS:
            raise ConfigError(f"invalid depth {depth} for SSDVGG", hint=f"choose one of {sorted(VGG_STAGE_BLOCKS)}")
        if init_cfg and pretrained:
            raise ConfigError("SSDVGG: init_cfg and pretrained cannot be set at the same time")
        if isinstance(pretrained, str):
            self.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
        elif pretrained is not None:
            raise ConfigError(f"pretrained must be a checkpoint path/URL or None, got {pretrained!r}")
        elif init_cfg is None:
            self.init_cfg = [dict(type="Kaiming", layer="Conv2d"), dict(type="Constant", val=1, layer="BatchNorm2d"),
                             dict(type="Normal", std=0.01, layer="Linear")]
        if input_size is not None:
            warnings.warn("SSDVGG: input_size is deprecated and ignored", DeprecationWarning, stacklevel=2)
        if l2_norm_scale is not None:
            warnings.warn("SSDVGG: l2_norm_scale moved to SSDNeck and is ignored here", DeprecationWarning,
                          stacklevel=2)
        self.depth = depth
        self.out_indices = out_indices  # kept for config compatibility; outputs follow out_feature_indices
        self.out_feature_indices = out_feature_indices
        layers = vgg_layers(depth, ceil_mode=ceil_mode, with_last_pool=with_last_pool)
        layers += [MaxPool2d(kernel_size=3, stride=1, padding=1),
                   nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6), nn.ReLU(inplace=True),
                   nn.Conv2d(1024, 1024, kernel_size=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.out_feature_indices:
                outs.append(x)
        return outs[0] if len(outs) == 1 else tuple(outs)
