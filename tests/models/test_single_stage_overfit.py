"""A tiny RetinaNet overfits one image on the CPU: losses fall > 5x and the boxes are found."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from detcli.models import build_detector

TINY_RETINANET = dict(
    type="RetinaNet",
    backbone=dict(type="ResNet", depth=18, base_channels=8, out_indices=(1, 2, 3), frozen_stages=-1,
                  norm_eval=True),
    neck=dict(type="FPN", in_channels=[16, 32, 64], out_channels=16, start_level=0, add_extra_convs="on_input",
              num_outs=5),
    bbox_head=dict(
        type="RetinaHead", num_classes=2, in_channels=16, stacked_convs=1, feat_channels=16,
        anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                                 ignore_iof_thr=-1), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5),
                  max_per_img=10),
)


def test_tiny_retinanet_overfits_one_image():
    model = build_detector(TINY_RETINANET)
    model.init_weights()
    model.train()
    img = torch.zeros(1, 3, 64, 64)
    img[:, 0, 8:36, 8:40] = 2.0
    img[:, 1, 20:58, 30:60] = 2.0
    gt_boxes = torch.tensor([[8.0, 8, 40, 36], [30, 20, 60, 58]])
    meta = dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), pad_shape=(64, 64, 3), flip=False,
                scale_factor=np.ones(4, dtype=np.float32))
    batch = dict(img=img, img_metas=[meta], gt_bboxes=[gt_boxes], gt_labels=[torch.tensor([0, 1])])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    history = []
    for _ in range(120):
        out = model.train_step(batch, optimizer)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        history.append(out["log_vars"]["loss"])
    assert set(out["log_vars"]) == {"loss_cls", "loss_bbox", "loss"} and out["num_samples"] == 1
    assert np.mean(history[:3]) > 5 * np.mean(history[-3:]), history[::10]

    model.eval()
    with torch.no_grad():
        result = model(return_loss=False, rescale=True, img=[img], img_metas=[[dict(meta)]])[0]
    for label, gt in enumerate(gt_boxes):
        best = torch.from_numpy(result[label][:1, :4])
        assert len(best) and box_iou(best, gt[None]).item() > 0.7, result[label][:2]
