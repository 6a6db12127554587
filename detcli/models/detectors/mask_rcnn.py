"""Mask R-CNN (https://arxiv.org/abs/1703.06870)."""

from __future__ import annotations

from collections.abc import Mapping

from detcli.registry import DETECTORS

from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class MaskRCNN(TwoStageDetector):
    """Faster R-CNN whose RoI head also has a mask branch; results are ``(bbox_results, segm_results)``."""

    def __init__(
        self,
        backbone: Mapping,
        rpn_head: Mapping,
        roi_head: Mapping,
        train_cfg: Mapping | None,
        test_cfg: Mapping | None,
        neck: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(
            backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
            test_cfg=test_cfg, pretrained=pretrained, init_cfg=init_cfg,
        )
