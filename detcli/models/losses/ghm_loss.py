"""Gradient Harmonizing Mechanism losses (Li et al., 2019): ``GHMC`` (classification) and ``GHMR``
(regression, ASL1).

Each element's gradient norm ``g`` falls into one of ``bins`` equal-width bins over ``[0, 1]``;
its weight is ``valid elements / elements in its bin`` (or the bin's running count with
``momentum``), divided by the number of non-empty bins, so crowded (easy) regions count less.
The ``edges`` (and ``acc_sum``) buffers are part of checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.registry import LOSSES

from .weighting import check_reduction_override, weight_reduce_loss


def _expand_onehot_labels(labels: torch.Tensor, label_weights: torch.Tensor,
                          label_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    bin_labels = labels.new_full((labels.size(0), label_channels), 0)
    valid = (labels >= 0) & (labels < label_channels)
    bin_labels[valid, labels[valid]] = 1
    return bin_labels, label_weights.view(-1, 1).expand(label_weights.size(0), label_channels)


class _GHMBase(nn.Module):
    def __init__(self, bins: int, momentum: float, loss_weight: float, reduction: str) -> None:
        super().__init__()
        self.bins = bins
        self.momentum = momentum
        self.register_buffer("edges", torch.arange(bins + 1).float() / bins)
        if momentum > 0:
            self.register_buffer("acc_sum", torch.zeros(bins))
        self.loss_weight = loss_weight
        self.reduction = reduction

    def _harmonizing_weights(self, g: torch.Tensor, valid: torch.Tensor, tot: float) -> torch.Tensor:
        """``tot / count(bin of g)`` per valid element (0 elsewhere), divided by the non-empty bins."""
        bin_ids = torch.bucketize(g, self.edges, right=True) - 1  # edges[i] <= g < edges[i + 1]
        in_range = valid & (bin_ids >= 0) & (bin_ids < self.bins)
        counts = torch.bincount(bin_ids[in_range], minlength=self.bins)[:self.bins]
        filled = counts > 0
        if self.momentum > 0:
            mixed = self.momentum * self.acc_sum + ((1 - self.momentum) * counts.double()).float()
            self.acc_sum.copy_(torch.where(filled, mixed, self.acc_sum))
            per_bin = tot / self.acc_sum
        else:
            per_bin = tot / counts.double()
        per_bin = torch.where(filled, per_bin, torch.zeros_like(per_bin)).to(g.dtype)
        weights = torch.zeros_like(g)
        weights[in_range] = per_bin[bin_ids[in_range]]
        num_filled = int(filled.sum())
        return weights / num_filled if num_filled > 0 else weights


@LOSSES.register_module()
class GHMC(_GHMBase):
    """``forward(pred (n, C) logits, target (n,) labels or (n, C), label_weight)``; sigmoid only."""

    def __init__(self, bins: int = 10, momentum: float = 0, use_sigmoid: bool = True, loss_weight: float = 1.0,
                 reduction: str = "mean") -> None:
        super().__init__(bins, momentum, loss_weight, reduction)
        self.edges[-1] += 1e-6  # g == 1 still falls into the last bin
        if not use_sigmoid:
            raise ConfigError("GHMC only supports use_sigmoid=True")
        self.use_sigmoid = use_sigmoid

    def forward(self, pred: torch.Tensor, target: torch.Tensor, label_weight: torch.Tensor,
                reduction_override: str | None = None, **kwargs) -> torch.Tensor:
        """``avg_factor`` and other keywords are accepted and ignored: GHM normalises by the valid count."""
        reduction = check_reduction_override(reduction_override, self.reduction)
        if pred.dim() != target.dim():
            target, label_weight = _expand_onehot_labels(target, label_weight, pred.size(-1))
        target, label_weight = target.float(), label_weight.float()
        g = torch.abs(pred.sigmoid().detach() - target)
        valid = label_weight > 0
        tot = max(valid.float().sum().item(), 1.0)
        weights = self._harmonizing_weights(g, valid, tot)
        loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        return weight_reduce_loss(loss, weights, reduction=reduction, avg_factor=tot) * self.loss_weight


@LOSSES.register_module()
class GHMR(_GHMBase):
    """Authentic smooth L1 ``sqrt(d^2 + mu^2) - mu`` weighted by gradient density."""

    def __init__(self, mu: float = 0.02, bins: int = 10, momentum: float = 0, loss_weight: float = 1.0,
                 reduction: str = "mean") -> None:
        super().__init__(bins, momentum, loss_weight, reduction)
        self.edges[-1] = 1e3  # the last bin is open-ended
        self.mu = mu

    def forward(self, pred: torch.Tensor, target: torch.Tensor, label_weight: torch.Tensor,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        reduction = check_reduction_override(reduction_override, self.reduction)
        mu = self.mu
        diff = pred - target
        loss = torch.sqrt(diff * diff + mu * mu) - mu
        g = torch.abs(diff / torch.sqrt(mu * mu + diff * diff)).detach()
        valid = label_weight > 0
        tot = max(label_weight.float().sum().item(), 1.0)
        weights = self._harmonizing_weights(g, valid, tot)
        return weight_reduce_loss(loss, weights, reduction=reduction, avg_factor=tot) * self.loss_weight
