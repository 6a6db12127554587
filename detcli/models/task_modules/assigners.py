"""Assigning anchors/proposals to ground-truth boxes.

``AssignResult.gt_inds`` holds, per box: ``-1`` ignore, ``0`` negative, ``i + 1`` assigned
to gt ``i``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from detcli.registry import BBOX_ASSIGNERS, IOU_CALCULATORS


class AssignResult:
    """What an assigner decided for each predicted box."""

    def __init__(self, num_gts: int, gt_inds: torch.Tensor, max_overlaps: torch.Tensor,
                 labels: torch.Tensor | None = None) -> None:
        self.num_gts = num_gts
        self.gt_inds = gt_inds
        self.max_overlaps = max_overlaps
        self.labels = labels
        self._extra_properties: dict = {}

    @classmethod
    def with_gt_labels(cls, num_gts: int, gt_inds: torch.Tensor, max_overlaps: torch.Tensor,
                       gt_labels: torch.Tensor | None) -> AssignResult:
        """The result whose ``labels`` are those of the assigned gts (-1 where none is assigned);
        no labels without ``gt_labels``."""
        labels = None
        if gt_labels is not None:
            labels = gt_inds.new_full(gt_inds.shape, -1)
            pos = gt_inds > 0
            labels[pos] = gt_labels[gt_inds[pos] - 1]
        return cls(num_gts, gt_inds, max_overlaps, labels=labels)

    @property
    def num_preds(self) -> int:
        return len(self.gt_inds)

    def set_extra_property(self, key: str, value) -> None:
        if key in self.info:
            raise KeyError(f"{key!r} is already a property of AssignResult")
        self._extra_properties[key] = value

    def get_extra_property(self, key: str):
        return self._extra_properties.get(key, None)

    @property
    def info(self) -> dict:
        return {"num_gts": self.num_gts, "num_preds": self.num_preds, "gt_inds": self.gt_inds,
                "max_overlaps": self.max_overlaps, "labels": self.labels, **self._extra_properties}

    def add_gt_(self, gt_labels: torch.Tensor) -> None:
        """Prepend the gts themselves as perfectly-matching predictions (sampler's add_gt_as_proposals)."""
        self_inds = torch.arange(1, len(gt_labels) + 1, dtype=torch.long, device=gt_labels.device)
        self.gt_inds = torch.cat([self_inds, self.gt_inds])
        self.max_overlaps = torch.cat([self.max_overlaps.new_ones(len(gt_labels)), self.max_overlaps])
        if self.labels is not None:
            self.labels = torch.cat([gt_labels, self.labels])

    def __repr__(self) -> str:
        def shape(t: torch.Tensor | None) -> tuple | None:
            return None if t is None else tuple(t.shape)

        return (f"<AssignResult(num_gts={self.num_gts}, gt_inds.shape={shape(self.gt_inds)}, "
                f"max_overlaps.shape={shape(self.max_overlaps)}, labels.shape={shape(self.labels)})>")


def low_quality_winners(overlaps: torch.Tensor, gt_max_overlaps: torch.Tensor, gt_argmax_overlaps: torch.Tensor,
                        eligible: torch.Tensor, assign_all: bool, box_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per box, the 1-based id of the gt that claims it as one of its best boxes (0: none).

    Each ``eligible`` gt claims its best box (every box tied at its best IoU with ``assign_all``),
    among the boxes of ``box_mask`` only when given; gts go in order, so a later gt wins a box
    claimed twice. Index pairs, not a gts x boxes matrix: crowded images stay cheap.
    """
    gt_ids = torch.arange(1, overlaps.shape[0] + 1, device=overlaps.device)
    winner = torch.zeros(overlaps.shape[1], dtype=torch.long, device=overlaps.device)
    if assign_all:
        hits = (overlaps == gt_max_overlaps[:, None]) & eligible[:, None]
        if box_mask is not None:
            hits &= box_mask[None, :]
        hit_gt, hit_box = torch.nonzero(hits, as_tuple=True)
        winner.scatter_reduce_(0, hit_box, gt_ids[hit_gt], reduce="amax")
    else:
        claim = eligible if box_mask is None else eligible & box_mask[gt_argmax_overlaps]
        winner.scatter_reduce_(0, gt_argmax_overlaps[claim], gt_ids[claim], reduce="amax")
    return winner


class BaseAssigner:
    """Interface: ``assign(bboxes, gt_bboxes, gt_bboxes_ignore=None, gt_labels=None) -> AssignResult``."""

    def assign(self, bboxes, gt_bboxes, gt_bboxes_ignore=None, gt_labels=None) -> AssignResult:
        raise NotImplementedError


@BBOX_ASSIGNERS.register_module()
class MaxIoUAssigner(BaseAssigner):
    """Assign each box to the gt it overlaps most.

    - IoU < ``neg_iou_thr`` (or within a ``(lo, hi)`` tuple): negative (0);
    - IoU >= ``pos_iou_thr``: positive;
    - with ``match_low_quality``, each gt also takes its best-overlapping boxes when that
      IoU >= ``min_pos_iou`` (all tied boxes if ``gt_max_assign_all``), so no gt is left out;
    - boxes overlapping ignored gts (IoF > ``ignore_iof_thr``) are ignored (-1).
    """

    def __init__(
        self,
        pos_iou_thr: float,
        neg_iou_thr: float | tuple[float, float],
        min_pos_iou: float = 0.0,
        gt_max_assign_all: bool = True,
        ignore_iof_thr: float = -1,
        ignore_wrt_candidates: bool = True,
        match_low_quality: bool = True,
        gpu_assign_thr: int = -1,
        iou_calculator: Mapping = dict(type="BboxOverlaps2D"),
    ) -> None:
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.min_pos_iou = min_pos_iou
        self.gt_max_assign_all = gt_max_assign_all
        self.ignore_iof_thr = ignore_iof_thr
        self.ignore_wrt_candidates = ignore_wrt_candidates
        self.gpu_assign_thr = gpu_assign_thr
        self.match_low_quality = match_low_quality
        self.iou_calculator = IOU_CALCULATORS.build(iou_calculator)

    def assign(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor, gt_bboxes_ignore: torch.Tensor | None = None,
               gt_labels: torch.Tensor | None = None) -> AssignResult:
        # Many gts make the (gts x boxes) matrix large: optionally compute it on the CPU.
        on_cpu = self.gpu_assign_thr > 0 and gt_bboxes.shape[0] > self.gpu_assign_thr
        device = bboxes.device
        if on_cpu:
            bboxes, gt_bboxes = bboxes.cpu(), gt_bboxes.cpu()
            gt_bboxes_ignore = gt_bboxes_ignore.cpu() if gt_bboxes_ignore is not None else None
            gt_labels = gt_labels.cpu() if gt_labels is not None else None

        overlaps = self.iou_calculator(gt_bboxes, bboxes)
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() > 0
                and bboxes.numel() > 0):
            if self.ignore_wrt_candidates:
                ignore_max = self.iou_calculator(bboxes, gt_bboxes_ignore, mode="iof").max(dim=1).values
            else:
                ignore_max = self.iou_calculator(gt_bboxes_ignore, bboxes, mode="iof").max(dim=0).values
            overlaps[:, ignore_max > self.ignore_iof_thr] = -1

        result = self.assign_wrt_overlaps(overlaps, gt_labels)
        if on_cpu:
            result.gt_inds = result.gt_inds.to(device)
            result.max_overlaps = result.max_overlaps.to(device)
            if result.labels is not None:
                result.labels = result.labels.to(device)
        return result

    def assign_wrt_overlaps(self, overlaps: torch.Tensor, gt_labels: torch.Tensor | None = None) -> AssignResult:
        """Assignment from a ``(num_gts, num_boxes)`` overlap matrix."""
        num_gts, num_bboxes = overlaps.shape
        assigned = overlaps.new_full((num_bboxes,), -1, dtype=torch.long)
        if num_gts == 0 or num_bboxes == 0:
            if num_gts == 0:
                assigned[:] = 0  # no gt: everything is background
            return AssignResult.with_gt_labels(num_gts, assigned, overlaps.new_zeros((num_bboxes,)), gt_labels)

        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)

        if isinstance(self.neg_iou_thr, (tuple, list)):
            lo, hi = self.neg_iou_thr
            assigned[(max_overlaps >= lo) & (max_overlaps < hi)] = 0
        else:
            assigned[(max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)] = 0
        pos = max_overlaps >= self.pos_iou_thr
        assigned[pos] = argmax_overlaps[pos] + 1

        if self.match_low_quality:
            winner = low_quality_winners(overlaps, gt_max_overlaps, gt_argmax_overlaps,
                                         gt_max_overlaps >= self.min_pos_iou, self.gt_max_assign_all)
            assigned = torch.where(winner > 0, winner, assigned)

        return AssignResult.with_gt_labels(num_gts, assigned, max_overlaps, gt_labels)
