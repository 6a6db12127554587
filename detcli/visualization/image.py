"""Draw detections (boxes, class names with scores, translucent masks) on an image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from detcli.visualization.display import require_display, show_image
from detcli.visualization.draw import draw_bboxes, draw_labels, draw_masks, mask_label_positions
from detcli.visualization.image_io import read_bgr, write_image
from detcli.visualization.palette import get_palette

ColorSpec = str | tuple | list | None


def _to_bgr_array(palette: list[tuple[int, int, int]]) -> np.ndarray:
    return np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:, ::-1]


def _as_mask_array(masks: Any) -> np.ndarray:
    """(n, H, W) bool from BitmapMasks/PolygonMasks (``to_ndarray``), tensors or arrays."""
    if hasattr(masks, "to_ndarray"):
        masks = masks.to_ndarray()
    elif hasattr(masks, "detach"):
        masks = masks.detach().cpu().numpy()
    return np.asarray(masks).astype(bool, copy=False)


def _decode_segm(segm: Any) -> np.ndarray:
    """One instance mask as an (H, W) bool array, whether an array, a tensor or an RLE dict."""
    if isinstance(segm, dict):
        from pycocotools import mask as mask_util

        rle = dict(segm)
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode()
        return mask_util.decode(rle).astype(bool)
    if hasattr(segm, "detach"):
        segm = segm.detach().cpu().numpy()
    return np.asarray(segm).astype(bool, copy=False)


def result_to_arrays(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Flatten a 2.x result into ``(bboxes (n,5) float32, labels (n,) int64, segms (n,H,W) bool | None)``.

    ``result`` is a per-class list of (k, 5) arrays, or ``(bbox_result, segm_result)``
    (segm entries: bool arrays, tensors or RLE dicts; a Mask Scoring R-CNN
    ``(segms, scores)`` pair is accepted too).
    """
    if isinstance(result, np.ndarray) or hasattr(result, "detach"):  # RPN: one (n, 5) array of proposals
        proposals = np.asarray(result.detach().cpu() if hasattr(result, "detach") else result, np.float32)
        proposals = proposals.reshape(-1, proposals.shape[-1] if proposals.ndim == 2 else 5)[:, :5]
        return proposals, np.zeros(len(proposals), np.int64), None
    if isinstance(result, tuple):
        bbox_result, segm_result = result
        if isinstance(segm_result, tuple):
            segm_result = segm_result[0]
    else:
        bbox_result, segm_result = result, None
    per_class = [np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in bbox_result]
    bboxes = np.concatenate(per_class, axis=0) if per_class else np.zeros((0, 5), np.float32)
    labels = np.concatenate(
        [np.full(len(b), i, dtype=np.int64) for i, b in enumerate(per_class)]
    ) if per_class else np.zeros((0,), np.int64)
    segms = None
    if segm_result is not None and len(labels) > 0:
        flat = [_decode_segm(s) for class_segms in segm_result for s in class_segms]
        segms = np.stack(flat, axis=0) if flat else None
    return bboxes, labels, segms


