"""Grid R-CNN's grid head (https://arxiv.org/abs/1811.12030, Plus: https://arxiv.org/abs/1906.05688).

Instead of regressing box deltas, the head predicts a heatmap for each of ``grid_points`` points
(3x3 by default: corners, edge midpoints, centre) of the box; the box edges are then the
score-weighted positions of the points on them. Each point's features are refined by its
neighbours' (first- and second-order "feature fusion"), and each point's heatmap covers only the
quarter of the (twice enlarged) RoI where that point can lie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule
from detcli.registry import HEADS, LOSSES


def _separable_transition(channels: int) -> nn.Sequential:
    """A 5x5 depthwise conv and a 1x1 conv: how one point's features are passed to a neighbour."""
    return nn.Sequential(nn.Conv2d(channels, channels, 5, stride=1, padding=2, groups=channels),
                         nn.Conv2d(channels, channels, 1))


@HEADS.register_module()
class GridHead(BaseModule):
    """``convs`` (the first one strided) -> per-point fusion (``forder_trans``, ``sorder_trans``) ->
    ``deconv1`` + ``norm1`` -> ``deconv2``: one ``(2 * roi_feat_size)``-square heatmap per point.

    Training also returns the heatmaps without fusion (``unfused``); both are supervised.
    """

    def __init__(
        self,
        grid_points: int = 9,
        num_convs: int = 8,
        roi_feat_size: int = 14,
        in_channels: int = 256,
        conv_kernel_size: int = 3,
        point_feat_channels: int = 64,
        deconv_kernel_size: int = 4,
        class_agnostic: bool = False,
        loss_grid: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=15),
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = dict(type="GN", num_groups=36),
        init_cfg: Mapping | Sequence[Mapping] | None = (
            dict(type="Kaiming", layer=["Conv2d", "Linear"]),
            dict(type="Normal", layer="ConvTranspose2d", std=0.001,
                 override=dict(type="Normal", name="deconv2", std=0.001, bias=-float(np.log(0.99 / 0.01))))),
    ) -> None:
        super().__init__(list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        self.grid_points = grid_points
        self.num_convs = num_convs
        self.roi_feat_size = roi_feat_size
        self.in_channels = in_channels
        self.conv_kernel_size = conv_kernel_size
        self.point_feat_channels = point_feat_channels
        self.conv_out_channels = point_feat_channels * grid_points
        self.class_agnostic = class_agnostic
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        if isinstance(norm_cfg, Mapping) and norm_cfg["type"] == "GN" and self.conv_out_channels % norm_cfg[
                "num_groups"]:
            raise ConfigError(f"GridHead: {self.conv_out_channels} channels (point_feat_channels x grid_points) "
                              f"are not divisible into {norm_cfg['num_groups']} GN groups")
        self.grid_size = int(np.sqrt(grid_points))
        if grid_points < 4 or self.grid_size * self.grid_size != grid_points:
            raise ConfigError(f"GridHead: grid_points must be a square number >= 4, got {grid_points}")
        if not isinstance(roi_feat_size, int):
            raise ConfigError("GridHead: only square RoI features (an int roi_feat_size) are supported")
        self.whole_map_size = roi_feat_size * 4
        self.sub_regions = self.calc_sub_regions()

        padding = (conv_kernel_size - 1) // 2
        self.convs = nn.Sequential(*(
            ConvModule(in_channels if i == 0 else self.conv_out_channels, self.conv_out_channels, conv_kernel_size,
                       stride=2 if i == 0 else 1, padding=padding, conv_cfg=conv_cfg, norm_cfg=norm_cfg, bias=True)
            for i in range(num_convs)))
        deconv_padding = (deconv_kernel_size - 2) // 2
        self.deconv1 = nn.ConvTranspose2d(self.conv_out_channels, self.conv_out_channels, kernel_size=deconv_kernel_size,
                                          stride=2, padding=deconv_padding, groups=grid_points)
        self.norm1 = nn.GroupNorm(grid_points, self.conv_out_channels)
        self.deconv2 = nn.ConvTranspose2d(self.conv_out_channels, grid_points, kernel_size=deconv_kernel_size, stride=2,
                                          padding=deconv_padding, groups=grid_points)

        # point i = (column i // grid_size, row i % grid_size); its 4-neighbours in a fixed order
        size = self.grid_size
        self.neighbor_points = []
        for col in range(size):
            for row in range(size):
                neighbors = []
                if col > 0:
                    neighbors.append((col - 1) * size + row)
                if row > 0:
                    neighbors.append(col * size + row - 1)
                if row < size - 1:
                    neighbors.append(col * size + row + 1)
                if col < size - 1:
                    neighbors.append((col + 1) * size + row)
                self.neighbor_points.append(tuple(neighbors))
        self.num_edges = sum(len(p) for p in self.neighbor_points)
        self.forder_trans = nn.ModuleList(
            nn.ModuleList(_separable_transition(point_feat_channels) for _ in nbrs) for nbrs in self.neighbor_points)
        self.sorder_trans = nn.ModuleList(
            nn.ModuleList(_separable_transition(point_feat_channels) for _ in nbrs) for nbrs in self.neighbor_points)
        self.loss_grid = LOSSES.build(loss_grid)

    def _heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv2(F.relu(self.norm1(self.deconv1(x)), inplace=True))

    @staticmethod
    def _fuse(own: torch.Tensor, sources: list, transitions: nn.ModuleList, neighbors: tuple) -> torch.Tensor:
        """``own`` plus every neighbour's features passed through its transition, added in order."""
        for transition, j in zip(transitions, neighbors):
            own = own + transition(sources[j])
        return own

    def forward(self, x: torch.Tensor) -> dict:
        if x.shape[-1] != self.roi_feat_size or x.shape[-2] != self.roi_feat_size:
            raise ValueError(f"GridHead expects {self.roi_feat_size}x{self.roi_feat_size} RoI features, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.convs(x)
        c = self.point_feat_channels
        points = [x[:, i * c:(i + 1) * c] for i in range(self.grid_points)]
        first = [self._fuse(points[i], points, self.forder_trans[i], nbrs) for i, nbrs in enumerate(self.neighbor_points)]
        second = [self._fuse(points[i], first, self.sorder_trans[i], nbrs) for i, nbrs in enumerate(self.neighbor_points)]
        heatmap = self._heatmaps(torch.cat(second, dim=1))
        unfused = self._heatmaps(x) if self.training else heatmap
        return dict(fused=heatmap, unfused=unfused)

    def calc_sub_regions(self) -> list[tuple[int, int, int, int]]:
        """Per point, the ``(x1, y1, x2, y2)`` half-size window of the whole heatmap it is predicted in."""
        half = self.whole_map_size // 4 * 2
        regions = []
        for i in range(self.grid_points):
            corner = []
            for idx in (i // self.grid_size, i % self.grid_size):
                if idx == 0:
                    corner.append(0)
                elif idx == self.grid_size - 1:
                    corner.append(half)
                else:
                    corner.append(max(int((idx / (self.grid_size - 1) - 0.25) * self.whole_map_size), 0))
            regions.append((corner[0], corner[1], corner[0] + half, corner[1] + half))
        return regions

    # -- training ------------------------------------------------------------------------
    def get_targets(self, sampling_results, rcnn_train_cfg) -> torch.Tensor:
        """``(num_pos, grid_points, h, w)`` binary heatmaps: a disc of ``pos_radius`` at each gt grid point."""
        boxes = torch.cat([res.pos_bboxes for res in sampling_results]).detach().cpu()
        gts = torch.cat([res.pos_gt_bboxes for res in sampling_results]).detach().cpu()
        wh = boxes[:, 2:] - boxes[:, :2]
        boxes = torch.cat([boxes[:, :2] - wh / 2, boxes[:, 2:] + wh / 2], dim=1)  # twice as large, same centre
        ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        size, map_size = self.grid_size, self.whole_map_size
        cols = torch.tensor([j // size for j in range(self.grid_points)], dtype=boxes.dtype)
        rows = torch.tensor([j % size for j in range(self.grid_points)], dtype=boxes.dtype)
        fx, fy = 1 - cols / (size - 1), 1 - rows / (size - 1)
        point_x = fx * gts[:, [0]] + (1 - fx) * gts[:, [2]]  # (n, grid_points)
        point_y = fy * gts[:, [1]] + (1 - fy) * gts[:, [3]]
        # int() of the 2.x code: truncation towards zero
        cx = torch.trunc((point_x - boxes[:, [0]]) / ws[:, None] * map_size).long()
        cy = torch.trunc((point_y - boxes[:, [1]]) / hs[:, None] * map_size).long()
        usable = ((ws > size) & (hs > size))[:, None].expand_as(cx)  # RoIs too small to place points are skipped
        targets = torch.zeros((boxes.shape[0], self.grid_points, map_size, map_size))
        radius = rcnn_train_cfg["pos_radius"]
        roi_idx = torch.arange(boxes.shape[0])[:, None].expand_as(cx)
        point_idx = torch.arange(self.grid_points)[None].expand_as(cx)
        for dx in range(-radius, radius + 1):
            for dy in range(-radius, radius + 1):
                if dx * dx + dy * dy > radius * radius:
                    continue
                x, y = cx + dx, cy + dy
                ok = usable & (x >= 0) & (x < map_size) & (y >= 0) & (y < map_size)
                targets[roi_idx[ok], point_idx[ok], y[ok], x[ok]] = 1
        sub_targets = torch.cat([targets[:, [i], y1:y2, x1:x2] for i, (x1, y1, x2, y2) in enumerate(self.sub_regions)],
                                dim=1)
        return sub_targets.to(sampling_results[0].pos_bboxes.device)

    def loss(self, grid_pred: dict, grid_targets: torch.Tensor) -> dict:
        return dict(loss_grid=self.loss_grid(grid_pred["fused"], grid_targets)
                    + self.loss_grid(grid_pred["unfused"], grid_targets))

    # -- inference -----------------------------------------------------------------------
    def get_bboxes(self, det_bboxes: torch.Tensor, grid_pred: torch.Tensor, img_metas) -> torch.Tensor:
        """Each edge: the positions of its points' heatmap maxima averaged with their scores as weights.

        As in mmdetection 2.x the result is not clipped to the image (its clamp acted on a copy).
        """
        det_bboxes = det_bboxes.cpu()
        cls_scores, boxes = det_bboxes[:, [4]], det_bboxes[:, :4]
        probs = grid_pred.sigmoid().cpu()
        num, points, h, w = probs.shape
        half = self.whole_map_size // 4 * 2
        if h != half or w != half or points != self.grid_points:
            raise ValueError(f"GridHead.get_bboxes: heatmaps {tuple(probs.shape)} do not fit the head")
        scores, position = probs.view(num, points, h * w).max(dim=2)
        xs = position % w + torch.tensor([r[0] for r in self.sub_regions])
        ys = position // w + torch.tensor([r[1] for r in self.sub_regions])
        widths = (boxes[:, 2] - boxes[:, 0])[:, None]
        heights = (boxes[:, 3] - boxes[:, 1])[:, None]
        abs_x = (xs.float() + 0.5) / w * widths + (boxes[:, [0]] - widths / 2)
        abs_y = (ys.float() + 0.5) / h * heights + (boxes[:, [1]] - heights / 2)
        size = self.grid_size
        edges = (list(range(size)), [i * size for i in range(size)],  # x1: first column, y1: first row
                 [points - size + i for i in range(size)], [(i + 1) * size - 1 for i in range(size)])
        coords = [((abs_x if k % 2 == 0 else abs_y)[:, inds] * scores[:, inds]).sum(1, keepdim=True)
                  / scores[:, inds].sum(1, keepdim=True) for k, inds in enumerate(edges)]
        return torch.cat([*coords, cls_scores], dim=1)
