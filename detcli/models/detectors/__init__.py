"""Detectors."""

from .atss import ATSS
from .base import BaseDetector
from .cascade_rcnn import CascadeRCNN, HybridTaskCascade
from .fast_rcnn import FastRCNN  # noqa: F401  (two-stage detectors)
from .faster_rcnn import FasterRCNN  # noqa: F401
from .fcos import FCOS
from .gfl import GFL
from .grid_rcnn import GridRCNN
from .mask_rcnn import MaskRCNN  # noqa: F401
from .retinanet import RetinaNet
from .rpn import RPN
from .scnet import SCNet
from .single_stage import SingleStageDetector
from .two_stage import TwoStageDetector  # noqa: F401
from .yolo import YOLOV3

__all__ = ["ATSS", "BaseDetector", "CascadeRCNN", "FCOS", "GFL", "GridRCNN", "HybridTaskCascade", "RetinaNet", "RPN",
           "SCNet", "SingleStageDetector", "YOLOV3"]
