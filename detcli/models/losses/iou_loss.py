"""IoU-based box losses on aligned ``(n, 4)`` box pairs.

``IoULoss`` (linear / square / log), ``GIoULoss``, ``DIoULoss`` (centre distance),
``CIoULoss`` (centre distance + aspect ratio) and ``BoundedIoULoss`` (per-coordinate
bounds, smooth-L1 shaped). When every weight is 0 the losses return a graph-connected 0.
"""

from __future__ import annotations

import math
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


def _iou_and_centre_penalty(pred: torch.Tensor, target: torch.Tensor, eps: float
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and ``rho^2 / c^2``: squared centre distance over the enclosing box's squared diagonal."""
    wh = (torch.min(pred[:, 2:], target[:, 2:]) - torch.max(pred[:, :2], target[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    ious = overlap / (area_p + area_t - overlap + eps)
    enclose = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    c2 = enclose[:, 0] ** 2 + enclose[:, 1] ** 2 + eps
    rho2 = (((target[:, 0] + target[:, 2]) - (pred[:, 0] + pred[:, 2])) ** 2 / 4
            + ((target[:, 1] + target[:, 3]) - (pred[:, 1] + pred[:, 3])) ** 2 / 4)
    return ious, rho2 / c2


@weighted_loss
def diou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    ious, penalty = _iou_and_centre_penalty(pred, target, eps)
    return 1 - (ious - penalty)


@weighted_loss
def ciou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    ious, penalty = _iou_and_centre_penalty(pred, target, eps)
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    v = (4 / math.pi**2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():  # the trade-off weight is a constant for the gradient
        denominator = 1 - ious + v
        # identical boxes (iou 1, v 0) give 0 / 0 in 2.x's formula: their weight is 0
        ratio = torch.where(denominator > 0, v / denominator.clamp(min=torch.finfo(v.dtype).tiny), torch.zeros_like(v))
        alpha = (ious > 0.5).float() * ratio
    return 1 - (ious - (penalty + alpha * v)).clamp(min=-1.0, max=1.0)


@weighted_loss
def bounded_iou_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 0.2, eps: float = 1e-3) -> torch.Tensor:
    """Per-coordinate upper bounds of ``1 - IoU`` (dx, dy, dw, dh), smoothed below ``beta``: ``(n, 4)``."""
    pred_cx, pred_cy = (pred[:, 0] + pred[:, 2]) * 0.5, (pred[:, 1] + pred[:, 3]) * 0.5
    pred_w, pred_h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
    with torch.no_grad():
        target_cx, target_cy = (target[:, 0] + target[:, 2]) * 0.5, (target[:, 1] + target[:, 3]) * 0.5
        target_w, target_h = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1]
    dx, dy = target_cx - pred_cx, target_cy - pred_cy
    zeros = torch.zeros_like(dx)
    loss_dx = 1 - torch.max((target_w - 2 * dx.abs()) / (target_w + 2 * dx.abs() + eps), zeros)
    loss_dy = 1 - torch.max((target_h - 2 * dy.abs()) / (target_h + 2 * dy.abs() + eps), zeros)
    loss_dw = 1 - torch.min(target_w / (pred_w + eps), pred_w / (target_w + eps))
    loss_dh = 1 - torch.min(target_h / (pred_h + eps), pred_h / (target_h + eps))
    loss = torch.stack([loss_dx, loss_dy, loss_dw, loss_dh], dim=-1).flatten(1)
    return torch.where(loss < beta, 0.5 * loss * loss / beta, loss - 0.5 * beta)


class _BoxPairLoss(nn.Module):
    """Shared ``forward`` of the IoU losses: zero-weight shortcut, per-box weights, reduction."""

    loss_fn = staticmethod(giou_loss)
    mean_box_weight = True  # (n, 4) weights become per-box means
    zero_also_unreduced = True  # the all-zero-weight shortcut applies with reduction 'none' too

    def __init__(self, eps: float = 1e-6, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def _extra_args(self) -> dict:
        return dict(eps=self.eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None,
                **kwargs) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        if (weight is not None and not torch.any(weight > 0)
                and (self.zero_also_unreduced or reduction != "none")):
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        if self.mean_box_weight and weight is not None and weight.dim() > 1:
            if weight.shape != pred.shape:
                raise ValueError(f"weight {tuple(weight.shape)} does not match pred {tuple(pred.shape)}")
            weight = weight.mean(-1)
        return self.loss_weight * type(self).loss_fn(pred, target, weight, reduction=reduction,
                                                     avg_factor=avg_factor, **self._extra_args(), **kwargs)


@LOSSES.register_module()
class IoULoss(_BoxPairLoss):
    loss_fn = staticmethod(iou_loss)
    zero_also_unreduced = False

    def __init__(self, linear: bool = False, eps: float = 1e-6, reduction: str = "mean",
                 loss_weight: float = 1.0, mode: str = "log") -> None:
        super().__init__(eps, reduction, loss_weight)
        if mode not in IOU_MODES:
            raise ConfigError(f"IoULoss mode must be one of {IOU_MODES}, got {mode!r}")
        if linear:
            warnings.warn("IoULoss(linear=True) is deprecated, use mode='linear'", DeprecationWarning, stacklevel=2)
            mode = "linear"
        self.mode = mode
        self.linear = linear

    def _extra_args(self) -> dict:
        return dict(eps=self.eps, mode=self.mode)


@LOSSES.register_module()
class GIoULoss(_BoxPairLoss):
    loss_fn = staticmethod(giou_loss)


@LOSSES.register_module()
class DIoULoss(_BoxPairLoss):
    loss_fn = staticmethod(diou_loss)


@LOSSES.register_module()
class CIoULoss(_BoxPairLoss):
    loss_fn = staticmethod(ciou_loss)


@LOSSES.register_module()
class BoundedIoULoss(_BoxPairLoss):
    loss_fn = staticmethod(bounded_iou_loss)
    mean_box_weight = False

    def __init__(self, beta: float = 0.2, eps: float = 1e-3, reduction: str = "mean",
                 loss_weight: float = 1.0) -> None:
        super().__init__(eps, reduction, loss_weight)
        self.beta = beta

    def _extra_args(self) -> dict:
        return dict(beta=self.beta, eps=self.eps)
