"""Detection models: every built-in part is imported here so the registries know it."""

from . import backbones, dense_heads, detectors, layers, losses, necks, roi_heads, task_modules  # noqa: F401  (registration)
from .builder import (
    build_backbone,
    build_detector,
    build_head,
    build_loss,
    build_neck,
    build_roi_extractor,
    build_shared_head,
)

__all__ = ["build_backbone", "build_detector", "build_head", "build_loss", "build_neck", "build_roi_extractor",
           "build_shared_head"]
