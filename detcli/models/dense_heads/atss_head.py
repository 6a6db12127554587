"""``ATSSHead`` (Zhang et al., 2020): a RetinaNet-like head with one anchor per location, a
centerness branch on the regression tower and ATSS label assignment.

Boxes are regressed as decoded boxes (``reg_decoded_bbox=True``, GIoU loss), weighted by the
centerness target and normalised by the sum of those weights over the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.engine.dist import reduce_mean
from detcli.models.layers import Scale
from detcli.models.task_modules import build_assigner, build_sampler
from detcli.registry import HEADS, LOSSES
from detcli.structures.boxes import bbox2distance, bbox_centers

from .anchor_head import AnchorHead
from .fcos_head import centerness_of
from .level_aware_targets import LevelAwareTargetsMixin
from .retina_head import build_towers, run_towers


@HEADS.register_module()
class ATSSHead(LevelAwareTargetsMixin, AnchorHead):
    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        pred_kernel_size: int = 3,
        stacked_convs: int = 4,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="GN", num_groups=32, requires_grad=True),
        reg_decoded_bbox: bool = True,
        loss_centerness: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
        init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01,
            override=dict(type="Normal", name="atss_cls", std=0.01, bias_prob=0.01)),
        **kwargs,
    ) -> None:
        self.pred_kernel_size = pred_kernel_size
        self.stacked_convs = stacked_convs
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        super().__init__(num_classes, in_channels, reg_decoded_bbox=reg_decoded_bbox, init_cfg=init_cfg, **kwargs)
        self.sampling = False
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg["assigner"])
            self.sampler = build_sampler(dict(type="PseudoSampler"), context=self)
        self.loss_centerness = LOSSES.build(loss_centerness)

    def _init_layers(self) -> None:
        build_towers(self)
        pad = self.pred_kernel_size // 2
        self.atss_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels,
                                  self.pred_kernel_size, padding=pad)
        self.atss_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, self.pred_kernel_size, padding=pad)
        self.atss_centerness = nn.Conv2d(self.feat_channels, self.num_base_priors, self.pred_kernel_size, padding=pad)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.prior_generator.strides])

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        """``(cls_scores, bbox_preds, centernesses)``, one map per level."""
        outs = [self.forward_single(x, scale) for x, scale in zip(feats, self.scales)]
        return tuple(list(level) for level in zip(*outs))

    def forward_single(self, x: torch.Tensor, scale: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls_feat, reg_feat = run_towers(self, x)
        return self.atss_cls(cls_feat), scale(self.atss_reg(reg_feat)).float(), self.atss_centerness(reg_feat)

    # -- training ---------------------------------------------------------------------
    def loss_single(self, anchors, cls_score, bbox_pred, centerness, labels, label_weights, bbox_targets,
                    num_total_samples):
        """One level's losses; the box loss is still to be divided by the batch's centerness sum."""
        anchors = anchors.reshape(-1, 4)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels).contiguous()
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        centerness = centerness.permute(0, 2, 3, 1).reshape(-1)
        bbox_targets = bbox_targets.reshape(-1, 4)
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=num_total_samples)
        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        if len(pos_inds) > 0:
            pos_targets = bbox_targets[pos_inds]
            pos_anchors = anchors[pos_inds]
            centerness_targets = self.centerness_target(pos_anchors, pos_targets)
            pos_decoded = self.bbox_coder.decode(pos_anchors, bbox_pred[pos_inds])
            loss_bbox = self.loss_bbox(pos_decoded, pos_targets, weight=centerness_targets, avg_factor=1.0)
            loss_centerness = self.loss_centerness(centerness[pos_inds], centerness_targets,
                                                   avg_factor=num_total_samples)
        else:
            loss_bbox = bbox_pred.sum() * 0
            loss_centerness = centerness.sum() * 0
            centerness_targets = bbox_targets.new_tensor(0.0)
        return loss_cls, loss_bbox, loss_centerness, centerness_targets.sum()

    def loss(self, cls_scores, bbox_preds, centernesses, gt_bboxes, gt_labels, img_metas,
             gt_bboxes_ignore=None) -> dict | None:
        targets = self.batch_targets(cls_scores, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore)
        if targets is None:
            return None
        (anchors, labels, label_weights, bbox_targets), num_total_samples = targets
        per_level = [self.loss_single(*args, num_total_samples=num_total_samples)
                     for args in zip(anchors, cls_scores, bbox_preds, centernesses, labels, label_weights,
                                     bbox_targets)]
        losses_cls, losses_bbox, losses_centerness, weight_sums = (list(x) for x in zip(*per_level))
        bbox_avg_factor = reduce_mean(sum(weight_sums)).clamp_(min=1).item()
        return dict(loss_cls=losses_cls, loss_bbox=[loss / bbox_avg_factor for loss in losses_bbox],
                    loss_centerness=losses_centerness)

    def centerness_target(self, anchors: torch.Tensor, gts: torch.Tensor) -> torch.Tensor:
        """FCOS centerness of each anchor centre inside its assigned gt."""
        centerness = centerness_of(bbox2distance(bbox_centers(anchors), gts))
        if torch.isnan(centerness).any():
            raise FloatingPointError("ATSS centerness target is NaN: an anchor centre lies on its gt's border")
        return centerness
