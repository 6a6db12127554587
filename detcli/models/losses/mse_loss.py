"""``MSELoss``: element-wise squared error (YOLOv3's width/height loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detcli.registry import LOSSES

from .weighting import check_reduction_override, weighted_loss


@weighted_loss
def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target, reduction="none")


@LOSSES.register_module()
class MSELoss(nn.Module):
    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        return self.loss_weight * mse_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor)
