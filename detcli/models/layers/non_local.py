"""Non-local block (https://arxiv.org/abs/1711.07971) for 2D maps, as Libra R-CNN's BFP refines with it."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from detcli.errors import ConfigError

from .conv_module import ConvModule
from .weight_init import constant_init, normal_init

MODES = ("gaussian", "embedded_gaussian", "dot_product")


class NonLocal2d(nn.Module):
    """``x + conv_out(softmax(theta(x) . phi(x)) . g(x))`` over all positions.

    ``mode``: 'embedded_gaussian' (1x1 ``theta``/``phi`` embeddings, softmax, optionally divided by
    ``sqrt(inter_channels)`` with ``use_scale``), 'gaussian' (no embeddings) or 'dot_product'
    (embeddings, divided by the number of positions instead of a softmax).
    """

    _abbr_ = "nonlocal_block"

    def __init__(self, in_channels: int, reduction: int = 2, use_scale: bool = True,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None, mode: str = "embedded_gaussian",
                 sub_sample: bool = False, std: float = 0.01, zeros_init: bool = True) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"NonLocal2d mode must be one of {MODES}, got {mode!r}")
        if sub_sample:
            raise ConfigError("NonLocal2d: sub_sample is not supported", hint="use sub_sample=False")
        self.in_channels = in_channels
        self.reduction = reduction
        self.use_scale = use_scale
        self.inter_channels = max(in_channels // reduction, 1)
        self.mode = mode
        self.sub_sample = sub_sample
        self.g = ConvModule(in_channels, self.inter_channels, kernel_size=1, conv_cfg=conv_cfg, act_cfg=None)
        self.conv_out = ConvModule(self.inter_channels, in_channels, kernel_size=1, conv_cfg=conv_cfg,
                                   norm_cfg=norm_cfg, act_cfg=None)
        if mode != "gaussian":
            self.theta = ConvModule(in_channels, self.inter_channels, kernel_size=1, conv_cfg=conv_cfg, act_cfg=None)
            self.phi = ConvModule(in_channels, self.inter_channels, kernel_size=1, conv_cfg=conv_cfg, act_cfg=None)
        self.init_weights(std, zeros_init)

    def init_weights(self, std: float = 0.01, zeros_init: bool = True) -> None:
        """Small embeddings; the output conv (or its norm) at zero, so the block starts as the identity."""
        for name in ("g", "theta", "phi"):
            if hasattr(self, name):
                normal_init(getattr(self, name).conv, std=std)
        target = self.conv_out.conv if self.conv_out.norm_cfg is None else self.conv_out.norm
        if zeros_init:
            constant_init(target, 0)
        else:
            normal_init(target, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.size(0)
        g_x = self.g(x).view(n, self.inter_channels, -1).permute(0, 2, 1)
        if self.mode == "gaussian":
            theta_x = x.view(n, self.in_channels, -1).permute(0, 2, 1)
            phi_x = x.view(n, self.in_channels, -1)
        else:
            theta_x = self.theta(x).view(n, self.inter_channels, -1).permute(0, 2, 1)
            phi_x = self.phi(x).view(n, self.inter_channels, -1)
        weight = torch.matmul(theta_x, phi_x)
        if self.mode == "dot_product":
            weight = weight / weight.shape[-1]
        else:
            if self.mode == "embedded_gaussian" and self.use_scale:
                weight = weight / theta_x.shape[-1] ** 0.5
            weight = weight.softmax(dim=-1)
        y = torch.matmul(weight, g_x).permute(0, 2, 1).contiguous().reshape(n, self.inter_channels, *x.shape[2:])
        return x + self.conv_out(y)
