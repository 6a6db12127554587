"""Behaviour of the one-stage heads that the reference fixtures do not pin down: the guide's
weighted-loss example (an ``ATSSHead`` subclass with its own ``get_targets``), legacy FCOS key
names, ``norm_on_bbox``, where the score threshold sits, SSD's hard negative mining, GFL's
integral, and test-time augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from detcli.models import build_detector
from detcli.models.dense_heads import ATSSHead
from detcli.registry import HEADS

TEST_CFG = dict(nms_pre=100, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.6),
                max_per_img=20)
ATSS_TRAIN = dict(assigner=dict(type="ATSSAssigner", topk=9), allowed_border=-1, pos_weight=-1, debug=False)
ANCHORS = dict(type="AnchorGenerator", ratios=[1.0], octave_base_scale=8, scales_per_octave=1, strides=[8, 16])


def meta(h=64, w=64):
    return dict(img_shape=(h, w, 3), pad_shape=(h, w, 3), ori_shape=(h, w, 3), flip=False, flip_direction=None,
                scale_factor=np.ones(4, dtype=np.float32), batch_input_shape=(h, w))


def atss_head(cls=ATSSHead, **kw):
    return cls(num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1, anchor_generator=ANCHORS,
               norm_cfg=dict(type="GN", num_groups=2), train_cfg=ATSS_TRAIN, test_cfg=TEST_CFG,
               bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
               loss_cls=dict(type="FocalLoss", use_sigmoid=True), loss_bbox=dict(type="GIoULoss", loss_weight=2.0),
               **kw)


class DoubledPositivesATSSHead(ATSSHead):
    """The guide's pattern: override ``get_targets`` to re-weight the classification loss."""

    def get_targets(self, anchor_list, valid_flag_list, gt_bboxes_list, img_metas, gt_bboxes_ignore_list=None,
                    gt_labels_list=None, label_channels=1, unmap_outputs=True):
        targets = list(super().get_targets(anchor_list, valid_flag_list, gt_bboxes_list, img_metas,
                                           gt_bboxes_ignore_list, gt_labels_list, label_channels, unmap_outputs))
        targets[2] = [weights * 2 for weights in targets[2]]  # label_weights, per level
        return tuple(targets)


def test_guides_weighted_loss_example_subclasses_atss_head():
    torch.manual_seed(0)
    feats = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    gts, labels = [torch.tensor([[8.0, 8.0, 40.0, 36.0]])], [torch.tensor([1])]
    plain = atss_head()
    weighted = atss_head(DoubledPositivesATSSHead)
    weighted.load_state_dict(plain.state_dict())
    base = plain.forward_train(feats, [meta()], gts, labels)
    doubled = weighted.forward_train(feats, [meta()], gts, labels)
    for a, b in zip(base["loss_cls"], doubled["loss_cls"]):
        assert b.item() == pytest.approx(2 * a.item(), rel=1e-6)
    for a, b in zip(base["loss_bbox"], doubled["loss_bbox"]):
        assert b.item() == pytest.approx(a.item(), rel=1e-6)


def fcos_head(**kw):
    return HEADS.build(dict(type="FCOSHead", num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1,
                            strides=[8, 16], regress_ranges=((-1, 32), (32, 1e8)),
                            norm_cfg=dict(type="GN", num_groups=2), test_cfg=TEST_CFG, **kw))


def test_fcos_loads_checkpoints_with_the_legacy_predictor_names():
    head = fcos_head()
    legacy = {k.replace("conv_cls", "fcos_cls").replace("conv_reg", "fcos_reg")
              .replace("conv_centerness", "fcos_centerness"): v.clone() + 1 for k, v in head.state_dict().items()}
    assert "fcos_cls.weight" in legacy and "conv_cls.weight" not in legacy
    head.load_state_dict(legacy, strict=True)
    assert torch.equal(head.conv_centerness.bias, legacy["fcos_centerness.bias"])


def test_norm_on_bbox_predicts_strides_in_training_and_pixels_at_test_time():
    head = fcos_head(norm_on_bbox=True, centerness_on_reg=True)
    feats = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    with torch.no_grad():
        train_out = head.train()(feats)[1]
        test_out = head.eval()(feats)[1]
    for stride, a, b in zip((8, 16), train_out, test_out):
        assert (a >= 0).all()
        torch.testing.assert_close(b, a * stride)


def test_score_threshold_applies_before_the_centerness_factor():
    head = fcos_head().eval()
    cls = [torch.full((1, 2, 8, 8), -10.0), torch.full((1, 2, 4, 4), -10.0)]
    cls[0][0, 1, 3, 4] = 0.0  # sigmoid 0.5 > score_thr 0.05
    reg = [torch.full((1, 4, 8, 8), 6.0), torch.full((1, 4, 4, 4), 6.0)]
    centerness = [torch.full((1, 1, 8, 8), -2.0), torch.full((1, 1, 4, 4), -2.0)]  # sigmoid 0.119
    (dets, labels), = head.get_bboxes(cls, reg, centerness, img_metas=[meta()])
    assert labels.tolist() == [1]
    assert dets[0, 4].item() == pytest.approx(0.5 * torch.sigmoid(torch.tensor(-2.0)).item(), rel=1e-5)
    # the point is the centre of cell (x=4, y=3) at stride 8: (36, 28), 6 px to every side
    assert dets[0, :4].tolist() == pytest.approx([30, 22, 42, 34])


