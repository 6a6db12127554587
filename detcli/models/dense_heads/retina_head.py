"""``RetinaHead``: two towers of ``stacked_convs`` 3x3 convs, then ``retina_cls`` / ``retina_reg``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.models.layers import ConvModule
from detcli.registry import HEADS

from .anchor_head import AnchorHead


def build_towers(head: nn.Module) -> None:
    """``cls_convs`` and ``reg_convs``: ``stacked_convs`` 3x3 ConvModules each (RetinaNet, ATSS, GFL)."""
    head.relu = nn.ReLU(inplace=True)
    head.cls_convs = nn.ModuleList()
    head.reg_convs = nn.ModuleList()
    for i in range(head.stacked_convs):
        channels = head.in_channels if i == 0 else head.feat_channels
        for tower in (head.cls_convs, head.reg_convs):
            tower.append(ConvModule(channels, head.feat_channels, 3, stride=1, padding=1, conv_cfg=head.conv_cfg,
                                    norm_cfg=head.norm_cfg))


def run_towers(head: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    cls_feat = reg_feat = x
    for conv in head.cls_convs:
        cls_feat = conv(cls_feat)
    for conv in head.reg_convs:
        reg_feat = conv(reg_feat)
    return cls_feat, reg_feat


@HEADS.register_module()
class RetinaHead(AnchorHead):
    """The RetinaNet head; ``retina_cls`` starts at a 1 % foreground prior (focal-loss init)."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        anchor_generator: Mapping = dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                                         ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01,
            override=dict(type="Normal", name="retina_cls", std=0.01, bias_prob=0.01)),
        **kwargs,
    ) -> None:
        self.stacked_convs = stacked_convs
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        super().__init__(num_classes, in_channels, anchor_generator=anchor_generator, init_cfg=init_cfg, **kwargs)

    def _init_layers(self) -> None:
        build_towers(self)
        self.retina_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 3, padding=1)
        self.retina_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 3, padding=1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cls_feat, reg_feat = run_towers(self, x)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)
