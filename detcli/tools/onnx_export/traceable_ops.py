"""Post-processing building blocks written for the TorchScript tracer behind ``torch.onnx.export``.

The model's own test-time code is tuned for eager PyTorch: it branches on sizes
(``if n == 0``, ``if k < n``), loops over groups found at run time and reshapes with
counts taken from the data. A trace records one path through those branches and bakes
counts into the graph, which breaks on the next image. The functions here compute the
same numbers with the same operations in the same order, but every size that depends on
the image is a tensor in the graph:

- top-k sizes are ``min(k, n)`` computed in the graph (ONNX ``TopK`` rejects ``k > n``);
- no ``reshape(n, -1)`` with a count that may be 0 (ONNX cannot infer ``-1`` then);
- NMS is one ``NonMaxSuppression`` node (``torchvision.ops.nms``' ONNX symbolic); classes
  or levels are kept apart by offsetting their boxes, exactly as ``batched_nms`` does.

Every function also runs eagerly, which is how the tests compare them with the model's path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torchvision.ops import nms as tv_nms

from detcli.models.post_processing import nms_settings
from detcli.models.task_modules.bbox_coder import apply_deltas
from detcli.structures.boxes import clip_bboxes


def dynamic_min(n: int | torch.Tensor, k: int) -> int | torch.Tensor:
    """``min(n, k)`` that stays in the graph when ``n`` is a traced size."""
    if isinstance(n, torch.Tensor):
        return torch.clamp(n, max=k)
    return min(n, k)


def image_hw(img: torch.Tensor) -> torch.Tensor:
    """The input's ``(h, w)`` as a float tensor (a graph value under tracing, not a constant)."""
    h, w = img.shape[2], img.shape[3]
    if isinstance(h, torch.Tensor):  # sizes are tensors while tracing
        return torch.stack([h, w]).to(torch.float32)
    return torch.tensor([h, w], dtype=torch.float32)


def sorted_top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``min(k, n)`` best scores (descending) and their indices; ``k < 0`` sorts them all."""
    if k < 0:
        return scores.sort(descending=True)
    return scores.topk(dynamic_min(scores.shape[0], k))


def filter_scores_and_topk(scores: torch.Tensor, score_thr: float,
                           topk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(scores, labels, row_idxs)`` of the ``(row, class)`` pairs above ``score_thr``, at most ``topk``.

    The pairs are those of ``detcli.models.post_processing.filter_scores_and_topk``.
    """
    valid_mask = scores > score_thr
    scores = scores[valid_mask]
    valid_idxs = torch.nonzero(valid_mask)
    scores, idxs = sorted_top_k(scores, topk)
    kept = valid_idxs[idxs]
    return scores, kept[:, 1], kept[:, 0]


