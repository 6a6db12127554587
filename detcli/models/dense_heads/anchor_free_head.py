"""``AnchorFreeHead``: the base of point-based heads (FCOS): one prediction per feature-map cell.

Two towers of ``stacked_convs`` ConvModules (``cls_convs`` / ``reg_convs``), then 3x3
``conv_cls`` and ``conv_reg``. Points come from ``MlvlPointGenerator`` (cell centres), boxes
are decoded by ``DistancePointBBoxCoder`` at test time (``BaseDenseHead``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ConvModule
from detcli.models.task_modules import MlvlPointGenerator, build_bbox_coder
from detcli.registry import HEADS, LOSSES

from .base_dense_head import BaseDenseHead

# Predictor names of checkpoints from before the common ``conv_*`` naming.
_LEGACY_PREDICTORS = {"fcos_cls": "conv_cls", "fcos_reg": "conv_reg", "fcos_centerness": "conv_centerness"}


@HEADS.register_module()
class AnchorFreeHead(BaseDenseHead):
    """Subclasses implement ``loss`` and ``get_targets``; ``forward_single`` also returns the tower features."""

    _version = 1

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        strides: Sequence[int] = (4, 8, 16, 32, 64),
        dcn_on_last_conv: bool = False,
        conv_bias: bool | str = "auto",
        loss_cls: Mapping = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox: Mapping = dict(type="IoULoss", loss_weight=1.0),
        bbox_coder: Mapping = dict(type="DistancePointBBoxCoder"),
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01,
            override=dict(type="Normal", name="conv_cls", std=0.01, bias_prob=0.01)),
    ) -> None:
        super().__init__(init_cfg)
        if not (conv_bias == "auto" or isinstance(conv_bias, bool)):
            raise ConfigError(f"conv_bias must be 'auto' or a bool, got {conv_bias!r}")
        self.num_classes = num_classes
        self.use_sigmoid_cls = loss_cls.get("use_sigmoid", False)
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.stacked_convs = stacked_convs
        self.strides = strides
        self.dcn_on_last_conv = dcn_on_last_conv
        self.conv_bias = conv_bias
        self.loss_cls = LOSSES.build(loss_cls)
        self.loss_bbox = LOSSES.build(loss_bbox)
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.prior_generator = MlvlPointGenerator(strides)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.fp16_enabled = False
        self._init_layers()

    def _init_layers(self) -> None:
        self._init_cls_convs()
        self._init_reg_convs()
        self._init_predictor()

    def _tower(self) -> nn.ModuleList:
        convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            conv_cfg = self.conv_cfg
            if self.dcn_on_last_conv and i == self.stacked_convs - 1:
                conv_cfg = dict(type="DCNv2")
            convs.append(ConvModule(self.in_channels if i == 0 else self.feat_channels, self.feat_channels, 3,
                                    stride=1, padding=1, conv_cfg=conv_cfg, norm_cfg=self.norm_cfg,
                                    bias=self.conv_bias))
        return convs

    def _init_cls_convs(self) -> None:
        self.cls_convs = self._tower()

    def _init_reg_convs(self) -> None:
        self.reg_convs = self._tower()

    def _init_predictor(self) -> None:
        self.conv_cls = nn.Conv2d(self.feat_channels, self.cls_out_channels, 3, padding=1)
        self.conv_reg = nn.Conv2d(self.feat_channels, 4, 3, padding=1)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Accept the legacy predictor names (``fcos_cls`` ...) of older checkpoints."""
        for key in [k for k in state_dict if k.startswith(prefix)]:
            head, _, rest = key[len(prefix):].partition(".")
            if head in _LEGACY_PREDICTORS:
                state_dict[f"{prefix}{_LEGACY_PREDICTORS[head]}.{rest}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        outs = [self.forward_single(x)[:2] for x in feats]
        return tuple(list(level) for level in zip(*outs))

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cls_score, bbox_pred, cls_feat, reg_feat)`` of one level."""
        cls_feat = reg_feat = x
        for layer in self.cls_convs:
            cls_feat = layer(cls_feat)
        for layer in self.reg_convs:
            reg_feat = layer(reg_feat)
        return self.conv_cls(cls_feat), self.conv_reg(reg_feat), cls_feat, reg_feat

    def loss(self, cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None) -> dict:
        raise NotImplementedError

    def get_targets(self, points, gt_bboxes_list, gt_labels_list):
        raise NotImplementedError
