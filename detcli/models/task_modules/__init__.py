"""Anchors and points, box coders, assigners, samplers and IoU calculators."""

from .anchor_generator import AnchorGenerator, anchor_inside_flags, images_to_levels
from .assigners import AssignResult, BaseAssigner, MaxIoUAssigner
from .atss_assigner import ATSSAssigner
from .bbox_coder import BaseBBoxCoder, DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from .builder import (
    build_anchor_generator,
    build_assigner,
    build_bbox_coder,
    build_iou_calculator,
    build_prior_generator,
    build_sampler,
)
from .grid_assigner import GridAssigner
from .iou_calculator import BboxOverlaps2D
from .libra_samplers import CombinedSampler, InstanceBalancedPosSampler, IoUBalancedNegSampler
from .point_bbox_coders import DistancePointBBoxCoder, YOLOBBoxCoder
from .point_generator import MlvlPointGenerator
from .samplers import BaseSampler, PseudoSampler, RandomSampler, SamplingResult
from .ssd_yolo_anchors import SSDAnchorGenerator, YOLOAnchorGenerator

__all__ = [
    "AnchorGenerator", "anchor_inside_flags", "images_to_levels", "AssignResult", "BaseAssigner",
    "MaxIoUAssigner", "ATSSAssigner", "GridAssigner", "BaseBBoxCoder", "DeltaXYWHBBoxCoder", "bbox2delta",
    "delta2bbox", "DistancePointBBoxCoder", "YOLOBBoxCoder", "build_anchor_generator", "build_assigner",
    "build_bbox_coder", "build_iou_calculator", "build_prior_generator", "build_sampler", "BboxOverlaps2D",
    "MlvlPointGenerator", "BaseSampler", "PseudoSampler", "RandomSampler", "SamplingResult",
    "SSDAnchorGenerator", "YOLOAnchorGenerator", "CombinedSampler", "InstanceBalancedPosSampler",
    "IoUBalancedNegSampler",
]
