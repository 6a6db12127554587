"""Anchor targets for heads whose assigner needs each level's anchor count (ATSS, GFL).

Same per-anchor outputs as ``AnchorHead.get_targets`` (labels, label weights, box targets,
box weights, positive/negative counts), plus the anchors themselves per level: the
assigner is called as ``assign(anchors, num_level_anchors_inside, gt_bboxes, ...)``.
"""

from __future__ import annotations

import torch

from detcli.engine.dist import reduce_mean
from detcli.models.task_modules import anchor_inside_flags, images_to_levels

from .anchor_head import unmap


class LevelAwareTargetsMixin:
    """For ``AnchorHead`` subclasses; ``targets_are_boxes()`` says whether targets stay in box form."""

    def targets_are_boxes(self) -> bool:
        return self.reg_decoded_bbox

    def batch_targets(self, cls_scores, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore=None):
        """For ``loss``: ``(anchors, labels, label_weights, bbox_targets)`` per level and the number of
        positives averaged over processes (at least 1); ``None`` when an image has no usable anchor."""
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature levels for {self.prior_generator.num_levels} anchor levels")
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, img_metas, device=device)
        targets = self.get_targets(anchor_list, valid_flag_list, gt_bboxes, img_metas,
                                   gt_bboxes_ignore_list=gt_bboxes_ignore, gt_labels_list=gt_labels,
                                   label_channels=self.cls_out_channels if self.use_sigmoid_cls else 1)
        if targets is None:
            return None
        anchors, labels, label_weights, bbox_targets, _, num_total_pos, _ = targets
        num_positives = reduce_mean(torch.tensor(num_total_pos, dtype=torch.float, device=device)).item()
        return (anchors, labels, label_weights, bbox_targets), max(num_positives, 1.0)

    def get_targets(self, anchor_list, valid_flag_list, gt_bboxes_list, img_metas, gt_bboxes_ignore_list=None,
                    gt_labels_list=None, label_channels=1, unmap_outputs=True):
        """``(anchors, labels, label_weights, bbox_targets, bbox_weights)`` per level, then the
        positive and negative counts; ``None`` when an image has no usable anchor."""
        num_imgs = len(img_metas)
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        gt_bboxes_ignore_list = gt_bboxes_ignore_list or [None] * num_imgs
        gt_labels_list = gt_labels_list or [None] * num_imgs
        per_image = [
            self._get_target_single(torch.cat(anchor_list[i]), torch.cat(valid_flag_list[i]), num_level_anchors,
                                    gt_bboxes_list[i], gt_bboxes_ignore_list[i], gt_labels_list[i], img_metas[i],
                                    label_channels=label_channels, unmap_outputs=unmap_outputs)
            for i in range(num_imgs)
        ]
        if any(result[1] is None for result in per_image):
            return None
        anchors, labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds = zip(*per_image)
        num_total_pos = sum(max(inds.numel(), 1) for inds in pos_inds)
        num_total_neg = sum(max(inds.numel(), 1) for inds in neg_inds)
        return (images_to_levels(anchors, num_level_anchors), images_to_levels(labels, num_level_anchors),
                images_to_levels(label_weights, num_level_anchors), images_to_levels(bbox_targets, num_level_anchors),
                images_to_levels(bbox_weights, num_level_anchors), num_total_pos, num_total_neg)

    def _get_target_single(self, flat_anchors, valid_flags, num_level_anchors, gt_bboxes, gt_bboxes_ignore,
                           gt_labels, img_meta, label_channels=1, unmap_outputs=True):
        inside = anchor_inside_flags(flat_anchors, valid_flags, img_meta["img_shape"][:2],
                                     self.train_cfg.get("allowed_border", -1))
        if not inside.any():
            return (None,) * 7
        anchors = flat_anchors[inside, :]
        num_level_inside = self.get_num_level_anchors_inside(num_level_anchors, inside)
        assign_result = self.assigner.assign(anchors, num_level_inside, gt_bboxes, gt_bboxes_ignore, gt_labels)
        sampling_result = self.sampler.sample(assign_result, anchors, gt_bboxes)
        labels, label_weights, bbox_targets, bbox_weights = self._sampled_targets(
            anchors, sampling_result, gt_labels, boxes_as_targets=self.targets_are_boxes())
        if unmap_outputs:
            total = flat_anchors.size(0)
            anchors = unmap(anchors, total, inside)
            labels = unmap(labels, total, inside, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside)
            bbox_targets = unmap(bbox_targets, total, inside)
            bbox_weights = unmap(bbox_weights, total, inside)
        return (anchors, labels, label_weights, bbox_targets, bbox_weights, sampling_result.pos_inds,
                sampling_result.neg_inds)

    @staticmethod
    def get_num_level_anchors_inside(num_level_anchors, inside_flags) -> list[int]:
        return [int(flags.sum()) for flags in torch.split(inside_flags, num_level_anchors)]
