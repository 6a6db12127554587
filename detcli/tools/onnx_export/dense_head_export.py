"""Traceable test-time post-processing of dense heads: single-stage detections and RPN proposals.

Mirrors ``BaseDenseHead._get_bboxes_single`` / ``_bbox_post_process`` and
``RPNHead._get_bboxes_single`` / ``_bbox_post_process`` for one image, without rescaling
(boxes stay in the network input's pixels, as mmdetection's exported models give them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from detcli.models.dense_heads.rpn_head import rpn_test_settings
from detcli.models.task_modules.anchor_generator import AnchorGenerator

from . import traceable_ops as ops


def level_priors(prior_generator, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Each level's priors; the anchor grid is computed from the traced feature sizes."""
    if isinstance(prior_generator, AnchorGenerator) and (
            type(prior_generator).single_level_grid_priors is AnchorGenerator.single_level_grid_priors):
        return [ops.anchor_grid(prior_generator, level, feat) for level, feat in enumerate(feats)]
    # other prior generators: their grids become constants of the graph (static input sizes only)
    return prior_generator.grid_priors([feat.shape[-2:] for feat in feats], dtype=feats[0].dtype)


def dense_detections(head, outs: Sequence[Sequence[torch.Tensor]], img_hw: torch.Tensor,
                     cfg: Mapping | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dets (n, 5), labels (n,))`` of image 0 from a dense head's raw ``outs``."""
    cfg = head.test_cfg if cfg is None else cfg
    cls_scores, bbox_preds = outs[0], outs[1]
    score_factors = outs[2] if len(outs) > 2 else None
    nms_pre = cfg.get("nms_pre", -1)
    priors = level_priors(head.prior_generator, cls_scores)
    mlvl_bboxes, mlvl_scores, mlvl_labels, mlvl_factors = [], [], [], []
    for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
        bbox_pred = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
        cls_score = cls_score[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)
        scores = cls_score.sigmoid() if head.use_sigmoid_cls else cls_score.softmax(-1)[:, :-1]
        scores, labels, keep = ops.filter_scores_and_topk(scores, cfg["score_thr"], nms_pre)
        mlvl_bboxes.append(ops.decode_boxes(head.bbox_coder, priors[level][keep], bbox_pred[keep], img_hw))
        mlvl_scores.append(scores)
        mlvl_labels.append(labels)
        if score_factors is not None:
            mlvl_factors.append(score_factors[level][0].permute(1, 2, 0).reshape(-1).sigmoid()[keep])
    bboxes = torch.cat(mlvl_bboxes)
    scores = torch.cat(mlvl_scores)
    labels = torch.cat(mlvl_labels)
    if score_factors is not None:
        scores = scores * torch.cat(mlvl_factors)
    dets, keep = ops.batched_nms(bboxes, scores, labels, cfg["nms"])
    max_per_img = cfg["max_per_img"]
    return dets[:max_per_img], labels[keep][:max_per_img]


def rpn_proposals(rpn_head, outs: Sequence[Sequence[torch.Tensor]], img_hw: torch.Tensor,
                  cfg: Mapping | None = None) -> torch.Tensor:
    """``(n, 5)`` proposals of image 0 from the RPN's raw ``(cls_scores, bbox_preds)``."""
    cfg = rpn_test_settings(rpn_head.test_cfg if cfg is None else cfg)
    nms_pre = cfg["nms_pre"]
    cls_scores, bbox_preds = outs[0], outs[1]
    priors = level_priors(rpn_head.prior_generator, cls_scores)
    level_ids, mlvl_scores, mlvl_deltas, mlvl_anchors = [], [], [], []
    for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
        cls_score = cls_score[0].permute(1, 2, 0)
        if rpn_head.use_sigmoid_cls:
            scores = cls_score.reshape(-1).sigmoid()
        else:  # two-way softmax; channel 0 is the foreground
            scores = cls_score.reshape(-1, 2).softmax(dim=1)[:, 0]
        deltas = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
        anchors = priors[level]
        if nms_pre > 0:
            scores, top = ops.sorted_top_k(scores, nms_pre)
            deltas, anchors = deltas[top], anchors[top]
        mlvl_scores.append(scores)
        mlvl_deltas.append(deltas)
        mlvl_anchors.append(anchors)
        level_ids.append(torch.full_like(scores, level, dtype=torch.long))
    scores = torch.cat(mlvl_scores)
    proposals = ops.decode_boxes(rpn_head.bbox_coder, torch.cat(mlvl_anchors), torch.cat(mlvl_deltas), img_hw)
    ids = torch.cat(level_ids)
    if cfg["min_bbox_size"] >= 0:
        w = proposals[:, 2] - proposals[:, 0]
        h = proposals[:, 3] - proposals[:, 1]
        valid = torch.nonzero((w > cfg["min_bbox_size"]) & (h > cfg["min_bbox_size"])).reshape(-1)
        proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
    if cfg.get("nms_across_levels", False):
        ids = torch.zeros_like(ids)
    dets, _ = ops.batched_nms(proposals, scores, ids, cfg["nms"])
    return dets[:cfg["max_per_img"]]
