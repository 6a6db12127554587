"""Double-Head R-CNN's RoI head: a second, enlarged RoI feature for the regression branch."""

from __future__ import annotations

from detcli.registry import HEADS

from .standard_roi_head import StandardRoIHead


@HEADS.register_module()
class DoubleHeadRoIHead(StandardRoIHead):
    """``reg_roi_scale_factor`` enlarges the RoIs whose features the box regressor sees (1.3 in the paper)."""

    def __init__(self, reg_roi_scale_factor: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reg_roi_scale_factor = reg_roi_scale_factor

    def _bbox_forward(self, x, rois) -> dict:
        inputs = x[: self.bbox_roi_extractor.num_inputs]
        bbox_cls_feats = self.bbox_roi_extractor(inputs, rois)
        bbox_reg_feats = self.bbox_roi_extractor(inputs, rois, roi_scale_factor=self.reg_roi_scale_factor)
        if self.with_shared_head:
            bbox_cls_feats = self.shared_head(bbox_cls_feats)
            bbox_reg_feats = self.shared_head(bbox_reg_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_cls_feats, bbox_reg_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_cls_feats)
