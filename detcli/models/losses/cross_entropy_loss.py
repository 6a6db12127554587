"""Cross-entropy losses: softmax (``use_sigmoid=False``), per-class sigmoid, and per-RoI mask BCE."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weight_reduce_loss

DEFAULT_IGNORE = -100


def cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                  reduction: str = "mean", avg_factor: float | None = None,
                  class_weight: torch.Tensor | None = None, ignore_index: int | None = DEFAULT_IGNORE,
                  avg_non_ignore: bool = False) -> torch.Tensor:
    """Softmax cross-entropy; ``avg_non_ignore`` averages over non-ignored labels only."""
    ignore_index = DEFAULT_IGNORE if ignore_index is None else ignore_index
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction="none", ignore_index=ignore_index)
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def _expand_onehot_labels(labels: torch.Tensor, label_weights: torch.Tensor | None, label_channels: int,
                          ignore_index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class indices -> one-hot targets; label ``num_classes`` (background) is all zeros."""
    valid = (labels >= 0) & (labels != ignore_index)
    in_range = valid & (labels < label_channels)
    bin_labels = labels.new_zeros((labels.size(0), label_channels))
    bin_labels[in_range, labels[in_range]] = 1
    valid_mask = valid.view(-1, 1).expand(labels.size(0), label_channels).float()
    if label_weights is None:
        bin_weights = valid_mask
    else:
        bin_weights = label_weights.view(-1, 1).repeat(1, label_channels) * valid_mask
    return bin_labels, bin_weights, valid_mask


def binary_cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                         reduction: str = "mean", avg_factor: float | None = None,
                         class_weight: torch.Tensor | None = None, ignore_index: int | None = DEFAULT_IGNORE,
                         avg_non_ignore: bool = False) -> torch.Tensor:
    """Sigmoid BCE; integer labels of shape ``(n,)`` are expanded to one-hot ``(n, C)``."""
    ignore_index = DEFAULT_IGNORE if ignore_index is None else ignore_index
    if pred.dim() != label.dim():
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.size(-1), ignore_index)
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
    if avg_factor is None and avg_non_ignore and reduction == "mean":
        avg_factor = valid_mask.sum().item()
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=class_weight, reduction="none")
    return weight_reduce_loss(loss, weight.float(), reduction=reduction, avg_factor=avg_factor)


def mask_cross_entropy(pred: torch.Tensor, target: torch.Tensor, label: torch.Tensor, reduction: str = "mean",
                       avg_factor: float | None = None, class_weight: torch.Tensor | None = None,
                       ignore_index: int | None = None, **kwargs) -> torch.Tensor:
    """BCE between each RoI's mask logits for its class ``pred[i, label[i]]`` and its target mask."""
    if ignore_index is not None:
        raise ConfigError("mask cross-entropy does not support ignore_index")
    if reduction != "mean" or avg_factor is not None:
        raise ConfigError("mask cross-entropy only supports reduction='mean' without avg_factor")
    inds = torch.arange(pred.size(0), dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label].squeeze(1)
    return F.binary_cross_entropy_with_logits(pred_slice, target, weight=class_weight, reduction="mean")[None]


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy for classification heads (softmax or sigmoid) and mask heads (``use_mask``)."""

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = "mean",
                 class_weight: Sequence[float] | None = None, ignore_index: int | None = None,
                 loss_weight: float = 1.0, avg_non_ignore: bool = False) -> None:
        super().__init__()
        if use_sigmoid and use_mask:
            raise ConfigError("CrossEntropyLoss: use_sigmoid and use_mask cannot both be True")
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = class_weight
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore
        if ignore_index is not None and not avg_non_ignore and reduction == "mean":
            warnings.warn("CrossEntropyLoss: with ignore_index and avg_non_ignore=False the mean also counts "
                          "ignored labels; set avg_non_ignore=True to average over the others only",
                          stacklevel=2)
        if use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif use_mask:
            self.cls_criterion = mask_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def extra_repr(self) -> str:
        return f"avg_non_ignore={self.avg_non_ignore}"

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None,
                ignore_index: int | None = None, **kwargs) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        if ignore_index is None:
            ignore_index = self.ignore_index
        class_weight = None if self.class_weight is None else cls_score.new_tensor(self.class_weight)
        return self.loss_weight * self.cls_criterion(
            cls_score, label, weight, class_weight=class_weight, reduction=reduction, avg_factor=avg_factor,
            ignore_index=ignore_index, avg_non_ignore=self.avg_non_ignore, **kwargs)
