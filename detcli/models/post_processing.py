"""Turning scored boxes into detections: score filtering, top-k and (class-aware) NMS.

NMS runs on ``torchvision.ops.nms``; boxes of different classes (or RPN levels) are kept
apart by offsetting each class into its own coordinate range, and a box is suppressed
when its IoU with a higher-scoring one is strictly greater than the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchvision.ops import nms as tv_nms

from detcli.errors import ConfigError

_NMS_KEYS = {"type", "iou_threshold", "iou_thr", "split_thr", "class_agnostic", "max_num", "offset",
             "score_threshold"}


def nms_settings(nms_cfg: Mapping) -> dict[str, Any]:
    """The keyword arguments of ``nms`` (plus ``split_thr``, ``max_num``) from an ``nms`` config dict;
    a type other than ``nms``, an unknown key or a missing threshold is a ``ConfigError``."""
    cfg = dict(nms_cfg)
    nms_type = cfg.pop("type", "nms")
    if nms_type != "nms":
        raise ConfigError(
            f"nms type {nms_type!r} is not supported",
            hint="use nms=dict(type='nms', iou_threshold=...)",
        )
    unknown = set(cfg) - _NMS_KEYS
    if unknown:
        raise ConfigError(f"unknown nms settings {sorted(unknown)} in {dict(nms_cfg)}")
    if "iou_threshold" not in cfg and "iou_thr" not in cfg:
        raise ConfigError(f"nms config {dict(nms_cfg)} has no 'iou_threshold'",
                          hint="e.g. nms=dict(type='nms', iou_threshold=0.5)")
    offset = int(cfg.get("offset", 0))
    if offset not in (0, 1):
        raise ConfigError(f"nms offset must be 0 or 1, got {offset}")
    return dict(
        iou_threshold=float(cfg.get("iou_threshold", cfg.get("iou_thr"))),
        split_thr=cfg.get("split_thr", 10000),
        max_num=int(cfg.get("max_num", -1)),
        offset=offset,
        score_threshold=float(cfg.get("score_threshold", 0)),
    )


# On the CPU, torchvision's NMS compares every kept box with every later box, groups or not:
# from this many boxes on, one call per group (RPN level, class) is faster, with the same result.
CPU_GROUPED_NMS_MIN_BOXES = 1000


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0,
        score_threshold: float = 0, max_num: int = -1,
        groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dets (k, 5), keep)`` in descending score order.

    ``offset=1`` is the legacy "+1 pixel" box size convention. ``groups`` (one id per box)
    are boxes that cannot suppress each other (already offset apart by ``batched_nms``):
    they only let the work split per group, the result is that of one call.
    """
    valid = None
    if score_threshold > 0:
        valid = torch.nonzero(scores > score_threshold, as_tuple=False).view(-1)
        boxes, scores = boxes[valid], scores[valid]
        groups = None if groups is None else groups[valid]
    boxes_for_iou = boxes
    if offset:
        boxes_for_iou = torch.cat([boxes[:, :2], boxes[:, 2:4] + offset], dim=1)
    # Tied scores: torchvision orders them with a stable sort, mmdetection 2.x with torch's default
    # (unstable) sort. Sort the default way here and hand torchvision strictly decreasing ranks,
    # so ties resolve exactly as in 2.x checkpoints' reference outputs.
    order = scores.sort(0, descending=True)[1]
    ranks = torch.arange(len(order), 0, -1, dtype=torch.float32, device=scores.device)
    sorted_boxes = boxes_for_iou[order].float().contiguous()
    if groups is None:
        kept = tv_nms(sorted_boxes, ranks, iou_threshold)
    else:
        kept = _nms_per_group(sorted_boxes, ranks, groups[order], iou_threshold)
    keep = order[kept]
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep, None]], dim=1)
    if valid is not None:
        keep = valid[keep]
    return dets, keep