def imshow_det_bboxes(
    img: str | os.PathLike | np.ndarray,
    bboxes: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    segms: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0,
    bbox_color: ColorSpec = "green",
    text_color: ColorSpec = "green",
    mask_color: ColorSpec = None,
    thickness: int = 2,
    font_scale: float = 0.5,
    win_name: str = "",
    show: bool = True,
    wait_time: float = 0,
    out_file: str | os.PathLike | None = None,
    font_size: float | None = None,
) -> np.ndarray:
    """Draw boxes (``(n,4)`` or ``(n,5)`` with scores), labels and masks; return the BGR image.

    Colours are RGB: a name, a tuple for every class, a per-class list, a dataset
    palette name (``'coco'``, ``'voc'``, ``'citys'``) or ``'random'``/None.
    ``font_size`` (points, mmdetection 2.2x spelling) overrides ``font_scale``.
    Masks beyond the number of boxes are labelled at their centre. With ``show``
    and no display this raises a one-line ``DisplayError`` before drawing.
    """
    if show:
        require_display("showing detections")
    if labels is None:
        labels = np.zeros((0 if bboxes is None else len(bboxes),), dtype=np.int64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if bboxes is not None:
        bboxes = np.asarray(bboxes, dtype=np.float32)
        if bboxes.ndim != 2 or bboxes.shape[1] not in (4, 5):
            raise ValueError(f"bboxes must be (n, 4) or (n, 5), got shape {bboxes.shape}")
        if len(bboxes) > len(labels):
            raise ValueError(f"{len(bboxes)} bboxes but only {len(labels)} labels")
    if segms is not None:
        segms = _as_mask_array(segms)
        if len(segms) != len(labels):
            raise ValueError(f"{len(segms)} masks but {len(labels)} labels")
    if bboxes is None and segms is None:
        raise ValueError("nothing to draw: give bboxes, segms or both")
    if font_size is not None:
        font_scale = font_size / 26.0

    image = read_bgr(img).copy()

    if score_thr > 0:
        if bboxes is None or bboxes.shape[1] != 5 or len(bboxes) != len(labels):
            raise ValueError("score_thr > 0 needs one (n, 5) box with a score per label")
        keep = bboxes[:, 4] > score_thr
        bboxes, labels = bboxes[keep], labels[keep]
        if segms is not None:
            segms = segms[keep]

    num_colors = int(labels.max()) + 1 if len(labels) else 1
    text_colors = _to_bgr_array(get_palette(text_color, num_colors))[labels]

    def name_of(label: int) -> str:
        if class_names is not None and 0 <= label < len(class_names):
            return str(class_names[label])
        return f"class {label}"

    if segms is not None and len(segms):
        mask_colors = _to_bgr_array(get_palette(mask_color, num_colors))[labels]
        draw_masks(image, segms, mask_colors)

    num_boxes = 0
    if bboxes is not None and len(bboxes):
        num_boxes = len(bboxes)
        box_colors = _to_bgr_array(get_palette(bbox_color, num_colors))[labels[:num_boxes]]
        draw_bboxes(image, bboxes, box_colors, thickness)
        texts = [name_of(int(lab)) for lab in labels[:num_boxes]]
        if bboxes.shape[1] == 5:
            texts = [f"{t}|{s:.2f}" for t, s in zip(texts, bboxes[:, 4])]
        draw_labels(image, texts, bboxes[:, :2] + thickness, text_colors[:num_boxes], font_scale)

    if segms is not None and len(segms) > num_boxes:
        rest = segms[num_boxes:]
        texts = [name_of(int(lab)) for lab in labels[num_boxes:]]
        draw_labels(image, texts, mask_label_positions(rest), text_colors[num_boxes:], font_scale,
                    centered=True)

    if out_file is not None:
        write_image(image, out_file)
    if show:
        show_image(image, win_name, wait_time)
    return image


def imshow_gt_det_bboxes(
    img: str | os.PathLike | np.ndarray,
    annotation: dict,
    result: Any,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0,
    gt_bbox_color: ColorSpec = (61, 102, 255),
    gt_text_color: ColorSpec = (200, 200, 200),
    gt_mask_color: ColorSpec = (61, 102, 255),
    det_bbox_color: ColorSpec = (241, 101, 72),
    det_text_color: ColorSpec = (200, 200, 200),
    det_mask_color: ColorSpec = (241, 101, 72),
    thickness: int = 2,
    font_scale: float = 0.5,
    win_name: str = "",
    show: bool = True,
    wait_time: float = 0,
    out_file: str | os.PathLike | None = None,
    overlay_gt_pred: bool = True,
) -> np.ndarray:
    """Ground truth (``annotation``: gt_bboxes, gt_labels, optional gt_masks) and detections together.

    ``overlay_gt_pred=False`` stacks the ground-truth image above the detection image.
    """
    if show:
        require_display("showing detections")
    if "gt_bboxes" not in annotation or "gt_labels" not in annotation:
        raise ValueError("annotation needs 'gt_bboxes' and 'gt_labels'")
    gt_masks = annotation.get("gt_masks")
    gt_masks = None if gt_masks is None else _as_mask_array(gt_masks)
    image = read_bgr(img)
    common = dict(class_names=class_names, thickness=thickness, font_scale=font_scale, show=False)
    with_gt = imshow_det_bboxes(image, np.asarray(annotation["gt_bboxes"], np.float32).reshape(-1, 4),
                                annotation["gt_labels"], gt_masks, bbox_color=gt_bbox_color,
                                text_color=gt_text_color, mask_color=gt_mask_color, **common)
    bboxes, labels, segms = result_to_arrays(result)
    det_args = dict(score_thr=score_thr, bbox_color=det_bbox_color, text_color=det_text_color,
                    mask_color=det_mask_color, **common)
    if overlay_gt_pred:
        drawn = imshow_det_bboxes(with_gt, bboxes, labels, segms, **det_args)
    else:
        drawn = np.concatenate([with_gt, imshow_det_bboxes(image, bboxes, labels, segms, **det_args)], axis=0)
    if out_file is not None:
        write_image(drawn, out_file)
    if show:
        show_image(drawn, win_name, wait_time)
    return drawn


def draw_detections(
    img: str | os.PathLike | np.ndarray,
    result: Any,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
    bbox_color: ColorSpec = (72, 101, 241),
    text_color: ColorSpec = (72, 101, 241),
    mask_color: ColorSpec = None,
    thickness: int = 2,
    font_scale: float = 0.5,
    win_name: str = "",
    show: bool = False,
    wait_time: float = 0,
    out_file: str | os.PathLike | None = None,
    font_size: float | None = None,
) -> np.ndarray:
    """A detector's 2.x ``result`` drawn on ``img`` (what ``BaseDetector.show_result`` does).

    Saving to ``out_file`` wins over ``show`` (as in mmdetection 2.x, no window then).
    """
    bboxes, labels, segms = result_to_arrays(result)
    if out_file is not None:
        show = False
    return imshow_det_bboxes(img, bboxes, labels, segms, class_names=class_names, score_thr=score_thr,
                             bbox_color=bbox_color, text_color=text_color, mask_color=mask_color,
                             thickness=thickness, font_scale=font_scale, win_name=win_name, show=show,
                             wait_time=wait_time, out_file=out_file, font_size=font_size)
