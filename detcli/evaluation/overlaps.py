"""Box IoU for evaluation (numpy, float32, optional legacy ``+1`` box size)."""

from __future__ import annotations

import numpy as np


def bbox_overlaps(bboxes1: np.ndarray, bboxes2: np.ndarray, mode: str = "iou", eps: float = 1e-6,
                  use_legacy_coordinate: bool = False) -> np.ndarray:
    """IoU (or IoF: intersection over ``bboxes1``'s area) of every pair, shape (n, k).

    ``use_legacy_coordinate`` counts a box's width as ``x2 - x1 + 1`` (the Pascal VOC
    devkit convention the VOC metric follows).
    """
    if mode not in ("iou", "iof"):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    extra = 1.0 if use_legacy_coordinate else 0.0
    b1 = np.asarray(bboxes1, dtype=np.float32)[:, :4].reshape(-1, 4)
    b2 = np.asarray(bboxes2, dtype=np.float32)[:, :4].reshape(-1, 4)
    if len(b1) == 0 or len(b2) == 0:
        return np.zeros((len(b1), len(b2)), dtype=np.float32)
    area1 = (b1[:, 2] - b1[:, 0] + extra) * (b1[:, 3] - b1[:, 1] + extra)
    area2 = (b2[:, 2] - b2[:, 0] + extra) * (b2[:, 3] - b2[:, 1] + extra)
    w = np.minimum(b1[:, None, 2], b2[None, :, 2]) - np.maximum(b1[:, None, 0], b2[None, :, 0]) + extra
    h = np.minimum(b1[:, None, 3], b2[None, :, 3]) - np.maximum(b1[:, None, 1], b2[None, :, 1]) + extra
    overlap = np.maximum(w, 0) * np.maximum(h, 0)
    if mode == "iou":
        union = area1[:, None] + area2[None, :] - overlap
    else:
        union = np.broadcast_to(area1[:, None], overlap.shape)
    return (overlap / np.maximum(union, np.float32(eps))).astype(np.float32)
