"""Balanced L1 loss (Libra R-CNN, https://arxiv.org/abs/1904.02701): more gradient for the inliers."""

from __future__ import annotations

import math

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weighted_loss


@weighted_loss
def balanced_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0, alpha: float = 0.5,
                     gamma: float = 1.5) -> torch.Tensor:
    """Below ``beta`` the gradient is ``alpha * ln(b |x| / beta + 1)``, above it a constant ``gamma``;
    ``b = e^(gamma / alpha) - 1`` joins the two pieces smoothly."""
    if beta <= 0:
        raise ConfigError(f"BalancedL1Loss beta must be > 0, got {beta}")
    if target.numel() == 0:
        return pred.sum() * 0
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    inlier = alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff
    outlier = gamma * diff + gamma / b - alpha * beta
    return torch.where(diff < beta, inlier, outlier)


@LOSSES.register_module()
class BalancedL1Loss(nn.Module):
    def __init__(self, alpha: float = 0.5, gamma: float = 1.5, beta: float = 1.0, reduction: str = "mean",
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None, **kwargs) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        return self.loss_weight * balanced_l1_loss(pred, target, weight, alpha=self.alpha, gamma=self.gamma,
                                                   beta=self.beta, reduction=reduction, avg_factor=avg_factor,
                                                   **kwargs)
