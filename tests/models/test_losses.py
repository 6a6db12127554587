"""Losses against torch/torchvision reference formulas, and the guide's custom-loss recipe."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, generalized_box_iou

from detcli.errors import ConfigError
from detcli.models.losses import accuracy, weight_reduce_loss, weighted_loss
from detcli.registry import LOSSES

EPS = torch.finfo(torch.float32).eps


def test_weight_reduce_semantics():
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    weight = torch.tensor([1.0, 0.0, 1.0, 0.5])
    assert weight_reduce_loss(loss, weight, "sum").item() == 6.0
    assert weight_reduce_loss(loss, weight, "mean").item() == 1.5
    assert weight_reduce_loss(loss, weight, "mean", avg_factor=3).item() == pytest.approx(6 / (3 + EPS))
    torch.testing.assert_close(weight_reduce_loss(loss, weight, "none", avg_factor=3), loss * weight)
    with pytest.raises(ConfigError, match="avg_factor"):
        weight_reduce_loss(loss, weight, "sum", avg_factor=3)


def test_softmax_cross_entropy_options():
    pred, label = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, 0])
    weight = torch.rand(6)
    ce = LOSSES.build(dict(type="CrossEntropyLoss", loss_weight=2.0))
    expected = 2.0 * (F.cross_entropy(pred, label, reduction="none") * weight).sum() / 4
    torch.testing.assert_close(ce(pred, label, weight, avg_factor=4), expected)
    cw = [1.0, 2.0, 0.5, 1.0]
    weighted = LOSSES.build(dict(type="CrossEntropyLoss", class_weight=cw))
    ref = F.cross_entropy(pred, label, weight=torch.tensor(cw), reduction="none").mean()
    torch.testing.assert_close(weighted(pred, label), ref)
    ignoring = LOSSES.build(dict(type="CrossEntropyLoss", ignore_index=1, avg_non_ignore=True))
    torch.testing.assert_close(ignoring(pred, label), F.cross_entropy(pred, label, ignore_index=1))
    assert ce(pred, label, reduction_override="none").shape == (6,)


def test_sigmoid_cross_entropy_expands_labels():
    pred = torch.randn(5, 3)
    label = torch.tensor([0, 2, 3, 1, 3])  # 3 = background -> all-zero target
    onehot = torch.zeros(5, 3)
    onehot[[0, 1, 3], [0, 2, 1]] = 1
    bce = LOSSES.build(dict(type="CrossEntropyLoss", use_sigmoid=True))
    torch.testing.assert_close(bce(pred, label), F.binary_cross_entropy_with_logits(pred, onehot))
    weight = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5])
    expected = (F.binary_cross_entropy_with_logits(pred, onehot, reduction="none") * weight[:, None]).sum() / 7
    torch.testing.assert_close(bce(pred, label, weight, avg_factor=7), expected)


def test_mask_cross_entropy_uses_each_rois_class_channel():
    pred, target = torch.randn(3, 4, 5, 5), torch.randint(0, 2, (3, 5, 5)).float()
    label = torch.tensor([2, 0, 3])
    loss = LOSSES.build(dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0))
    expected = F.binary_cross_entropy_with_logits(pred[torch.arange(3), label], target)
    torch.testing.assert_close(loss(pred, target, label), expected[None])
    with pytest.raises(ConfigError):
        LOSSES.build(dict(type="CrossEntropyLoss", use_mask=True, use_sigmoid=True))


def test_focal_loss_against_the_formula():
    pred = torch.randn(8, 3)
    label = torch.tensor([0, 1, 2, 3, 3, 1, 0, 3])
    target = F.one_hot(label, 4)[:, :3].float()
    p = pred.sigmoid()
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    element = -alpha_t * (1 - p_t) ** 2 * torch.log(p_t)
    weight = torch.rand(8)
    focal = LOSSES.build(dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=0.5))
    torch.testing.assert_close(focal(pred, label, weight, avg_factor=3),
                               0.5 * (element * weight[:, None]).sum() / 3, rtol=1e-5, atol=1e-6)
    probs = LOSSES.build(dict(type="FocalLoss", activated=True))
    torch.testing.assert_close(probs(p, label), element.mean(), rtol=1e-5, atol=1e-6)


def test_l1_and_smooth_l1_match_torch():
    pred, target = torch.randn(10, 4), torch.randn(10, 4)
    smooth = LOSSES.build(dict(type="SmoothL1Loss", beta=1.0 / 9.0, loss_weight=1.0))
    torch.testing.assert_close(smooth(pred, target), F.smooth_l1_loss(pred, target, beta=1.0 / 9.0))
    l1 = LOSSES.build(dict(type="L1Loss", loss_weight=2.0))
    torch.testing.assert_close(l1(pred, target, reduction_override="sum"), 2.0 * F.l1_loss(pred, target, reduction="sum"))
    empty = l1(torch.zeros(0, 4, requires_grad=True), torch.zeros(0, 4))
    assert empty.item() == 0.0 and empty.requires_grad


def boxes(n):
    xy = torch.rand(n, 2) * 50
    return torch.cat([xy, xy + torch.rand(n, 2) * 30 + 1], dim=1)


def test_iou_losses_match_torchvision():
    pred, target = boxes(6), boxes(6)
    iou = torch.diagonal(box_iou(pred, target)).clamp(min=1e-6)
    for mode, ref in (("linear", 1 - iou), ("square", 1 - iou**2), ("log", -iou.log())):
        loss = LOSSES.build(dict(type="IoULoss", mode=mode))
        torch.testing.assert_close(loss(pred, target), ref.mean(), rtol=1e-4, atol=1e-5)
    giou = LOSSES.build(dict(type="GIoULoss", loss_weight=2.0))
    ref = 2.0 * (1 - torch.diagonal(generalized_box_iou(pred, target))).mean()
    torch.testing.assert_close(giou(pred, target), ref, rtol=1e-4, atol=1e-5)
    zero_w = giou(pred.requires_grad_(), target, weight=torch.zeros(6))
    assert zero_w.item() == 0.0 and zero_w.requires_grad


def test_accuracy_by_hand():
    pred = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    target = torch.tensor([1, 1, 2, 2])
    assert accuracy(pred, target).item() == 50.0
    top1, top2 = accuracy(pred, target, topk=(1, 2))
    assert (top1.item(), top2.item()) == (50.0, 75.0)
    assert accuracy(pred, target, thresh=0.6).item() == 25.0


# -- the guide's chapter 8 recipe, with detcli imports --------------------------------
@weighted_loss
def my_loss(pred, target):
    assert pred.size() == target.size() and target.numel() > 0
    return torch.abs(pred - target)


@LOSSES.register_module(force=True)
class MyLoss(nn.Module):
    def __init__(self, reduction="mean", loss_weight=1.0):
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        assert reduction_override in (None, "none", "mean", "sum")
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * my_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor)


def test_user_loss_from_the_guide_works():
    loss = LOSSES.build(dict(type="MyLoss", loss_weight=3.0))
    pred, target = torch.randn(4, 4), torch.randn(4, 4)
    weight = torch.rand(4, 4)
    torch.testing.assert_close(loss(pred, target), 3.0 * (pred - target).abs().mean())
    torch.testing.assert_close(loss(pred, target, weight, avg_factor=2),
                               3.0 * ((pred - target).abs() * weight).sum() / (2 + EPS))
    assert loss(pred, target, reduction_override="none").shape == (4, 4)
    assert my_loss.__name__ == "my_loss"
