"""Libra R-CNN's parts: balanced L1 loss, instance- and IoU-balanced samplers, lists of necks."""

from __future__ import annotations

import math

import pytest
import torch

from detcli.errors import ConfigError
from detcli.models.layers import Sequential
from detcli.models.losses import BalancedL1Loss
from detcli.models.necks import BFP, FPN
from detcli.models.task_modules import AssignResult, build_sampler
from detcli.registry import NECKS


def test_balanced_l1_gradient_is_the_papers():
    """Inliers (|x| < beta) get gradient alpha * ln(b |x| / beta + 1), outliers a constant gamma,
    with b = e^(gamma / alpha) - 1 so that both meet at beta."""
    alpha, gamma, beta = 0.5, 1.5, 1.0
    b = math.e ** (gamma / alpha) - 1
    loss = BalancedL1Loss(alpha=alpha, gamma=gamma, beta=beta, reduction="none")
    x = torch.tensor([0.05, 0.3, 0.9, 1.2, 3.0], dtype=torch.float64, requires_grad=True)
    values = loss(x, torch.zeros_like(x))
    (grad,) = torch.autograd.grad(values.sum(), x)
    expected = [alpha * math.log(b * v / beta + 1) if v < beta else gamma for v in x.tolist()]
    torch.testing.assert_close(grad, torch.tensor(expected, dtype=torch.float64))
    assert values[0].item() == pytest.approx(0.0, abs=0.02) and (values[1:] > values[:-1]).all()
    # continuous at beta
    near = loss(torch.tensor([beta - 1e-7, beta + 1e-7], dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert abs(near[0] - near[1]).item() < 1e-5
    mean = BalancedL1Loss(loss_weight=2.0)(x.detach(), torch.zeros_like(x), avg_factor=10)
    torch.testing.assert_close(mean, 2.0 * values.detach().sum() / 10)


def _assign(gt_inds, max_overlaps, num_gts):
    gt_inds = torch.tensor(gt_inds)
    labels = torch.where(gt_inds > 0, gt_inds - 1, torch.full_like(gt_inds, -1))
    return AssignResult(num_gts, gt_inds, torch.tensor(max_overlaps, dtype=torch.float32), labels=labels)


def _libra_sampler(num=12, floor_thr=-1, floor_fraction=0.0):
    return build_sampler(dict(type="CombinedSampler", num=num, pos_fraction=0.5, add_gt_as_proposals=False,
                              pos_sampler=dict(type="InstanceBalancedPosSampler"),
                              neg_sampler=dict(type="IoUBalancedNegSampler", floor_thr=floor_thr,
                                               floor_fraction=floor_fraction, num_bins=3)))


def test_instance_balanced_positives_cover_every_ground_truth():
    torch.manual_seed(0)
    # gt 1 owns 20 positives, gt 2 and 3 own 2 each; 6 positives wanted
    gt_inds = [1] * 20 + [2] * 2 + [3] * 2 + [0] * 40
    result = _assign(gt_inds, [0.8] * 24 + [0.1] * 40, 3)
    sampler = _libra_sampler()
    pos = sampler.pos_sampler._sample_pos(result, 6)
    owners = torch.tensor(gt_inds)[pos]
    assert len(pos) == 6 and set(owners.tolist()) == {1, 2, 3} and len(pos.unique()) == 6


def test_iou_balanced_negatives_come_from_every_iou_bin():
    torch.manual_seed(0)
    # 90 easy negatives (IoU 0.02-0.05), 9 medium (0.16-0.24), 3 hard (0.36-0.38) and the highest, 0.45:
    # bins [0, 0.15), [0.15, 0.3), [0.3, 0.45); 9 negatives wanted, 3 per bin
    ious = [0.02 + 0.03 * (i % 2) for i in range(90)] + [0.16 + 0.01 * i for i in range(9)] + [0.36, 0.37, 0.38, 0.45]
    result = _assign([0] * len(ious), ious, 2)
    neg = _libra_sampler().neg_sampler._sample_neg(result, 9)
    picked = torch.tensor(ious)[neg]
    assert len(neg) == 9 and len(neg.unique()) == 9
    assert ((picked > 0.3) & (picked < 0.4)).sum() == 3 and ((picked > 0.15) & (picked < 0.3)).sum() == 3
    # random sampling would take almost only easy ones; floor_fraction=1 does exactly that
    floor = _libra_sampler(floor_thr=0.1, floor_fraction=1.0).neg_sampler._sample_neg(result, 9)
    assert (torch.tensor(ious)[floor] < 0.1).all()
    with pytest.raises(ConfigError, match="floor_thr"):
        _libra_sampler(floor_thr=-0.5)


def test_combined_sampler_samples_both_sides():
    torch.manual_seed(1)
    result = _assign([1, 1, 2, 0, 0, 0, 0, 0], [0.9, 0.7, 0.8, 0.3, 0.2, 0.1, 0.0, 0.05], 2)
    bboxes = torch.rand(8, 4) * 10
    bboxes[:, 2:] += bboxes[:, :2]
    sampling = _libra_sampler(num=6).sample(result, bboxes, torch.rand(2, 4) * 10 + torch.tensor([0, 0, 10, 10]),
                                            torch.tensor([0, 1]))
    assert sorted(sampling.pos_inds.tolist()) == [0, 1, 2] and len(sampling.neg_inds) == 3


def test_a_list_of_necks_runs_in_order_with_indexed_keys():
    neck = NECKS.build([dict(type="FPN", in_channels=[4, 8], out_channels=8, num_outs=3),
                        dict(type="BFP", in_channels=8, num_levels=3, refine_level=1, refine_type="non_local")])
    assert isinstance(neck, Sequential) and isinstance(neck[0], FPN) and isinstance(neck[1], BFP)
    assert {"0.lateral_convs.0.conv.weight", "1.refine.g.conv.weight", "1.refine.conv_out.conv.weight"} <= set(
        neck.state_dict())
    outs = neck([torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8)])
    assert [o.shape[-1] for o in outs] == [16, 8, 4]
