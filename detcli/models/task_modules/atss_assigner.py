"""``ATSSAssigner``: Adaptive Training Sample Selection (Zhang et al., 2020).

Per gt: the ``topk`` anchors closest to its centre on every level are candidates; those whose
IoU reaches the candidates' mean + std (an adaptive threshold) and whose centre lies inside
the gt become positives. An anchor claimed by several gts goes to the one it overlaps most.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch

from detcli.registry import BBOX_ASSIGNERS, IOU_CALCULATORS
from detcli.structures.boxes import bbox_centers

from .assigners import AssignResult, BaseAssigner

_INF = 100000000


@BBOX_ASSIGNERS.register_module()
class ATSSAssigner(BaseAssigner):
    """``alpha`` (with ``cls_scores``/``bbox_preds`` at assign time) mixes classification into the cost."""

    def __init__(self, topk: int, alpha: float | None = None, iou_calculator: Mapping = dict(type="BboxOverlaps2D"),
                 ignore_iof_thr: float = -1) -> None:
        self.topk = topk
        self.alpha = alpha
        self.iou_calculator = IOU_CALCULATORS.build(iou_calculator)
        self.ignore_iof_thr = ignore_iof_thr

    def _overlaps(self, bboxes, gt_bboxes, gt_labels, cls_scores, bbox_preds) -> torch.Tensor:
        if self.alpha is None:
            if cls_scores is not None or bbox_preds is not None:
                warnings.warn("ATSSAssigner: cls_scores/bbox_preds are ignored without alpha", stacklevel=3)
            return self.iou_calculator(bboxes, gt_bboxes)
        if cls_scores is None or bbox_preds is None:
            raise ValueError("ATSSAssigner with alpha needs cls_scores and bbox_preds")
        cls_cost = torch.sigmoid(cls_scores[:, gt_labels])
        overlaps = self.iou_calculator(bbox_preds, gt_bboxes)
        return cls_cost ** (1 - self.alpha) * overlaps ** self.alpha

    def assign(self, bboxes: torch.Tensor, num_level_bboxes: Sequence[int], gt_bboxes: torch.Tensor,
               gt_bboxes_ignore: torch.Tensor | None = None, gt_labels: torch.Tensor | None = None,
               cls_scores: torch.Tensor | None = None, bbox_preds: torch.Tensor | None = None) -> AssignResult:
        """``num_level_bboxes``: how many of ``bboxes`` (concatenated levels) each level holds."""
        bboxes = bboxes[:, :4]
        num_gt, num_bboxes = gt_bboxes.size(0), bboxes.size(0)
        overlaps = self._overlaps(bboxes, gt_bboxes, gt_labels, cls_scores, bbox_preds)
        assigned = overlaps.new_full((num_bboxes,), 0, dtype=torch.long)
        if num_gt == 0 or num_bboxes == 0:
            return AssignResult.with_gt_labels(num_gt, assigned, overlaps.new_zeros((num_bboxes,)), gt_labels)

        points = bbox_centers(bboxes)
        distances = (points[:, None, :] - bbox_centers(gt_bboxes)[None, :, :]).pow(2).sum(-1).sqrt()
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() > 0
                and bboxes.numel() > 0):
            ignored = self.iou_calculator(bboxes, gt_bboxes_ignore, mode="iof").max(dim=1).values > self.ignore_iof_thr
            distances[ignored, :] = _INF
            assigned[ignored] = -1

        # candidates: per level, the topk closest anchors of each gt -> (num_candidates, num_gt)
        candidates, start = [], 0
        for count in num_level_bboxes:
            _, idxs = distances[start:start + count, :].topk(min(self.topk, count), dim=0, largest=False)
            candidates.append(idxs + start)
            start += count
        candidate_idxs = torch.cat(candidates, dim=0)
        gt_ids = torch.arange(num_gt, device=bboxes.device)
        candidate_overlaps = overlaps[candidate_idxs, gt_ids]
        threshold = candidate_overlaps.mean(0) + candidate_overlaps.std(0)
        is_pos = candidate_overlaps >= threshold[None, :]

        # a candidate's centre must lie inside its gt (by more than 0.01 px)
        cand_cx, cand_cy = points[candidate_idxs].unbind(-1)
        inside = torch.stack([cand_cx - gt_bboxes[:, 0], cand_cy - gt_bboxes[:, 1], gt_bboxes[:, 2] - cand_cx,
                              gt_bboxes[:, 3] - cand_cy], dim=1).min(dim=1)[0] > 0.01
        is_pos = is_pos & inside

        # each anchor goes to the gt with the highest IoU among those that selected it
        selected = torch.full_like(overlaps, -_INF)
        pos_anchor, pos_gt = candidate_idxs[is_pos], gt_ids.expand_as(candidate_idxs)[is_pos]
        selected[pos_anchor, pos_gt] = overlaps[pos_anchor, pos_gt]
        max_overlaps, argmax = selected.max(dim=1)
        hit = max_overlaps != -_INF
        assigned[hit] = argmax[hit] + 1

        return AssignResult.with_gt_labels(num_gt, assigned, max_overlaps, gt_labels)
