"""Transforms that cut or extend the canvas: RandomCrop, MinIoURandomCrop, Expand, RandomShift.

Boxes are shifted (and clipped when ``bbox_clip_border``), instances whose box vanishes
are dropped together with their labels and masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

from detcli.registry import PIPELINES

# which label / mask field travels with each box field
_LABEL_OF = {"gt_bboxes": "gt_labels", "gt_bboxes_ignore": "gt_labels_ignore"}
_MASK_OF = {"gt_bboxes": "gt_masks", "gt_bboxes_ignore": "gt_masks_ignore"}


def _single_image(results: dict[str, Any], name: str) -> None:
    if "img_fields" in results and results["img_fields"] != ["img"]:
        raise ValueError(f"{name} supports a single image field, got {results['img_fields']}")


@PIPELINES.register_module()
class RandomCrop:
    """Crop a random window of ``crop_size`` (h, w).

    ``crop_type``: ``'absolute'`` (pixels), ``'absolute_range'`` (h and w drawn in
    ``[crop_size[0], crop_size[1]]``), ``'relative'`` (fractions of the image) or
    ``'relative_range'`` (fractions drawn in ``[crop_size, 1]``). A crop that keeps no
    ground-truth box returns ``None`` (the sample is redrawn) unless ``allow_negative_crop``.
    """

    _TYPES = ("relative_range", "relative", "absolute", "absolute_range")

    def __init__(self, crop_size: tuple, crop_type: str = "absolute", allow_negative_crop: bool = False,
                 recompute_bbox: bool = False, bbox_clip_border: bool = True) -> None:
        if crop_type not in self._TYPES:
            raise ValueError(f"invalid crop_type {crop_type!r}; expected one of {self._TYPES}")
        if crop_type.startswith("absolute"):
            if not (int(crop_size[0]) == crop_size[0] > 0 and int(crop_size[1]) == crop_size[1] > 0):
                raise ValueError(f"absolute crop_size must be positive integers, got {crop_size}")
        elif not (0 < crop_size[0] <= 1 and 0 < crop_size[1] <= 1):
            raise ValueError(f"relative crop_size must be in (0, 1], got {crop_size}")
        self.crop_size = crop_size
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _get_crop_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        h, w = image_size
        if self.crop_type == "absolute":
            return min(self.crop_size[0], h), min(self.crop_size[1], w)
        if self.crop_type == "absolute_range":
            lo, hi = self.crop_size
            if lo > hi:
                raise ValueError(f"absolute_range crop_size must be (min, max), got {self.crop_size}")
            crop_h = np.random.randint(min(h, lo), min(h, hi) + 1)
            crop_w = np.random.randint(min(w, lo), min(w, hi) + 1)
            return crop_h, crop_w
        if self.crop_type == "relative":
            rh, rw = self.crop_size
        else:
            size = np.asarray(self.crop_size, dtype=np.float32)
            rh, rw = size + np.random.rand(2) * (1 - size)
        return int(h * rh + 0.5), int(w * rw + 0.5)

    def _crop(self, results: dict[str, Any], crop_size: tuple[int, int]) -> dict[str, Any] | None:
        for key in results.get("img_fields", ["img"]):
            img = results[key]
            offset_h = np.random.randint(0, max(img.shape[0] - crop_size[0], 0) + 1)
            offset_w = np.random.randint(0, max(img.shape[1] - crop_size[1], 0) + 1)
            y1, y2 = offset_h, offset_h + crop_size[0]
            x1, x2 = offset_w, offset_w + crop_size[1]
            results[key] = img[y1:y2, x1:x2, ...]
            img_shape = results[key].shape
        results["img_shape"] = img_shape
        for key in results.get("bbox_fields", []):
            bboxes = results[key] - np.array([x1, y1, x1, y1], dtype=np.float32)
            if self.bbox_clip_border:
                bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, img_shape[1])
                bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, img_shape[0])
            valid = (bboxes[:, 2] > bboxes[:, 0]) & (bboxes[:, 3] > bboxes[:, 1])
            if key == "gt_bboxes" and not valid.any() and not self.allow_negative_crop:
                return None
            results[key] = bboxes[valid]
            if _LABEL_OF.get(key) in results:
                results[_LABEL_OF[key]] = results[_LABEL_OF[key]][valid]
            mask_key = _MASK_OF.get(key)
            if mask_key in results:
                results[mask_key] = results[mask_key][np.flatnonzero(valid)].crop(np.array([x1, y1, x2, y2]))
                if self.recompute_bbox:
                    results[key] = results[mask_key].get_bboxes()
        for key in results.get("seg_fields", []):
            results[key] = results[key][y1:y2, x1:x2]
        return results

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        return self._crop(results, self._get_crop_size(results["img"].shape[:2]))

    def __repr__(self) -> str:
        return (f"RandomCrop(crop_size={self.crop_size}, crop_type={self.crop_type}, "
                f"allow_negative_crop={self.allow_negative_crop}, bbox_clip_border={self.bbox_clip_border})")


@PIPELINES.register_module()
class Expand:
    """Zoom out (SSD): put the image at a random place of a canvas ``ratio`` times larger,
    filled with ``mean``; applied with probability ``prob``."""

    def __init__(self, mean: tuple = (0, 0, 0), to_rgb: bool = True, ratio_range: tuple = (1, 4),
                 seg_ignore_label: int | None = None, prob: float = 0.5) -> None:
        self.to_rgb = to_rgb
        self.ratio_range = ratio_range
        self.mean = tuple(mean)[::-1] if to_rgb else tuple(mean)
        self.min_ratio, self.max_ratio = ratio_range
        self.seg_ignore_label = seg_ignore_label
        self.prob = prob

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.uniform(0, 1) > self.prob:
            return results
        _single_image(results, "Expand")
        img = results["img"]
        h, w, c = img.shape
        ratio = np.random.uniform(self.min_ratio, self.max_ratio)
        new_h, new_w = int(h * ratio), int(w * ratio)
        canvas = np.empty((new_h, new_w, c), img.dtype)
        canvas[...] = np.asarray(self.mean, dtype=img.dtype)
        left = int(np.random.uniform(0, w * ratio - w))
        top = int(np.random.uniform(0, h * ratio - h))
        canvas[top:top + h, left:left + w] = img
        results["img"] = canvas
        results["img_shape"] = canvas.shape
        for key in results.get("bbox_fields", []):
            results[key] = results[key] + np.array([left, top, left, top], dtype=results[key].dtype)
        for key in results.get("mask_fields", []):
            results[key] = results[key].expand(new_h, new_w, top, left)
        ignore = 255 if self.seg_ignore_label is None else self.seg_ignore_label
        for key in results.get("seg_fields", []):
            seg = np.full((new_h, new_w), ignore, dtype=results[key].dtype)
            seg[top:top + h, left:left + w] = results[key]
            results[key] = seg
        return results

    def __repr__(self) -> str:
        return f"Expand(mean={self.mean}, to_rgb={self.to_rgb}, ratio_range={self.ratio_range}, prob={self.prob})"


def _centers_inside(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    return (center[:, 0] > patch[0]) & (center[:, 1] > patch[1]) & (center[:, 0] < patch[2]) & (center[:, 1] < patch[3])


@PIPELINES.register_module()
class MinIoURandomCrop:
    """SSD crop: pick a minimum IoU from ``(1, *min_ious, 0)`` (1 = no crop), then try up to
    50 random patches (aspect 1/2..2, sides >= ``min_crop_size``) whose IoU with every box
    reaches it and which contain at least one box centre; boxes with centres outside go."""

    def __init__(self, min_ious: tuple = (0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size: float = 0.3,
                 bbox_clip_border: bool = True) -> None:
        self.min_ious = min_ious
        self.sample_mode = (1, *min_ious, 0)
        self.min_crop_size = min_crop_size
        self.bbox_clip_border = bbox_clip_border

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        _single_image(results, "MinIoURandomCrop")
        img = results["img"]
        if "bbox_fields" not in results:
            raise ValueError("MinIoURandomCrop needs boxes (run LoadAnnotations first)")
        all_boxes = np.concatenate([results[k] for k in results["bbox_fields"]], 0).reshape(-1, 4)
        h, w = img.shape[:2]
        while True:
            mode = np.random.choice(self.sample_mode)
            self.mode = mode
            if mode == 1:
                return results
            for _ in range(50):
                new_w = np.random.uniform(self.min_crop_size * w, w)
                new_h = np.random.uniform(self.min_crop_size * h, h)
                if new_h / new_w < 0.5 or new_h / new_w > 2:
                    continue
                left = np.random.uniform(w - new_w)
                top = np.random.uniform(h - new_h)
                patch = np.array((int(left), int(top), int(left + new_w), int(top + new_h)))
                if patch[2] == patch[0] or patch[3] == patch[1]:
                    continue
                if len(all_boxes):
                    ious = box_iou(torch.from_numpy(patch[None].astype(np.float64)),
                                   torch.from_numpy(all_boxes.astype(np.float64))).numpy().reshape(-1)
                    if ious.min() < mode:
                        continue
                    if not _centers_inside(all_boxes, patch).any():
                        continue
                    self._crop_boxes(results, patch)
                results["img"] = img[patch[1]:patch[3], patch[0]:patch[2]]
                results["img_shape"] = results["img"].shape
                for key in results.get("seg_fields", []):
                    results[key] = results[key][patch[1]:patch[3], patch[0]:patch[2]]
                return results

    def _crop_boxes(self, results: dict[str, Any], patch: np.ndarray) -> None:
        for key in results.get("bbox_fields", []):
            boxes = results[key].copy()
            keep = _centers_inside(boxes, patch)
            boxes = boxes[keep]
            if self.bbox_clip_border:
                boxes[:, 2:] = boxes[:, 2:].clip(max=patch[2:])
                boxes[:, :2] = boxes[:, :2].clip(min=patch[:2])
            boxes -= np.tile(patch[:2], 2).astype(boxes.dtype)
            results[key] = boxes
            if _LABEL_OF.get(key) in results:
                results[_LABEL_OF[key]] = results[_LABEL_OF[key]][keep]
            if _MASK_OF.get(key) in results:
                results[_MASK_OF[key]] = results[_MASK_OF[key]][np.flatnonzero(keep)].crop(patch)

    def __repr__(self) -> str:
        return (f"MinIoURandomCrop(min_ious={self.min_ious}, min_crop_size={self.min_crop_size}, "
                f"bbox_clip_border={self.bbox_clip_border})")


@PIPELINES.register_module()
class RandomShift:
    """Shift image and boxes by up to ``max_shift_px`` with probability ``shift_ratio``;
    boxes narrower than ``filter_thr_px`` afterwards are dropped."""

    def __init__(self, shift_ratio: float = 0.5, max_shift_px: int = 32, filter_thr_px: int = 1) -> None:
        if not 0 <= shift_ratio <= 1 or max_shift_px < 0:
            raise ValueError("RandomShift: shift_ratio must be in [0, 1] and max_shift_px >= 0")
        self.shift_ratio = shift_ratio
        self.max_shift_px = max_shift_px
        self.filter_thr_px = int(filter_thr_px)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if np.random.random() >= self.shift_ratio:
            return results
        h, w = results["img"].shape[:2]
        dx = np.random.randint(-self.max_shift_px, self.max_shift_px)
        dy = np.random.randint(-self.max_shift_px, self.max_shift_px)
        for key in results.get("bbox_fields", []):
            boxes = results[key].copy()
            boxes[..., 0::2] = np.clip(boxes[..., 0::2] + dx, 0, w)
            boxes[..., 1::2] = np.clip(boxes[..., 1::2] + dy, 0, h)
            valid = ((boxes[..., 2] - boxes[..., 0]) > self.filter_thr_px) & ((boxes[..., 3] - boxes[..., 1]) > self.filter_thr_px)
            if key == "gt_bboxes" and not valid.any():
                return results
            results[key] = boxes[valid]
            if _LABEL_OF.get(key) in results:
                results[_LABEL_OF[key]] = results[_LABEL_OF[key]][valid]
        for key in results.get("img_fields", ["img"]):
            img = results[key]
            out = np.zeros_like(img)
            nh, nw = h - abs(dy), w - abs(dx)
            out[max(0, dy):max(0, dy) + nh, max(0, dx):max(0, dx) + nw] = \
                img[max(0, -dy):max(0, -dy) + nh, max(0, -dx):max(0, -dx) + nw]
            results[key] = out
        return results
