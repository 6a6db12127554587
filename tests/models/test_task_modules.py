"""Anchor generator, box coder, assigner and samplers on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from detcli.errors import ConfigError
from detcli.models.task_modules import (
    AssignResult,
    anchor_inside_flags,
    build_assigner,
    build_bbox_coder,
    build_iou_calculator,
    build_prior_generator,
    build_sampler,
    images_to_levels,
)

S2 = math.sqrt(2.0)


def test_base_anchors_by_hand():
    gen = build_prior_generator(dict(type="AnchorGenerator", strides=[16], ratios=[0.5, 1.0, 2.0], scales=[8]))
    w = 128 * S2  # ratio 0.5 -> h/w = 0.5, area 128^2
    expected = torch.tensor([[-w / 2, -w / 4, w / 2, w / 4], [-64, -64, 64, 64], [-w / 4, -w / 2, w / 4, w / 2]])
    torch.testing.assert_close(gen.base_anchors[0], expected)
    assert gen.num_base_anchors == [3] and gen.num_levels == 1


def test_grid_order_is_row_major_cells_then_base_anchors():
    gen = build_prior_generator(dict(type="AnchorGenerator", strides=[16], ratios=[0.5, 1.0, 2.0], scales=[8]))
    anchors = gen.grid_priors([(2, 3)], device="cpu")[0]
    assert anchors.shape == (2 * 3 * 3, 4)
    # cell (y=1, x=2), base anchor 1 -> shifted by (32, 16)
    assert anchors[(1 * 3 + 2) * 3 + 1].tolist() == [-32.0, -48.0, 96.0, 80.0]
    torch.testing.assert_close(gen.grid_anchors([(2, 3)])[0], anchors)
    sparse = gen.sparse_priors(torch.tensor([16, 2]), (2, 3), 0)
    torch.testing.assert_close(sparse, anchors[[16, 2]])


def test_octave_scales_centre_offset_and_valid_flags():
    gen = build_prior_generator(dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                                     ratios=[1.0], strides=[8, 16], center_offset=0.5))
    torch.testing.assert_close(gen.scales, torch.tensor([4.0, 4 * 2 ** (1 / 3), 4 * 2 ** (2 / 3)]))
    assert gen.base_anchors[0][0].tolist() == [-12.0, -12.0, 20.0, 20.0]  # centred at 4 = 0.5 * 8
    flags = gen.valid_flags([(4, 4), (2, 2)], pad_shape=(20, 12, 3))
    cells = flags[0].view(4, 4, 3)[..., 0]
    # ceil(20 / 8) = 3 valid rows, ceil(12 / 8) = 2 valid columns
    assert cells.tolist() == [[True, True, False, False]] * 3 + [[False] * 4]
    assert flags[1].view(2, 2, 3)[..., 0].tolist() == [[True, False], [True, False]]  # ceil(12 / 16) = 1
    with pytest.raises(ConfigError, match="either scales or octave"):
        build_prior_generator(dict(type="AnchorGenerator", strides=[8], ratios=[1.0], scales=[1],
                                   octave_base_scale=4, scales_per_octave=3))


def test_anchor_inside_flags_and_images_to_levels():
    anchors = torch.tensor([[-1.0, 0, 5, 5], [0, 0, 10, 10], [2, 2, 9, 9]])
    valid = torch.tensor([True, True, False])
    assert anchor_inside_flags(anchors, valid, (10, 10), 0).tolist() == [False, False, False]
    assert anchor_inside_flags(anchors, valid, (10, 10), 1).tolist() == [True, True, False]
    assert anchor_inside_flags(anchors, valid, (10, 10), -1).tolist() == [True, True, False]
    levels = images_to_levels([torch.arange(5), torch.arange(5) + 10], [2, 3])
    assert [lv.tolist() for lv in levels] == [[[0, 1], [10, 11]], [[2, 3, 4], [12, 13, 14]]]


def test_delta_coder_encode_by_hand_and_round_trip():
    coder = build_bbox_coder(dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                                  target_stds=[0.1, 0.1, 0.2, 0.2]))
    anchor = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    gt = torch.tensor([[2.0, 2.0, 12.0, 22.0]])
    deltas = coder.encode(anchor, gt)
    torch.testing.assert_close(deltas, torch.tensor([[2.0, 7.0, 0.0, math.log(2) / 0.2]]))
    torch.testing.assert_close(coder.decode(anchor, deltas), gt)
    # two classes' deltas per box
    both = coder.decode(anchor, torch.cat([deltas, torch.zeros(1, 4)], dim=1))
    torch.testing.assert_close(both, torch.cat([gt, anchor], dim=1))


def test_delta_decode_clamps_ratio_and_clips_to_image():
    coder = build_bbox_coder(dict(type="DeltaXYWHBBoxCoder"))
    anchor = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    huge = torch.tensor([[0.0, 0.0, 10.0, 0.0]])
    unclipped = coder.decode(anchor, huge)  # width clamped at 10 / 0.016 = 625
    assert unclipped[0, 0].item() == pytest.approx(5 - 312.5, rel=1e-5)
    assert unclipped[0, 2].item() == pytest.approx(5 + 312.5, rel=1e-5)
    clipped = coder.decode(anchor, huge, max_shape=(40, 30, 3))
    assert clipped.tolist() == [[0.0, 0.0, 30.0, 10.0]]
    batched = coder.decode(anchor[None].repeat(2, 1, 1), huge[None].repeat(2, 1, 1),
                           max_shape=[(40, 30), (40, 100)])
    assert batched[0, 0, 2].item() == 30.0 and batched[1, 0, 2].item() == 100.0
    ctr = build_bbox_coder(dict(type="DeltaXYWHBBoxCoder", add_ctr_clamp=True, ctr_clamp=4))
    moved = ctr.decode(anchor, torch.tensor([[5.0, 0.0, 0.0, 0.0]]))
    assert moved.tolist() == [[4.0, 0.0, 14.0, 10.0]]  # centre shift 50 px clamped to 4


GTS = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
BOXES = torch.tensor([
    [0.0, 0, 10, 10],    # iou 1 with gt0
    [0, 0, 10, 5],       # 0.5 with gt0
    [20, 20, 25, 30],    # 0.5 with gt1 (its best, tied with the last box)
    [50, 50, 60, 60],    # nothing
    [0, 0, 10, 20],      # 0.5 with gt0
    [25, 20, 30, 30],    # 0.5 with gt1
])


def rpn_assigner(**kw):
    cfg = dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, ignore_iof_thr=-1)
    cfg.update(kw)
    return build_assigner(cfg)


def test_max_iou_assigner_by_hand():
    result = rpn_assigner().assign(BOXES, GTS, gt_labels=torch.tensor([3, 7]))
    assert result.gt_inds.tolist() == [1, -1, 2, 0, -1, 2]
    assert result.labels.tolist() == [3, -1, 7, -1, -1, 7]
    torch.testing.assert_close(result.max_overlaps, torch.tensor([1.0, 0.5, 0.5, 0.0, 0.5, 0.5]))
    assert result.num_gts == 2 and result.num_preds == 6


def test_assigner_options():
    only_argmax = rpn_assigner(gt_max_assign_all=False).assign(BOXES, GTS)
    assert only_argmax.gt_inds.tolist() == [1, -1, 2, 0, -1, -1]
    no_low_quality = rpn_assigner(match_low_quality=False).assign(BOXES, GTS)
    assert no_low_quality.gt_inds.tolist() == [1, -1, -1, 0, -1, -1]
    ignored = rpn_assigner(ignore_iof_thr=0.5).assign(BOXES, GTS, gt_bboxes_ignore=torch.tensor([[49.0, 49, 61, 61]]))
    assert ignored.gt_inds.tolist()[3] == -1
    tuple_neg = rpn_assigner(neg_iou_thr=(0.2, 0.6), match_low_quality=False).assign(BOXES, GTS)
    assert tuple_neg.gt_inds.tolist() == [1, 0, 0, -1, 0, 0]
    cpu = rpn_assigner(gpu_assign_thr=1).assign(BOXES, GTS, gt_labels=torch.tensor([3, 7]))
    assert cpu.gt_inds.tolist() == [1, -1, 2, 0, -1, 2]


def test_later_gt_wins_a_shared_best_box():
    twins = torch.tensor([[20.0, 20, 30, 30], [20, 20, 30, 30]])
    for assign_all in (True, False):
        result = rpn_assigner(gt_max_assign_all=assign_all).assign(BOXES, twins)
        assert result.gt_inds[2].item() == 2


def test_assigner_without_gts_or_boxes():
    empty = rpn_assigner().assign(BOXES, torch.zeros(0, 4), gt_labels=torch.zeros(0, dtype=torch.long))
    assert empty.gt_inds.tolist() == [0] * 6 and empty.labels.tolist() == [-1] * 6
    no_boxes = rpn_assigner().assign(torch.zeros(0, 4), GTS)
    assert no_boxes.gt_inds.numel() == 0


def test_iou_calculator_drops_score_column():
    calc = build_iou_calculator(dict(type="BboxOverlaps2D"))
    with_scores = torch.cat([BOXES, torch.rand(6, 1)], dim=1)
    torch.testing.assert_close(calc(GTS, with_scores), calc(GTS, BOXES))
    half = build_iou_calculator(dict(type="BboxOverlaps2D", scale=2.0, dtype="fp16"))
    torch.testing.assert_close(half(GTS, BOXES), calc(GTS, BOXES), atol=1e-3, rtol=1e-3)


def make_assign(num_pos: int, num_neg: int, num_ignore: int = 0) -> AssignResult:
    gt_inds = torch.cat([torch.ones(num_pos, dtype=torch.long), torch.zeros(num_neg, dtype=torch.long),
                         -torch.ones(num_ignore, dtype=torch.long)])
    return AssignResult(1, gt_inds, torch.rand(len(gt_inds)), labels=torch.where(gt_inds > 0, 4, -1))


def test_random_sampler_counts_and_seed():
    sampler = build_sampler(dict(type="RandomSampler", num=8, pos_fraction=0.25, add_gt_as_proposals=False))
    boxes = torch.rand(40, 4)
    gts = torch.rand(1, 4)
    torch.manual_seed(3)
    first = sampler.sample(make_assign(10, 25, 5), boxes, gts)
    torch.manual_seed(3)
    second = sampler.sample(make_assign(10, 25, 5), boxes, gts)
    assert len(first.pos_inds) == 2 and len(first.neg_inds) == 6
    assert first.pos_inds.tolist() == second.pos_inds.tolist()
    assert first.neg_inds.tolist() == second.neg_inds.tolist()
    assert all(i < 10 for i in first.pos_inds.tolist()) and all(10 <= i < 35 for i in first.neg_inds.tolist())
    assert first.pos_gt_labels.tolist() == [4, 4] and first.pos_assigned_gt_inds.tolist() == [0, 0]
    torch.testing.assert_close(first.pos_gt_bboxes, gts.repeat(2, 1))


def test_sampler_neg_pos_ub_and_gt_as_proposals():
    capped = build_sampler(dict(type="RandomSampler", num=8, pos_fraction=0.5, neg_pos_ub=2,
                                add_gt_as_proposals=False))
    result = capped.sample(make_assign(1, 20), torch.rand(21, 4), torch.rand(1, 4))
    assert len(result.pos_inds) == 1 and len(result.neg_inds) == 2
    with_gt = build_sampler(dict(type="RandomSampler", num=8, pos_fraction=0.5))
    gts = torch.tensor([[1.0, 1, 5, 5]])
    result = with_gt.sample(make_assign(0, 20), torch.rand(20, 4), gts, gt_labels=torch.tensor([2]))
    assert result.pos_inds.tolist() == [0] and result.pos_is_gt.tolist() == [1]
    torch.testing.assert_close(result.pos_bboxes, gts)
    assert len(result.neg_inds) == 7 and result.bboxes.shape == (8, 4)


def test_pseudo_sampler_takes_everything():
    result = build_sampler(dict(type="PseudoSampler")).sample(make_assign(3, 4, 2), torch.rand(9, 4),
                                                              torch.rand(1, 4))
    assert result.pos_inds.tolist() == [0, 1, 2] and result.neg_inds.tolist() == [3, 4, 5, 6]
    assert result.pos_is_gt.tolist() == [0, 0, 0]
