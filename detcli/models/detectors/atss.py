"""ATSS (Zhang et al., 2020): ResNet + FPN + a one-anchor head trained with adaptive sample selection."""

from __future__ import annotations

from detcli.registry import DETECTORS

from .single_stage import SingleStageDetector


@DETECTORS.register_module()
class ATSS(SingleStageDetector):
    def __init__(self, backbone, neck, bbox_head, train_cfg=None, test_cfg=None, pretrained=None,
                 init_cfg=None) -> None:
        super().__init__(backbone, neck, bbox_head, train_cfg, test_cfg, pretrained, init_cfg)
