"""Cascade R-CNN (https://arxiv.org/abs/1712.00726) and Hybrid Task Cascade (https://arxiv.org/abs/1901.07518)."""

from __future__ import annotations

from collections.abc import Mapping

from detcli.registry import DETECTORS

from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class CascadeRCNN(TwoStageDetector):
    """A two-stage detector whose RoI head is a cascade (``CascadeRoIHead``); with mask heads, Cascade Mask R-CNN."""

    def __init__(
        self,
        backbone: Mapping,
        neck: Mapping | None = None,
        rpn_head: Mapping | None = None,
        roi_head: Mapping | None = None,
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(
            backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
            test_cfg=test_cfg, pretrained=pretrained, init_cfg=init_cfg,
        )

    def show_result(self, img, result, **kwargs):
        """Also draws the ``{'ensemble': ...}`` results that mmdetection 1.x cascades returned."""
        if self.with_mask:
            bbox_result, segm_result = result
            if isinstance(bbox_result, dict):
                result = (bbox_result["ensemble"], segm_result["ensemble"])
        elif isinstance(result, dict):
            result = result["ensemble"]
        return super().show_result(img, result, **kwargs)


@DETECTORS.register_module()
class HybridTaskCascade(CascadeRCNN):
    """HTC: a cascade whose mask heads pass features from stage to stage (``HybridTaskCascadeRoIHead``)."""

    @property
    def with_semantic(self) -> bool:
        return self.roi_head.with_semantic