def test_ssd_hard_negative_mining_keeps_three_negatives_per_positive():
    head = HEADS.build(dict(
        type="SSDHead", num_classes=2, in_channels=(8, 8),
        anchor_generator=dict(type="SSDAnchorGenerator", scale_major=False, strides=[16, 32], ratios=[[2], [2]],
                              min_sizes=[16, 32], max_sizes=[32, 48]),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
        train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0,
                                     ignore_iof_thr=-1, gt_max_assign_all=False),
                       smoothl1_beta=1.0, allowed_border=-1, pos_weight=-1, neg_pos_ratio=3, debug=False)))
    torch.manual_seed(0)
    feats = [torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2)]
    gts, labels = [torch.tensor([[10.0, 12.0, 30.0, 28.0]])], [torch.tensor([0])]
    cls_scores, bbox_preds = head(feats)
    losses = head.loss(cls_scores, bbox_preds, gts, labels, [meta()])
    # by hand: per-anchor CE, the assignment from the head's own targets
    anchors = torch.cat(head.prior_generator.grid_priors([(4, 4), (2, 2)]))
    targets = head.get_targets([head.prior_generator.grid_priors([(4, 4), (2, 2)])],
                               [head.prior_generator.valid_flags([(4, 4), (2, 2)], (64, 64))], gts, [meta()],
                               gt_labels_list=labels)
    flat_labels = torch.cat(targets[0], 1).view(-1)
    logits = torch.cat([s.permute(0, 2, 3, 1).reshape(-1, 3) for s in cls_scores])
    ce = F.cross_entropy(logits, flat_labels, reduction="none")
    pos = flat_labels < 2
    num_pos = int(pos.sum())
    assert num_pos >= 1 and len(anchors) == len(flat_labels)
    expected = (ce[pos].sum() + ce[~pos].sort(descending=True)[0][:3 * num_pos].sum()) / num_pos
    assert losses["loss_cls"][0].item() == pytest.approx(expected.item(), rel=1e-5)


def test_gfl_integral_is_the_expected_distance():
    head = HEADS.build(dict(type="GFLHead", num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1,
                            anchor_generator=ANCHORS, norm_cfg=dict(type="GN", num_groups=2), reg_max=4,
                            loss_cls=dict(type="QualityFocalLoss", use_sigmoid=True, beta=2.0),
                            loss_bbox=dict(type="GIoULoss", loss_weight=2.0), test_cfg=TEST_CFG))
    assert head.integral.project.tolist() == [0, 1, 2, 3, 4]
    logits = torch.full((1, 20), -30.0)
    logits[0, [1, 5 + 3, 10 + 4, 15 + 0]] = 0.0  # one-hot distributions at 1, 3, 4 and 0
    assert head.integral(logits)[0].tolist() == pytest.approx([1, 3, 4, 0], abs=1e-6)
    assert head.integral(torch.zeros(1, 20))[0].tolist() == pytest.approx([2, 2, 2, 2])


TINY_FCOS = dict(
    type="FCOS",
    backbone=dict(type="ResNet", depth=18, base_channels=4, out_indices=(1, 2, 3), init_cfg=None),
    neck=dict(type="FPN", in_channels=[8, 16, 32], out_channels=8, num_outs=3),
    bbox_head=dict(type="FCOSHead", num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1,
                   strides=[8, 16, 32], regress_ranges=((-1, 32), (32, 64), (64, 1e8)),
                   norm_cfg=dict(type="GN", num_groups=2)),
    test_cfg=dict(TEST_CFG, score_thr=0.0))
TINY_YOLO = dict(
    type="YOLOV3",
    backbone=dict(type="MobileNetV2", widen_factor=0.1, out_indices=(2, 4, 6), init_cfg=None),
    neck=dict(type="YOLOV3Neck", num_scales=3, in_channels=[32, 16, 8], out_channels=[8, 8, 8]),
    bbox_head=dict(type="YOLOV3Head", num_classes=2, in_channels=[8, 8, 8], out_channels=[8, 8, 8]),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0, conf_thr=0.0, nms=dict(type="nms", iou_threshold=0.45),
                  max_per_img=20))


@pytest.mark.parametrize("cfg", [TINY_FCOS, TINY_YOLO], ids=["fcos", "yolov3"])
def test_test_time_augmentation_of_two_identical_views_equals_one_view(cfg):
    torch.manual_seed(0)
    model = build_detector(cfg)
    model.init_weights()
    with torch.no_grad():  # distinct scores (a fresh YOLO head scores every anchor alike)
        for param in model.bbox_head.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    model.eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        single = model(return_loss=False, rescale=True, img=[img], img_metas=[[meta()]])[0]
        both = model(return_loss=False, rescale=True, img=[img, img], img_metas=[[meta()], [meta()]])[0]
    for one, two in zip(single, both):  # duplicates are suppressed by the NMS over both views
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-4)
    assert sum(len(r) for r in single) > 0
