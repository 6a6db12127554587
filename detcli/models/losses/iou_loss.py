"""IoU-based box losses: ``IoULoss`` (linear / square / log) and ``GIoULoss``."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES
from detcli.structures.boxes import bbox_overlaps

from .weighting import check_reduction_override, weighted_loss

IOU_MODES = ("linear", "square", "log")


@weighted_loss
def iou_loss(pred: torch.Tensor, target: torch.Tensor, linear: bool = False, mode: str = "log",
             eps: float = 1e-6) -> torch.Tensor:
    """``1 - iou``, ``1 - iou**2`` or ``-log(iou)`` of aligned box pairs (iou clamped to ``eps``)."""
    if linear:
        mode = "linear"
    if mode not in IOU_MODES:
        raise ConfigError(f"IoULoss mode must be one of {IOU_MODES}, got {mode!r}")
    ious = bbox_overlaps(pred, target, is_aligned=True).clamp(min=eps)
    if mode == "linear":
        return 1 - ious
    if mode == "square":
        return 1 - ious**2
    return -ious.log()


@weighted_loss
def giou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    return 1 - bbox_overlaps(pred, target, mode="giou", is_aligned=True, eps=eps)


def _zero_if_no_weight(pred: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor | None:
    """A graph-connected 0 when every weight is 0 (avoids NaN gradients from empty boxes)."""
    if weight is None or torch.any(weight > 0) or reduction == "none":
        return None
    if pred.dim() == weight.dim() + 1:
        weight = weight.unsqueeze(1)
    return (pred * weight).sum()


def _per_box_weight(weight: torch.Tensor | None, pred: torch.Tensor) -> torch.Tensor | None:
    if weight is not None and weight.dim() > 1:
        if weight.shape != pred.shape:
            raise ValueError(f"weight {tuple(weight.shape)} does not match pred {tuple(pred.shape)}")
        weight = weight.mean(-1)
    return weight


@LOSSES.register_module()
class IoULoss(nn.Module):
    def __init__(self, linear: bool = False, eps: float = 1e-6, reduction: str = "mean",
                 loss_weight: float = 1.0, mode: str = "log") -> None:
        super().__init__()
        if mode not in IOU_MODES:
            raise ConfigError(f"IoULoss mode must be one of {IOU_MODES}, got {mode!r}")
        if linear:
            warnings.warn("IoULoss(linear=True) is deprecated, use mode='linear'", DeprecationWarning, stacklevel=2)
            mode = "linear"
        self.mode = mode
        self.linear = linear
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None,
                **kwargs) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        zero = _zero_if_no_weight(pred, weight, reduction)
        if zero is not None:
            return zero
        return self.loss_weight * iou_loss(pred, target, _per_box_weight(weight, pred), mode=self.mode,
                                           eps=self.eps, reduction=reduction, avg_factor=avg_factor, **kwargs)


@LOSSES.register_module()
class GIoULoss(nn.Module):
    def __init__(self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None,
                **kwargs) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        zero = _zero_if_no_weight(pred, weight, reduction)
        if zero is not None:
            return zero
        return self.loss_weight * giou_loss(pred, target, _per_box_weight(weight, pred), eps=self.eps,
                                            reduction=reduction, avg_factor=avg_factor, **kwargs)
