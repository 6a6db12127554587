"""What every RoI head has: optional box, mask and shared heads, and the train/test cfgs."""

from __future__ import annotations

from collections.abc import Mapping

from detcli.models.layers import BaseModule
from detcli.registry import SHARED_HEADS


class BaseRoIHead(BaseModule):
    """Builds the parts named in the config; subclasses say how (``init_bbox_head`` ...)."""

    def __init__(
        self,
        bbox_roi_extractor: Mapping | None = None,
        bbox_head: Mapping | None = None,
        mask_roi_extractor: Mapping | None = None,
        mask_head: Mapping | None = None,
        shared_head: Mapping | None = None,
        train_cfg: Mapping | None = None,
        test_cfg: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if shared_head is not None:
            shared_head = dict(shared_head)
            if pretrained is not None:
                shared_head["pretrained"] = pretrained
            self.shared_head = SHARED_HEADS.build(shared_head)
        if bbox_head is not None:
            self.init_bbox_head(bbox_roi_extractor, bbox_head)
        if mask_head is not None:
            self.init_mask_head(mask_roi_extractor, mask_head)
        self.init_assigner_sampler()

    @property
    def with_bbox(self) -> bool:
        return getattr(self, "bbox_head", None) is not None

    @property
    def with_mask(self) -> bool:
        return getattr(self, "mask_head", None) is not None

    @property
    def with_shared_head(self) -> bool:
        return getattr(self, "shared_head", None) is not None

    def init_bbox_head(self, bbox_roi_extractor, bbox_head) -> None:
        raise NotImplementedError

    def init_mask_head(self, mask_roi_extractor, mask_head) -> None:
        raise NotImplementedError

    def init_assigner_sampler(self) -> None:
        raise NotImplementedError

    def forward_train(
        self, x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore=None, gt_masks=None, **kwargs
    ) -> dict:
        raise NotImplementedError

    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False, **kwargs):
        raise NotImplementedError

    def aug_test(self, x, proposal_list, img_metas, rescale=False, **kwargs):
        raise NotImplementedError
