"""ResNeSt (https://arxiv.org/abs/2004.08955): ResNet-D whose 3x3 convs attend over ``radix`` splits."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from detcli.models.layers import BaseModule, build_conv_layer, build_norm_layer
from detcli.registry import BACKBONES

from .res_layer import ResLayer
from .resnet import Bottleneck as ResNetBottleneck
from .resnet import ResNetV1d, _conv2_cfg


class RSoftmax(nn.Module):
    """Softmax over the radix splits of each group (a sigmoid when ``radix == 1``)."""

    def __init__(self, radix: int, groups: int) -> None:
        super().__init__()
        self.radix = radix
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.radix > 1:
            return F.softmax(x.view(batch, self.groups, self.radix, -1).transpose(1, 2), dim=1).reshape(batch, -1)
        return torch.sigmoid(x)


class SplitAttentionConv2d(BaseModule):
    """A grouped conv producing ``radix`` splits, then channel attention (from their pooled sum) that mixes them.

    State-dict names: ``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``.
    """

    def __init__(self, in_channels: int, channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, radix: int = 2, reduction_factor: int = 4, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type="BN"), dcn: Mapping | None = None,
                 init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.groups = groups
        self.channels = channels
        self.with_dcn = dcn is not None
        self.dcn = dcn
        self.conv = build_conv_layer(_conv2_cfg(dcn, conv_cfg), in_channels, channels * radix, kernel_size,
                                     stride=stride, padding=padding, dilation=dilation, groups=groups * radix,
                                     bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = build_conv_layer(None, channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = build_conv_layer(None, inter_channels, channels * radix, 1, groups=groups)
        self.rsoftmax = RSoftmax(radix, groups)

    @property
    def norm0(self) -> nn.Module:
        return getattr(self, self.norm0_name)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        batch = x.size(0)
        if self.radix > 1:
            splits = x.view(batch, self.radix, -1, *x.shape[2:])
            gap = splits.sum(dim=1)
        else:
            gap = x
        gap = self.relu(self.norm1(self.fc1(F.adaptive_avg_pool2d(gap, 1))))
        atten = self.rsoftmax(self.fc2(gap)).view(batch, -1, 1, 1)
        if self.radix > 1:
            out = torch.sum(atten.view(batch, self.radix, -1, *atten.shape[2:]) * splits, dim=1)
        else:
            out = atten * x
        return out.contiguous()


class Bottleneck(ResNetBottleneck):
    """ResNet bottleneck with a ``SplitAttentionConv2d`` as ``conv2`` (its own norms inside, no ``bn2``);
    with ``avg_down_stride`` the stride moves to a 3x3 average pool (``avd_layer``) after it."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, groups: int = 1, base_width: int = 4, base_channels: int = 64,
                 radix: int = 2, reduction_factor: int = 4, avg_down_stride: bool = True, **kwargs) -> None:
        super().__init__(inplanes, planes, groups=groups, base_width=base_width, base_channels=base_channels,
                         **kwargs)
        width = planes if groups == 1 else math.floor(planes * (base_width / base_channels)) * groups
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1
        self.conv2 = SplitAttentionConv2d(
            width, width, kernel_size=3, stride=1 if self.avg_down_stride else self.conv2_stride,
            padding=self.dilation, dilation=self.dilation, groups=groups, radix=radix,
            reduction_factor=reduction_factor, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, dcn=self.dcn)
        delattr(self, self.norm2_name)
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.norm1(self.conv1(x))))
        if self.avg_down_stride:
            out = self.avd_layer(out)
        return self.norm3(self.conv3(out))


@BACKBONES.register_module()
class ResNeSt(ResNetV1d):
    """E.g. ResNeSt-50: ``ResNeSt(depth=50, stem_channels=64, radix=2, reduction_factor=4)``."""

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
        200: (Bottleneck, (3, 24, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, radix: int = 2, reduction_factor: int = 4,
                 avg_down_stride: bool = True, **kwargs) -> None:
        self.groups = groups
        self.base_width = base_width
        self.radix = radix
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        return ResLayer(groups=self.groups, base_width=self.base_width, base_channels=self.base_channels,
                        radix=self.radix, reduction_factor=self.reduction_factor,
                        avg_down_stride=self.avg_down_stride, **kwargs)
