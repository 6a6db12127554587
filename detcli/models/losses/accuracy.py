"""Top-k classification accuracy (in percent), logged by bbox heads as ``acc``."""

from __future__ import annotations

import torch
from torch import nn


def accuracy(pred: torch.Tensor, target: torch.Tensor, topk: int | tuple[int, ...] = 1,
             thresh: float | None = None) -> torch.Tensor | list[torch.Tensor]:
    """Percentage of rows whose target is among the ``k`` highest scores (and above ``thresh``)."""
    single = isinstance(topk, int)
    topks = (topk,) if single else tuple(topk)
    maxk = max(topks)
    if pred.size(0) == 0:
        zeros = [pred.new_tensor(0.0) for _ in topks]
        return zeros[0] if single else zeros
    if pred.ndim != 2 or target.ndim != 1 or pred.size(0) != target.size(0):
        raise ValueError(f"accuracy needs pred (n, C) and target (n,), got {tuple(pred.shape)}, {tuple(target.shape)}")
    if maxk > pred.size(1):
        raise ValueError(f"topk {maxk} exceeds the {pred.size(1)} classes")
    values, labels = pred.topk(maxk, dim=1)
    correct = labels.t().eq(target.view(1, -1).expand(maxk, -1))
    if thresh is not None:
        correct = correct & (values > thresh).t()
    res = [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / pred.size(0)) for k in topks]
    return res[0] if single else res


class Accuracy(nn.Module):
    def __init__(self, topk: int | tuple[int, ...] = (1,), thresh: float | None = None) -> None:
        super().__init__()
        self.topk = topk
        self.thresh = thresh

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return accuracy(pred, target, self.topk, self.thresh)
