"""Inference of the box and mask branches, plain and with test-time augmentation.

Kept as two mixins (``BBoxTestMixin``, ``MaskTestMixin``) because custom RoI heads
written for mmdetection 2.x inherit them by these names.
"""

from __future__ import annotations

import numpy as np
import torch

from detcli.models.post_processing import multiclass_nms
from detcli.models.test_time_augs import merge_aug_bboxes, merge_aug_masks
from detcli.structures.boxes import bbox2roi, bbox_mapping


def _empty_detections(ref: torch.Tensor, cfg, num_cls_channels: int):
    if cfg is None:  # raw outputs were asked for: (0, 4) boxes, (0, C + 1) scores
        return ref.new_zeros(0, 4), ref.new_zeros((0, num_cls_channels))
    return ref.new_zeros(0, 5), ref.new_zeros((0,), dtype=torch.long)


def _as_scale_tensor(scale_factor, device) -> torch.Tensor:
    if isinstance(scale_factor, float):
        scale_factor = [scale_factor] * 4
    return torch.as_tensor(np.asarray(scale_factor), dtype=torch.float32, device=device)


class BBoxTestMixin:
    def simple_test_bboxes(self, x, img_metas, proposals, rcnn_test_cfg, rescale=False):
        """Per image, ``det_bboxes (n, 5)`` and ``det_labels (n,)`` (raw boxes/scores when cfg is None)."""
        rois = bbox2roi(proposals)
        num_cls_channels = self.bbox_head.fc_cls.out_features if self.bbox_head.with_cls else 0
        if rois.shape[0] == 0:
            bbox, label = _empty_detections(rois, rcnn_test_cfg, num_cls_channels)
            return [bbox] * len(proposals), [label] * len(proposals)

        bbox_results = self._bbox_forward(x, rois)
        per_img = tuple(len(p) for p in proposals)
        rois = rois.split(per_img, 0)
        cls_score = bbox_results["cls_score"].split(per_img, 0)
        bbox_pred = bbox_results["bbox_pred"]
        if bbox_pred is None:
            bbox_pred = (None,) * len(proposals)
        elif isinstance(bbox_pred, torch.Tensor):
            bbox_pred = bbox_pred.split(per_img, 0)
        else:  # heads whose box output is not one tensor split themselves
            bbox_pred = self.bbox_head.bbox_pred_split(bbox_pred, per_img)

        det_bboxes, det_labels = [], []
        for i, meta in enumerate(img_metas):
            if rois[i].shape[0] == 0:
                bbox, label = _empty_detections(rois[i], rcnn_test_cfg, num_cls_channels)
            else:
                bbox, label = self.bbox_head.get_bboxes(
                    rois[i], cls_score[i], bbox_pred[i], meta["img_shape"], meta["scale_factor"],
                    rescale=rescale, cfg=rcnn_test_cfg,
                )
            det_bboxes.append(bbox)
            det_labels.append(label)
        return det_bboxes, det_labels

    def aug_test_bboxes(self, feats, img_metas, proposal_list, rcnn_test_cfg):
        """Detections of one image from all augmentations, in original-image pixels."""
        aug_bboxes, aug_scores = [], []
        for x, img_meta in zip(feats, img_metas):
            meta = img_meta[0]
            proposals = bbox_mapping(
                proposal_list[0][:, :4], meta["img_shape"], meta["scale_factor"], meta["flip"],
                meta.get("flip_direction", "horizontal"),
            )
            rois = bbox2roi([proposals])
            bbox_results = self._bbox_forward(x, rois)
            bboxes, scores = self.bbox_head.get_bboxes(
                rois, bbox_results["cls_score"], bbox_results["bbox_pred"], meta["img_shape"],
                meta["scale_factor"], rescale=False, cfg=None,
            )
            aug_bboxes.append(bboxes)
            aug_scores.append(scores)
        merged_bboxes, merged_scores = merge_aug_bboxes(aug_bboxes, aug_scores, img_metas, rcnn_test_cfg)
        if merged_bboxes.shape[0] == 0:
            return merged_bboxes.new_zeros(0, 5), merged_bboxes.new_zeros((0,), dtype=torch.long)
        return multiclass_nms(
            merged_bboxes, merged_scores, rcnn_test_cfg["score_thr"], rcnn_test_cfg["nms"],
            rcnn_test_cfg["max_per_img"],
        )


class MaskTestMixin:
    def simple_test_mask(self, x, img_metas, det_bboxes, det_labels, rescale=False):
        """Per image, the per-class lists of masks of its detections."""
        num_classes = self.mask_head.num_classes
        if all(b.shape[0] == 0 for b in det_bboxes):
            return [[[] for _ in range(num_classes)] for _ in det_bboxes]
        ori_shapes = [meta["ori_shape"] for meta in img_metas]
        device = det_bboxes[0].device
        scale_factors = [_as_scale_tensor(meta["scale_factor"], device) for meta in img_metas]
        # detections were rescaled to the original image; the RoIs live on the network input
        boxes = [
            b[:, :4] * sf if rescale else b[:, :4] for b, sf in zip(det_bboxes, scale_factors)
        ]
        mask_pred = self._mask_forward(x, bbox2roi(boxes))["mask_pred"]
        mask_preds = mask_pred.split([len(b) for b in det_bboxes], 0)
        segm_results = []
        for i in range(len(det_bboxes)):
            if det_bboxes[i].shape[0] == 0:
                segm_results.append([[] for _ in range(num_classes)])
                continue
            segm_results.append(
                self.mask_head.get_seg_masks(
                    mask_preds[i], boxes[i], det_labels[i], self.test_cfg, ori_shapes[i], scale_factors[i], rescale
                )
            )
        return segm_results

    def aug_test_mask(self, feats, img_metas, det_bboxes, det_labels):
        """Masks of one image's merged detections (``det_bboxes`` in original pixels)."""
        if det_bboxes.shape[0] == 0:
            return [[] for _ in range(self.mask_head.num_classes)]
        aug_masks = []
        for x, img_meta in zip(feats, img_metas):
            meta = img_meta[0]
            boxes = bbox_mapping(
                det_bboxes[:, :4], meta["img_shape"], meta["scale_factor"], meta["flip"],
                meta.get("flip_direction", "horizontal"),
            )
            mask_pred = self._mask_forward(x, bbox2roi([boxes]))["mask_pred"]
            aug_masks.append(mask_pred.sigmoid().cpu().numpy())  # numpy: frees device memory early
        merged = merge_aug_masks(aug_masks, img_metas, self.test_cfg)
        return self.mask_head.get_seg_masks(
            merged, det_bboxes, det_labels, self.test_cfg, img_metas[0][0]["ori_shape"],
            scale_factor=det_bboxes.new_ones(4), rescale=False,
        )
