"""OpenCV drawing primitives for detections: boxes, translucent masks, label tags.

Each function draws in place on a BGR uint8 image and takes colours as BGR
tuples; the RGB -> BGR conversion happens once, in ``imshow_det_bboxes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

BGR = tuple[int, int, int]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_masks(img: np.ndarray, masks: np.ndarray, colors: np.ndarray, alpha: float = 0.5,
               with_edge: bool = True) -> np.ndarray:
    """Blend ``masks`` (n, H, W) over ``img``, each in its row of ``colors`` (n, 3) BGR.

    Where masks overlap, the later one is shown (one blend per pixel, so overlaps
    do not darken into mud).
    """
    if len(masks) == 0:
        return img
    masks = masks.astype(bool, copy=False)
    covered = masks.any(axis=0)
    top = len(masks) - 1 - masks[::-1].argmax(axis=0)  # index of the last mask covering each pixel
    colors = np.asarray(colors, dtype=np.float32).reshape(-1, 3)
    blended = img[covered].astype(np.float32) * (1 - alpha) + colors[top[covered]] * alpha
    img[covered] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    if with_edge:
        for mask in masks:
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, contours, -1, (255, 255, 255), 1)
    return img


def draw_bboxes(img: np.ndarray, bboxes: np.ndarray, colors: Sequence[BGR], thickness: int = 2) -> np.ndarray:
    """Rectangles for ``bboxes`` (n, >=4) ``x1, y1, x2, y2`` in pixels, one colour per box."""
    for box, color in zip(bboxes.astype(np.int32), colors):
        cv2.rectangle(img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), tuple(map(int, color)),
                      thickness)
    return img


def draw_labels(img: np.ndarray, texts: Sequence[str], positions: np.ndarray, colors: Sequence[BGR],
                font_scale: float = 0.5, centered: bool = False) -> np.ndarray:
    """Text tags on a dark translucent background.

    ``positions`` are the tags' top-left corners (or centres with ``centered``);
    tags are kept inside the image.
    """
    height, width = img.shape[:2]
    line = max(1, int(round(font_scale * 2)))
    for text, (x, y), color in zip(texts, np.asarray(positions, dtype=np.float64), colors):
        (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, line)
        box_w, box_h = tw + 4, th + base + 4
        if centered:
            x, y = x - box_w / 2, y - box_h / 2
        x0 = int(min(max(x, 0), max(width - box_w, 0)))
        y0 = int(min(max(y, 0), max(height - box_h, 0)))
        x1, y1 = min(x0 + box_w, width), min(y0 + box_h, height)
        if x1 > x0 and y1 > y0:
            img[y0:y1, x0:x1] = (img[y0:y1, x0:x1].astype(np.float32) * 0.4).astype(np.uint8)
        cv2.putText(img, text, (x0 + 2, y0 + 2 + th), _FONT, font_scale, tuple(map(int, color)), line,
                    cv2.LINE_AA)
    return img


def mask_label_positions(masks: np.ndarray) -> np.ndarray:
    """The centroid of each mask's largest connected piece: where a box-less mask gets its tag."""
    positions = np.zeros((len(masks), 2), dtype=np.float64)
    for i, mask in enumerate(masks):
        count, _, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            positions[i] = centroids[largest]
    return positions
