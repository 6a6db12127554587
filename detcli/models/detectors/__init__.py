"""Detectors."""

from .base import BaseDetector
from .retinanet import RetinaNet
from .rpn import RPN
from .single_stage import SingleStageDetector

__all__ = ["BaseDetector", "RetinaNet", "RPN", "SingleStageDetector"]
