"""The anchor layouts of SSD and YOLOv3.

``SSDAnchorGenerator``: per level two square anchors (``min_size`` and ``sqrt(min * max)``)
plus a pair per extra ratio, centred on the middle of each cell; sizes come from
``basesize_ratio_range`` of the input size unless ``min_sizes``/``max_sizes`` are given.
``YOLOAnchorGenerator``: explicit ``(w, h)`` base sizes per level, centred on the cell middle,
and the "responsible cell" flags of YOLOv3's assignment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.modules.utils import _pair

from detcli.errors import ConfigError
from detcli.registry import PRIOR_GENERATORS

from .anchor_generator import AnchorGenerator

# The first level's (min, max) size in percent of the input, for the stock SSD settings:
# {input_size: {basesize_ratio_range[0]: (min %, max %)}}.
_SSD_FIRST_LEVEL = {300: {0.15: (7, 15), 0.2: (10, 20)}, 512: {0.1: (4, 10), 0.15: (7, 15)}}


def _ssd_sizes(input_size: int, basesize_ratio_range: Sequence[float], num_levels: int) -> tuple[list, list]:
    """``(min_sizes, max_sizes)`` spread evenly over ``basesize_ratio_range`` (levels 2..n)."""
    if input_size not in _SSD_FIRST_LEVEL:
        raise ConfigError(f"SSDAnchorGenerator: input_size {input_size} needs explicit min_sizes/max_sizes",
                          hint="only 300 and 512 have predefined sizes")
    first = _SSD_FIRST_LEVEL[input_size].get(basesize_ratio_range[0])
    if first is None:
        raise ConfigError(f"SSDAnchorGenerator: basesize_ratio_range[0]={basesize_ratio_range[0]} is not one of "
                          f"{sorted(_SSD_FIRST_LEVEL[input_size])} for input_size {input_size}")
    min_ratio, max_ratio = int(basesize_ratio_range[0] * 100), int(basesize_ratio_range[1] * 100)
    step = int(np.floor(max_ratio - min_ratio) / (num_levels - 2))
    min_sizes = [int(input_size * first[0] / 100)]
    max_sizes = [int(input_size * first[1] / 100)]
    for ratio in range(min_ratio, max_ratio + 1, step):
        min_sizes.append(int(input_size * ratio / 100))
        max_sizes.append(int(input_size * (ratio + step) / 100))
    return min_sizes, max_sizes


@PRIOR_GENERATORS.register_module()
class SSDAnchorGenerator(AnchorGenerator):
    """SSD anchors; ``ratios[i]`` lists the extra aspect ratios of level ``i`` (each adds ``1/r`` and ``r``)."""

    def __init__(self, strides: Sequence[int | tuple[int, int]], ratios: Sequence[Sequence[float]],
                 min_sizes: Sequence[int] | None = None, max_sizes: Sequence[int] | None = None,
                 basesize_ratio_range: Sequence[float] = (0.15, 0.9), input_size: int = 300,
                 scale_major: bool = True) -> None:
        if len(strides) != len(ratios):
            raise ConfigError(f"SSDAnchorGenerator: {len(strides)} strides for {len(ratios)} ratio lists")
        if (min_sizes is None) != (max_sizes is None):
            raise ConfigError("SSDAnchorGenerator: give both min_sizes and max_sizes, or neither")
        self.strides = [_pair(s) for s in strides]
        self.centers = [(s[0] / 2.0, s[1] / 2.0) for s in self.strides]
        self.input_size = input_size
        self.basesize_ratio_range = tuple(basesize_ratio_range)
        if min_sizes is None:
            min_sizes, max_sizes = _ssd_sizes(input_size, self.basesize_ratio_range, len(self.strides))
        if not len(min_sizes) == len(max_sizes) == len(self.strides):
            raise ConfigError(f"SSDAnchorGenerator: {len(min_sizes)} min_sizes / {len(max_sizes)} max_sizes "
                              f"for {len(self.strides)} strides")
        self.base_sizes = list(min_sizes)
        self.scales = [torch.Tensor([1.0, np.sqrt(max_sizes[k] / min_sizes[k])]) for k in range(len(self.strides))]
        self.ratios = [torch.Tensor([1.0] + [v for r in level for v in (1 / r, r)]) for level in ratios]
        self.scale_major = scale_major
        self.center_offset = 0
        self.octave_base_scale = None
        self.scales_per_octave = None
        self.base_anchors = self.gen_base_anchors()

    def gen_base_anchors(self) -> list[torch.Tensor]:
        """Per level: ratio 1 at both scales first, then the other ratios at scale 1."""
        anchors = []
        for i, base_size in enumerate(self.base_sizes):
            level = self.gen_single_level_base_anchors(base_size, self.scales[i], self.ratios[i], self.centers[i])
            order = list(range(len(self.ratios[i])))
            order.insert(1, len(order))
            anchors.append(level[torch.LongTensor(order)])
        return anchors

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(strides={self.strides}, base_sizes={self.base_sizes}, "
                f"ratios={[r.tolist() for r in self.ratios]}, scales={[s.tolist() for s in self.scales]}, "
                f"scale_major={self.scale_major}, input_size={self.input_size}, "
                f"basesize_ratio_range={self.basesize_ratio_range})")


@PRIOR_GENERATORS.register_module()
class YOLOAnchorGenerator(AnchorGenerator):
    """``base_sizes[level]`` is a list of ``(w, h)`` anchors; every level has as many."""

    def __init__(self, strides: Sequence[int | tuple[int, int]],
                 base_sizes: Sequence[Sequence[int | tuple[int, int]]]) -> None:
        self.strides = [_pair(s) for s in strides]
        self.centers = [(s[0] / 2.0, s[1] / 2.0) for s in self.strides]
        if len({len(level) for level in base_sizes}) > 1:
            raise ConfigError("YOLOAnchorGenerator: every level needs the same number of base sizes")
        self.base_sizes = [[_pair(size) for size in level] for level in base_sizes]
        self.center_offset = 0
        self.base_anchors = self.gen_base_anchors()

    @property
    def num_levels(self) -> int:
        return len(self.base_sizes)

    def gen_base_anchors(self) -> list[torch.Tensor]:
        return [self.gen_single_level_base_anchors(sizes, self.centers[i]) for i, sizes in enumerate(self.base_sizes)]

    def gen_single_level_base_anchors(self, base_sizes_per_level: Sequence[tuple[int, int]],
                                      center: tuple[float, float] | None = None) -> torch.Tensor:
        x_center, y_center = center
        return torch.stack([torch.Tensor([x_center - 0.5 * w, y_center - 0.5 * h, x_center + 0.5 * w,
                                          y_center + 0.5 * h]) for w, h in base_sizes_per_level])

    def responsible_flags(self, featmap_sizes: Sequence[tuple[int, int]], gt_bboxes: torch.Tensor,
                          device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Per level: 1 for the anchors of every cell holding a gt box's centre."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{len(featmap_sizes)} feature maps for {self.num_levels} anchor levels")
        return [self.single_level_responsible_flags(featmap_sizes[i], gt_bboxes, self.strides[i],
                                                    self.num_base_anchors[i], device=device)
                for i in range(self.num_levels)]

    def single_level_responsible_flags(self, featmap_size: tuple[int, int], gt_bboxes: torch.Tensor,
                                       stride: tuple[int, int], num_base_anchors: int,
                                       device: torch.device | str = "cpu") -> torch.Tensor:
        feat_h, feat_w = featmap_size
        cx = ((gt_bboxes[:, 0] + gt_bboxes[:, 2]) * 0.5).to(device)
        cy = ((gt_bboxes[:, 1] + gt_bboxes[:, 3]) * 0.5).to(device)
        cell = torch.floor(cy / stride[1]).long() * feat_w + torch.floor(cx / stride[0]).long()
        grid = torch.zeros(feat_h * feat_w, dtype=torch.uint8, device=device)
        grid[cell] = 1
        return grid[:, None].expand(grid.size(0), num_base_anchors).contiguous().view(-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strides={self.strides}, base_sizes={self.base_sizes})"
