"""Box geometry on ``(..., 4)`` tensors in ``x1, y1, x2, y2`` pixel coordinates.

Overlaps follow mmdetection 2.x (no legacy ``+1`` in widths): ``area = (x2 - x1) * (y2 - y1)``,
unions are clamped to ``eps`` so degenerate boxes give 0 instead of NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

BoxArray = TypeVar("BoxArray", torch.Tensor, np.ndarray)

_MODES = ("iou", "iof", "giou")


def bbox_overlaps(
    bboxes1: torch.Tensor,
    bboxes2: torch.Tensor,
    mode: str = "iou",
    is_aligned: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """IoU / IoF (intersection over ``bboxes1``'s area) / GIoU between two box sets.

    Shapes ``(..., m, 4)`` and ``(..., n, 4)`` give ``(..., m, n)``; with ``is_aligned``
    (``m == n``) the pairwise values ``(..., m)``. Leading batch dimensions must agree.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if bboxes1.shape[:-2] != bboxes2.shape[:-2]:
        raise ValueError(f"batch shapes differ: {tuple(bboxes1.shape)} vs {tuple(bboxes2.shape)}")
    batch_shape = bboxes1.shape[:-2]
    rows, cols = bboxes1.size(-2), bboxes2.size(-2)
    if is_aligned and rows != cols:
        raise ValueError(f"is_aligned needs as many boxes on both sides, got {rows} and {cols}")
    if rows * cols == 0:
        shape = batch_shape + ((rows,) if is_aligned else (rows, cols))
        return bboxes1.new_zeros(shape)

    area1 = (bboxes1[..., 2] - bboxes1[..., 0]) * (bboxes1[..., 3] - bboxes1[..., 1])
    area2 = (bboxes2[..., 2] - bboxes2[..., 0]) * (bboxes2[..., 3] - bboxes2[..., 1])
    if not is_aligned and mode != "giou" and not (bboxes1.requires_grad or bboxes2.requires_grad):
        return _pairwise_iou(bboxes1, bboxes2, area1, area2, mode, eps)
    if is_aligned:
        a, b = bboxes1, bboxes2
        area1_b, area2_b = area1, area2
    else:  # broadcast to (..., rows, cols, 4)
        a, b = bboxes1[..., :, None, :], bboxes2[..., None, :, :]
        area1_b, area2_b = area1[..., :, None], area2[..., None, :]
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1_b + area2_b - overlap if mode in ("iou", "giou") else area1_b
    eps_t = union.new_tensor([eps])
    union = torch.max(union, eps_t)
    ious = overlap / union
    if mode != "giou":
        return ious
    enclose_wh = (torch.max(a[..., 2:], b[..., 2:]) - torch.min(a[..., :2], b[..., :2])).clamp(min=0)
    enclose_area = torch.max(enclose_wh[..., 0] * enclose_wh[..., 1], eps_t)
    return ious - (enclose_area - union) / enclose_area


def _pairwise_iou(b1: torch.Tensor, b2: torch.Tensor, area1: torch.Tensor, area2: torch.Tensor, mode: str,
                  eps: float) -> torch.Tensor:
    """IoU/IoF of every pair, one ``(..., m, n)`` plane per step and in place where possible.

    The same float operations in the same order as the broadcast ``(..., m, n, 2)`` form, so
    the values are identical, with a third of its peak memory (the assigners' gts x anchors
    matrix is the largest tensor of a crowded image).
    """
    def col(boxes: torch.Tensor, k: int, rows: bool) -> torch.Tensor:
        return boxes[..., :, None, k] if rows else boxes[..., None, :, k]

    w = torch.min(col(b1, 2, True), col(b2, 2, False)).sub_(torch.max(col(b1, 0, True), col(b2, 0, False)))
    h = torch.min(col(b1, 3, True), col(b2, 3, False)).sub_(torch.max(col(b1, 1, True), col(b2, 1, False)))
    overlap = w.clamp_(min=0).mul_(h.clamp_(min=0))
    del h
    if mode == "iou":
        union = (area1[..., :, None] + area2[..., None, :]).sub_(overlap)
    else:  # iof
        union = area1[..., :, None].expand_as(overlap).clone()
    return overlap.div_(union.clamp_(min=eps))


def bbox_flip(bboxes: BoxArray, img_shape: Sequence[int], direction: str = "horizontal") -> BoxArray:
    """Mirror boxes (last dim a multiple of 4) inside an image of ``img_shape`` ``(h, w, ...)``.

    ``x1' = W - x2`` (no ``- 1``): pixel-edge coordinates, as the data pipeline and test-time
    flips both use. Tensors and numpy arrays alike, so both share one rule.
    """
    if bboxes.shape[-1] % 4:
        raise ValueError(f"last box dimension must be a multiple of 4, got {bboxes.shape[-1]}")
    if direction not in ("horizontal", "vertical", "diagonal"):
        raise ValueError(f"unknown flip direction {direction!r}")
    h, w = img_shape[0], img_shape[1]
    flipped = bboxes.clone() if isinstance(bboxes, torch.Tensor) else np.array(bboxes, copy=True)
    if direction in ("horizontal", "diagonal"):
        flipped[..., 0::4] = w - bboxes[..., 2::4]
        flipped[..., 2::4] = w - bboxes[..., 0::4]
    if direction in ("vertical", "diagonal"):
        flipped[..., 1::4] = h - bboxes[..., 3::4]
        flipped[..., 3::4] = h - bboxes[..., 1::4]
    return flipped


def bbox_mapping(bboxes: torch.Tensor, img_shape: Sequence[int], scale_factor, flip: bool,
                 flip_direction: str = "horizontal") -> torch.Tensor:
    """Original-image boxes -> boxes in a test-time-augmented (resized, flipped) image."""
    new = bboxes * bboxes.new_tensor(scale_factor)
    return bbox_flip(new, img_shape, flip_direction) if flip else new


def bbox_mapping_back(bboxes: torch.Tensor, img_shape: Sequence[int], scale_factor, flip: bool,
                      flip_direction: str = "horizontal") -> torch.Tensor:
    """Boxes in an augmented image -> boxes in the original image (inverse of ``bbox_mapping``)."""
    new = bbox_flip(bboxes, img_shape, flip_direction) if flip else bboxes
    new = new.view(-1, 4) / new.new_tensor(scale_factor)
    return new.view(bboxes.shape)


def bbox2roi(bbox_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image boxes -> one ``(n, 5)`` tensor ``[image_index, x1, y1, x2, y2]``."""
    rois = []
    for img_id, bboxes in enumerate(bbox_list):
        img_inds = bboxes.new_full((bboxes.size(0), 1), img_id)
        rois.append(torch.cat([img_inds, bboxes[:, :4]], dim=-1))
    return torch.cat(rois, 0)


def roi2bbox(rois: torch.Tensor) -> list[torch.Tensor]:
    """``(n, 5)`` rois -> a list of per-image boxes, for the image indices present (ascending)."""
    img_ids = torch.unique(rois[:, 0].cpu(), sorted=True)
    return [rois[rois[:, 0] == img_id.item(), 1:] for img_id in img_ids]


def bbox2result(bboxes: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                num_classes: int) -> list[np.ndarray]:
    """Detections ``(n, 5)`` + labels -> the per-class list of ``(k, 5)`` float32 arrays."""
    if bboxes.shape[0] == 0:
        return [np.zeros((0, 5), dtype=np.float32) for _ in range(num_classes)]
    if isinstance(bboxes, torch.Tensor):
        bboxes = bboxes.detach().cpu().numpy()
        labels = labels.detach().cpu().numpy()
    return [bboxes[labels == i, :] for i in range(num_classes)]


def distance2bbox(points: torch.Tensor, distance: torch.Tensor, max_shape=None) -> torch.Tensor:
    """Points + (left, top, right, bottom) distances -> boxes, optionally clipped to ``max_shape``."""
    x1 = points[..., 0] - distance[..., 0]
    y1 = points[..., 1] - distance[..., 1]
    x2 = points[..., 0] + distance[..., 2]
    y2 = points[..., 1] + distance[..., 3]
    bboxes = torch.stack([x1, y1, x2, y2], -1)
    if max_shape is None:
        return bboxes
    return clip_bboxes(bboxes, max_shape)


def clip_bboxes(bboxes: torch.Tensor, max_shape) -> torch.Tensor:
    """Clamp x to ``[0, w]`` and y to ``[0, h]``; ``max_shape`` is ``(h, w, ...)`` or a per-image tensor."""
    if not isinstance(max_shape, torch.Tensor):
        if len(max_shape) and isinstance(max_shape[0], (list, tuple)):  # one (h, w, ...) per image
            max_shape = bboxes.new_tensor([list(shape)[:2] for shape in max_shape])
        else:
            max_shape = bboxes.new_tensor(list(max_shape)[:2])
    max_shape = max_shape[..., :2].type_as(bboxes)
    max_xy = torch.cat([max_shape, max_shape], dim=-1).flip(-1)  # (w, h, w, h)
    if max_xy.ndim == 2:  # one shape per image of a (B, n, 4) batch
        max_xy = max_xy.unsqueeze(-2)
    return torch.min(bboxes.clamp(min=0), max_xy)


def bbox2distance(points: torch.Tensor, bbox: torch.Tensor, max_dis: float | None = None,
                  eps: float = 0.1) -> torch.Tensor:
    """Boxes -> (left, top, right, bottom) distances from ``points``, optionally capped."""
    left = points[:, 0] - bbox[:, 0]
    top = points[:, 1] - bbox[:, 1]
    right = bbox[:, 2] - points[:, 0]
    bottom = bbox[:, 3] - points[:, 1]
    dist = torch.stack([left, top, right, bottom], -1)
    if max_dis is not None:
        dist = dist.clamp(min=0, max=max_dis - eps)
    return dist


def bbox_centers(bboxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` boxes -> ``(..., 2)`` centres (x, y)."""
    return torch.stack([(bboxes[..., 2] + bboxes[..., 0]) / 2, (bboxes[..., 3] + bboxes[..., 1]) / 2], dim=-1)


def bbox_rescale(bboxes: torch.Tensor, scale_factor: float = 1.0) -> torch.Tensor:
    """Scale boxes (or ``(n, 5)`` rois) about their centres."""
    has_inds = bboxes.size(1) == 5
    boxes = bboxes[:, 1:] if has_inds else bboxes
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    w = (boxes[:, 2] - boxes[:, 0]) * scale_factor
    h = (boxes[:, 3] - boxes[:, 1]) * scale_factor
    out = [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
    if has_inds:
        out.insert(0, bboxes[:, 0])
    return torch.stack(out, dim=-1)


def bbox_cxcywh_to_xyxy(bbox: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = bbox.split((1, 1, 1, 1), dim=-1)
    return torch.cat([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def bbox_xyxy_to_cxcywh(bbox: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = bbox.split((1, 1, 1, 1), dim=-1)
    return torch.cat([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def find_inside_bboxes(bboxes: torch.Tensor, img_h: float, img_w: float) -> torch.Tensor:
    """Mask of boxes that overlap the image at all."""
    return (bboxes[:, 0] < img_w) & (bboxes[:, 2] > 0) & (bboxes[:, 1] < img_h) & (bboxes[:, 3] > 0)


__all__ = [
    "bbox_overlaps", "bbox_flip", "bbox_mapping", "bbox_mapping_back", "bbox2roi", "roi2bbox",
    "bbox2result", "distance2bbox", "clip_bboxes", "bbox2distance", "bbox_rescale",
    "bbox_cxcywh_to_xyxy", "bbox_xyxy_to_cxcywh", "find_inside_bboxes",
]
