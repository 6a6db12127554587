"""``VarifocalLoss`` (VarifocalNet, Zhang et al., 2021): an asymmetric focal BCE against IoU-aware targets.

Positives (target > 0) are weighted by their target (``iou_weighted``) or 1; negatives are
down-weighted by ``alpha * |p - target| ** gamma`` as in the focal loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weight_reduce_loss


def varifocal_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                   alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True, reduction: str = "mean",
                   avg_factor: float | None = None) -> torch.Tensor:
    """``pred`` logits and ``target`` scores of the same shape ``(n, C)``."""
    if pred.size() != target.size():
        raise ValueError(f"varifocal loss needs pred and target of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    prob = pred.sigmoid()
    target = target.type_as(pred)
    positive = (target > 0.0).float()
    negative = (target <= 0.0).float()
    pos_weight = target * positive if iou_weighted else positive
    focal_weight = pos_weight + alpha * (prob - target).abs().pow(gamma) * negative
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@LOSSES.register_module()
class VarifocalLoss(nn.Module):
    def __init__(self, use_sigmoid: bool = True, alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True,
                 reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ConfigError("VarifocalLoss only supports use_sigmoid=True")
        if alpha < 0:
            raise ConfigError(f"VarifocalLoss alpha must be >= 0, got {alpha}")
        self.use_sigmoid = use_sigmoid
        self.alpha = alpha
        self.gamma = gamma
        self.iou_weighted = iou_weighted
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        return self.loss_weight * varifocal_loss(pred, target, weight, alpha=self.alpha, gamma=self.gamma,
                                                 iou_weighted=self.iou_weighted, reduction=reduction,
                                                 avg_factor=avg_factor)
