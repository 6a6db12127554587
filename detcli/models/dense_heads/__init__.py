"""Dense (per-location) heads."""

from .anchor_free_head import AnchorFreeHead
from .anchor_head import AnchorHead
from .atss_head import ATSSHead
from .base_dense_head import BaseDenseHead
from .fcos_head import FCOSHead
from .gfl_head import GFLHead
from .retina_head import RetinaHead
from .retina_sepbn_head import RetinaSepBNHead
from .rpn_head import RPNHead
from .ssd_head import SSDHead
from .yolo_head import YOLOV3Head

__all__ = ["AnchorFreeHead", "AnchorHead", "ATSSHead", "BaseDenseHead", "FCOSHead", "GFLHead", "RetinaHead",
           "RetinaSepBNHead", "RPNHead", "SSDHead", "YOLOV3Head"]
