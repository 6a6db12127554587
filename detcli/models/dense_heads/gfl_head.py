"""``GFLHead`` (Generalized Focal Loss, Li et al., 2020): ATSS assignment, a joint
classification-quality score trained with ``QualityFocalLoss`` (target: IoU of the predicted
box) and box sides regressed as discrete distributions over ``reg_max + 1`` bins
(``DistributionFocalLoss``), whose expectation (``Integral``) is the distance in strides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.engine.dist import reduce_mean
from detcli.models.layers import Scale
from detcli.models.post_processing import filter_scores_and_topk
from detcli.models.task_modules import build_assigner, build_sampler
from detcli.registry import HEADS, LOSSES
from detcli.structures.boxes import bbox_centers, bbox_overlaps

from .anchor_head import AnchorHead
from .level_aware_targets import LevelAwareTargetsMixin
from .retina_head import build_towers, run_towers


class Integral(nn.Module):
    """The expected value of each side's distribution over ``0..reg_max`` (``project`` is a buffer
    saved in checkpoints)."""

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., 4 * (reg_max + 1))`` logits -> ``(n, 4)`` distances."""
        x = F.softmax(x.reshape(-1, self.reg_max + 1), dim=1)
        return F.linear(x, self.project.type_as(x)).reshape(-1, 4)


@HEADS.register_module()
class GFLHead(LevelAwareTargetsMixin, AnchorHead):
    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="GN", num_groups=32, requires_grad=True),
        loss_dfl: Mapping = dict(type="DistributionFocalLoss", loss_weight=0.25),
        bbox_coder: Mapping = dict(type="DistancePointBBoxCoder"),
        reg_max: int = 16,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01,
            override=dict(type="Normal", name="gfl_cls", std=0.01, bias_prob=0.01)),
        **kwargs,
    ) -> None:
        self.stacked_convs = stacked_convs
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.reg_max = reg_max
        super().__init__(num_classes, in_channels, bbox_coder=bbox_coder, init_cfg=init_cfg, **kwargs)
        self.sampling = False
        if self.train_cfg:
            self.assigner = build_assigner(self.train_cfg["assigner"])
            self.sampler = build_sampler(dict(type="PseudoSampler"), context=self)
        self.integral = Integral(self.reg_max)
        self.loss_dfl = LOSSES.build(loss_dfl)

    def targets_are_boxes(self) -> bool:
        return True

    def _init_layers(self) -> None:
        build_towers(self)
        if self.num_base_priors != 1:
            raise ValueError("GFLHead is anchor-free: use one anchor per location (ratios=[1.0], one scale)")
        self.gfl_cls = nn.Conv2d(self.feat_channels, self.cls_out_channels, 3, padding=1)
        self.gfl_reg = nn.Conv2d(self.feat_channels, 4 * (self.reg_max + 1), 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.prior_generator.strides])

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        outs = [self.forward_single(x, scale) for x, scale in zip(feats, self.scales)]
        return tuple(list(level) for level in zip(*outs))

    def forward_single(self, x: torch.Tensor, scale: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        cls_feat, reg_feat = run_towers(self, x)
        return self.gfl_cls(cls_feat), scale(self.gfl_reg(reg_feat)).float()

    def anchor_center(self, anchors: torch.Tensor) -> torch.Tensor:
        return bbox_centers(anchors)

    # -- training ---------------------------------------------------------------------
    def loss_single(self, anchors, cls_score, bbox_pred, labels, label_weights, bbox_targets, stride,
                    num_total_samples):
        """One level; box and DFL losses are still to be divided by the batch's weight sum."""
        if stride[0] != stride[1]:
            raise ValueError(f"GFLHead needs square strides, got {stride}")
        anchors = anchors.reshape(-1, 4)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4 * (self.reg_max + 1))
        bbox_targets = bbox_targets.reshape(-1, 4)
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        pos_inds = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        score = label_weights.new_zeros(labels.shape)
        if len(pos_inds) > 0:
            pos_bbox_pred = bbox_pred[pos_inds]
            pos_centers = self.anchor_center(anchors[pos_inds]) / stride[0]
            weight_targets = cls_score.detach().sigmoid().max(dim=1)[0][pos_inds]
            pos_decoded = self.bbox_coder.decode(pos_centers, self.integral(pos_bbox_pred))
            pos_decoded_targets = bbox_targets[pos_inds] / stride[0]
            score[pos_inds] = bbox_overlaps(pos_decoded.detach(), pos_decoded_targets, is_aligned=True)
            target_corners = self.bbox_coder.encode(pos_centers, pos_decoded_targets, self.reg_max).reshape(-1)
            loss_bbox = self.loss_bbox(pos_decoded, pos_decoded_targets, weight=weight_targets, avg_factor=1.0)
            loss_dfl = self.loss_dfl(pos_bbox_pred.reshape(-1, self.reg_max + 1), target_corners,
                                     weight=weight_targets[:, None].expand(-1, 4).reshape(-1), avg_factor=4.0)
        else:
            loss_bbox = bbox_pred.sum() * 0
            loss_dfl = bbox_pred.sum() * 0
            weight_targets = bbox_pred.new_tensor(0)
        loss_cls = self.loss_cls(cls_score, (labels, score), weight=label_weights, avg_factor=num_total_samples)
        return loss_cls, loss_bbox, loss_dfl, weight_targets.sum()

    def loss(self, cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None) -> dict | None:
        targets = self.batch_targets(cls_scores, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore)
        if targets is None:
            return None
        (anchors, labels, label_weights, bbox_targets), num_total_samples = targets
        per_level = [self.loss_single(*args, num_total_samples=num_total_samples)
                     for args in zip(anchors, cls_scores, bbox_preds, labels, label_weights, bbox_targets,
                                     self.prior_generator.strides)]
        losses_cls, losses_bbox, losses_dfl, weight_sums = (list(x) for x in zip(*per_level))
        avg_factor = reduce_mean(sum(weight_sums)).clamp_(min=1).item()
        return dict(loss_cls=losses_cls, loss_bbox=[loss / avg_factor for loss in losses_bbox],
                    loss_dfl=[loss / avg_factor for loss in losses_dfl])

    # -- inference ----------------------------------------------------------------------
    def _get_bboxes_single(self, cls_score_list, bbox_pred_list, score_factor_list, mlvl_priors, img_meta, cfg,
                           rescale=False, with_nms=True, **kwargs):
        cfg = self.test_cfg if cfg is None else cfg
        mlvl_bboxes, mlvl_scores, mlvl_labels = [], [], []
        for cls_score, bbox_pred, stride, priors in zip(cls_score_list, bbox_pred_list,
                                                        self.prior_generator.strides, mlvl_priors):
            distances = self.integral(bbox_pred.permute(1, 2, 0)) * stride[0]
            scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
            scores, labels, _, kept = filter_scores_and_topk(scores, cfg["score_thr"], cfg.get("nms_pre", -1),
                                                             dict(bbox_pred=distances, priors=priors))
            mlvl_bboxes.append(self.bbox_coder.decode(self.anchor_center(kept["priors"]), kept["bbox_pred"],
                                                      max_shape=img_meta["img_shape"]))
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        return self._bbox_post_process(mlvl_scores, mlvl_labels, mlvl_bboxes, img_meta["scale_factor"], cfg,
                                       rescale=rescale, with_nms=with_nms)
