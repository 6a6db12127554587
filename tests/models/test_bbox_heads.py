"""Box heads: output shapes, state-dict names, targets, losses and decoding on hand-made cases."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from detcli.errors import DetError
from detcli.registry import HEADS


def _head(type_="Shared2FCBBoxHead", **kwargs):
    cfg = dict(type=type_, in_channels=4, roi_feat_size=7, num_classes=3, fc_out_channels=16,
               loss_bbox=dict(type="L1Loss", loss_weight=1.0))
    if type_ in ("BBoxHead",):
        cfg.pop("fc_out_channels")
    cfg.update(kwargs)
    return HEADS.build(cfg)


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


# -- shapes and names ---------------------------------------------------------------------
def test_bbox_head_shapes():
    x = torch.randn(5, 4, 7, 7)
    head = _head("BBoxHead", with_avg_pool=True)
    cls, reg = head(x)
    assert cls.shape == (5, 4) and reg.shape == (5, 12)
    agnostic = _head("BBoxHead", reg_class_agnostic=True)
    cls, reg = agnostic(x)
    assert cls.shape == (5, 4) and reg.shape == (5, 4)
    assert _shapes(agnostic)["fc_cls.weight"] == (4, 4 * 49)
    only_cls = _head("BBoxHead", with_reg=False)
    assert only_cls(x)[1] is None and not hasattr(only_cls, "fc_reg")
    # an empty batch works with average pooling too
    cls, reg = head(torch.zeros(0, 4, 7, 7))
    assert cls.shape == (0, 4) and reg.shape == (0, 12)


def test_shared2fc_names_and_shapes():
    head = _head()
    assert _shapes(head) == {
        "fc_cls.weight": (4, 16), "fc_cls.bias": (4,), "fc_reg.weight": (12, 16), "fc_reg.bias": (12,),
        "shared_fcs.0.weight": (16, 196), "shared_fcs.0.bias": (16,),
        "shared_fcs.1.weight": (16, 16), "shared_fcs.1.bias": (16,),
    }
    # state-dict order follows the reference (predictors first), so checkpoints read the same
    assert list(head.state_dict())[:2] == ["fc_cls.weight", "fc_cls.bias"]
    cls, reg = head(torch.randn(3, 4, 7, 7))
    assert cls.shape == (3, 4) and reg.shape == (3, 12)


def test_shared4conv1fc_names_and_shapes():
    head = _head("Shared4Conv1FCBBoxHead", conv_out_channels=8, norm_cfg=dict(type="GN", num_groups=4))
    shapes = _shapes(head)
    assert shapes["shared_convs.0.conv.weight"] == (8, 4, 3, 3)
    assert shapes["shared_convs.3.conv.weight"] == (8, 8, 3, 3)
    assert shapes["shared_convs.0.gn.weight"] == (8,)
    assert shapes["shared_fcs.0.weight"] == (16, 8 * 49)
    cls, reg = head(torch.randn(2, 4, 7, 7))
    assert cls.shape == (2, 4) and reg.shape == (2, 12)


def test_convfc_separate_branches():
    head = _head("ConvFCBBoxHead", num_cls_convs=1, num_cls_fcs=1, num_reg_convs=2, conv_out_channels=6)
    shapes = _shapes(head)
    assert shapes["cls_convs.0.conv.weight"] == (6, 4, 3, 3)
    assert shapes["cls_fcs.0.weight"] == (16, 6 * 49)
    assert shapes["reg_convs.1.conv.weight"] == (6, 6, 3, 3)
    assert shapes["fc_reg.weight"] == (12, 6 * 49)  # no reg fcs: flattened conv map
    cls, reg = head(torch.randn(2, 4, 7, 7))
    assert cls.shape == (2, 4) and reg.shape == (2, 12)


def test_convfc_bad_config_is_a_clear_error():
    with pytest.raises(DetError, match="shared fcs"):
        _head("ConvFCBBoxHead", num_shared_fcs=1, num_cls_convs=1)
    with pytest.raises(DetError):
        _head("ConvFCBBoxHead")


# -- targets and losses ---------------------------------------------------------------------
def _sampling_result():
    return SimpleNamespace(
        pos_bboxes=torch.tensor([[0.0, 0, 10, 10]]),
        neg_bboxes=torch.tensor([[20.0, 20, 30, 30], [40.0, 40, 50, 60]]),
        pos_gt_bboxes=torch.tensor([[1.0, 1, 11, 11]]),
        pos_gt_labels=torch.tensor([2]),
    )


def test_get_targets_hand_case():
    head = _head()
    labels, label_weights, targets, weights = head.get_targets(
        [_sampling_result(), _sampling_result()], None, None, dict(pos_weight=-1)
    )
    assert labels.tolist() == [2, 3, 3, 2, 3, 3]  # background = num_classes
    assert label_weights.tolist() == [1.0] * 6
    # centre moves by 1 on a 10-wide box: 0.1 / std 0.1 = 1; same size: log(1) = 0
    torch.testing.assert_close(targets[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert targets[1:3].abs().sum() == 0
    assert weights.tolist()[:3] == [[1.0] * 4, [0.0] * 4, [0.0] * 4]
    labels, label_weights, *_ = head.get_targets([_sampling_result()], None, None, dict(pos_weight=2.0),
                                                 concat=False)
    assert isinstance(labels, list) and label_weights[0].tolist() == [2.0, 1.0, 1.0]


def test_get_targets_with_decoded_regression():
    head = _head(reg_decoded_bbox=True)
    _, _, targets, _ = head.get_targets([_sampling_result()], None, None, dict(pos_weight=-1))
    assert targets[0].tolist() == [1.0, 1.0, 11.0, 11.0]


def test_loss_matches_reference_formulas():
    head = _head()
    cls_score = torch.tensor([[0.1, 0.2, 2.0, -1.0], [0.0, 1.0, 0.0, 3.0], [1.5, 0.0, 0.0, 0.5]],
                             requires_grad=True)
    bbox_pred = torch.arange(36, dtype=torch.float32).view(3, 12) / 10
    rois = torch.tensor([[0.0, 0, 0, 10, 10], [0.0, 20, 20, 30, 30], [0.0, 40, 40, 50, 60]])
    labels, label_weights, targets, weights = head.get_targets([_sampling_result()], None, None,
                                                               dict(pos_weight=2.0))
    losses = head.loss(cls_score, bbox_pred, rois, labels, label_weights, targets, weights)
    ce = F.cross_entropy(cls_score, labels, reduction="none")
    torch.testing.assert_close(losses["loss_cls"], (2 * ce[0] + ce[1] + ce[2]) / 3)
    # L1 over the positive's class-2 deltas, averaged over all 3 samples
    expected_l1 = (bbox_pred[0, 8:12] - torch.tensor([1.0, 1.0, 0.0, 0.0])).abs().sum() / 3
    torch.testing.assert_close(losses["loss_bbox"], expected_l1)
    # argmax = [2, 3, 0] vs labels [2, 3, 3]: two of three right
    torch.testing.assert_close(losses["acc"].reshape(-1), torch.tensor([200.0 / 3]))
    losses["loss_cls"].backward()
    assert cls_score.grad is not None


def test_loss_without_positives_is_zero_but_differentiable():
    head = _head()
    bbox_pred = torch.randn(2, 12, requires_grad=True)
    labels = torch.tensor([3, 3])
    losses = head.loss(torch.randn(2, 4), bbox_pred, torch.zeros(2, 5), labels, torch.ones(2),
                       torch.zeros(2, 4), torch.zeros(2, 4))
    assert losses["loss_bbox"].item() == 0
    losses["loss_bbox"].backward()
    assert bbox_pred.grad is not None


def test_class_agnostic_loss_reads_the_single_box():
    head = _head(reg_class_agnostic=True)
    bbox_pred = torch.tensor([[0.5, 0.5, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]])
    labels = torch.tensor([1, 3])
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    weights = torch.tensor([[1.0] * 4, [0.0] * 4])
    losses = head.loss(None, bbox_pred, torch.zeros(2, 5), labels, torch.ones(2), targets, weights)
    torch.testing.assert_close(losses["loss_bbox"], torch.tensor(1.0 / 2))
    assert "loss_cls" not in losses


# -- inference ------------------------------------------------------------------------------
def test_get_bboxes_raw_decode_clamp_and_rescale():
    head = _head()
    rois = torch.tensor([[0.0, 0, 0, 10, 10], [0.0, 90, 90, 100, 100]])
    cls_score = torch.tensor([[0.0, math.log(3.0), 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    bbox_pred = torch.zeros(2, 12)
    bbox_pred[1, 0] = 5.0  # class 0 of roi 1: dx = 5 * 0.1 * 10 = +5 px -> clamped at the border
    boxes, scores = head.get_bboxes(rois, cls_score, bbox_pred, (96, 100, 3), None, rescale=False, cfg=None)
    assert boxes.shape == (2, 12) and scores.shape == (2, 4)
    torch.testing.assert_close(scores[0], torch.tensor([1.0, 3.0, 1.0, 1.0]) / 6)
    torch.testing.assert_close(boxes[0], torch.tensor([0.0, 0, 10, 10] * 3))
    torch.testing.assert_close(boxes[1, :4], torch.tensor([95.0, 90, 100, 96]))  # x2 <= 100, y2 <= 96
    boxes, _ = head.get_bboxes(rois, cls_score, bbox_pred, (96, 100, 3), [2.0, 4.0, 2.0, 4.0], rescale=True)
    torch.testing.assert_close(boxes[0, :4], torch.tensor([0.0, 0, 5, 2.5]))


def test_get_bboxes_with_nms():
    head = _head()
    rois = torch.tensor([[0.0, 0, 0, 10, 10], [0.0, 0, 0, 10, 11], [0.0, 50, 50, 70, 70]])
    # roi 0 and 1 overlap (IoU 0.91) and both say class 1; roi 2 says class 2 weakly
    cls_score = torch.tensor([[0.0, 4.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    cfg = dict(score_thr=0.2, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100)
    dets, labels = head.get_bboxes(rois, cls_score, torch.zeros(3, 12), (100, 100, 3), None, cfg=cfg)
    p = torch.softmax(cls_score, dim=1)
    assert labels.tolist() == [1, 2]
    torch.testing.assert_close(dets[:, 4], torch.stack([p[0, 1], p[2, 2]]))
    torch.testing.assert_close(dets[:, :4], torch.tensor([[0.0, 0, 10, 10], [50.0, 50, 70, 70]]))


def test_regress_by_class_and_refine_bboxes():
    head = _head()
    rois = torch.tensor([[0.0, 0, 0, 10, 10], [1.0, 20, 20, 40, 40], [1.0, 0, 0, 20, 20]])
    deltas = torch.zeros(3, 12)
    deltas[0, 4] = 1.0  # class 1 of roi 0: +1 px in x
    deltas[1, 9] = 1.0  # class 2 of roi 1: +2 px in y
    labels = torch.tensor([1, 2, 0])
    moved = head.regress_by_class(rois[:1], labels[:1], deltas[:1], dict(img_shape=(100, 100, 3)))
    torch.testing.assert_close(moved, torch.tensor([[0.0, 1, 0, 11, 10]]))
    moved = head.regress_by_class(rois[:, 1:], labels, deltas, dict(img_shape=(100, 100, 3)))
    torch.testing.assert_close(moved[1], torch.tensor([20.0, 22, 40, 42]))
    # image 1's first positive is a ground truth: it is dropped from the refined list
    refined = head.refine_bboxes(rois, labels, deltas, [torch.tensor([0], dtype=torch.uint8),
                                                        torch.tensor([1], dtype=torch.uint8)],
                                 [dict(img_shape=(100, 100, 3))] * 2)
    assert [r.shape[0] for r in refined] == [1, 1]
    torch.testing.assert_close(refined[1], torch.tensor([[0.0, 0, 20, 20]]))


def test_init_weights_follows_the_reference_scheme():
    torch.manual_seed(0)
    head = _head(in_channels=32, fc_out_channels=256)
    for p in head.parameters():
        torch.nn.init.constant_(p, 5.0)
    head.init_weights()
    assert abs(head.fc_cls.weight.std().item() - 0.01) < 0.002
    assert abs(head.fc_reg.weight.std().item() - 0.001) < 0.0002
    assert head.fc_cls.bias.abs().sum() == 0 and head.fc_reg.bias.abs().sum() == 0
    fc = head.shared_fcs[0]
    bound = math.sqrt(6.0 / (fc.in_features + fc.out_features))  # Xavier uniform
    assert fc.weight.abs().max() <= bound and fc.weight.abs().max() > 0.9 * bound
    assert fc.bias.abs().sum() == 0
