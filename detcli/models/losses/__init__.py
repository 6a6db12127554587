"""Losses and the weighting/reduction helpers custom losses build on."""

from .accuracy import Accuracy, accuracy
from .balanced_l1_loss import BalancedL1Loss, balanced_l1_loss
from .cross_entropy_loss import CrossEntropyLoss, binary_cross_entropy, cross_entropy, mask_cross_entropy
from .focal_loss import FocalLoss, sigmoid_focal_loss
from .iou_loss import GIoULoss, IoULoss, giou_loss, iou_loss
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .weighting import reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    "Accuracy", "accuracy", "BalancedL1Loss", "balanced_l1_loss", "CrossEntropyLoss", "binary_cross_entropy", "cross_entropy",
    "mask_cross_entropy", "FocalLoss", "sigmoid_focal_loss", "GIoULoss", "IoULoss", "giou_loss",
    "iou_loss", "L1Loss", "SmoothL1Loss", "l1_loss", "smooth_l1_loss", "reduce_loss",
    "weight_reduce_loss", "weighted_loss",
]
