"""How an element-wise loss becomes the scalar a head reports.

Step by step (the order matters for the numbers): element-wise loss -> times ``weight``
-> reduced (``none`` / ``mean`` / ``sum``; with ``avg_factor``, ``mean`` means
``sum / avg_factor``) -> times the module's ``loss_weight``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from detcli.errors import ConfigError

REDUCTIONS = ("none", "mean", "sum")


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss: ``none`` keeps it, ``mean`` / ``sum`` collapse it."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ConfigError(f"unknown loss reduction {reduction!r}", hint=f"use one of {REDUCTIONS}")


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = "mean",
                       avg_factor: float | torch.Tensor | None = None) -> torch.Tensor:
    """Weight, then reduce; ``avg_factor`` replaces the element count of ``mean``."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        # eps keeps a zero avg_factor (no positives) from dividing by zero
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction == "none":
        return loss
    raise ConfigError(
        f"avg_factor cannot be used with reduction={reduction!r}",
        hint="use reduction='mean' (sum / avg_factor) or drop avg_factor",
    )


def weighted_loss(loss_func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Give an element-wise ``loss_func(pred, target, **kwargs)`` the standard
    ``(pred, target, weight=None, reduction='mean', avg_factor=None, **kwargs)`` signature.

    Example::

        @weighted_loss
        def my_loss(pred, target):
            return (pred - target).abs()
    """

    @functools.wraps(loss_func)
    def wrapper(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                reduction: str = "mean", avg_factor: float | None = None, **kwargs) -> torch.Tensor:
        loss = loss_func(pred, target, **kwargs)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)

    return wrapper


def check_reduction_override(reduction_override: str | None, default: str) -> str:
    """The reduction a loss call uses: the override when given, else the module's own."""
    if reduction_override not in (None, *REDUCTIONS):
        raise ConfigError(f"unknown reduction_override {reduction_override!r}", hint=f"use one of {REDUCTIONS}")
    return reduction_override or default
