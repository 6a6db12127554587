"""Fast R-CNN (https://arxiv.org/abs/1504.08083): a RoI head on proposals computed beforehand."""

from __future__ import annotations

from collections.abc import Mapping

from detcli.registry import DETECTORS

from .two_stage import TwoStageDetector


@DETECTORS.register_module()
class FastRCNN(TwoStageDetector):
    """No RPN: the batch carries ``proposals`` (``LoadProposals`` in the pipeline)."""

    def __init__(
        self,
        backbone: Mapping,
        roi_head: Mapping,
        train_cfg: Mapping | None,
        test_cfg: Mapping | None,
        neck: Mapping | None = None,
        pretrained: str | None = None,
        init_cfg: Mapping | list | None = None,
    ) -> None:
        super().__init__(
            backbone=backbone, neck=neck, roi_head=roi_head, train_cfg=train_cfg, test_cfg=test_cfg,
            pretrained=pretrained, init_cfg=init_cfg,
        )

    def forward_test(self, imgs, img_metas, proposals=None, **kwargs):
        """``imgs``, ``img_metas`` and ``proposals`` are lists over augmentations (only one is supported)."""
        for var, name in ((imgs, "imgs"), (img_metas, "img_metas")):
            if not isinstance(var, list):
                raise TypeError(f"{name} must be a list, but got {type(var).__name__}")
        if proposals is None:
            raise ValueError("FastRCNN needs 'proposals' in its test batch (add LoadProposals to the pipeline)")
        if len(imgs) != len(img_metas):
            raise ValueError(f"num of augmentations ({len(imgs)}) != num of image metas ({len(img_metas)})")
        if len(imgs) != 1:
            raise NotImplementedError("FastRCNN does not support test-time augmentation")
        for img_meta in img_metas[0]:
            img_meta["batch_input_shape"] = tuple(imgs[0].shape[-2:])
        return self.simple_test(imgs[0], img_metas[0], proposals[0], **kwargs)
