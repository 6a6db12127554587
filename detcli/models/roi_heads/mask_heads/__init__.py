"""Mask heads of two-stage detectors."""

from .fcn_mask_head import FCNMaskHead
from .fused_semantic_head import FusedSemanticHead
from .grid_head import GridHead
from .htc_mask_head import HTCMaskHead
from .mask_paste import paste_masks_in_image
from .mask_target import mask_target
from .scnet_heads import (
    FeatureRelayHead,
    GlobalContextHead,
    SCNetMaskHead,
    SCNetSemanticHead,
    SimplifiedBasicBlock,
)

__all__ = [
    "FCNMaskHead", "FusedSemanticHead", "GridHead", "HTCMaskHead", "FeatureRelayHead", "GlobalContextHead",
    "SCNetMaskHead", "SCNetSemanticHead", "SimplifiedBasicBlock", "mask_target", "paste_masks_in_image",
]
