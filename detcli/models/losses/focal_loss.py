"""Sigmoid focal loss (RetinaNet) on ``torchvision.ops.sigmoid_focal_loss``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weight_reduce_loss


def _one_hot_without_background(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices (``num_classes`` = background) -> ``(n, num_classes)`` one-hot."""
    return F.one_hot(target, num_classes=num_classes + 1)[:, :num_classes]


def _match_weight(weight: torch.Tensor | None, loss: torch.Tensor) -> torch.Tensor | None:
    """Per-sample ``(n,)`` weights broadcast over classes; per-element weights reshaped."""
    if weight is None or weight.shape == loss.shape:
        return weight
    if weight.size(0) == loss.size(0):
        return weight.view(-1, 1)
    if weight.numel() != loss.numel():
        raise ValueError(f"focal loss weight of shape {tuple(weight.shape)} does not fit loss {tuple(loss.shape)}")
    return weight.view(loss.size(0), -1)


def sigmoid_focal_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                       gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean",
                       avg_factor: float | None = None) -> torch.Tensor:
    """Focal loss of logits ``pred`` ``(n, C)`` against one-hot ``target`` ``(n, C)``."""
    loss = tv_sigmoid_focal_loss(pred, target.type_as(pred), alpha=alpha, gamma=gamma, reduction="none")
    return weight_reduce_loss(loss, _match_weight(weight, loss), reduction, avg_factor)


def focal_loss_with_prob(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                         gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean",
                         avg_factor: float | None = None) -> torch.Tensor:
    """Focal loss of probabilities (already through a sigmoid) against class indices."""
    target = _one_hot_without_background(target, pred.size(1)).type_as(pred)
    pt = (1 - pred) * target + pred * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy(pred, target, reduction="none") * focal_weight
    return weight_reduce_loss(loss, _match_weight(weight, loss), reduction, avg_factor)


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """``loss_weight * focal(pred, one_hot(target))``; ``target`` holds class indices, ``num_classes`` = bg."""

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: float = 0.25,
                 reduction: str = "mean", loss_weight: float = 1.0, activated: bool = False) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ConfigError("FocalLoss only supports use_sigmoid=True")
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        if self.activated:
            loss = focal_loss_with_prob(pred, target, weight, self.gamma, self.alpha, reduction, avg_factor)
        else:
            if target.dim() == 1:
                target = _one_hot_without_background(target, pred.size(1))
            loss = sigmoid_focal_loss(pred, target, weight, self.gamma, self.alpha, reduction, avg_factor)
        return self.loss_weight * loss
