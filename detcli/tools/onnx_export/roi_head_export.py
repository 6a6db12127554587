"""Traceable test-time path of ``StandardRoIHead``: RoI features, box detections, pasted masks.

Mirrors ``SingleRoIExtractor.forward``, ``BBoxTestMixin.simple_test_bboxes`` +
``BBoxHead.get_bboxes`` and ``MaskTestMixin.simple_test_mask`` + ``FCNMaskHead.get_seg_masks``
for one image without rescaling. The heads' own forward methods (``_bbox_forward``,
``_mask_forward``, the box and mask heads) run unchanged, so custom heads that only change
those (the Double-Head example of the guide) export as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from detcli.structures.boxes import clip_bboxes

from . import traceable_ops as ops


def single_roi_extractor_forward(extractor, feats: Sequence[torch.Tensor], rois: torch.Tensor,
                                 roi_scale_factor: float | None = None) -> torch.Tensor:
    """``SingleRoIExtractor.forward`` without its branch on which levels have RoIs.

    The model skips levels that receive no RoI; a trace would keep only the levels that
    the example image happened to use. Here every level pools the RoIs mapped to it, which
    is an empty selection where none are.
    """
    num_levels = len(feats)
    if num_levels == 1:
        return extractor.roi_layers[0](feats[0], rois)
    out_h, out_w = _pair(extractor.roi_layers[0].output_size)
    target_lvls = extractor.map_roi_levels(rois, num_levels)
    if roi_scale_factor is not None:
        rois = extractor.roi_rescale(rois, roi_scale_factor)
    roi_feats = feats[0].new_zeros(1, extractor.out_channels, out_h, out_w).expand(
        rois.shape[0], extractor.out_channels, out_h, out_w)
    for level in range(num_levels):
        inds = torch.nonzero(target_lvls == level).reshape(-1)
        roi_feats = roi_feats.index_put((inds,), extractor.roi_layers[level](feats[level], rois[inds]))
    return roi_feats


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """``(n, 5)`` RoIs ``[0, x1, y1, x2, y2]`` of image 0 (``bbox2roi`` of one image)."""
    return torch.cat([torch.zeros_like(boxes[:, :1]), boxes[:, :4]], dim=-1)


def rcnn_detections(roi_head, feats: Sequence[torch.Tensor], proposals: torch.Tensor,
                    img_hw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dets (n, 5), labels (n,))`` of the box branch for image 0's proposals."""
    rois = boxes_to_rois(proposals)
    results = roi_head._bbox_forward(feats, rois)
    cls_score, bbox_pred = results["cls_score"], results["bbox_pred"]
    head = roi_head.bbox_head
    if head.custom_cls_channels:
        scores = head.loss_cls.get_activation(cls_score)
    else:
        scores = F.softmax(cls_score, dim=-1)
    if bbox_pred is not None:
        bboxes = ops.decode_boxes(head.bbox_coder, rois[:, 1:], bbox_pred, img_hw)
    else:
        bboxes = clip_bboxes(rois[:, 1:], img_hw)
    cfg = roi_head.test_cfg
    per_class = bbox_pred is not None and not head.reg_class_agnostic
    return ops.multiclass_nms(bboxes, scores, head.num_classes, per_class, cfg["score_thr"], cfg["nms"],
                              cfg["max_per_img"])


def rcnn_masks(roi_head, feats: Sequence[torch.Tensor], dets: torch.Tensor, labels: torch.Tensor,
               img: torch.Tensor) -> torch.Tensor:
    """``(n, H, W)`` float masks of the detections on the input image (0/1 unless ``mask_thr_binary < 0``)."""
    mask_pred = roi_head._mask_forward(feats, boxes_to_rois(dets))["mask_pred"]
    probs = mask_pred.sigmoid()
    if roi_head.mask_head.class_agnostic:
        probs = probs[:, 0]
    else:
        probs = probs[torch.arange(probs.shape[0]), labels]
    return paste_masks(probs, dets[:, :4], img.shape[2], img.shape[3], roi_head.test_cfg["mask_thr_binary"])


def paste_masks(probs: torch.Tensor, boxes: torch.Tensor, img_h, img_w, threshold: float) -> torch.Tensor:
    """Masks ``(n, h, w)`` stretched over their boxes in an ``img_h x img_w`` image.

    The model pastes with ``grid_sample`` (bilinear, zero padding, ``align_corners=False``)
    at every pixel centre of a window one pixel around the box. Bilinear sampling is
    separable, so the same values come from two small matrix products: rows
    ``(n, H, h) @ (n, h, w)`` then columns ``@ (n, w, W)``, which needs neither
    ``GridSample`` (opset 16) nor an ``(n, H, W, 2)`` sampling grid in memory.
    """
    x1, y1, x2, y2 = boxes.unbind(1)
    rows = _axis_weights(y1, y2, img_h, probs.shape[1])
    cols = _axis_weights(x1, x2, img_w, probs.shape[2])
    pasted = torch.matmul(torch.matmul(rows, probs), cols.transpose(1, 2))
    if threshold >= 0:
        return (pasted >= threshold).to(torch.float32)
    return pasted


def _axis_weights(lo: torch.Tensor, hi: torch.Tensor, size, cells: int) -> torch.Tensor:
    """``(n, size, cells)``: how much each of a mask's ``cells`` contributes to each image pixel."""
    pixels = torch.arange(size)
    coords = (pixels.to(torch.float32)[None, :] + 0.5 - lo[:, None]) / (hi - lo)[:, None] * 2 - 1
    coords = coords.masked_fill(torch.isinf(coords), 0)  # degenerate boxes, as the model
    src = ((coords + 1) * cells - 1) / 2  # grid_sample's unnormalisation (align_corners=False)
    first = src.floor()
    frac = src - first
    cell = torch.arange(cells).to(torch.float32)[None, None, :]
    weights = ((cell == first[..., None]).to(frac.dtype) * (1 - frac)[..., None]
               + (cell == first[..., None] + 1).to(frac.dtype) * frac[..., None])
    # the model evaluates only [floor(lo) - 1, ceil(hi) + 1) on the CPU; pixels beyond stay 0
    pixel_pos = pixels.to(torch.float32)[None, :]
    inside = (pixel_pos >= lo.floor()[:, None] - 1) & (pixel_pos < hi.ceil()[:, None] + 1)
    return weights * inside[..., None].to(weights.dtype)
