"""Merging cells of NAS-FPN (https://arxiv.org/abs/1904.07392): two feature maps -> one, at a given size."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError

from .conv_module import ConvModule


class BaseMergeCell(nn.Module):
    """Resize both inputs to ``out_size``, combine them (``_binary_op``), then an optional ``out_conv``.

    Smaller maps are interpolated (``upsample_mode``); larger ones are zero-padded to a multiple
    of the target (centred) and max-pooled. ``out_conv`` runs activation -> conv -> norm by default.
    """

    def __init__(self, fused_channels: int | None = 256, out_channels: int | None = 256, with_out_conv: bool = True,
                 out_conv_cfg: Mapping = dict(groups=1, kernel_size=3, padding=1, bias=True),
                 out_norm_cfg: Mapping | None = None, out_conv_order: tuple = ("act", "conv", "norm"),
                 with_input1_conv: bool = False, with_input2_conv: bool = False,
                 input_conv_cfg: Mapping | None = None, input_norm_cfg: Mapping | None = None,
                 upsample_mode: str = "nearest") -> None:
        super().__init__()
        if upsample_mode not in ("nearest", "bilinear"):
            raise ConfigError(f"merge cell upsample_mode must be 'nearest' or 'bilinear', got {upsample_mode!r}")
        self.with_out_conv = with_out_conv
        self.with_input1_conv = with_input1_conv
        self.with_input2_conv = with_input2_conv
        self.upsample_mode = upsample_mode
        if with_out_conv:
            self.out_conv = ConvModule(fused_channels, out_channels, **out_conv_cfg, norm_cfg=out_norm_cfg,
                                       order=out_conv_order)
        self.input1_conv = self._input_conv(out_channels, input_conv_cfg, input_norm_cfg) if with_input1_conv \
            else nn.Sequential()
        self.input2_conv = self._input_conv(out_channels, input_conv_cfg, input_norm_cfg) if with_input2_conv \
            else nn.Sequential()

    @staticmethod
    def _input_conv(channels: int, conv_cfg: Mapping | None, norm_cfg: Mapping | None) -> ConvModule:
        return ConvModule(channels, channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, bias=True)

    def _binary_op(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _resize(self, x: torch.Tensor, size) -> torch.Tensor:
        size = tuple(size)
        here = tuple(x.shape[-2:])
        if here == size:
            return x
        if here < size:  # compared as tuples (height first), as mmcv does
            return F.interpolate(x, size=size, mode=self.upsample_mode)
        if here[0] % size[0] or here[1] % size[1]:
            pad_h = math.ceil(here[0] / size[0]) * size[0] - here[0]
            pad_w = math.ceil(here[1] / size[1]) * size[1] - here[1]
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="constant", value=0.0)
        kernel = (x.shape[-2] // size[0], x.shape[-1] // size[1])
        return F.max_pool2d(x, kernel_size=kernel, stride=kernel)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, out_size=None) -> torch.Tensor:
        if x1.shape[:2] != x2.shape[:2]:
            raise ValueError(f"merge cell inputs differ in batch or channels: {tuple(x1.shape)} vs {tuple(x2.shape)}")
        if out_size is None:  # the larger of the two
            out_size = max(tuple(x1.shape[2:]), tuple(x2.shape[2:]))
        x = self._binary_op(self._resize(self.input1_conv(x1), out_size), self._resize(self.input2_conv(x2), out_size))
        return self.out_conv(x) if self.with_out_conv else x


class SumCell(BaseMergeCell):
    """``x1 + x2``."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)

    def _binary_op(self, x1, x2):
        return x1 + x2


class ConcatCell(BaseMergeCell):
    """``cat([x1, x2])`` along channels."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__(in_channels * 2, out_channels, **kwargs)

    def _binary_op(self, x1, x2):
        return torch.cat([x1, x2], dim=1)


class GlobalPoolingCell(BaseMergeCell):
    """``x2 + sigmoid(global_avg_pool(x2)) * x1``: ``x2``'s global context gates ``x1``."""

    def __init__(self, in_channels: int | None = None, out_channels: int | None = None, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))

    def _binary_op(self, x1, x2):
        return x2 + self.global_pool(x2).sigmoid() * x1
