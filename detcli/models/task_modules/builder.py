"""Build functions for task modules (the names mmdetection 2.x code imports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detcli.registry import (
    BBOX_ASSIGNERS,
    BBOX_CODERS,
    BBOX_SAMPLERS,
    IOU_CALCULATORS,
    PRIOR_GENERATORS,
    build_from_cfg,
)


def build_prior_generator(cfg: Mapping, default_args: Mapping | None = None) -> Any:
    return build_from_cfg(cfg, PRIOR_GENERATORS, default_args)


def build_anchor_generator(cfg: Mapping, default_args: Mapping | None = None) -> Any:
    return build_prior_generator(cfg, default_args)


def build_assigner(cfg: Mapping, **default_args: Any) -> Any:
    return build_from_cfg(cfg, BBOX_ASSIGNERS, default_args)


def build_sampler(cfg: Mapping, **default_args: Any) -> Any:
    return build_from_cfg(cfg, BBOX_SAMPLERS, default_args)


def build_bbox_coder(cfg: Mapping, **default_args: Any) -> Any:
    return build_from_cfg(cfg, BBOX_CODERS, default_args)


def build_iou_calculator(cfg: Mapping, default_args: Mapping | None = None) -> Any:
    return build_from_cfg(cfg, IOU_CALCULATORS, default_args)
