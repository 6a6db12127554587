"""Single-stage detectors: backbone (+ neck) -> dense head -> detections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from detcli.models.necks.input_check import check_neck_inputs
from detcli.registry import BACKBONES, DETECTORS, HEADS, NECKS
from detcli.structures.boxes import bbox2result

from .base import BaseDetector, backbone_with_pretrained


@DETECTORS.register_module()
class SingleStageDetector(BaseDetector):
    """``train_cfg`` / ``test_cfg`` go to the ``bbox_head``; ``pretrained`` to the backbone."""

    def __init__(self, backbone: Mapping, neck: Mapping | None = None, bbox_head: Mapping | None = None,
                 train_cfg: Mapping | None = None, test_cfg: Mapping | None = None, pretrained: str | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        self.backbone = BACKBONES.build(backbone_with_pretrained(backbone, pretrained))
        if neck is not None:
            self.neck = NECKS.build(neck)
            check_neck_inputs(self.backbone, self.neck)
        self.bbox_head = HEADS.build(dict(bbox_head, train_cfg=train_cfg, test_cfg=test_cfg))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, img: torch.Tensor):
        x = self.backbone(img)
        return self.neck(x) if self.with_neck else x

    def forward_dummy(self, img: torch.Tensor):
        """The head's raw outputs (for FLOP counting and export)."""
        return self.bbox_head(self.extract_feat(img))

    def forward_train(self, img, img_metas, gt_bboxes, gt_labels, gt_bboxes_ignore=None, **kwargs) -> dict:
        super().forward_train(img, img_metas)
        x = self.extract_feat(img)
        return self.bbox_head.forward_train(x, img_metas, gt_bboxes, gt_labels, gt_bboxes_ignore)

    def simple_test(self, img, img_metas, rescale: bool = False) -> list:
        """Per image, a list over classes of ``(n, 5)`` float32 arrays."""
        results = self.bbox_head.simple_test(self.extract_feat(img), img_metas, rescale=rescale)
        return [bbox2result(dets, labels, self.bbox_head.num_classes) for dets, labels in results]

    def aug_test(self, imgs, img_metas, rescale: bool = False) -> list:
        if not hasattr(self.bbox_head, "aug_test"):
            raise NotImplementedError(f"{type(self.bbox_head).__name__} does not support test-time augmentation")
        results = self.bbox_head.aug_test(self.extract_feats(imgs), img_metas, rescale=rescale)
        return [bbox2result(dets, labels, self.bbox_head.num_classes) for dets, labels in results]
