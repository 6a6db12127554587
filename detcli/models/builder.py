"""Build functions for model parts (the names mmdetection 2.x code and configs use).

``build_detector`` accepts both config layouts: ``train_cfg``/``test_cfg`` inside ``model``
(2.x) and the older top-level ones passed as arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from detcli.errors import ConfigError
from detcli.registry import (  # noqa: F401  (re-exported: custom modules import them from here)
    BACKBONES,
    DETECTORS,
    HEADS,
    LOSSES,
    MODELS,
    NECKS,
    ROI_EXTRACTORS,
    SHARED_HEADS,
)


def build_backbone(cfg: Mapping) -> Any:
    return BACKBONES.build(cfg)


def build_neck(cfg: Mapping) -> Any:
    return NECKS.build(cfg)


def build_roi_extractor(cfg: Mapping) -> Any:
    return ROI_EXTRACTORS.build(cfg)


def build_shared_head(cfg: Mapping) -> Any:
    return SHARED_HEADS.build(cfg)


def build_head(cfg: Mapping) -> Any:
    return HEADS.build(cfg)


def build_loss(cfg: Mapping) -> Any:
    return LOSSES.build(cfg)


def build_detector(cfg: Mapping, train_cfg: Mapping | None = None, test_cfg: Mapping | None = None) -> Any:
    """The detector of ``cfg`` (usually ``config.model``); ``cfg`` itself is not modified."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"the model config must be a dict, got {type(cfg).__name__}")
    for key, outer in (("train_cfg", train_cfg), ("test_cfg", test_cfg)):
        if outer is not None and cfg.get(key) is not None:
            raise ConfigError(f"{key} is given both at the top level and inside model",
                              hint=f"keep only model.{key}")
    if train_cfg is not None or test_cfg is not None:
        warnings.warn("top-level train_cfg/test_cfg are deprecated; put them inside model", UserWarning,
                      stacklevel=2)
    return DETECTORS.build(cfg, default_args=dict(train_cfg=train_cfg, test_cfg=test_cfg))
