"""Detectors."""

from .atss import ATSS
from .base import BaseDetector
from .fast_rcnn import FastRCNN  # noqa: F401  (two-stage detectors)
from .faster_rcnn import FasterRCNN  # noqa: F401
from .fcos import FCOS
from .gfl import GFL
from .mask_rcnn import MaskRCNN  # noqa: F401
from .retinanet import RetinaNet
from .rpn import RPN
from .single_stage import SingleStageDetector
from .two_stage import TwoStageDetector  # noqa: F401
from .yolo import YOLOV3

__all__ = ["ATSS", "BaseDetector", "FCOS", "GFL", "RetinaNet", "RPN", "SingleStageDetector", "YOLOV3"]
