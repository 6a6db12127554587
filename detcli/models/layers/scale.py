"""``Scale``: one learnable scalar that multiplies a feature map (per-level regression scale)."""

from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """``x * scale``; dense heads keep one per pyramid level (``scales.<i>.scale`` in checkpoints)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale
