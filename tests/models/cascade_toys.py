"""Tiny Cascade (Mask) R-CNN and HTC configs and inputs shared by the cascade tests."""

from __future__ import annotations

import copy

import numpy as np
import torch

from detcli.structures.masks import BitmapMasks

NUM_CLASSES = 2
STRIDES = [4, 8, 16, 32]


def _extractor(size: int) -> dict:
    return dict(type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=size, sampling_ratio=0),
                out_channels=16, featmap_strides=STRIDES)


def _bbox_head(stds) -> dict:
    return dict(type="Shared2FCBBoxHead", in_channels=16, fc_out_channels=32, roi_feat_size=7,
                num_classes=NUM_CLASSES,
                bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=stds),
                reg_class_agnostic=True, loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0))


def _rcnn_train(iou: float, mask: bool) -> dict:
    cfg = dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=iou, neg_iou_thr=iou, min_pos_iou=iou,
                             match_low_quality=False, ignore_iof_thr=-1),
               sampler=dict(type="RandomSampler", num=64, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
               pos_weight=-1, debug=False)
    if mask:
        cfg["mask_size"] = 28
    return cfg


def cascade_cfg(kind: str = "cascade", with_mask: bool = False, semantic: bool = False) -> dict:
    """``kind``: 'cascade' (Cascade (Mask) R-CNN) or 'htc' (HTC, masks always, ``semantic`` optional)."""
    with_mask = with_mask or kind == "htc"
    stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
    roi_head = dict(type="CascadeRoIHead", num_stages=3, stage_loss_weights=[1, 0.5, 0.25],
                    bbox_roi_extractor=_extractor(7), bbox_head=[_bbox_head(s) for s in stds])
    if with_mask:
        roi_head["mask_roi_extractor"] = _extractor(14)
        mask_head = dict(type="FCNMaskHead", num_convs=2, in_channels=16, conv_out_channels=16,
                         num_classes=NUM_CLASSES,
                         loss_mask=dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0))
        if kind == "htc":
            roi_head.update(type="HybridTaskCascadeRoIHead", interleaved=True, mask_info_flow=True)
            mask_head = [dict(mask_head, type="HTCMaskHead", with_conv_res=i > 0) for i in range(3)]
        roi_head["mask_head"] = mask_head
    if semantic:
        roi_head["semantic_roi_extractor"] = dict(
            type="SingleRoIExtractor", roi_layer=dict(type="RoIAlign", output_size=14, sampling_ratio=0),
            out_channels=16, featmap_strides=[8])
        roi_head["semantic_head"] = dict(type="FusedSemanticHead", num_ins=5, fusion_level=1, num_convs=1,
                                         in_channels=16, conv_out_channels=16, num_classes=5,
                                         loss_seg=dict(type="CrossEntropyLoss", ignore_index=255, loss_weight=0.2))
    rcnn_test = dict(score_thr=0.0, nms=dict(type="nms", iou_threshold=0.5), max_per_img=20)
    if with_mask:
        rcnn_test["mask_thr_binary"] = 0.5
    return dict(
        type="HybridTaskCascade" if kind == "htc" else "CascadeRCNN",
        backbone=dict(type="ResNet", depth=18, base_channels=8, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                      norm_eval=False, init_cfg=None),
        neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=16, num_outs=5),
        rpn_head=dict(type="RPNHead", in_channels=16, feat_channels=16,
                      anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
                                            strides=[4, 8, 16, 32, 64]),
                      bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
                      loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
                      loss_bbox=dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0)),
        roi_head=roi_head,
        train_cfg=dict(
            rpn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                   match_low_quality=True, ignore_iof_thr=-1),
                     sampler=dict(type="RandomSampler", num=64, pos_fraction=0.5, neg_pos_ub=-1,
                                  add_gt_as_proposals=False),
                     allowed_border=0, pos_weight=-1, debug=False),
            rpn_proposal=dict(nms_pre=200, max_per_img=100, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
            rcnn=[_rcnn_train(iou, with_mask) for iou in (0.5, 0.6, 0.7)]),
        test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
                      rcnn=rcnn_test),
    )


def build(cfg: dict):
    from detcli.models import build_detector

    model = build_detector(copy.deepcopy(cfg))
    model.init_weights()
    return model


def meta(h: int = 96, w: int = 128, flip: bool = False) -> dict:
    return dict(filename="synthetic.png", ori_filename="synthetic.png", ori_shape=(h, w, 3), img_shape=(h, w, 3),
                pad_shape=(h, w, 3), scale_factor=np.ones(4, dtype=np.float32), flip=flip,
                flip_direction="horizontal" if flip else None,
                img_norm_cfg=dict(mean=np.zeros(3), std=np.ones(3), to_rgb=False))


def train_batch(with_mask: bool = False, semantic: bool = False, h: int = 96, w: int = 128) -> dict:
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[10.0, 12.0, 50.0, 60.0], [60.0, 30.0, 120.0, 90.0]])
    batch = dict(img=torch.randn(1, 3, h, w, generator=g), img_metas=[meta(h, w)], gt_bboxes=[boxes],
                 gt_labels=[torch.tensor([0, 1])])
    if with_mask:
        masks = np.zeros((2, h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        batch["gt_masks"] = [BitmapMasks(masks, h, w)]
    if semantic:
        seg = torch.full((1, 1, h // 8, w // 8), 255, dtype=torch.uint8)
        seg[:, :, 1:8, 1:6] = 3
        batch["gt_semantic_seg"] = seg
    return batch
