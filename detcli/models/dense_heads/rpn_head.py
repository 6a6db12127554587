"""``RPNHead``: class-agnostic objectness + box deltas per anchor, producing proposals.

Proposals are made per pyramid level (top ``nms_pre`` scores each), decoded, filtered by
``min_bbox_size`` and suppressed with NMS that keeps levels apart, then the best
``max_per_img`` survive. Old config keys (``nms_thr``, ``max_num``, ``nms_post``) are accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ConvModule
from detcli.models.post_processing import batched_nms, sorted_top_k
from detcli.registry import HEADS

from .anchor_head import AnchorHead

logger = logging.getLogger("detcli")


def rpn_test_settings(cfg: Mapping) -> dict:
    """A plain dict with ``nms`` / ``max_per_img`` / ``min_bbox_size`` / ``nms_pre``, old names translated."""
    out = dict(cfg)
    if "nms" not in out:
        if "nms_thr" not in out:
            raise ConfigError(f"rpn test cfg {dict(cfg)} has no 'nms'",
                              hint="e.g. nms=dict(type='nms', iou_threshold=0.7)")
        logger.warning("rpn test cfg: 'nms_thr' is deprecated; use nms=dict(type='nms', iou_threshold=...)")
        out["nms"] = dict(type="nms", iou_threshold=out["nms_thr"])
    if "max_per_img" not in out:
        legacy = out.get("max_num", out.get("nms_post"))
        if legacy is None:
            raise ConfigError(f"rpn test cfg {dict(cfg)} has no 'max_per_img'", hint="e.g. max_per_img=1000")
        logger.warning("rpn test cfg: 'max_num'/'nms_post' are deprecated; use max_per_img=...")
        out["max_per_img"] = legacy
    out.setdefault("min_bbox_size", 0)
    out.setdefault("nms_pre", -1)
    return out


@HEADS.register_module()
class RPNHead(AnchorHead):
    """A 3x3 conv (``rpn_conv``), then 1x1 ``rpn_cls`` / ``rpn_reg``; always one (foreground) class."""

    def __init__(self, in_channels: int, init_cfg: Mapping | Sequence[Mapping] | None = dict(
            type="Normal", layer="Conv2d", std=0.01), num_convs: int = 1, **kwargs) -> None:
        self.num_convs = num_convs
        kwargs.pop("num_classes", None)
        super().__init__(1, in_channels, init_cfg=init_cfg, **kwargs)

    def _init_layers(self) -> None:
        if self.num_convs > 1:
            self.rpn_conv = nn.Sequential(*[
                ConvModule(self.in_channels if i == 0 else self.feat_channels, self.feat_channels, 3, padding=1,
                           inplace=False)
                for i in range(self.num_convs)
            ])
        else:
            self.rpn_conv = nn.Conv2d(self.in_channels, self.feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.rpn_conv(x), inplace=True)  # the conv output is not needed again: no copy
        return self.rpn_cls(x), self.rpn_reg(x)

    def loss(self, cls_scores, bbox_preds, gt_bboxes, img_metas, gt_bboxes_ignore=None) -> dict:
        losses = super().loss(cls_scores, bbox_preds, gt_bboxes, None, img_metas, gt_bboxes_ignore=gt_bboxes_ignore)
        return dict(loss_rpn_cls=losses["loss_cls"], loss_rpn_bbox=losses["loss_bbox"])

    def _get_bboxes_single(self, cls_score_list, bbox_pred_list, score_factor_list, mlvl_anchors, img_meta, cfg,
                           rescale=False, with_nms=True, **kwargs) -> torch.Tensor:
        cfg = rpn_test_settings(self.test_cfg if cfg is None else cfg)
        nms_pre = cfg["nms_pre"]
        level_ids, mlvl_scores, mlvl_deltas, mlvl_anchors_kept = [], [], [], []
        for level, (cls_score, bbox_pred, anchors) in enumerate(zip(cls_score_list, bbox_pred_list, mlvl_anchors)):
            cls_score = cls_score.permute(1, 2, 0)
            if self.use_sigmoid_cls:
                scores = cls_score.reshape(-1).sigmoid()
            else:  # two-way softmax; channel 0 is the foreground
                scores = cls_score.reshape(-1, 2).softmax(dim=1)[:, 0]
            deltas = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
            if 0 < nms_pre < scores.shape[0]:
                scores, top = sorted_top_k(scores, nms_pre)
                deltas, anchors = deltas[top, :], anchors[top, :]
            mlvl_scores.append(scores)
            mlvl_deltas.append(deltas)
            mlvl_anchors_kept.append(anchors)
            level_ids.append(scores.new_full((scores.size(0),), level, dtype=torch.long))
        return self._bbox_post_process(mlvl_scores, mlvl_deltas, mlvl_anchors_kept, level_ids, cfg,
                                       img_meta["img_shape"])

    def _bbox_post_process(self, mlvl_scores, mlvl_bboxes, mlvl_valid_anchors, level_ids, cfg, img_shape,
                           **kwargs) -> torch.Tensor:
        """``(n, 5)`` proposals ``[x1, y1, x2, y2, score]`` in the network input's pixels."""
        scores = torch.cat(mlvl_scores)
        anchors = torch.cat(mlvl_valid_anchors)
        proposals = self.bbox_coder.decode(anchors, torch.cat(mlvl_bboxes), max_shape=img_shape)
        ids = torch.cat(level_ids)
        if cfg["min_bbox_size"] >= 0:
            w = proposals[:, 2] - proposals[:, 0]
            h = proposals[:, 3] - proposals[:, 1]
            valid = (w > cfg["min_bbox_size"]) & (h > cfg["min_bbox_size"])
            if not valid.all():
                proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
        if proposals.numel() == 0:
            return proposals.new_zeros(0, 5)
        if cfg.get("nms_across_levels", False):
            ids = torch.zeros_like(ids)
        dets, _ = batched_nms(proposals, scores, ids, cfg["nms"])
        return dets[:cfg["max_per_img"]]

    # -- proposals for two-stage detectors -------------------------------------------
    def simple_test_rpn(self, x, img_metas) -> list[torch.Tensor]:
        """Per image ``(n, 5)`` proposals (not rescaled)."""
        return self.get_bboxes(*self(x), img_metas=img_metas)

    def aug_test_rpn(self, feats, img_metas) -> list[torch.Tensor]:
        """Per image: proposals of every augmentation, merged in original-image pixels."""
        from detcli.models.test_time_augs import merge_aug_proposals

        num_images = len(img_metas[0])
        per_image: list[list[torch.Tensor]] = [[] for _ in range(num_images)]
        for x, img_meta in zip(feats, img_metas):
            for i, proposals in enumerate(self.simple_test_rpn(x, img_meta)):
                per_image[i].append(proposals)
        metas = [[img_metas[aug][i] for aug in range(len(img_metas))] for i in range(num_images)]
        return [merge_aug_proposals(props, meta, self.test_cfg) for props, meta in zip(per_image, metas)]
