"""The guide's new loss (sections 七.4 and 八): ``my_loss`` computes the element-wise loss and
``@weighted_loss`` adds the rest of the loss pipeline to it: element-wise ``weight``, the
``reduction`` ('none' | 'mean' | 'sum') and ``avg_factor`` (mean = sum / avg_factor);
``MyLoss`` multiplies by ``loss_weight``. Here it is an L1 loss for box regression.
"""

import torch
import torch.nn as nn

from detcli.models.builder import LOSSES
from detcli.models.losses import weighted_loss


@weighted_loss
def my_loss(pred, target):
    assert pred.size() == target.size() and target.numel() > 0
    loss = torch.abs(pred - target)
    return loss


@LOSSES.register_module()
class MyLoss(nn.Module):

    def __init__(self, reduction='mean', loss_weight=1.0):
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred,
                target,
                weight=None,
                avg_factor=None,
                reduction_override=None):
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = (
            reduction_override if reduction_override else self.reduction)
        loss_bbox = self.loss_weight * my_loss(
            pred, target, weight, reduction=reduction, avg_factor=avg_factor)
        return loss_bbox