def delta2bbox(rois: torch.Tensor, deltas: torch.Tensor, means: Sequence[float], stds: Sequence[float],
               max_hw: torch.Tensor | None, wh_ratio_clip: float = 16 / 1000, clip_border: bool = True,
               add_ctr_clamp: bool = False, ctr_clamp: float = 32) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode`` of ``(n, 4)`` rois and ``(n, 4 * k)`` deltas, clipped to ``max_hw``.

    No early return for empty input and the clip bound is a tensor, so the trace stays shape-generic.
    """
    bboxes = apply_deltas(rois, deltas, means, stds, wh_ratio_clip, add_ctr_clamp, ctr_clamp)
    if clip_border and max_hw is not None:
        bboxes = clip_bboxes(bboxes, max_hw)
    return bboxes.reshape(-1, deltas.shape[1])


def decode_boxes(coder, priors: torch.Tensor, preds: torch.Tensor, max_hw: torch.Tensor) -> torch.Tensor:
    """``coder.decode(priors, preds, max_shape=...)`` for the coders whose decoding is written here."""
    from detcli.models.task_modules.bbox_coder import DeltaXYWHBBoxCoder

    if type(coder) is DeltaXYWHBBoxCoder:
        return delta2bbox(priors, preds, coder.means, coder.stds, max_hw if coder.clip_border else None,
                          add_ctr_clamp=coder.add_ctr_clamp, ctr_clamp=coder.ctr_clamp)
    return coder.decode(priors, preds, max_shape=max_hw)


def anchor_grid(prior_generator, level: int, feat: torch.Tensor) -> torch.Tensor:
    """``AnchorGenerator.single_level_grid_priors`` for ``feat``'s size, read from the graph."""
    base_anchors = prior_generator.base_anchors[level].to(feat.dtype)
    feat_h, feat_w = feat.shape[-2], feat.shape[-1]
    stride_w, stride_h = prior_generator.strides[level]
    shift_x = torch.arange(0, feat_w).to(feat.dtype) * stride_w
    shift_y = torch.arange(0, feat_h).to(feat.dtype) * stride_h
    shift_xx = shift_x[None, :].expand(shift_y.shape[0], shift_x.shape[0]).reshape(-1)
    shift_yy = shift_y[:, None].expand(shift_y.shape[0], shift_x.shape[0]).reshape(-1)
    shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
    return (base_anchors[None, :, :] + shifts[:, None, :]).reshape(-1, 4)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0,
        score_threshold: float = 0, max_num: int = -1) -> torch.Tensor:
    """Indices kept by ``detcli.models.post_processing.nms``, in descending score order."""
    valid = None
    if score_threshold > 0:
        valid = torch.nonzero(scores > score_threshold).reshape(-1)
        boxes, scores = boxes[valid], scores[valid]
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:4] + offset], dim=1)
    # the model's NMS hands torchvision strictly decreasing ranks instead of the scores, so that
    # tied scores resolve in sort order; the same here keeps both paths' tie order alike
    order = scores.sort(0, descending=True)[1]
    ranks = torch.arange(scores.shape[0], 0, -1).to(torch.float32)
    kept = tv_nms(boxes[order].float(), ranks, iou_threshold)
    keep = order[kept]
    if max_num > 0:
        keep = keep[:max_num]
    return keep if valid is None else valid[keep]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, nms_cfg: Mapping | None,
                class_agnostic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dets (k, 5), keep)`` as ``detcli.models.post_processing.batched_nms`` gives them."""
    if nms_cfg is None:
        scores, keep = scores.sort(descending=True)
        return torch.cat([boxes[keep], scores[:, None]], -1), keep
    class_agnostic = nms_cfg.get("class_agnostic", class_agnostic)
    settings = nms_settings(nms_cfg)
    settings.pop("split_thr")
    max_num = settings.pop("max_num")
    if class_agnostic:
        boxes_for_nms = boxes
    else:  # every group shifted beyond the others' extent, so that groups never overlap
        # the appended 0 lets an empty set through (max() of nothing fails eagerly); it changes
        # the offsets only when every coordinate is negative, where groups stay apart all the same
        max_coordinate = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
        offsets = idxs.to(boxes) * (max_coordinate + 1)
        boxes_for_nms = boxes + offsets[:, None]
    keep = nms(boxes_for_nms, scores, max_num=max_num, **settings)
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), keep


def multiclass_nms(multi_bboxes: torch.Tensor, multi_scores: torch.Tensor, num_classes: int, per_class_boxes: bool,
                   score_thr: float, nms_cfg: Mapping, max_num: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dets, labels)`` of ``detcli.models.post_processing.multiclass_nms`` (background score last).

    ``num_classes`` (without background) and whether the boxes are ``(n, 4 * num_classes)``
    come from the head, since sizes read from tensors are graph values when tracing.
    """
    if per_class_boxes:
        bboxes = multi_bboxes.reshape(-1, num_classes, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(multi_scores.shape[0], num_classes, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long).view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = torch.nonzero(scores > score_thr).reshape(-1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    dets, keep = batched_nms(bboxes, scores, labels, nms_cfg)
    if max_num > 0:
        dets, keep = dets[:max_num], keep[:max_num]
    return dets, labels[keep]
