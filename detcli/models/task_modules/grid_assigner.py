"""``GridAssigner`` (YOLOv3): only anchors of the cell holding a gt's centre may become positive.

Negatives are anchors whose best IoU is at most ``neg_iou_thr`` (wherever they are);
positives are responsible anchors with IoU above ``pos_iou_thr``, and every gt also takes
its best responsible anchor(s) when that IoU exceeds ``min_pos_iou``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from detcli.registry import BBOX_ASSIGNERS, IOU_CALCULATORS

from .assigners import AssignResult, BaseAssigner, low_quality_winners


@BBOX_ASSIGNERS.register_module()
class GridAssigner(BaseAssigner):
    def __init__(self, pos_iou_thr: float, neg_iou_thr: float | tuple[float, float], min_pos_iou: float = 0.0,
                 gt_max_assign_all: bool = True, iou_calculator: Mapping = dict(type="BboxOverlaps2D")) -> None:
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.iou_calculator = IOU_CALCULATORS.build(iou_calculator)

    def assign(self, bboxes: torch.Tensor, box_responsible_flags: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_labels: torch.Tensor | None = None) -> AssignResult:
        num_gts, num_bboxes = gt_bboxes.size(0), bboxes.size(0)
        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        assigned = overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
        if num_gts == 0 or num_bboxes == 0:
            if num_gts == 0:
                assigned[:] = 0
            return AssignResult.with_gt_labels(num_gts, assigned, overlaps.new_zeros((num_bboxes,)), gt_labels)

        max_overlaps = overlaps.max(dim=0).values
        if isinstance(self.neg_iou_thr, (tuple, list)):
            lo, hi = self.neg_iou_thr
            assigned[(max_overlaps > lo) & (max_overlaps <= hi)] = 0
        else:
            assigned[(max_overlaps >= 0) & (max_overlaps <= self.neg_iou_thr)] = 0

        responsible = box_responsible_flags.bool()
        overlaps[:, ~responsible] = -1.0
        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
        pos = (max_overlaps > self.pos_iou_thr) & responsible
        assigned[pos] = argmax_overlaps[pos] + 1

        # each gt claims its best responsible anchor(s); a later gt wins a shared anchor
        winner = low_quality_winners(overlaps, gt_max_overlaps, gt_argmax_overlaps, gt_max_overlaps > self.min_pos_iou,
                                     self.gt_max_assign_all, box_mask=responsible)
        assigned = torch.where(winner > 0, winner, assigned)

        return AssignResult.with_gt_labels(num_gts, assigned, max_overlaps, gt_labels)
