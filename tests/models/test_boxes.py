"""Box geometry against torchvision and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou, generalized_box_iou

from detcli.structures.boxes import (
    bbox2distance,
    bbox2result,
    bbox2roi,
    bbox_cxcywh_to_xyxy,
    bbox_flip,
    bbox_mapping,
    bbox_mapping_back,
    bbox_overlaps,
    bbox_rescale,
    bbox_xyxy_to_cxcywh,
    distance2bbox,
    roi2bbox,
)


def random_boxes(n: int, size: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2) * size
    wh = torch.rand(n, 2) * size / 2 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_iou_and_giou_match_torchvision():
    a, b = random_boxes(7), random_boxes(5)
    torch.testing.assert_close(bbox_overlaps(a, b), box_iou(a, b))
    torch.testing.assert_close(bbox_overlaps(a, b, mode="giou"), generalized_box_iou(a, b))
    torch.testing.assert_close(bbox_overlaps(a, a[[1, 0, 2, 3, 4, 5, 6]], is_aligned=True),
                               torch.diagonal(box_iou(a, a[[1, 0, 2, 3, 4, 5, 6]])))


def test_hand_computed_iou_iof_without_legacy_plus_one():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    torch.testing.assert_close(bbox_overlaps(a, b), torch.tensor([[50 / 150, 0.0]]))
    torch.testing.assert_close(bbox_overlaps(a, b, mode="iof"), torch.tensor([[0.5, 0.0]]))
    # giou of the disjoint pair: 0 - (900 - 200) / 900
    assert abs(bbox_overlaps(a, b, mode="giou")[0, 1].item() + 700 / 900) < 1e-6


def test_batched_empty_and_degenerate():
    a, b = random_boxes(6).view(2, 3, 4), random_boxes(8).view(2, 4, 4)
    out = bbox_overlaps(a, b)
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out[1], box_iou(a[1], b[1]))
    assert bbox_overlaps(torch.zeros(0, 4), b[0]).shape == (0, 4)
    assert bbox_overlaps(torch.zeros(0, 4), torch.zeros(0, 4), is_aligned=True).shape == (0,)
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert bbox_overlaps(point, point).item() == 0.0  # eps keeps it finite
    with pytest.raises(ValueError):
        bbox_overlaps(a[0], b[0], mode="dice")


def test_flip_and_mapping_round_trip():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert bbox_flip(boxes, (100, 200), "horizontal").tolist() == [[170.0, 20.0, 190.0, 60.0]]
    assert bbox_flip(boxes, (100, 200), "vertical").tolist() == [[10.0, 40.0, 30.0, 80.0]]
    assert bbox_flip(boxes, (100, 200), "diagonal").tolist() == [[170.0, 40.0, 190.0, 80.0]]
    scale = np.array([2.0, 1.5, 2.0, 1.5], dtype=np.float32)
    mapped = bbox_mapping(boxes, (150, 400), scale, flip=True)
    assert mapped.tolist() == [[340.0, 30.0, 380.0, 90.0]]
    torch.testing.assert_close(bbox_mapping_back(mapped, (150, 400), scale, flip=True), boxes)


def test_roi_conversions_and_results():
    b0, b1 = random_boxes(2), torch.zeros(0, 4)
    b2 = random_boxes(3)
    rois = bbox2roi([b0, b1, b2])
    assert rois.shape == (5, 5) and rois[:, 0].tolist() == [0, 0, 2, 2, 2]
    back = roi2bbox(rois)
    assert len(back) == 2
    torch.testing.assert_close(back[1], b2)
    dets = torch.tensor([[0, 0, 1, 1, 0.9], [0, 0, 2, 2, 0.8], [1, 1, 3, 3, 0.7]])
    result = bbox2result(dets, torch.tensor([2, 0, 2]), 3)
    assert [r.shape for r in result] == [(1, 5), (0, 5), (2, 5)]
    assert result[0].dtype == np.float32 and result[2][1, 4] == pytest.approx(0.7)
    empty = bbox2result(torch.zeros(0, 5), torch.zeros(0), 2)
    assert [r.shape for r in empty] == [(0, 5), (0, 5)] and empty[0].dtype == np.float32


def test_distance_and_center_conversions():
    points = torch.tensor([[10.0, 10.0], [50.0, 40.0]])
    boxes = torch.tensor([[5.0, 2.0, 20.0, 30.0], [45.0, 35.0, 90.0, 60.0]])
    dist = bbox2distance(points, boxes)
    assert dist.tolist() == [[5.0, 8.0, 10.0, 20.0], [5.0, 5.0, 40.0, 20.0]]
    torch.testing.assert_close(distance2bbox(points, dist), boxes)
    clipped = distance2bbox(points, dist, max_shape=(50, 60))
    assert clipped[1].tolist() == [45.0, 35.0, 60.0, 50.0]
    assert bbox2distance(points, boxes, max_dis=10).max().item() == pytest.approx(9.9)
    cxcywh = bbox_xyxy_to_cxcywh(boxes)
    assert cxcywh[0].tolist() == [12.5, 16.0, 15.0, 28.0]
    torch.testing.assert_close(bbox_cxcywh_to_xyxy(cxcywh), boxes)
    rescaled = bbox_rescale(torch.tensor([[3.0, 0.0, 0.0, 10.0, 20.0]]), 2.0)
    assert rescaled.tolist() == [[3.0, -5.0, -10.0, 15.0, 30.0]]
