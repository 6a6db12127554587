"""RoI heads of two-stage detectors: extractors, box heads, mask heads and the heads that join them."""

from .base_roi_head import BaseRoIHead
from .bbox_heads import (
    BBoxHead,
    ConvFCBBoxHead,
    DoubleConvFCBBoxHead,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
)
from .cascade_roi_head import CascadeRoIHead
from .double_roi_head import DoubleHeadRoIHead
from .grid_roi_head import GridRoIHead
from .htc_roi_head import HybridTaskCascadeRoIHead
from .mask_heads import FCNMaskHead, FusedSemanticHead, GridHead, HTCMaskHead
from .roi_extractors import BaseRoIExtractor, SingleRoIExtractor
from .scnet_roi_head import SCNetRoIHead
from .shared_heads import ResLayer
from .standard_roi_head import StandardRoIHead
from .test_mixins import BBoxTestMixin, MaskTestMixin

__all__ = [
    "BaseRoIHead", "StandardRoIHead", "DoubleHeadRoIHead", "BBoxTestMixin", "MaskTestMixin",
    "BBoxHead", "ConvFCBBoxHead", "Shared2FCBBoxHead", "Shared4Conv1FCBBoxHead", "DoubleConvFCBBoxHead",
    "FCNMaskHead", "HTCMaskHead", "GridHead", "FusedSemanticHead", "CascadeRoIHead", "HybridTaskCascadeRoIHead", "GridRoIHead", "SCNetRoIHead", "BaseRoIExtractor", "SingleRoIExtractor", "ResLayer",
]
