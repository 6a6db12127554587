"""HTC's semantic segmentation branch: all FPN levels fused at one scale, a stuff classifier and an embedding."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import HEADS, LOSSES


@HEADS.register_module()
class FusedSemanticHead(BaseModule):
    """``lateral_convs`` (1x1 per level, resized to level ``fusion_level``, summed) -> ``convs`` (3x3) ->
    ``conv_logits`` (per-pixel classes) and ``conv_embedding`` (the features the box/mask heads pool)."""

    def __init__(
        self,
        num_ins: int,
        fusion_level: int,
        num_convs: int = 4,
        in_channels: int = 256,
        conv_out_channels: int = 256,
        num_classes: int = 183,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        ignore_label: int | None = None,
        loss_weight: float | None = None,
        loss_seg: Mapping = dict(type="CrossEntropyLoss", ignore_index=255, loss_weight=0.2),
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Kaiming", override=dict(name="conv_logits")),
    ) -> None:
        super().__init__(init_cfg)
        self.num_ins = num_ins
        self.fusion_level = fusion_level
        self.num_convs = num_convs
        self.in_channels = in_channels
        self.conv_out_channels = conv_out_channels
        self.num_classes = num_classes
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.fp16_enabled = False
        self.lateral_convs = nn.ModuleList(
            ConvModule(in_channels, in_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, inplace=False)
            for _ in range(num_ins))
        self.convs = nn.ModuleList(
            ConvModule(in_channels if i == 0 else conv_out_channels, conv_out_channels, 3, padding=1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for i in range(num_convs))
        self.conv_embedding = ConvModule(conv_out_channels, conv_out_channels, 1, conv_cfg=conv_cfg,
                                         norm_cfg=norm_cfg)
        self.conv_logits = nn.Conv2d(conv_out_channels, num_classes, 1)
        loss_seg = dict(loss_seg)
        if ignore_label is not None or loss_weight is not None:
            warnings.warn("FusedSemanticHead: ignore_label/loss_weight are deprecated; set ignore_index and "
                          "loss_weight in loss_seg", stacklevel=2)
            if ignore_label:
                loss_seg["ignore_index"] = ignore_label
            if loss_weight:
                loss_seg["loss_weight"] = loss_weight
        self.criterion = LOSSES.build(loss_seg)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mask_pred, semantic_feat)`` at the resolution of level ``fusion_level``."""
        x = self.lateral_convs[self.fusion_level](feats[self.fusion_level])
        size = tuple(x.shape[-2:])
        for i, feat in enumerate(feats):
            if i != self.fusion_level:
                feat = F.interpolate(feat, size=size, mode="bilinear", align_corners=True)
                x = x + self.lateral_convs[i](feat)
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(x), self.conv_embedding(x)

    def loss(self, mask_pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-pixel cross-entropy against ``gt_semantic_seg`` (``(n, 1, h, w)`` at the prediction's scale)."""
        return self.criterion(mask_pred, labels.squeeze(1).long())
