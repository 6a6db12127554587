"""Box heads of two-stage detectors."""

from .bbox_head import BBoxHead
from .convfc_bbox_head import ConvFCBBoxHead, Shared2FCBBoxHead, Shared4Conv1FCBBoxHead
from .double_bbox_head import DoubleConvFCBBoxHead
from .scnet_bbox_head import SCNetBBoxHead

__all__ = ["BBoxHead", "ConvFCBBoxHead", "Shared2FCBBoxHead", "Shared4Conv1FCBBoxHead", "DoubleConvFCBBoxHead",
           "SCNetBBoxHead"]
