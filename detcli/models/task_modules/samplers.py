"""Choosing which assigned boxes train the head: ``RandomSampler`` and ``PseudoSampler``.

Random draws use torch's global generator, so ``torch.manual_seed`` makes them repeatable.
"""

from __future__ import annotations

import torch

from detcli.registry import BBOX_SAMPLERS

from .assigners import AssignResult


class SamplingResult:
    """The sampled positives/negatives of one image and their matched gts."""

    def __init__(self, pos_inds: torch.Tensor, neg_inds: torch.Tensor, bboxes: torch.Tensor,
                 gt_bboxes: torch.Tensor, assign_result: AssignResult, gt_flags: torch.Tensor) -> None:
        self.pos_inds = pos_inds
        self.neg_inds = neg_inds
        self.pos_bboxes = bboxes[pos_inds]
        self.neg_bboxes = bboxes[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = gt_bboxes.shape[0]
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        if gt_bboxes.numel() == 0:
            self.pos_gt_bboxes = torch.empty_like(gt_bboxes).view(-1, 4)
        else:
            self.pos_gt_bboxes = gt_bboxes.view(-1, 4)[self.pos_assigned_gt_inds.long(), :]
        self.pos_gt_labels = assign_result.labels[pos_inds] if assign_result.labels is not None else None

    @property
    def bboxes(self) -> torch.Tensor:
        return torch.cat([self.pos_bboxes, self.neg_bboxes])

    def to(self, device) -> SamplingResult:
        for key, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))
        return self

    @property
    def info(self) -> dict:
        return {"pos_inds": self.pos_inds, "neg_inds": self.neg_inds, "pos_bboxes": self.pos_bboxes,
                "neg_bboxes": self.neg_bboxes, "pos_is_gt": self.pos_is_gt, "num_gts": self.num_gts,
                "pos_assigned_gt_inds": self.pos_assigned_gt_inds}

    def __repr__(self) -> str:
        return (f"<SamplingResult(num_pos={len(self.pos_inds)}, num_neg={len(self.neg_inds)}, "
                f"num_gts={self.num_gts})>")


class BaseSampler:
    """Samples ``num`` boxes, up to ``pos_fraction`` of them positive.

    ``neg_pos_ub >= 0`` caps negatives at that multiple of the positives;
    ``add_gt_as_proposals`` puts the gts first among the candidates.
    Subclasses implement ``_sample_pos`` / ``_sample_neg``.
    """

    def __init__(self, num: int, pos_fraction: float, neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True, **kwargs) -> None:
        self.num = num
        self.pos_fraction = pos_fraction
        self.neg_pos_ub = neg_pos_ub
        self.add_gt_as_proposals = add_gt_as_proposals
        self.pos_sampler = self
        self.neg_sampler = self

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        raise NotImplementedError

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, assign_result: AssignResult, bboxes: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_labels: torch.Tensor | None = None, **kwargs) -> SamplingResult:
        if bboxes.dim() < 2:
            bboxes = bboxes[None, :]
        bboxes = bboxes[:, :4]
        gt_flags = bboxes.new_zeros((bboxes.shape[0],), dtype=torch.uint8)
        if self.add_gt_as_proposals and len(gt_bboxes) > 0:
            if gt_labels is None:
                raise ValueError("gt_labels must be given when add_gt_as_proposals is True")
            bboxes = torch.cat([gt_bboxes, bboxes], dim=0)
            assign_result.add_gt_(gt_labels)
            gt_flags = torch.cat([bboxes.new_ones(gt_bboxes.shape[0], dtype=torch.uint8), gt_flags])

        num_expected_pos = int(self.num * self.pos_fraction)
        pos_inds = self.pos_sampler._sample_pos(assign_result, num_expected_pos, bboxes=bboxes, **kwargs)
        pos_inds = pos_inds.unique()
        num_sampled_pos = pos_inds.numel()
        num_expected_neg = self.num - num_sampled_pos
        if self.neg_pos_ub >= 0:
            num_expected_neg = min(num_expected_neg, int(self.neg_pos_ub * max(1, num_sampled_pos)))
        neg_inds = self.neg_sampler._sample_neg(assign_result, num_expected_neg, bboxes=bboxes, **kwargs)
        neg_inds = neg_inds.unique()
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)


@BBOX_SAMPLERS.register_module()
class RandomSampler(BaseSampler):
    """Uniformly random positives and negatives."""

    def __init__(self, num: int, pos_fraction: float, neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True, **kwargs) -> None:
        super().__init__(num, pos_fraction, neg_pos_ub, add_gt_as_proposals)

    @staticmethod
    def random_choice(gallery: torch.Tensor, num: int) -> torch.Tensor:
        """``num`` distinct random elements of ``gallery``."""
        if len(gallery) < num:
            raise ValueError(f"cannot choose {num} of {len(gallery)} elements")
        perm = torch.randperm(gallery.numel())[:num].to(device=gallery.device)
        return gallery[perm]

    def _sample_pos(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1)
        return pos_inds if pos_inds.numel() <= num_expected else self.random_choice(pos_inds, num_expected)

    def _sample_neg(self, assign_result: AssignResult, num_expected: int, **kwargs) -> torch.Tensor:
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1)
        return neg_inds if neg_inds.numel() <= num_expected else self.random_choice(neg_inds, num_expected)


@BBOX_SAMPLERS.register_module()
class PseudoSampler(BaseSampler):
    """Takes every positive and negative as they are (heads that weigh all anchors, e.g. focal loss)."""

    def __init__(self, **kwargs) -> None:
        pass

    def sample(self, assign_result: AssignResult, bboxes: torch.Tensor, gt_bboxes: torch.Tensor,
               *args, **kwargs) -> SamplingResult:
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).view(-1).unique()
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).view(-1).unique()
        gt_flags = bboxes.new_zeros(bboxes.shape[0], dtype=torch.uint8)
        return SamplingResult(pos_inds, neg_inds, bboxes, gt_bboxes, assign_result, gt_flags)
