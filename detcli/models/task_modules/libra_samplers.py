"""Libra R-CNN's balanced sampling (https://arxiv.org/abs/1904.02701).

``CombinedSampler`` takes positives from one sampler and negatives from another;
``InstanceBalancedPosSampler`` spreads the positives evenly over the ground-truth boxes;
``IoUBalancedNegSampler`` spreads the negatives evenly over IoU bins, so that hard negatives
(higher IoU, rare among random picks) are not drowned by easy ones.
"""

from __future__ import annotations

import torch

from detcli.errors import ConfigError
from detcli.registry import BBOX_SAMPLERS

from .assigners import AssignResult
from .builder import build_sampler
from .samplers import BaseSampler, RandomSampler


def _not_in(candidates: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """``candidates`` without the indices in ``taken``."""
    if taken.numel() == 0:
        return candidates
    return candidates[~torch.isin(candidates, taken)]


def _top_up(sampled: torch.Tensor, pool: torch.Tensor, num_expected: int, sampler: RandomSampler) -> torch.Tensor:
    """Fill ``sampled`` up to ``num_expected`` with random other indices of ``pool``."""
    missing = num_expected - sampled.numel()
    if missing <= 0:
        return sampled
    extra = _not_in(pool, sampled)
    if extra.numel() > missing:
        extra = sampler.random_choice(extra, missing)
    return torch.cat([sampled, extra])


@BBOX_SAMPLERS.register_module()
class CombinedSampler(BaseSampler):
    """``pos_sampler`` chooses the positives, ``neg_sampler`` the negatives (both get this sampler's arguments)."""

    def __init__(self, pos_sampler: dict, neg_sampler: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pos_sampler = build_sampler(pos_sampler, **kwargs)
        self.neg_sampler = build_sampler(neg_sampler, **kwargs)


@BBOX_SAMPLERS.register_module()
class InstanceBalancedPosSampler(RandomSampler):
    """About ``num_expected / num_gts`` positives per ground-truth box, topped up at random."""

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1)
        if pos_inds.numel() <= num_expected:
            return pos_inds
        pos_gts = assign_result.gt_inds[pos_inds]
        unique_gts = pos_gts.unique()
        per_gt = int(round(num_expected / float(len(unique_gts))) + 1)
        chosen = []
        for gt in unique_gts:  # one draw per ground-truth box
            inds = pos_inds[pos_gts == gt]
            chosen.append(self.random_choice(inds, per_gt) if inds.numel() > per_gt else inds)
        sampled = torch.cat(chosen)
        if sampled.numel() > num_expected:
            return self.random_choice(sampled, num_expected)
        return _top_up(sampled, pos_inds, num_expected, self)


@BBOX_SAMPLERS.register_module()
class IoUBalancedNegSampler(RandomSampler):
    """Negatives: ``floor_fraction`` of them at random below IoU ``floor_thr``, the rest evenly from
    ``num_bins`` IoU bins between ``floor_thr`` and the highest negative IoU (``floor_thr=-1``: all by bins,
    from 0)."""

    def __init__(self, num: int, pos_fraction: float, floor_thr: float = -1, floor_fraction: float = 0,
                 num_bins: int = 3, **kwargs) -> None:
        super().__init__(num, pos_fraction, **kwargs)
        if not (floor_thr >= 0 or floor_thr == -1):
            raise ConfigError(f"IoUBalancedNegSampler floor_thr must be >= 0 or -1, got {floor_thr}")
        if not 0 <= floor_fraction <= 1:
            raise ConfigError(f"IoUBalancedNegSampler floor_fraction must be in [0, 1], got {floor_fraction}")
        if num_bins < 1:
            raise ConfigError(f"IoUBalancedNegSampler num_bins must be >= 1, got {num_bins}")
        self.floor_thr = floor_thr
        self.floor_fraction = floor_fraction
        self.num_bins = num_bins

    def sample_via_interval(self, max_overlaps: torch.Tensor, candidates: torch.Tensor,
                            num_expected: int) -> torch.Tensor:
        """Up to ``num_expected / num_bins`` of ``candidates`` from each IoU bin, topped up at random."""
        floor = max(self.floor_thr, 0)
        step = (max_overlaps.max() - floor) / self.num_bins
        per_bin = int(num_expected / self.num_bins)
        chosen = []
        for i in range(self.num_bins):
            iou = max_overlaps[candidates]
            inds = candidates[(iou >= floor + i * step) & (iou < floor + (i + 1) * step)]
            chosen.append(self.random_choice(inds, per_bin) if inds.numel() > per_bin else inds)
        return _top_up(torch.cat(chosen), candidates, num_expected, self)

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1)
        if neg_inds.numel() <= num_expected:
            return neg_inds
        iou = assign_result.max_overlaps[neg_inds]
        if self.floor_thr > 0:
            floor_inds, binned_inds = neg_inds[(iou >= 0) & (iou < self.floor_thr)], neg_inds[iou >= self.floor_thr]
        elif self.floor_thr == 0:
            floor_inds, binned_inds = neg_inds[iou == 0], neg_inds[iou > 0]
        else:
            floor_inds, binned_inds = neg_inds[:0], neg_inds[iou > 0]
        num_binned = int(num_expected * (1 - self.floor_fraction))
        if binned_inds.numel() > num_binned:
            if self.num_bins >= 2:
                binned = self.sample_via_interval(assign_result.max_overlaps, binned_inds, num_binned)
            else:
                binned = self.random_choice(binned_inds, num_binned)
        else:
            binned = binned_inds
        num_floor = num_expected - binned.numel()
        floor = self.random_choice(floor_inds, num_floor) if floor_inds.numel() > num_floor else floor_inds
        return _top_up(torch.cat([floor, binned]), neg_inds, num_expected, self)
