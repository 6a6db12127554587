"""Anchors, box coders, assigners, samplers and IoU calculators."""

from .anchor_generator import AnchorGenerator, anchor_inside_flags, images_to_levels
from .assigners import AssignResult, BaseAssigner, MaxIoUAssigner
from .bbox_coder import BaseBBoxCoder, DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from .builder import (
    build_anchor_generator,
    build_assigner,
    build_bbox_coder,
    build_iou_calculator,
    build_prior_generator,
    build_sampler,
)
from .iou_calculator import BboxOverlaps2D
from .libra_samplers import CombinedSampler, InstanceBalancedPosSampler, IoUBalancedNegSampler
from .samplers import BaseSampler, PseudoSampler, RandomSampler, SamplingResult

__all__ = [
    "AnchorGenerator", "anchor_inside_flags", "images_to_levels", "AssignResult", "BaseAssigner",
    "MaxIoUAssigner", "BaseBBoxCoder", "DeltaXYWHBBoxCoder", "bbox2delta", "delta2bbox",
    "build_anchor_generator", "build_assigner", "build_bbox_coder", "build_iou_calculator",
    "build_prior_generator", "build_sampler", "BboxOverlaps2D", "BaseSampler", "PseudoSampler",
    "RandomSampler", "SamplingResult", "CombinedSampler", "InstanceBalancedPosSampler", "IoUBalancedNegSampler",
]
