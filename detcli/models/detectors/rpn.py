"""``RPN``: a region-proposal network on its own (trained and evaluated on proposal recall)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from detcli.models.necks.input_check import check_neck_inputs
from detcli.registry import BACKBONES, DETECTORS, HEADS, NECKS
from detcli.structures.boxes import bbox_mapping

from .base import BaseDetector, backbone_with_pretrained


@DETECTORS.register_module()
class RPN(BaseDetector):
    """``train_cfg.rpn`` / ``test_cfg.rpn`` configure the head; results are ``(n, 5)`` proposal arrays."""

    def __init__(self, backbone: Mapping, neck: Mapping | None, rpn_head: Mapping, train_cfg: Mapping | None,
                 test_cfg: Mapping | None, pretrained: str | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__(init_cfg)
        self.backbone = BACKBONES.build(backbone_with_pretrained(backbone, pretrained))
        self.neck = NECKS.build(neck) if neck is not None else None
        if self.neck is not None:
            check_neck_inputs(self.backbone, self.neck)
        rpn_train_cfg = train_cfg.get("rpn") if train_cfg is not None else None
        rpn_test_cfg = test_cfg.get("rpn") if test_cfg is not None else None
        self.rpn_head = HEADS.build(dict(rpn_head, train_cfg=rpn_train_cfg, test_cfg=rpn_test_cfg))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, img: torch.Tensor):
        x = self.backbone(img)
        return self.neck(x) if self.with_neck else x

    def forward_dummy(self, img: torch.Tensor):
        return self.rpn_head(self.extract_feat(img))

    def forward_train(self, img, img_metas, gt_bboxes=None, gt_bboxes_ignore=None, **kwargs) -> dict:
        super().forward_train(img, img_metas)
        x = self.extract_feat(img)
        return self.rpn_head.forward_train(x, img_metas, gt_bboxes, None, gt_bboxes_ignore)

    def simple_test(self, img, img_metas, rescale: bool = False) -> list[np.ndarray]:
        proposal_list = self.rpn_head.simple_test_rpn(self.extract_feat(img), img_metas)
        if rescale:
            for proposals, meta in zip(proposal_list, img_metas):
                proposals[:, :4] /= proposals.new_tensor(meta["scale_factor"])
        return [proposals.cpu().numpy() for proposals in proposal_list]

    def aug_test(self, imgs, img_metas, rescale: bool = False) -> list[np.ndarray]:
        proposal_list = self.rpn_head.aug_test_rpn(self.extract_feats(imgs), img_metas)
        if not rescale:  # merged proposals are in original pixels; map them to the first augmentation
            for proposals, meta in zip(proposal_list, img_metas[0]):
                proposals[:, :4] = bbox_mapping(proposals[:, :4], meta["img_shape"], meta["scale_factor"],
                                                meta["flip"], meta.get("flip_direction", "horizontal"))
        return [proposals.cpu().numpy() for proposals in proposal_list]

    def show_result(self, img, result, top_k: int = 20, score_thr: float = 0.0, thickness: int = 1,
                    show: bool = False, win_name: str = "", wait_time: float = 0, out_file=None, **kwargs):
        """Draw the ``top_k`` best proposals in green."""
        from detcli.visualization import imshow_det_bboxes, read_bgr

        proposals = np.asarray(result, dtype=np.float32).reshape(-1, 5)[:top_k]
        drawn = imshow_det_bboxes(read_bgr(img).copy(), proposals, np.zeros(len(proposals), dtype=np.int64),
                                  class_names=("proposal",), score_thr=score_thr, bbox_color="green",
                                  text_color="green", thickness=thickness, win_name=win_name,
                                  show=show and out_file is None, wait_time=wait_time, out_file=out_file)
        return None if (show or out_file) else drawn