def _nms_per_group(sorted_boxes: torch.Tensor, ranks: torch.Tensor, sorted_groups: torch.Tensor,
                   iou_threshold: float) -> torch.Tensor:
    """Positions (ascending, i.e. by rank) that one NMS call over all groups would keep."""
    kept = torch.zeros(len(sorted_boxes), dtype=torch.bool, device=sorted_boxes.device)
    for group in torch.unique(sorted_groups):
        pos = (sorted_groups == group).nonzero(as_tuple=False).view(-1)
        kept[pos[tv_nms(sorted_boxes[pos], ranks[pos], iou_threshold)]] = True
    return kept.nonzero(as_tuple=False).view(-1)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, nms_cfg: Mapping | None,
                class_agnostic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """NMS within each group of ``idxs`` (class or level); ``nms_cfg=None`` only sorts.

    Returns ``(dets, keep)``: ``dets`` ``(k, 5)`` ``[x1, y1, x2, y2, score]`` sorted by score,
    ``keep`` the indices into the inputs.
    """
    if nms_cfg is None:
        scores, inds = scores.sort(descending=True)
        return torch.cat([boxes[inds], scores[:, None]], -1), inds
    class_agnostic = nms_cfg.get("class_agnostic", class_agnostic)
    settings = nms_settings(nms_cfg)
    split_thr, max_num = settings.pop("split_thr"), settings.pop("max_num")
    if class_agnostic or boxes.numel() == 0:
        boxes_for_nms = boxes
    else:  # shift each group far away from the others so they never overlap
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        boxes_for_nms = boxes + offsets[:, None]

    if boxes_for_nms.shape[0] < split_thr:
        grouped = (not class_agnostic and boxes.device.type == "cpu"
                   and boxes_for_nms.shape[0] >= CPU_GROUPED_NMS_MIN_BOXES)
        dets, keep = nms(boxes_for_nms, scores, max_num=max_num, groups=idxs if grouped else None, **settings)
        boxes, scores = boxes[keep], dets[:, -1]
    else:  # very many boxes: one NMS per group keeps the IoU matrices small
        total_mask = scores.new_zeros(scores.size(), dtype=torch.bool)
        scores_after = scores.new_zeros(scores.size())
        for group in torch.unique(idxs):
            mask = (idxs == group).nonzero(as_tuple=False).view(-1)
            dets, keep = nms(boxes_for_nms[mask], scores[mask], **settings)
            total_mask[mask[keep]] = True
            scores_after[mask[keep]] = dets[:, -1]
        keep = total_mask.nonzero(as_tuple=False).view(-1)
        scores, order = scores_after[keep].sort(descending=True)
        keep = keep[order]
        boxes = boxes[keep]
        if max_num > 0:
            keep, boxes, scores = keep[:max_num], boxes[:max_num], scores[:max_num]
    return torch.cat([boxes, scores[:, None]], -1), keep


def multiclass_nms(multi_bboxes: torch.Tensor, multi_scores: torch.Tensor, score_thr: float, nms_cfg: Mapping,
                   max_num: int = -1, score_factors: torch.Tensor | None = None,
                   return_inds: bool = False) -> tuple[torch.Tensor, ...]:
    """Per-class NMS of ``(n, 4)`` or ``(n, 4 * C)`` boxes with ``(n, C + 1)`` scores (last = background).

    The score threshold applies before ``score_factors`` multiply the scores.
    Returns ``(dets (k, 5), labels (k,))`` and, with ``return_inds``, the flat
    ``box * C + class`` indices of the kept entries.
    """
    num_classes = multi_scores.size(1) - 1
    if multi_bboxes.shape[1] > 4:
        bboxes = multi_bboxes.view(multi_scores.size(0), -1, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), num_classes, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device).view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    valid_mask = scores > score_thr
    if score_factors is not None:
        factors = score_factors.view(-1, 1).expand(multi_scores.size(0), num_classes).reshape(-1)
        scores = scores * factors
    inds = valid_mask.nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    if bboxes.numel() == 0:
        dets = torch.cat([bboxes, scores[:, None]], -1)
        return (dets, labels, inds) if return_inds else (dets, labels)
    dets, keep = batched_nms(bboxes, scores, labels, nms_cfg)
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    return (dets, labels[keep], inds[keep]) if return_inds else (dets, labels[keep])


def sorted_top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``k`` of ``scores.sort(descending=True)``: values and indices.

    ``topk`` is much cheaper than a full sort but may order tied scores differently, and
    2.x results depend on the sort's tie order. So ``topk`` answers only when its ``k + 1``
    best scores are all distinct (then both orders are the one order); otherwise sort.
    """
    if k < scores.numel():
        values, idxs = scores.topk(k + 1)
        if bool((values[:-1] > values[1:]).all()):
            return values[:k], idxs[:k]
    values, idxs = scores.sort(descending=True)
    return values[:k], idxs[:k]


def filter_scores_and_topk(scores: torch.Tensor, score_thr: float, topk: int,
                           results: Mapping | Sequence | torch.Tensor | None = None):
    """Keep ``(anchor, class)`` pairs scoring above ``score_thr``, at most the ``topk`` best (-1: all).

    Returns ``(scores, labels, anchor_idxs, filtered_results)`` where ``results`` (a dict,
    list or tensor of per-anchor values) is indexed by the kept anchors.
    """
    valid_mask = scores > score_thr
    scores = scores[valid_mask]
    valid_idxs = torch.nonzero(valid_mask)
    num_topk = valid_idxs.size(0) if topk is None or topk < 0 else min(topk, valid_idxs.size(0))
    scores, idxs = sorted_top_k(scores, num_topk)
    keep_idxs, labels = valid_idxs[idxs].unbind(dim=1)
    filtered = None
    if isinstance(results, Mapping):
        filtered = {k: v[keep_idxs] for k, v in results.items()}
    elif isinstance(results, (list, tuple)):
        filtered = [r[keep_idxs] for r in results]
    elif isinstance(results, torch.Tensor):
        filtered = results[keep_idxs]
    elif results is not None:
        raise TypeError(f"results must be a dict, list or tensor, got {type(results).__name__}")
    return scores, labels, keep_idxs, filtered


def select_single_mlvl(mlvl_tensors: Sequence[torch.Tensor], batch_id: int, detach: bool = True) -> list[torch.Tensor]:
    """One image's slice of every level's batched tensor."""
    return [t[batch_id].detach() if detach else t[batch_id] for t in mlvl_tensors]
