"""``AnchorHead``: the anchor-based dense head (targets, losses, decoding).

Training, per image: anchors inside the image are assigned to gts (``train_cfg.assigner``),
optionally sampled, and turned into per-anchor labels / weights / regression targets.
Losses are computed per pyramid level and averaged over ``num_total_samples``: the number
of positives (pseudo-sampling, e.g. focal loss) or of positives + negatives (sampling).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.models.task_modules import (
    anchor_inside_flags,
    build_assigner,
    build_bbox_coder,
    build_prior_generator,
    build_sampler,
    images_to_levels,
)
from detcli.registry import HEADS, LOSSES

from .base_dense_head import BaseDenseHead

# Losses that weigh every anchor themselves, so sampling would only discard information.
_NO_SAMPLING_LOSSES = ("FocalLoss", "GHMC", "QualityFocalLoss")


def unmap(data: torch.Tensor, count: int, inds: torch.Tensor, fill: float = 0) -> torch.Tensor:
    """Scatter values of the ``inds``-selected anchors back into a tensor over all ``count`` anchors."""
    out = data.new_full((count, *data.shape[1:]), fill)
    out[inds.bool()] = data
    return out


@HEADS.register_module()
class AnchorHead(BaseDenseHead):
    """A 1x1 conv classifier + regressor per anchor; subclasses replace ``_init_layers``/``forward_single``."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        anchor_generator: Mapping = dict(type="AnchorGenerator", scales=[8, 16, 32], ratios=[0.5, 1.0, 2.0],
                                         strides=[4, 8, 16, 32, 64]),
        bbox_coder: Mapping = dict(type="DeltaXYWHBBoxCoder", clip_border=True, target_means=(0.0, 0.0, 0.0, 0.0),
                                   target_stds=(1.0, 1.0, 1.0, 1.0)),
        reg_decoded_bbox: bool = False,
        loss_cls: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
        loss_bbox: Mapping = dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0),
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Normal", layer="Conv2d", std=0.01),
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feat_channels = feat_channels
        self.use_sigmoid_cls = loss_cls.get("use_sigmoid", False)
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        if self.cls_out_channels <= 0:
            raise ValueError(f"num_classes={num_classes} is too small")
        self.reg_decoded_bbox = reg_decoded_bbox
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.loss_cls = LOSSES.build(loss_cls)
        self.loss_bbox = LOSSES.build(loss_bbox)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.sampling = False
        if train_cfg:
            self.assigner = build_assigner(train_cfg["assigner"])
            sampler_cfg = train_cfg.get("sampler")
            if sampler_cfg is not None and sampler_cfg["type"].split(".")[-1] != "PseudoSampler":
                if loss_cls["type"] in _NO_SAMPLING_LOSSES:
                    warnings.warn(f"{loss_cls['type']} weighs all anchors: the sampler in train_cfg is ignored; "
                                  "remove it from the config", stacklevel=2)
                    sampler_cfg = None
                else:
                    self.sampling = True
            self.sampler = build_sampler(sampler_cfg if self.sampling else dict(type="PseudoSampler"), context=self)
        self.fp16_enabled = False
        self.prior_generator = build_prior_generator(anchor_generator)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self._init_layers()

    @property
    def num_anchors(self) -> int:
        return self.prior_generator.num_base_priors[0]

    @property
    def anchor_generator(self):
        return self.prior_generator

    def _init_layers(self) -> None:
        self.conv_cls = nn.Conv2d(self.in_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.conv_reg = nn.Conv2d(self.in_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv_cls(x), self.conv_reg(x)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(cls_scores, bbox_preds)``: one ``(B, A * C, H, W)`` / ``(B, A * 4, H, W)`` map per level."""
        outs = [self.forward_single(x) for x in feats]
        return tuple(list(level) for level in zip(*outs))

    # -- targets -----------------------------------------------------------------
    def get_anchors(self, featmap_sizes, img_metas, device="cpu"):
        """Per image: the per-level anchors and their valid flags (inside the padded image)."""
        anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        anchor_list = [anchors for _ in img_metas]
        valid_flag_list = [self.prior_generator.valid_flags(featmap_sizes, meta["pad_shape"], device)
                           for meta in img_metas]
        return anchor_list, valid_flag_list

    def _get_targets_single(self, flat_anchors, valid_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta,
                            label_channels=1, unmap_outputs=True):
        inside = anchor_inside_flags(flat_anchors, valid_flags, img_meta["img_shape"][:2],
                                     self.train_cfg.get("allowed_border", -1))
        if not inside.any():
            return (None,) * 7
        anchors = flat_anchors[inside, :]
        assign_result = self.assigner.assign(anchors, gt_bboxes, gt_bboxes_ignore,
                                             None if self.sampling else gt_labels)
        sampling_result = self.sampler.sample(assign_result, anchors, gt_bboxes)
        labels, label_weights, bbox_targets, bbox_weights = self._sampled_targets(
            anchors, sampling_result, gt_labels, boxes_as_targets=self.reg_decoded_bbox)
        if unmap_outputs:
            total = flat_anchors.size(0)
            labels = unmap(labels, total, inside, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside)
            bbox_targets = unmap(bbox_targets, total, inside)
            bbox_weights = unmap(bbox_weights, total, inside)
        return (labels, label_weights, bbox_targets, bbox_weights, sampling_result.pos_inds, sampling_result.neg_inds,
                sampling_result)

    def _sampled_targets(self, anchors, sampling_result, gt_labels, boxes_as_targets: bool):
        """``(labels, label_weights, bbox_targets, bbox_weights)`` of the ``anchors`` a sampler chose from:
        background label ``num_classes`` outside the positives; box targets are encoded deltas, or the
        gt boxes themselves with ``boxes_as_targets`` (heads whose loss decodes the predictions)."""
        num_valid = anchors.shape[0]
        bbox_targets = torch.zeros_like(anchors)
        bbox_weights = torch.zeros_like(anchors)
        labels = anchors.new_full((num_valid,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(num_valid, dtype=torch.float)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) > 0:
            if boxes_as_targets:
                pos_targets = sampling_result.pos_gt_bboxes
            else:
                pos_targets = self.bbox_coder.encode(sampling_result.pos_bboxes, sampling_result.pos_gt_bboxes)
            bbox_targets[pos_inds, :] = pos_targets.to(bbox_targets.dtype)
            bbox_weights[pos_inds, :] = 1.0
            labels[pos_inds] = 0 if gt_labels is None else gt_labels[sampling_result.pos_assigned_gt_inds]
            pos_weight = self.train_cfg.get("pos_weight", -1)
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        return labels, label_weights, bbox_targets, bbox_weights

    def get_targets(self, anchor_list, valid_flag_list, gt_bboxes_list, img_metas, gt_bboxes_ignore_list=None,
                    gt_labels_list=None, label_channels=1, unmap_outputs=True, return_sampling_results=False):
        """Per-level targets for the batch, or ``None`` when an image has no usable anchor."""
        num_imgs = len(img_metas)
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        gt_bboxes_ignore_list = gt_bboxes_ignore_list or [None] * num_imgs
        gt_labels_list = gt_labels_list or [None] * num_imgs
        per_image = [
            self._get_targets_single(torch.cat(anchor_list[i]), torch.cat(valid_flag_list[i]), gt_bboxes_list[i],
                                     gt_bboxes_ignore_list[i], gt_labels_list[i], img_metas[i],
                                     label_channels=label_channels, unmap_outputs=unmap_outputs)
            for i in range(num_imgs)
        ]
        if any(result[0] is None for result in per_image):
            return None
        columns = list(zip(*per_image))
        labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds, sampling_results = columns[:7]
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds)
        res = (
            images_to_levels(labels, num_level_anchors),
            images_to_levels(label_weights, num_level_anchors),
            images_to_levels(bbox_targets, num_level_anchors),
            images_to_levels(bbox_weights, num_level_anchors),
            num_total_pos,
            num_total_neg,
        )
        if return_sampling_results:
            res = res + (list(sampling_results),)
        extra = tuple(images_to_levels(list(col), num_level_anchors) for col in columns[7:])  # subclass extras
        return res + extra

    # -- losses ------------------------------------------------------------------
    def loss_single(self, cls_score, bbox_pred, anchors, labels, label_weights, bbox_targets, bbox_weights,
                    num_total_samples):
        """Classification and regression loss of one level (all images)."""
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
        loss_cls = self.loss_cls(cls_score, labels, label_weights, avg_factor=num_total_samples)
        bbox_targets = bbox_targets.reshape(-1, 4)
        bbox_weights = bbox_weights.reshape(-1, 4)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4)
        if self.reg_decoded_bbox:
            bbox_pred = self.bbox_coder.decode(anchors.reshape(-1, 4), bbox_pred)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=num_total_samples)
        return loss_cls, loss_bbox

    def loss(self, cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None) -> dict | None:
        """``dict(loss_cls=[per level], loss_bbox=[per level])``."""
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature levels for {self.prior_generator.num_levels} "
                             f"anchor levels")
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, img_metas, device=device)
        label_channels = self.cls_out_channels if self.use_sigmoid_cls else 1
        targets = self.get_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas,
                                   gt_bboxes_ignore_list=gt_bboxes_ignore, gt_labels_list=gt_labels,
                                   label_channels=label_channels)
        if targets is None:
            return None
        labels, label_weights, bbox_targets, bbox_weights, num_total_pos, num_total_neg = targets[:6]
        num_total_samples = num_total_pos + num_total_neg if self.sampling else num_total_pos
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        all_anchors = images_to_levels([torch.cat(anchors) for anchors in anchor_list], num_level_anchors)
        per_level = [
            self.loss_single(*args, num_total_samples=num_total_samples)
            for args in zip(cls_scores, bbox_preds, all_anchors, labels, label_weights, bbox_targets, bbox_weights)
        ]
        losses_cls, losses_bbox = (list(x) for x in zip(*per_level))
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)
