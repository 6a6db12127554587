"""Points (cell centres) for anchor-free heads: ``MlvlPointGenerator``.

A level's points are ``((x + offset) * stride_w, (y + offset) * stride_h)`` for every cell,
row-major; ``with_stride=True`` appends the strides as two more columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn.modules.utils import _pair

from detcli.registry import PRIOR_GENERATORS

Size = tuple[int, int]


@PRIOR_GENERATORS.register_module()
class MlvlPointGenerator:
    """One point per feature-map cell on every level; ``offset=0.5`` puts it at the cell centre."""

    def __init__(self, strides: Sequence[int | tuple[int, int]], offset: float = 0.5) -> None:
        self.strides = [_pair(s) for s in strides]
        self.offset = offset

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> list[int]:
        return [1] * len(self.strides)

    def single_level_grid_priors(self, featmap_size: Size, level_idx: int, dtype: torch.dtype = torch.float32,
                                 device: torch.device | str = "cpu", with_stride: bool = False) -> torch.Tensor:
        """``(h * w, 2)`` points (``(h * w, 4)`` with the strides)."""
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        stride_w, stride_h = self.strides[level_idx]
        shift_x = ((torch.arange(0, feat_w, device=device) + self.offset) * stride_w).to(dtype)
        shift_y = ((torch.arange(0, feat_h, device=device) + self.offset) * stride_h).to(dtype)
        yy, xx = torch.meshgrid(shift_y, shift_x, indexing="ij")
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        if not with_stride:
            return torch.stack([xx, yy], dim=-1)
        return torch.stack([xx, yy, torch.full_like(xx, stride_w), torch.full_like(yy, stride_h)], dim=-1)

    def grid_priors(self, featmap_sizes: Sequence[Size], dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu", with_stride: bool = False) -> list[torch.Tensor]:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} point levels")
        return [self.single_level_grid_priors(size, i, dtype=dtype, device=device, with_stride=with_stride)
                for i, size in enumerate(featmap_sizes)]

    def single_level_valid_flags(self, featmap_size: Size, valid_size: Size,
                                 device: torch.device | str = "cpu") -> torch.Tensor:
        feat_h, feat_w = featmap_size
        valid_h, valid_w = valid_size
        if valid_h > feat_h or valid_w > feat_w:
            raise ValueError(f"valid size {valid_size} exceeds the feature map {featmap_size}")
        valid_x = torch.zeros(feat_w, dtype=torch.bool, device=device)
        valid_y = torch.zeros(feat_h, dtype=torch.bool, device=device)
        valid_x[:valid_w] = True
        valid_y[:valid_h] = True
        return (valid_y[:, None] & valid_x[None, :]).reshape(-1)

    def valid_flags(self, featmap_sizes: Sequence[Size], pad_shape: Sequence[int],
                    device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Per level, whether each point's cell lies inside the padded image (not batch padding)."""
        h, w = pad_shape[:2]
        flags = []
        for i, (feat_h, feat_w) in enumerate(featmap_sizes):
            stride_w, stride_h = self.strides[i]
            valid = (min(int(math.ceil(h / stride_h)), int(feat_h)), min(int(math.ceil(w / stride_w)), int(feat_w)))
            flags.append(self.single_level_valid_flags((int(feat_h), int(feat_w)), valid, device=device))
        return flags

    def sparse_priors(self, prior_idxs: torch.Tensor, featmap_size: Size, level_idx: int,
                      dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """The points at flat indices ``prior_idxs`` of one level."""
        height, width = featmap_size
        x = (prior_idxs % width + self.offset) * self.strides[level_idx][0]
        y = ((prior_idxs // width) % height + self.offset) * self.strides[level_idx][1]
        return torch.stack([x, y], 1).to(dtype).to(device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strides={self.strides}, offset={self.offset})"
