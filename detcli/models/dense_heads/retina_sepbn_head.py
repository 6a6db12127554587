"""``RetinaSepBNHead`` (NAS-FPN's RetinaNet head): the tower convs are shared by all levels, their norms are not."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ConvModule, bias_init_with_prob, normal_init
from detcli.registry import HEADS

from .anchor_head import AnchorHead


@HEADS.register_module()
class RetinaSepBNHead(AnchorHead):
    """``cls_convs.<level>.<i>`` / ``reg_convs.<level>.<i>``: one ConvModule per level whose ``conv`` is the
    level-0 module's (so checkpoints list it once per level), each with its own norm."""

    def __init__(self, num_classes: int, num_ins: int, in_channels: int, stacked_convs: int = 4,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None, init_cfg: Mapping | None = None,
                 **kwargs) -> None:
        if init_cfg is not None:
            raise ConfigError("RetinaSepBNHead does not take init_cfg", hint="its layers initialise themselves")
        self.stacked_convs = stacked_convs
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.num_ins = num_ins
        super().__init__(num_classes, in_channels, init_cfg=None, **kwargs)

    def _init_layers(self) -> None:
        self.relu = nn.ReLU(inplace=True)
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for _ in range(self.num_ins):
            for towers in (self.cls_convs, self.reg_convs):
                towers.append(nn.ModuleList(
                    ConvModule(self.in_channels if i == 0 else self.feat_channels, self.feat_channels, 3, stride=1,
                               padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
                    for i in range(self.stacked_convs)))
        for i in range(self.stacked_convs):
            for level in range(1, self.num_ins):
                self.cls_convs[level][i].conv = self.cls_convs[0][i].conv
                self.reg_convs[level][i].conv = self.reg_convs[0][i].conv
        self.retina_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 3, padding=1)
        self.retina_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 3, padding=1)

    def init_weights(self) -> None:
        super().init_weights()
        for conv in list(self.cls_convs[0]) + list(self.reg_convs[0]):
            normal_init(conv.conv, std=0.01)
        normal_init(self.retina_cls, std=0.01, bias=bias_init_with_prob(0.01))
        normal_init(self.retina_reg, std=0.01)

    def forward(self, feats) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_scores, bbox_preds = [], []
        for level, x in enumerate(feats):
            cls_feat = reg_feat = x
            for conv in self.cls_convs[level]:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs[level]:
                reg_feat = conv(reg_feat)
            cls_scores.append(self.retina_cls(cls_feat))
            bbox_preds.append(self.retina_reg(reg_feat))
        return cls_scores, bbox_preds
