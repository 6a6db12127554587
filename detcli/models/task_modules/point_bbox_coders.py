"""Box coders of point- and grid-based heads.

``DistancePointBBoxCoder``: a box as the distances ``(left, top, right, bottom)`` from a point
(FCOS, GFL). ``YOLOBBoxCoder``: YOLOv3's targets, the gt centre as a fraction of the cell
``(0, 1)`` and ``log`` of the size relative to the anchor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from detcli.registry import BBOX_CODERS
from detcli.structures.boxes import bbox2distance, distance2bbox

from .bbox_coder import BaseBBoxCoder


def _check_pairs(a: torch.Tensor, b: torch.Tensor, a_cols: int) -> None:
    if a.size(0) != b.size(0) or a.size(-1) != a_cols or b.size(-1) != 4:
        raise ValueError(f"coder inputs do not pair up: {tuple(a.shape)} and {tuple(b.shape)}")


@BBOX_CODERS.register_module()
class DistancePointBBoxCoder(BaseBBoxCoder):
    """``encode(points, gt_bboxes, max_dis)`` -> distances; ``decode(points, distances)`` -> boxes."""

    def __init__(self, clip_border: bool = True) -> None:
        super().__init__()
        self.clip_border = clip_border

    def encode(self, points: torch.Tensor, gt_bboxes: torch.Tensor, max_dis: float | None = None,
               eps: float = 0.1) -> torch.Tensor:
        _check_pairs(points, gt_bboxes, 2)
        return bbox2distance(points, gt_bboxes, max_dis, eps)

    def decode(self, points: torch.Tensor, pred_bboxes: torch.Tensor,
               max_shape: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        _check_pairs(points, pred_bboxes, 2)
        return distance2bbox(points, pred_bboxes, max_shape if self.clip_border else None)


@BBOX_CODERS.register_module()
class YOLOBBoxCoder(BaseBBoxCoder):
    """Centre offsets in ``[eps, 1 - eps]`` of a cell of size ``stride``, sizes as ``log(gt / anchor)``."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor, stride: torch.Tensor | float) -> torch.Tensor:
        _check_pairs(bboxes, gt_bboxes, 4)
        gt_cx = (gt_bboxes[..., 0] + gt_bboxes[..., 2]) * 0.5
        gt_cy = (gt_bboxes[..., 1] + gt_bboxes[..., 3]) * 0.5
        gt_w = gt_bboxes[..., 2] - gt_bboxes[..., 0]
        gt_h = gt_bboxes[..., 3] - gt_bboxes[..., 1]
        cx = (bboxes[..., 0] + bboxes[..., 2]) * 0.5
        cy = (bboxes[..., 1] + bboxes[..., 3]) * 0.5
        w = bboxes[..., 2] - bboxes[..., 0]
        h = bboxes[..., 3] - bboxes[..., 1]
        return torch.stack([
            ((gt_cx - cx) / stride + 0.5).clamp(self.eps, 1 - self.eps),
            ((gt_cy - cy) / stride + 0.5).clamp(self.eps, 1 - self.eps),
            torch.log((gt_w / w).clamp(min=self.eps)),
            torch.log((gt_h / h).clamp(min=self.eps)),
        ], dim=-1)

    def decode(self, bboxes: torch.Tensor, pred_bboxes: torch.Tensor, stride: torch.Tensor | float) -> torch.Tensor:
        """``pred_bboxes``: centre offsets already through a sigmoid, log sizes as predicted."""
        if pred_bboxes.size(-1) != 4 or bboxes.size(-1) != 4:
            raise ValueError(f"decode needs (..., 4) inputs, got {tuple(bboxes.shape)} and {tuple(pred_bboxes.shape)}")
        centers = (bboxes[..., :2] + bboxes[..., 2:]) * 0.5 + (pred_bboxes[..., :2] - 0.5) * stride
        half_wh = (bboxes[..., 2:] - bboxes[..., :2]) * 0.5 * pred_bboxes[..., 2:].exp()
        return torch.cat([centers - half_wh, centers + half_wh], dim=-1)
