"""AnchorHead / RetinaHead / RPNHead: output shapes, targets, losses and decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detcli.models.dense_heads import AnchorHead, RetinaHead, RPNHead
from detcli.registry import HEADS


def meta(h=64, w=64, pad=(64, 64), scale=1.0, flip=False):
    return dict(img_shape=(h, w, 3), pad_shape=(*pad, 3), ori_shape=(h, w, 3), flip=flip,
                flip_direction="horizontal", scale_factor=np.array([scale] * 4, dtype=np.float32))


def feats(channels=8, sizes=((8, 8), (4, 4)), batch=1):
    return [torch.randn(batch, channels, h, w) for h, w in sizes]


RETINA_TRAIN = dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.4, min_pos_iou=0,
                                  ignore_iof_thr=-1), allowed_border=-1, pos_weight=-1, debug=False)
TEST = dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100)
ONE_ANCHOR = dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=1, ratios=[1.0], strides=[8, 16])


def retina(**kw):
    cfg = dict(type="RetinaHead", num_classes=3, in_channels=8, feat_channels=8, stacked_convs=2,
               anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                                     ratios=[0.5, 1.0, 2.0], strides=[8, 16]),
               loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
               loss_bbox=dict(type="L1Loss", loss_weight=1.0), train_cfg=RETINA_TRAIN, test_cfg=TEST)
    cfg.update(kw)
    return HEADS.build(cfg)


def rpn(**kw):
    cfg = dict(type="RPNHead", in_channels=8, feat_channels=8,
               anchor_generator=dict(type="AnchorGenerator", scales=[4], ratios=[0.5, 1.0, 2.0], strides=[8, 16]),
               bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
               loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
               loss_bbox=dict(type="L1Loss", loss_weight=1.0),
               train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                            ignore_iof_thr=-1),
                              sampler=dict(type="RandomSampler", num=16, pos_fraction=0.5, neg_pos_ub=-1,
                                           add_gt_as_proposals=False),
                              allowed_border=-1, pos_weight=-1, debug=False),
               test_cfg=dict(nms_pre=100, max_per_img=50, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0))
    cfg.update(kw)
    return HEADS.build(cfg)


def test_output_shapes_and_key_names():
    x = feats(batch=2)
    head = retina()
    cls, reg = head(x)
    assert [tuple(c.shape) for c in cls] == [(2, 27, 8, 8), (2, 27, 4, 4)]
    assert [tuple(r.shape) for r in reg] == [(2, 36, 8, 8), (2, 36, 4, 4)]
    keys = head.state_dict()
    assert "cls_convs.1.conv.weight" in keys and "retina_cls.weight" in keys and "retina_reg.bias" in keys
    r = rpn(num_convs=2)
    cls, reg = r(x)
    assert [tuple(c.shape) for c in cls] == [(2, 3, 8, 8), (2, 3, 4, 4)] and reg[1].shape == (2, 12, 4, 4)
    assert "rpn_conv.1.conv.weight" in r.state_dict() and "rpn_cls.weight" in r.state_dict()
    plain = HEADS.build(dict(type="AnchorHead", num_classes=4, in_channels=8,
                             anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[1.0], strides=[8, 16]),
                             loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False)))
    cls, reg = plain(x)
    assert cls[0].shape == (2, 5, 8, 8) and reg[0].shape == (2, 4, 8, 8)  # softmax: 4 classes + background
    assert isinstance(plain, AnchorHead) and isinstance(r, RPNHead) and isinstance(head, RetinaHead)


def test_retina_init_gives_focal_prior_bias():
    head = retina()
    head.init_weights()
    expected = -np.log((1 - 0.01) / 0.01)
    torch.testing.assert_close(head.retina_cls.bias, torch.full_like(head.retina_cls.bias, expected))
    assert torch.all(head.retina_reg.bias == 0)


def test_targets_for_a_gt_equal_to_one_anchor():
    head = retina(anchor_generator=ONE_ANCHOR)
    # level 0 anchors are 32x32 boxes at (8x, 8y); the one of cell (2, 2) is [0, 0, 32, 32]
    gt = [torch.tensor([[0.0, 0.0, 32.0, 32.0]]), torch.tensor([[0.0, 0.0, 32.0, 32.0]])]
    labels = [torch.tensor([2]), torch.tensor([1])]
    metas = [meta(), meta()]
    anchors, valid = head.get_anchors([(8, 8), (4, 4)], metas)
    targets = head.get_targets(anchors, valid, gt, metas, gt_labels_list=labels)
    level_labels, level_weights, bbox_targets, bbox_weights, num_pos, num_neg = targets
    idx = 2 * 8 + 2
    assert level_labels[0][:, idx].tolist() == [2, 1]
    positives = (level_labels[0] < 3).sum().item() + (level_labels[1] < 3).sum().item()
    assert positives == 2 and num_pos == 2
    assert torch.all(bbox_targets[0][:, idx] == 0) and torch.all(bbox_weights[0][:, idx] == 1)
    assert bbox_weights[0].sum().item() == 8  # 4 coordinates x 2 images
    assert torch.all(level_weights[1] == 1)  # every other anchor is a negative (IoU < 0.4)


def test_focal_loss_is_averaged_over_positives(monkeypatch):
    head = retina(anchor_generator=ONE_ANCHOR)
    seen = []
    original = head.loss_cls.forward
    monkeypatch.setattr(head.loss_cls, "forward", lambda *a, **k: seen.append(k["avg_factor"]) or original(*a, **k))
    gt = [torch.tensor([[0.0, 0.0, 32.0, 32.0]])] * 2
    losses = head.loss(*head(feats(batch=2)), gt, [torch.tensor([0])] * 2, [meta(), meta()])
    assert seen == [2, 2]  # one positive per image, the same factor for both levels
    assert set(losses) == {"loss_cls", "loss_bbox"} and len(losses["loss_cls"]) == 2


def test_sampled_rpn_loss_averages_over_all_samples(monkeypatch):
    head = rpn()
    seen = []
    original = head.loss_cls.forward
    monkeypatch.setattr(head.loss_cls, "forward", lambda *a, **k: seen.append(k["avg_factor"]) or original(*a, **k))
    losses = head.forward_train(feats(batch=2), [meta(), meta()], [torch.tensor([[8.0, 8, 40, 40]])] * 2)
    assert seen == [32, 32]  # 16 sampled anchors per image
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox"}


def test_no_gt_gives_only_classification_loss():
    head = retina()
    losses = head.forward_train(feats(), [meta()], [torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.long)])
    assert sum(loss.item() for loss in losses["loss_cls"]) > 0
    assert all(loss.item() == 0 for loss in losses["loss_bbox"])


def peaked_outputs(head, level_sizes, peaks, num_channels):
    """Logits of -20 everywhere except ``+5`` at each ``(level, channel, y, x)``; zero deltas."""
    cls = [torch.full((1, num_channels, h, w), -20.0) for h, w in level_sizes]
    reg = [torch.zeros(1, head.num_base_priors * 4, h, w) for h, w in level_sizes]
    for level, channel, y, x in peaks:
        cls[level][0, channel, y, x] = 5.0
    return cls, reg


def test_get_bboxes_decodes_the_peak_anchor_and_rescales():
    head = retina(anchor_generator=ONE_ANCHOR)
    cls, reg = peaked_outputs(head, [(8, 8), (4, 4)], [(0, 1, 3, 2)], 3)  # class 1, cell (y=3, x=2)
    dets, labels = head.get_bboxes(cls, reg, img_metas=[meta(h=60, w=64)])[0]
    assert labels.tolist() == [1]
    # anchor centred at (16, 24), 32 px wide, clipped to the 60x64 image
    torch.testing.assert_close(dets[0, :4], torch.tensor([0.0, 8.0, 32.0, 40.0]))
    assert dets[0, 4].item() == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    dets2, _ = head.get_bboxes(cls, reg, img_metas=[meta(h=60, w=64, scale=2.0)], rescale=True)[0]
    torch.testing.assert_close(dets2[0, :4], dets[0, :4] / 2)


def test_rpn_keeps_levels_apart_and_reads_legacy_keys():
    same_anchors = dict(type="AnchorGenerator", scales=[4], ratios=[1.0], strides=[8, 8])
    head = rpn(anchor_generator=same_anchors)
    cls, reg = peaked_outputs(head, [(8, 8), (8, 8)], [(0, 0, 3, 3), (1, 0, 3, 3)], 1)
    proposals = head.get_bboxes(cls, reg, img_metas=[meta()])[0]
    high = proposals[proposals[:, 4] > 0.5]
    assert len(high) == 2 and torch.equal(high[0, :4], high[1, :4])  # identical boxes of two levels survive
    legacy = dict(nms_across_levels=False, nms_pre=100, nms_post=5, max_num=5, nms_thr=0.7, min_bbox_size=0)
    assert len(head.get_bboxes(cls, reg, img_metas=[meta()], cfg=legacy)[0]) == 5
    across = dict(legacy, nms_across_levels=True, max_num=100)
    merged = head.get_bboxes(cls, reg, img_metas=[meta()], cfg=across)[0]
    assert (merged[:, 4] > 0.5).sum().item() == 1
    big = dict(legacy, min_bbox_size=31.5, max_num=100)  # 32-px anchors pass, border-clipped ones do not
    kept = head.get_bboxes(cls, reg, img_metas=[meta()], cfg=big)[0]
    widths = kept[:, 2] - kept[:, 0]
    assert len(kept) > 0 and torch.all(widths > 31.5)


def test_aug_test_with_one_view_equals_simple_test():
    head = retina().eval()
    x = feats()
    single = head.simple_test(x, [meta(scale=0.5)], rescale=True)[0]
    aug = head.aug_test([x], [[meta(scale=0.5)]], rescale=True)[0]
    torch.testing.assert_close(aug[0], single[0])
    assert aug[1].tolist() == single[1].tolist()
    head.test_cfg = dict(TEST, max_per_img=1000)
    single = head.simple_test(x, [meta(scale=0.5)], rescale=True)[0][0]
    twice = head.aug_test([x, x], [[meta(scale=0.5)], [meta(scale=0.5)]], rescale=True)[0][0]

    def with_area(dets):  # zero-area boxes have IoU 0 even with themselves, so they are never suppressed
        return dets[(dets[:, 2] > dets[:, 0]) & (dets[:, 3] > dets[:, 1])]

    torch.testing.assert_close(with_area(twice), with_area(single))  # exact duplicates are suppressed
