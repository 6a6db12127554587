"""The two losses of Generalized Focal Loss (Li et al., 2020), used by GFL heads.

``QualityFocalLoss``: a focal-style BCE whose positive target is the IoU of the predicted
box (a "quality" score in ``[0, 1]``) instead of 1. ``DistributionFocalLoss``: pushes a
discretised distance distribution towards the two bins around the target distance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weighted_loss


def _quality_focal(pred: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor], beta: float,
                   activated: bool) -> torch.Tensor:
    """Per-sample loss ``(n,)``; ``target = (labels (n,), scores (n,))``, label ``C`` = background."""
    if len(target) != 2:
        raise ValueError("QualityFocalLoss target must be a (labels, scores) pair")
    label, score = target
    prob = pred if activated else pred.sigmoid()
    bce = F.binary_cross_entropy if activated else F.binary_cross_entropy_with_logits
    # every class is first treated as negative (target 0), weighted by prob ** beta
    loss = bce(pred, prob.new_zeros(pred.shape), reduction="none") * prob.pow(beta)
    pos = ((label >= 0) & (label < pred.size(1))).nonzero().squeeze(1)
    pos_label = label[pos].long()
    # the positives' own class: target = quality score, weighted by |score - prob| ** beta
    scale = score[pos] - prob[pos, pos_label]
    loss[pos, pos_label] = bce(pred[pos, pos_label], score[pos], reduction="none") * scale.abs().pow(beta)
    return loss.sum(dim=1, keepdim=False)


@weighted_loss
def quality_focal_loss(pred: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor],
                       beta: float = 2.0) -> torch.Tensor:
    """QFL of logits ``pred`` ``(n, C)``."""
    return _quality_focal(pred, target, beta, activated=False)


@weighted_loss
def quality_focal_loss_with_prob(pred: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor],
                                 beta: float = 2.0) -> torch.Tensor:
    """QFL of probabilities ``pred`` ``(n, C)`` (already through a sigmoid)."""
    return _quality_focal(pred, target, beta, activated=True)


@weighted_loss
def distribution_focal_loss(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``pred`` ``(n, bins)`` logits, ``label`` ``(n,)`` continuous targets in ``[0, bins - 1)``."""
    left = label.long()
    right = left + 1
    weight_left = right.float() - label
    weight_right = label - left.float()
    return (F.cross_entropy(pred, left, reduction="none") * weight_left
            + F.cross_entropy(pred, right, reduction="none") * weight_right)


@LOSSES.register_module()
class QualityFocalLoss(nn.Module):
    """``forward(pred, (labels, scores), weight, avg_factor)``."""

    def __init__(self, use_sigmoid: bool = True, beta: float = 2.0, reduction: str = "mean",
                 loss_weight: float = 1.0, activated: bool = False) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ConfigError("QualityFocalLoss only supports use_sigmoid=True")
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self, pred: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor],
                weight: torch.Tensor | None = None, avg_factor: float | None = None,
                reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        loss_fn = quality_focal_loss_with_prob if self.activated else quality_focal_loss
        return self.loss_weight * loss_fn(pred, target, weight, beta=self.beta, reduction=reduction,
                                          avg_factor=avg_factor)


@LOSSES.register_module()
class DistributionFocalLoss(nn.Module):
    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        return self.loss_weight * distribution_focal_loss(pred, target, weight, reduction=reduction,
                                                          avg_factor=avg_factor)
