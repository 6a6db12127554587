"""Two-stage detectors: backbone (+ neck) -> RPN proposals -> RoI head."""

from __future__ import annotations

import random
from collections.abc import Mapping

import torch

from detcli.models.necks.input_check import check_neck_inputs
from detcli.registry import BACKBONES, DETECTORS, HEADS, NECKS

from .base import BaseDetector

DUMMY_PROPOSALS = 1000  # boxes that forward_dummy sends through the RoI head, as mmdetection 2.x does


def dummy_proposals(num: int, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``num`` boxes ``(x1, y1, x2, y2)`` inside a ``height`` x ``width`` image, the same on every call.

    Drawn from a seeded Python generator, so a trace records them as a constant rather
    than as a random-number operator, and FLOP counts are reproducible.
    """
    rng = random.Random(0)
    boxes = []
    for _ in range(num):
        bw, bh = rng.uniform(8, max(width, 9)), rng.uniform(8, max(height, 9))
        x1, y1 = rng.uniform(0, max(width - bw, 0)), rng.uniform(0, max(height - bh, 0))
        boxes.append((x1, y1, x1 + bw, y1 + bh))
    return torch.tensor(boxes, dtype=torch.float32, device=device)


def _sub_cfg(cfg: Mapping | None, key: str):
    return None if cfg is None else cfg.get(key)


@DETECTORS.register_module()
class TwoStageDetector(BaseDetector):
    """``train_cfg.rpn`` / ``test_cfg.rpn`` go to the RPN head, ``*.rcnn`` to the RoI head.

    ``train_cfg.rpn_proposal`` says how many proposals the RPN passes on in training
    (``test_cfg.rpn`` when absent). The config dicts given are never modified.
    """

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
        super().__init__(init_cfg)
        if pretrained:
            backbone = dict(backbone, pretrained=pretrained)
        self.backbone = BACKBONES.build(backbone)
        if neck is not None:
            self.neck = NECKS.build(neck)
            check_neck_inputs(self.backbone, self.neck)
        if rpn_head is not None:
            self.rpn_head = HEADS.build(
                dict(rpn_head, train_cfg=_sub_cfg(train_cfg, "rpn"), test_cfg=_sub_cfg(test_cfg, "rpn"))
            )
        if roi_head is not None:
            roi_cfg = dict(roi_head, train_cfg=_sub_cfg(train_cfg, "rcnn"), test_cfg=_sub_cfg(test_cfg, "rcnn"))
            if pretrained:
                roi_cfg["pretrained"] = pretrained
            self.roi_head = HEADS.build(roi_cfg)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @property
    def with_rpn(self) -> bool:
        return getattr(self, "rpn_head", None) is not None

    @property
    def with_roi_head(self) -> bool:
        return getattr(self, "roi_head", None) is not None

    def extract_feat(self, img: torch.Tensor):
        x = self.backbone(img)
        if self.with_neck:
            x = self.neck(x)
        return x

    def forward_dummy(self, img: torch.Tensor) -> tuple:
        """Every head's raw output, the RoI head's on ``DUMMY_PROPOSALS`` fixed boxes (FLOP counting)."""
        outs: tuple = ()
        x = self.extract_feat(img)
        if self.with_rpn:
            outs += (self.rpn_head(x),)
        proposals = dummy_proposals(DUMMY_PROPOSALS, int(img.shape[-2]), int(img.shape[-1]), img.device)
        outs += (self.roi_head.forward_dummy(x, proposals),)
        return outs

    def forward_train(
        self,
        img,
        img_metas,
        gt_bboxes,
        gt_labels,
        gt_bboxes_ignore=None,
        gt_masks=None,
        proposals=None,
        **kwargs,
    ) -> dict:
        """RPN losses (``loss_rpn_cls``, ``loss_rpn_bbox``) plus the RoI head's losses."""
        x = self.extract_feat(img)
        losses: dict = {}
        if self.with_rpn:
            proposal_cfg = self.train_cfg.get("rpn_proposal", self.test_cfg["rpn"])
            rpn_losses, proposal_list = self.rpn_head.forward_train(
                x,
                img_metas,
                gt_bboxes,
                gt_labels=None,
                gt_bboxes_ignore=gt_bboxes_ignore,
                proposal_cfg=proposal_cfg,
                **kwargs,
            )
            losses.update(rpn_losses)
        else:
            proposal_list = proposals
        losses.update(
            self.roi_head.forward_train(
                x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore, gt_masks, **kwargs
            )
        )
        return losses

    def simple_test(self, img, img_metas, proposals=None, rescale=False):
        if not self.with_bbox:
            raise NotImplementedError(f"{type(self).__name__} has no bbox head to test")
        x = self.extract_feat(img)
        proposal_list = self.rpn_head.simple_test_rpn(x, img_metas) if proposals is None else proposals
        return self.roi_head.simple_test(x, proposal_list, img_metas, rescale=rescale)

    def aug_test(self, imgs, img_metas, rescale=False):
        """One image under several augmentations; proposals and detections are merged."""
        x = self.extract_feats(imgs)
        proposal_list = self.rpn_head.aug_test_rpn(x, img_metas)
        return self.roi_head.aug_test(x, proposal_list, img_metas, rescale=rescale)
