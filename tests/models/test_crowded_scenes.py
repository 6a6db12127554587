"""Crowded images (hundreds of gt boxes): the memory-lean paths give what the plain formulas give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from detcli.models.task_modules import build_assigner
from detcli.structures.boxes import bbox_overlaps
from detcli.structures.masks import BitmapMasks


def _boxes(n: int, seed: int, size: float = 200.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * 60], 1)


def _broadcast_overlaps(b1: torch.Tensor, b2: torch.Tensor, mode: str, eps: float = 1e-6) -> torch.Tensor:
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.max(b1[:, None, :2], b2[None, :, :2])
    rb = torch.min(b1[:, None, 2:], b2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None] - overlap if mode == "iou" else area1[:, None].expand_as(overlap)
    return overlap / torch.max(union, union.new_tensor([eps]))


@pytest.mark.parametrize("mode", ["iou", "iof"])
def test_pairwise_overlaps_equal_the_broadcast_formula(mode):
    b1, b2 = _boxes(300, 0), _boxes(700, 1)
    b1[0, 2] = b1[0, 0]  # a zero-width box
    got = bbox_overlaps(b1, b2, mode)
    assert torch.equal(got, _broadcast_overlaps(b1, b2, mode))
    assert (got > 0).float().mean() > 0.01


def test_overlaps_keep_their_gradient():
    b1, b2 = _boxes(5, 2).requires_grad_(), _boxes(6, 3)
    bbox_overlaps(b1, b2).sum().backward()
    assert b1.grad is not None and b1.grad.abs().sum() > 0


def _reference_low_quality(overlaps: torch.Tensor, assigned: torch.Tensor, min_pos_iou: float) -> torch.Tensor:
    """mmdetection 2.x's loop: every box tied at a gt's best IoU goes to that gt, later gts win."""
    out = assigned.clone()
    gt_max = overlaps.max(dim=1).values
    for i in range(overlaps.shape[0]):
        if gt_max[i] >= min_pos_iou:
            out[overlaps[i] == gt_max[i]] = i + 1
    return out


def test_low_quality_matches_equal_the_reference_loop():
    gts, anchors = _boxes(400, 4), _boxes(3000, 5)
    assigner = build_assigner(dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3))
    overlaps = bbox_overlaps(gts, anchors)
    overlaps[7, :5] = 0.995  # ties: several boxes share a gt's best IoU
    overlaps[8, :3] = 0.995  # ... and a later gt claims some of them too
    result = assigner.assign_wrt_overlaps(overlaps)
    plain = build_assigner(dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                match_low_quality=False)).assign_wrt_overlaps(overlaps)
    want = _reference_low_quality(overlaps, plain.gt_inds, 0.3)
    assert torch.equal(result.gt_inds, want)
    assert (want != plain.gt_inds).sum() > 10 and want[:3].tolist() == [9, 9, 9] and want[3:5].tolist() == [8, 8]


def test_mask_targets_of_a_few_gts_among_many():
    rng = np.random.default_rng(6)
    masks = (rng.random((500, 48, 64)) > 0.5).astype(np.uint8)
    boxes = np.array([[2, 3, 30, 40], [10, 5, 60, 44], [0, 0, 64, 48]], np.float32)
    inds = np.array([421, 7, 421])
    got = BitmapMasks(masks, 48, 64).crop_and_resize(boxes, (14, 14), inds, binarize=False).masks
    stack = torch.from_numpy(masks[inds].astype(np.float32))[:, None]
    rois = torch.cat([torch.arange(3, dtype=torch.float32)[:, None], torch.from_numpy(boxes)], 1)
    want = roi_align(stack, rois, (14, 14), 1.0, 0, True)[:, 0].numpy()
    np.testing.assert_array_equal(got, want)
