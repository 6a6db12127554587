"""FCOS (Tian et al., 2019): ResNet + FPN + the anchor-free FCOS head."""

from __future__ import annotations

from detcli.registry import DETECTORS

from .single_stage import SingleStageDetector


@DETECTORS.register_module()
class FCOS(SingleStageDetector):
    def __init__(self, backbone, neck, bbox_head, train_cfg=None, test_cfg=None, pretrained=None,
                 init_cfg=None) -> None:
        super().__init__(backbone, neck, bbox_head, train_cfg, test_cfg, pretrained, init_cfg)
