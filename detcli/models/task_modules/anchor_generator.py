"""Anchor generation for anchor-based heads.

Base anchors are centred on ``center_offset * stride`` of each cell (0: the cell's
top-left corner, as mmdetection 2.x trains with); a level's anchors are the base
anchors shifted to every cell, cell-major: ``(y, x, base_anchor)`` flattened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.modules.utils import _pair

from detcli.errors import ConfigError
from detcli.registry import PRIOR_GENERATORS

Size = tuple[int, int]


@PRIOR_GENERATORS.register_module()
class AnchorGenerator:
    """Multi-level anchors from strides, ratios and scales (or an octave scale scheme)."""

    def __init__(
        self,
        strides: Sequence[int | tuple[int, int]],
        ratios: Sequence[float],
        scales: Sequence[float] | None = None,
        base_sizes: Sequence[int] | None = None,
        scale_major: bool = True,
        octave_base_scale: float | None = None,
        scales_per_octave: int | None = None,
        centers: Sequence[tuple[float, float]] | None = None,
        center_offset: float = 0.0,
    ) -> None:
        if center_offset != 0 and centers is not None:
            raise ConfigError(f"AnchorGenerator: centers cannot be set with center_offset={center_offset}")
        if not 0 <= center_offset <= 1:
            raise ConfigError(f"AnchorGenerator: center_offset must be in [0, 1], got {center_offset}")
        if centers is not None and len(centers) != len(strides):
            raise ConfigError(f"AnchorGenerator: {len(centers)} centers for {len(strides)} strides")
        self.strides = [_pair(s) for s in strides]
        self.base_sizes = [min(s) for s in self.strides] if base_sizes is None else list(base_sizes)
        if len(self.base_sizes) != len(self.strides):
            raise ConfigError(
                f"AnchorGenerator: {len(self.base_sizes)} base_sizes for {len(self.strides)} strides"
            )
        octave = octave_base_scale is not None and scales_per_octave is not None
        if octave == (scales is not None):
            raise ConfigError(
                "AnchorGenerator: give either scales or octave_base_scale + scales_per_octave",
                hint="RetinaNet uses octave_base_scale=4, scales_per_octave=3; RPN uses scales=[8]",
            )
        if scales is not None:
            self.scales = torch.Tensor(scales)
        else:  # computed in float64, then stored as float32 (as the trained checkpoints expect)
            octave_scales = np.array([2 ** (i / scales_per_octave) for i in range(scales_per_octave)])
            self.scales = torch.Tensor(octave_scales * octave_base_scale)
        self.octave_base_scale = octave_base_scale
        self.scales_per_octave = scales_per_octave
        self.ratios = torch.Tensor(ratios)
        self.scale_major = scale_major
        self.centers = centers
        self.center_offset = center_offset
        self.base_anchors = self.gen_base_anchors()

    # -- sizes -------------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> list[int]:
        return [anchors.size(0) for anchors in self.base_anchors]

    @property
    def num_base_anchors(self) -> list[int]:
        return self.num_base_priors

    # -- base anchors ------------------------------------------------------------
    def gen_base_anchors(self) -> list[torch.Tensor]:
        return [
            self.gen_single_level_base_anchors(
                size, self.scales, self.ratios, None if self.centers is None else self.centers[i]
            )
            for i, size in enumerate(self.base_sizes)
        ]

    def gen_single_level_base_anchors(self, base_size: float, scales: torch.Tensor, ratios: torch.Tensor,
                                      center: tuple[float, float] | None = None) -> torch.Tensor:
        """``(len(ratios) * len(scales), 4)`` anchors around one cell's centre."""
        w = h = base_size
        if center is None:
            x_center, y_center = self.center_offset * w, self.center_offset * h
        else:
            x_center, y_center = center
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:  # ratios vary slowest
            ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * scales[None, :]).view(-1)
        else:
            ws = (w * scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * scales[:, None] * h_ratios[None, :]).view(-1)
        return torch.stack(
            [x_center - 0.5 * ws, y_center - 0.5 * hs, x_center + 0.5 * ws, y_center + 0.5 * hs], dim=-1
        )

    # -- grids -------------------------------------------------------------------
    def single_level_grid_priors(self, featmap_size: Size, level_idx: int, dtype: torch.dtype = torch.float32,
                                 device: torch.device | str = "cpu") -> torch.Tensor:
        """``(h * w * num_base, 4)`` anchors of one level."""
        base_anchors = self.base_anchors[level_idx].to(device).to(dtype)
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        stride_w, stride_h = self.strides[level_idx]
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride_w
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride_h
        shift_yy, shift_xx = torch.meshgrid(shift_y, shift_x, indexing="ij")
        shift_xx, shift_yy = shift_xx.reshape(-1), shift_yy.reshape(-1)
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
        return (base_anchors[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def grid_priors(self, featmap_sizes: Sequence[Size], dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Anchors of every level for feature maps of ``featmap_sizes`` ``[(h, w), ...]``."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} anchor levels")
        return [self.single_level_grid_priors(size, i, dtype=dtype, device=device)
                for i, size in enumerate(featmap_sizes)]

    def grid_anchors(self, featmap_sizes: Sequence[Size], device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Old name of ``grid_priors``."""
        return self.grid_priors(featmap_sizes, device=device)

    def sparse_priors(self, prior_idxs: torch.Tensor, featmap_size: Size, level_idx: int,
                      dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """The anchors at flat indices ``prior_idxs`` of one level, without building the grid."""
        height, width = featmap_size
        num_base = self.num_base_anchors[level_idx]
        base_id = prior_idxs % num_base
        x = (prior_idxs // num_base) % width * self.strides[level_idx][0]
        y = (prior_idxs // width // num_base) % height * self.strides[level_idx][1]
        return torch.stack([x, y, x, y], 1).to(dtype).to(device) + \
            self.base_anchors[level_idx][base_id, :].to(device)

    # -- validity ----------------------------------------------------------------
    def single_level_valid_flags(self, featmap_size: Size, valid_size: Size, num_base_anchors: int,
                                 device: torch.device | str = "cpu") -> torch.Tensor:
        feat_h, feat_w = featmap_size
        valid_h, valid_w = valid_size
        valid_x = torch.zeros(feat_w, dtype=torch.bool, device=device)
        valid_y = torch.zeros(feat_h, dtype=torch.bool, device=device)
        valid_x[:valid_w] = True
        valid_y[:valid_h] = True
        valid = (valid_y[:, None] & valid_x[None, :]).reshape(-1)
        return valid[:, None].expand(valid.size(0), num_base_anchors).reshape(-1)

    def valid_flags(self, featmap_sizes: Sequence[Size], pad_shape: Sequence[int],
                    device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Per level, whether each anchor's cell lies in the (padded) image rather than batch padding."""
        flags = []
        h, w = pad_shape[:2]
        for i, (feat_h, feat_w) in enumerate(featmap_sizes):
            stride_w, stride_h = self.strides[i]
            valid_h = min(int(math.ceil(h / stride_h)), int(feat_h))
            valid_w = min(int(math.ceil(w / stride_w)), int(feat_w))
            flags.append(self.single_level_valid_flags(
                (int(feat_h), int(feat_w)), (valid_h, valid_w), self.num_base_anchors[i], device=device))
        return flags

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(strides={self.strides}, ratios={self.ratios.tolist()}, "
                f"scales={self.scales.tolist()}, base_sizes={self.base_sizes}, scale_major={self.scale_major}, "
                f"octave_base_scale={self.octave_base_scale}, scales_per_octave={self.scales_per_octave}, "
                f"centers={self.centers}, center_offset={self.center_offset})")


def anchor_inside_flags(flat_anchors: torch.Tensor, valid_flags: torch.Tensor, img_shape: Sequence[int],
                        allowed_border: float = 0) -> torch.Tensor:
    """Valid anchors that also lie inside the image, up to ``allowed_border`` pixels (-1: no check)."""
    if allowed_border < 0:
        return valid_flags
    img_h, img_w = img_shape[:2]
    return (valid_flags
            & (flat_anchors[:, 0] >= -allowed_border)
            & (flat_anchors[:, 1] >= -allowed_border)
            & (flat_anchors[:, 2] < img_w + allowed_border)
            & (flat_anchors[:, 3] < img_h + allowed_border))


def images_to_levels(targets: Sequence[torch.Tensor], num_level_anchors: Sequence[int]) -> list[torch.Tensor]:
    """Per-image flat targets -> per-level tensors of shape ``(num_images, level_anchors, ...)``."""
    stacked = torch.stack(list(targets), 0)
    return list(torch.split(stacked, list(num_level_anchors), dim=1))
