"""The guide's new RoI head (section 七.3.1): ``StandardRoIHead`` with ``_bbox_forward`` overridden
to extract a second, enlarged RoI feature for the regression branch; everything else (sampling,
targets, losses, testing) is inherited. Registered as ``MyDoubleHeadRoIHead``: detcli already
ships this head as ``DoubleHeadRoIHead``.
"""

from detcli.models.builder import HEADS
from detcli.models.roi_heads import StandardRoIHead


@HEADS.register_module()
class MyDoubleHeadRoIHead(StandardRoIHead):
    """RoI head for Double Head RCNN: ``reg_roi_scale_factor`` enlarges the regression RoIs."""

    def __init__(self, reg_roi_scale_factor, **kwargs):
        super().__init__(**kwargs)
        self.reg_roi_scale_factor = reg_roi_scale_factor

    def _bbox_forward(self, x, rois):
        bbox_cls_feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        bbox_reg_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois, roi_scale_factor=self.reg_roi_scale_factor)
        if self.with_shared_head:
            bbox_cls_feats = self.shared_head(bbox_cls_feats)
            bbox_reg_feats = self.shared_head(bbox_reg_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_cls_feats, bbox_reg_feats)

        bbox_results = dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_cls_feats)
        return bbox_results
