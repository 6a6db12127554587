"""Dense (per-location) heads."""

from .anchor_head import AnchorHead
from .base_dense_head import BaseDenseHead
from .retina_head import RetinaHead
from .retina_sepbn_head import RetinaSepBNHead
from .rpn_head import RPNHead

__all__ = ["AnchorHead", "BaseDenseHead", "RetinaHead", "RetinaSepBNHead", "RPNHead"]
