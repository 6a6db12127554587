"""Double-Head R-CNN box head (https://arxiv.org/abs/1904.06493).

Classification reads fcs over the RoI feature; regression reads a conv tower over a
second, larger RoI feature: fcs are better at telling classes apart, convs at localising.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.backbones.resnet import Bottleneck
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import HEADS

from .bbox_head import BBoxHead

DEFAULT_INIT_CFG = dict(
    type="Normal",
    override=[
        dict(type="Normal", name="fc_cls", std=0.01),
        dict(type="Normal", name="fc_reg", std=0.001),
        dict(type="Xavier", name="fc_branch", distribution="uniform"),
    ],
)


class BasicResBlock(BaseModule):
    """3x3 conv + 1x1 conv with a 1x1 projection shortcut: lifts RoI features to the conv tower's width."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="BN"),
        init_cfg: Mapping | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.conv1 = ConvModule(
            in_channels, in_channels, kernel_size=3, padding=1, bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg
        )
        self.conv2 = ConvModule(
            in_channels, out_channels, kernel_size=1, bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            act_cfg=None,
        )
        self.conv_identity = ConvModule(
            in_channels, out_channels, kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.conv_identity(x))


@HEADS.register_module()
class DoubleConvFCBBoxHead(BBoxHead):
    """``forward(x_cls, x_reg)``: ``fc_branch -> fc_cls`` and ``res_block -> conv_branch -> fc_reg``."""

    def __init__(
        self,
        num_convs: int = 0,
        num_fcs: int = 0,
        conv_out_channels: int = 1024,
        fc_out_channels: int = 1024,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="BN"),
        init_cfg: Mapping | list | None = DEFAULT_INIT_CFG,
        **kwargs,
    ) -> None:
        kwargs.setdefault("with_avg_pool", True)
        super().__init__(init_cfg=init_cfg, **kwargs)
        name = type(self).__name__
        if not self.with_avg_pool:
            raise ConfigError(f"{name} needs with_avg_pool=True (its conv branch ends in average pooling)")
        if num_convs <= 0 or num_fcs <= 0:
            raise ConfigError(
                f"{name}: num_convs and num_fcs must both be > 0 (got {num_convs}, {num_fcs})",
                hint="the guide's config uses num_convs=4, num_fcs=2",
            )
        self.num_convs = num_convs
        self.num_fcs = num_fcs
        self.conv_out_channels = conv_out_channels
        self.fc_out_channels = fc_out_channels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg

        self.res_block = BasicResBlock(self.in_channels, conv_out_channels)
        self.conv_branch = nn.ModuleList(
            Bottleneck(inplanes=conv_out_channels, planes=conv_out_channels // 4, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for _ in range(num_convs)
        )
        self.fc_branch = nn.ModuleList(
            nn.Linear(self.in_channels * self.roi_feat_area if i == 0 else fc_out_channels, fc_out_channels)
            for i in range(num_fcs)
        )
        self.fc_reg = nn.Linear(conv_out_channels, self.reg_out_channels)
        self.fc_cls = nn.Linear(fc_out_channels, self.num_classes + 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x_cls: torch.Tensor, x_reg: torch.Tensor):
        x_conv = self.res_block(x_reg)
        for block in self.conv_branch:
            x_conv = block(x_conv)
        bbox_pred = self.fc_reg(self.avg_pool(x_conv).flatten(1))

        x_fc = x_cls.flatten(1)
        for fc in self.fc_branch:
            x_fc = self.relu(fc(x_fc))
        cls_score = self.fc_cls(x_fc)
        return cls_score, bbox_pred
