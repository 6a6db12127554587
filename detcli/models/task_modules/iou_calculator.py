"""IoU calculators used by assigners (``iou_calculator=dict(type='BboxOverlaps2D')``)."""

from __future__ import annotations

import torch

from detcli.registry import IOU_CALCULATORS
from detcli.structures.boxes import bbox_overlaps


@IOU_CALCULATORS.register_module()
class BboxOverlaps2D:
    """``bbox_overlaps`` on boxes that may carry a 5th (score) column.

    ``dtype='fp16'`` computes in half precision after dividing by ``scale`` (saves
    memory with many gts); results come back as float32.
    """

    def __init__(self, scale: float = 1.0, dtype: str | None = None) -> None:
        self.scale = scale
        self.dtype = dtype

    def __call__(self, bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou",
                 is_aligned: bool = False) -> torch.Tensor:
        for boxes in (bboxes1, bboxes2):
            if boxes.size(-1) not in (0, 4, 5):
                raise ValueError(f"boxes must have 4 or 5 columns, got {tuple(boxes.shape)}")
        bboxes1, bboxes2 = bboxes1[..., :4], bboxes2[..., :4]
        if self.dtype == "fp16":
            bboxes1 = (bboxes1 / self.scale).half()
            bboxes2 = (bboxes2 / self.scale).half()
            if not bboxes1.is_cuda:  # half-precision clamp/max are CUDA-only in older torch
                return bbox_overlaps(bboxes1.float(), bboxes2.float(), mode, is_aligned)
            return bbox_overlaps(bboxes1, bboxes2, mode, is_aligned).float()
        return bbox_overlaps(bboxes1, bboxes2, mode, is_aligned)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale}, dtype={self.dtype})"
