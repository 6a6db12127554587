"""Deformable convolutions (``conv_cfg=dict(type='DCN')`` / ``'DCNv2'``) on ``torchvision.ops.deform_conv2d``.

mmcv 1.x ships these as compiled ops; here they run wherever torchvision does. The
layout matches mmcv's, so 2.x checkpoints load unchanged: the layer's own ``weight``
(and ``bias`` for DCNv2) plus ``conv_offset``, a plain conv predicting, per deformable
group and kernel point ``k`` (row-major), the pair ``(dy_k, dx_k)`` — for DCNv2 followed
by one modulation logit per group and point. torchvision reads offsets in the same
``(dy, dx)`` order and samples bilinearly with zeros outside the image, as mmcv does.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

from detcli.errors import ConfigError
from detcli.registry import CONV_LAYERS


class _DeformConvBase(nn.Module):
    """Attributes every conv layer exposes (``ConvModule`` and the weight-init code read them)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, deform_groups: int = 1, offset_per_point: int = 2) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"{type(self).__name__}: channels {in_channels}->{out_channels} are not divisible "
                              f"by groups={groups}")
        if in_channels % deform_groups:
            raise ConfigError(f"{type(self).__name__}: in_channels={in_channels} is not divisible by "
                              f"deform_groups={deform_groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.transposed = False
        self.output_padding = (0,)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        points = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(in_channels, deform_groups * offset_per_point * points, self.kernel_size,
                                     stride=self.stride, padding=self.padding, dilation=self.dilation, bias=True)

    def _deform(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None,
                bias: torch.Tensor | None) -> torch.Tensor:
        # the kernel is written for contiguous NCHW; channels-last inputs are converted by it anyway
        return deform_conv2d(x, offset.to(x.dtype), self.weight.to(x.dtype), bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, mask=mask)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"deform_groups={self.deform_groups}")


@CONV_LAYERS.register_module("DCN")
class DeformConv2dPack(_DeformConvBase):
    """Deformable convolution v1: offsets from ``conv_offset`` (zero-initialised), no bias."""

    _version = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, deform_groups: int = 1, bias: bool | str = False, im2col_step: int = 32) -> None:
        if bias:
            raise ConfigError("DCN (DeformConv2dPack) has no bias", hint="pass bias=False, or use DCNv2")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups)
        self.im2col_step = im2col_step  # a CUDA batching detail of mmcv's kernel, kept for config compatibility
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._deform(x, self.conv_offset(x), None, None)


@CONV_LAYERS.register_module("DCNv2")
class ModulatedDeformConv2dPack(_DeformConvBase):
    """Modulated deformable convolution (v2): ``conv_offset`` predicts offsets and a sigmoid mask per point."""

    _version = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, deform_groups: int = 1, bias: bool | str = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
                         offset_per_point=3)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.init_weights()

    def init_weights(self) -> None:
        """Uniform weights of fan-in scale, zero bias; zero offsets and masks of 0.5 at the start."""
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_offset(x)
        num_offsets = 2 * self.deform_groups * self.kernel_size[0] * self.kernel_size[1]
        offset, mask = out[:, :num_offsets], out[:, num_offsets:].sigmoid()
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return self._deform(x, offset, mask.to(x.dtype), bias)


__all__ = ["DeformConv2dPack", "ModulatedDeformConv2dPack"]
