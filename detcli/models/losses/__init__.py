"""Losses and the weighting/reduction helpers custom losses build on."""

from .accuracy import Accuracy, accuracy
from .balanced_l1_loss import BalancedL1Loss, balanced_l1_loss
from .cross_entropy_loss import CrossEntropyLoss, binary_cross_entropy, cross_entropy, mask_cross_entropy
from .focal_loss import FocalLoss, sigmoid_focal_loss
from .gfocal_loss import DistributionFocalLoss, QualityFocalLoss, distribution_focal_loss, quality_focal_loss
from .ghm_loss import GHMC, GHMR
from .iou_loss import (
    BoundedIoULoss,
    CIoULoss,
    DIoULoss,
    GIoULoss,
    IoULoss,
    bounded_iou_loss,
    ciou_loss,
    diou_loss,
    giou_loss,
    iou_loss,
)
from .mse_loss import MSELoss, mse_loss
from .smooth_l1_loss import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from .varifocal_loss import VarifocalLoss, varifocal_loss
from .weighting import reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    "Accuracy", "accuracy", "BalancedL1Loss", "balanced_l1_loss", "CrossEntropyLoss", "binary_cross_entropy",
    "cross_entropy", "mask_cross_entropy", "FocalLoss", "sigmoid_focal_loss", "DistributionFocalLoss",
    "QualityFocalLoss", "distribution_focal_loss", "quality_focal_loss", "GHMC", "GHMR", "BoundedIoULoss",
    "CIoULoss", "DIoULoss", "GIoULoss", "IoULoss", "bounded_iou_loss", "ciou_loss", "diou_loss", "giou_loss",
    "iou_loss", "MSELoss", "mse_loss", "L1Loss", "SmoothL1Loss", "l1_loss", "smooth_l1_loss", "VarifocalLoss",
    "varifocal_loss", "reduce_loss", "weight_reduce_loss", "weighted_loss",
]
