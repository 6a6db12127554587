"""``FCOSHead`` (Tian et al., 2019): per-point class scores, distances to the box sides and a
centerness score that down-weights points far from an object's centre.

Training: a point is positive for the smallest gt that contains it (or its centre region,
with ``center_sampling``) and whose largest side distance fits the level's regress range.
Regression uses an IoU-type loss on decoded boxes weighted by the centerness target;
centerness is trained with BCE. Testing multiplies class scores by the predicted centerness
after the score threshold (``BaseDenseHead``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.engine.dist import reduce_mean
from detcli.models.layers import Scale
from detcli.registry import HEADS, LOSSES

from .anchor_free_head import AnchorFreeHead

INF = 1e8


def centerness_of(distances: torch.Tensor) -> torch.Tensor:
    """FCOS centerness of (left, top, right, bottom) distances: ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``."""
    left_right = distances[:, [0, 2]]
    top_bottom = distances[:, [1, 3]]
    if len(left_right) == 0:
        return torch.sqrt(left_right[..., 0])
    ratio = ((left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0])
             * (top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]))
    return torch.sqrt(ratio)


@HEADS.register_module()
class FCOSHead(AnchorFreeHead):
    """``norm_on_bbox``: distances are predicted in units of the stride (ReLU instead of exp);
    ``centerness_on_reg``: the centerness branch sits on the regression tower."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        regress_ranges: Sequence[tuple[float, float]] = ((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF)),
        center_sampling: bool = False,
        center_sample_radius: float = 1.5,
        norm_on_bbox: bool = False,
        centerness_on_reg: bool = False,
        loss_cls: Mapping = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox: Mapping = dict(type="IoULoss", loss_weight=1.0),
        loss_centerness: Mapping = dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
        norm_cfg: Mapping | None = dict(type="GN", num_groups=32, requires_grad=True),
        init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01,
            override=dict(type="Normal", name="conv_cls", std=0.01, bias_prob=0.01)),
        **kwargs,
    ) -> None:
        self.regress_ranges = regress_ranges
        self.center_sampling = center_sampling
        self.center_sample_radius = center_sample_radius
        self.norm_on_bbox = norm_on_bbox
        self.centerness_on_reg = centerness_on_reg
        super().__init__(num_classes, in_channels, loss_cls=loss_cls, loss_bbox=loss_bbox, norm_cfg=norm_cfg,
                         init_cfg=init_cfg, **kwargs)
        self.loss_centerness = LOSSES.build(loss_centerness)

    def _init_layers(self) -> None:
        super()._init_layers()
        self.conv_centerness = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.strides])

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        """``(cls_scores, bbox_preds, centernesses)``, one map per level."""
        outs = [self.forward_single(x, scale, stride) for x, scale, stride in zip(feats, self.scales, self.strides)]
        return tuple(list(level) for level in zip(*outs))

    def forward_single(self, x: torch.Tensor, scale: nn.Module, stride: int
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls_score, bbox_pred, cls_feat, reg_feat = super().forward_single(x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)  # distances in strides during training, pixels at test time
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness

    # -- training ---------------------------------------------------------------------
    def loss(self, cls_scores, bbox_preds, centernesses, gt_bboxes, gt_labels, img_metas,
             gt_bboxes_ignore=None) -> dict:
        if not len(cls_scores) == len(bbox_preds) == len(centernesses):
            raise ValueError("FCOSHead.loss: one cls/bbox/centerness map per level is needed")
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        points = self.prior_generator.grid_priors(featmap_sizes, dtype=bbox_preds[0].dtype,
                                                  device=bbox_preds[0].device)
        labels, bbox_targets = self.get_targets(points, gt_bboxes, gt_labels)
        num_imgs = cls_scores[0].size(0)
        flat_cls = torch.cat([s.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels) for s in cls_scores])
        flat_bbox = torch.cat([b.permute(0, 2, 3, 1).reshape(-1, 4) for b in bbox_preds])
        flat_centerness = torch.cat([c.permute(0, 2, 3, 1).reshape(-1) for c in centernesses])
        flat_labels = torch.cat(labels)
        flat_targets = torch.cat(bbox_targets)
        flat_points = torch.cat([p.repeat(num_imgs, 1) for p in points])

        pos_inds = ((flat_labels >= 0) & (flat_labels < self.num_classes)).nonzero().reshape(-1)
        num_pos = torch.tensor(len(pos_inds), dtype=torch.float, device=bbox_preds[0].device)
        num_pos = max(reduce_mean(num_pos), 1.0)
        loss_cls = self.loss_cls(flat_cls, flat_labels, avg_factor=num_pos)

        pos_bbox_preds = flat_bbox[pos_inds]
        pos_centerness = flat_centerness[pos_inds]
        pos_targets = flat_targets[pos_inds]
        pos_centerness_targets = self.centerness_target(pos_targets)
        centerness_denorm = max(reduce_mean(pos_centerness_targets.sum().detach()), 1e-6)
        if len(pos_inds) > 0:
            pos_points = flat_points[pos_inds]
            loss_bbox = self.loss_bbox(self.bbox_coder.decode(pos_points, pos_bbox_preds),
                                       self.bbox_coder.decode(pos_points, pos_targets),
                                       weight=pos_centerness_targets, avg_factor=centerness_denorm)
            loss_centerness = self.loss_centerness(pos_centerness, pos_centerness_targets, avg_factor=num_pos)
        else:
            loss_bbox = pos_bbox_preds.sum()
            loss_centerness = pos_centerness.sum()
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_centerness=loss_centerness)

    def get_targets(self, points: Sequence[torch.Tensor], gt_bboxes_list: Sequence[torch.Tensor],
                    gt_labels_list: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level, the labels and distance targets of all images concatenated (image-major)."""
        if len(points) != len(self.regress_ranges):
            raise ValueError(f"{len(points)} point levels for {len(self.regress_ranges)} regress ranges")
        num_points = [p.size(0) for p in points]
        ranges = torch.cat([p.new_tensor(r)[None].expand_as(p) for p, r in zip(points, self.regress_ranges)])
        all_points = torch.cat(points)
        per_image = [self._get_target_single(b, lab, all_points, ranges, num_points)
                     for b, lab in zip(gt_bboxes_list, gt_labels_list)]
        labels = [lab.split(num_points, 0) for lab, _ in per_image]
        targets = [t.split(num_points, 0) for _, t in per_image]
        level_labels, level_targets = [], []
        for i in range(len(points)):
            level_labels.append(torch.cat([lab[i] for lab in labels]))
            level = torch.cat([t[i] for t in targets])
            level_targets.append(level / self.strides[i] if self.norm_on_bbox else level)
        return level_labels, level_targets

    def _get_target_single(self, gt_bboxes: torch.Tensor, gt_labels: torch.Tensor, points: torch.Tensor,
                           regress_ranges: torch.Tensor, num_points_per_lvl: Sequence[int]
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        num_points, num_gts = points.size(0), gt_labels.size(0)
        if num_gts == 0:
            return gt_labels.new_full((num_points,), self.num_classes), gt_bboxes.new_zeros((num_points, 4))
        areas = ((gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1]))[None].repeat(num_points, 1)
        regress_ranges = regress_ranges[:, None, :].expand(num_points, num_gts, 2)
        gt_bboxes = gt_bboxes[None].expand(num_points, num_gts, 4)
        xs = points[:, 0, None].expand(num_points, num_gts)
        ys = points[:, 1, None].expand(num_points, num_gts)
        bbox_targets = torch.stack((xs - gt_bboxes[..., 0], ys - gt_bboxes[..., 1], gt_bboxes[..., 2] - xs,
                                    gt_bboxes[..., 3] - ys), -1)
        if self.center_sampling:
            # positives must lie within radius * stride of the gt centre (and inside the gt)
            center_x = (gt_bboxes[..., 0] + gt_bboxes[..., 2]) / 2
            center_y = (gt_bboxes[..., 1] + gt_bboxes[..., 3]) / 2
            level_strides = center_x.new_tensor([s * self.center_sample_radius for s in self.strides])
            stride = level_strides.repeat_interleave(
                torch.tensor(list(num_points_per_lvl), device=center_x.device))[:, None].expand_as(center_x)
            x_min = torch.where(center_x - stride > gt_bboxes[..., 0], center_x - stride, gt_bboxes[..., 0])
            y_min = torch.where(center_y - stride > gt_bboxes[..., 1], center_y - stride, gt_bboxes[..., 1])
            x_max = torch.where(center_x + stride > gt_bboxes[..., 2], gt_bboxes[..., 2], center_x + stride)
            y_max = torch.where(center_y + stride > gt_bboxes[..., 3], gt_bboxes[..., 3], center_y + stride)
            center_box = torch.stack((xs - x_min, ys - y_min, x_max - xs, y_max - ys), -1)
            inside_gt = center_box.min(-1)[0] > 0
        else:
            inside_gt = bbox_targets.min(-1)[0] > 0
        max_distance = bbox_targets.max(-1)[0]
        inside_range = (max_distance >= regress_ranges[..., 0]) & (max_distance <= regress_ranges[..., 1])
        areas[inside_gt == 0] = INF
        areas[inside_range == 0] = INF
        min_area, min_area_inds = areas.min(dim=1)  # the smallest eligible gt wins
        labels = gt_labels[min_area_inds]
        labels[min_area == INF] = self.num_classes
        return labels, bbox_targets[range(num_points), min_area_inds]

    def centerness_target(self, pos_bbox_targets: torch.Tensor) -> torch.Tensor:
        return centerness_of(pos_bbox_targets)
