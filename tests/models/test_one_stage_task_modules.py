"""Priors, coders and assigners of the one-stage heads, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from detcli.errors import ConfigError
from detcli.models.task_modules import (
    build_assigner,
    build_bbox_coder,
    build_prior_generator,
)


def test_ssd300_anchor_sizes_and_order():
    gen = build_prior_generator(dict(type="SSDAnchorGenerator", scale_major=False, input_size=300,
                                     basesize_ratio_range=(0.15, 0.9), strides=[8, 16, 32, 64, 100, 300],
                                     ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]]))
    # min sizes 7 %, then 15 % .. 87 % in steps of 18 %; max sizes one step further
    assert gen.base_sizes == [21, 45, 99, 153, 207, 261]
    assert gen.num_base_priors == [4, 6, 6, 6, 4, 4]
    level0 = gen.base_anchors[0]
    widths = (level0[:, 2] - level0[:, 0]).tolist()
    heights = (level0[:, 3] - level0[:, 1]).tolist()
    # ratio 1, ratio 1 at sqrt(max / min), then ratios 1/2 and 2
    assert widths == pytest.approx([21, math.sqrt(21 * 45), 21 * math.sqrt(2), 21 / math.sqrt(2)], rel=1e-5)
    assert heights == pytest.approx([21, math.sqrt(21 * 45), 21 / math.sqrt(2), 21 * math.sqrt(2)], rel=1e-5)
    assert ((level0[:, :2] + level0[:, 2:]) / 2).view(-1).tolist() == pytest.approx([4.0] * 8)  # first cell
    grid = gen.grid_priors([(2, 2)] + [(1, 1)] * 5)[0]
    assert grid.shape == (16, 4) and grid[4:8, 0].tolist() == pytest.approx((level0[:, 0] + 8).tolist())
    with pytest.raises(ConfigError, match="input_size"):
        build_prior_generator(dict(type="SSDAnchorGenerator", strides=[8, 16, 32], ratios=[[2]] * 3, input_size=320))


def test_yolo_anchors_and_responsible_cells():
    gen = build_prior_generator(dict(type="YOLOAnchorGenerator", strides=[32, 16],
                                     base_sizes=[[(116, 90), (156, 198)], [(30, 61), (62, 45)]]))
    assert gen.base_anchors[0].tolist() == [[16 - 58, 16 - 45, 16 + 58, 16 + 45], [16 - 78, 16 - 99, 16 + 78, 16 + 99]]
    gt = torch.tensor([[40.0, 10.0, 60.0, 50.0]])  # centre (50, 30)
    flags = gen.responsible_flags([(2, 3), (4, 6)], gt)
    # level 0 (stride 32): cell (x=1, y=0) -> index 1; two anchors per cell
    assert flags[0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    # level 1 (stride 16): cell (x=3, y=1) -> index 1 * 6 + 3 = 9
    assert flags[1].nonzero().view(-1).tolist() == [18, 19]


def test_point_generator_centres_strides_and_valid_flags():
    gen = build_prior_generator(dict(type="MlvlPointGenerator", strides=[8, 16]))
    points = gen.grid_priors([(2, 3), (1, 2)], with_stride=True)
    assert points[0].tolist() == [[4, 4, 8, 8], [12, 4, 8, 8], [20, 4, 8, 8], [4, 12, 8, 8], [12, 12, 8, 8],
                                  [20, 12, 8, 8]]
    assert points[1][:, :2].tolist() == [[8, 8], [24, 8]]
    assert gen.valid_flags([(2, 3), (1, 2)], (16, 17))[0].tolist() == [True, True, True, True, True, True]
    assert gen.valid_flags([(2, 3), (1, 2)], (8, 9))[0].tolist() == [True, True, False, False, False, False]
    assert gen.sparse_priors(torch.tensor([4]), (2, 3), 0).tolist() == [[12.0, 12.0]]


def test_yolo_coder_encodes_cell_offsets_and_log_sizes():
    coder = build_bbox_coder(dict(type="YOLOBBoxCoder"))
    anchor = torch.tensor([[0.0, 0.0, 32.0, 64.0]])  # centre (16, 32)
    gt = torch.tensor([[8.0, 24.0, 40.0, 56.0]])  # centre (24, 40), 32 x 32
    target = coder.encode(anchor, gt, torch.tensor([16.0]))
    # centre offsets (24 - 16) / 16 + 0.5 = 1, clamped to 1 - eps; sizes log(32 / 32), log(32 / 64)
    assert target.tolist()[0] == pytest.approx([1 - 1e-6, 1 - 1e-6, 0.0, math.log(0.5)], abs=1e-6)
    assert target[0, 0] < 1
    pred = torch.tensor([[0.75, 0.25, math.log(2.0), 0.0]])
    # centre (16 + 0.25 * 16, 32 - 0.25 * 16) = (20, 28); half sizes 16 * 2 and 32 * 1
    assert coder.decode(anchor, pred, 16.0).tolist()[0] == pytest.approx([-12, -4, 52, 60])


def test_distance_point_coder_round_trip_and_clipping():
    coder = build_bbox_coder(dict(type="DistancePointBBoxCoder"))
    points = torch.tensor([[10.0, 20.0], [50.0, 5.0]])
    boxes = torch.tensor([[2.0, 4.0, 30.0, 25.0], [40.0, 0.0, 80.0, 9.0]])
    distances = coder.encode(points, boxes)
    assert distances.tolist() == [[8, 16, 20, 5], [10, 5, 30, 4]]
    capped = coder.encode(points, boxes, max_dis=16).view(-1).tolist()
    assert capped == pytest.approx([8, 15.9, 15.9, 5, 10, 5, 15.9, 4])
    assert coder.decode(points, distances).tolist() == boxes.tolist()
    assert coder.decode(points, distances, max_shape=(20, 60)).tolist() == [[2, 4, 30, 20], [40, 0, 60, 9]]
    unclipped = build_bbox_coder(dict(type="DistancePointBBoxCoder", clip_border=False))
    assert unclipped.decode(points, distances, max_shape=(20, 60)).tolist() == boxes.tolist()


def test_grid_assigner_only_matches_responsible_anchors():
    assigner = build_assigner(dict(type="GridAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0))
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [100, 100, 110, 110]])
    gts = torch.tensor([[0.0, 0, 10, 10]])
    # anchor 0 overlaps perfectly but is not responsible; anchor 1 is
    result = assigner.assign(anchors, torch.tensor([0, 1, 0, 0], dtype=torch.uint8), gts, torch.tensor([2]))
    assert result.gt_inds.tolist() == [-1, 1, 0, 0]  # anchor 0: IoU 1 > neg_iou_thr, not positive: ignored
    assert result.labels.tolist() == [-1, 2, -1, -1]
    # no responsible anchor overlaps enough (IoU 0.04): the gt still takes its best responsible one;
    # the others are negatives (IoU 0.16 and 0 <= neg_iou_thr)
    far = assigner.assign(anchors, torch.tensor([0, 0, 1, 0], dtype=torch.uint8), torch.tensor([[0.0, 0, 25, 25]]))
    assert far.gt_inds.tolist() == [0, 0, 1, 0]
    empty = assigner.assign(anchors, torch.ones(4, dtype=torch.uint8), torch.zeros(0, 4))
    assert empty.gt_inds.tolist() == [0, 0, 0, 0]


def test_atss_assigner_picks_close_anchors_above_the_adaptive_threshold():
    assigner = build_assigner(dict(type="ATSSAssigner", topk=9))
    # 13 anchors 10 px wide every 5 px; the gt is exactly anchor 4
    anchors = torch.tensor([[5.0 * i, 0, 5.0 * i + 10, 10] for i in range(13)])
    gt = torch.tensor([[20.0, 0, 30, 10]])
    result = assigner.assign(anchors, [13], gt, None, torch.tensor([1]))
    # candidates: the 9 closest centres (anchors 0-8), IoUs 0 x6, 1/3 x2, 1: mean 0.185 + std 0.338 =
    # 0.523, so only anchor 4 passes
    assert result.gt_inds.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert result.labels.tolist() == [-1] * 4 + [1] + [-1] * 8
    # as two levels (5 + 8 anchors) every anchor is a candidate: threshold 0.128 + 0.290, still anchor 4 only
    crowd = assigner.assign(anchors, [5, 8], gt, None, None)
    assert crowd.gt_inds.tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] and crowd.labels is None
    nobody = assigner.assign(anchors, [13], torch.zeros(0, 4), None, torch.zeros(0, dtype=torch.long))
    assert nobody.gt_inds.tolist() == [0] * 13 and nobody.labels.tolist() == [-1] * 13
