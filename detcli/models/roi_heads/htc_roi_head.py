"""Hybrid Task Cascade's RoI head (https://arxiv.org/abs/1901.07518)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from detcli.errors import ConfigError
from detcli.registry import HEADS, ROI_EXTRACTORS
from detcli.structures.boxes import bbox2roi

from .cascade_roi_head import CascadeRoIHead, weighted_stage_losses
from .standard_roi_head import DUMMY_MASK_ROIS


def _add_pooled(feats: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """``feats + extra``, ``extra`` average-pooled to ``feats``' size first when it differs."""
    if extra.shape[-2:] != feats.shape[-2:]:
        if extra.numel() == 0:  # adaptive pooling rejects empty batches
            extra = extra.new_zeros(*extra.shape[:2], *feats.shape[-2:])
        else:
            extra = F.adaptive_avg_pool2d(extra, feats.shape[-2:])
    return feats + extra


@HEADS.register_module()
class HybridTaskCascadeRoIHead(CascadeRoIHead):
    """A cascade whose mask branch is interleaved with the box branch and passes features between stages.

    - ``interleaved``: in training, stage ``i``'s mask head learns on the boxes its own box head
      just regressed (re-assigned and re-sampled), not on the stage's input proposals;
    - ``mask_info_flow``: each mask head adds the previous heads' mask features (``HTCMaskHead``);
    - ``semantic_head`` (optional, e.g. ``FusedSemanticHead``): a semantic segmentation branch
      whose features, pooled by ``semantic_roi_extractor``, are added to the box and/or mask
      RoI features (``semantic_fusion``); it learns from ``gt_semantic_seg``.
    """

    def __init__(
        self,
        num_stages: int,
        stage_loss_weights: Sequence[float],
        semantic_roi_extractor: Mapping | None = None,
        semantic_head: Mapping | None = None,
        semantic_fusion: Sequence[str] = ("bbox", "mask"),
        interleaved: bool = True,
        mask_info_flow: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(num_stages, stage_loss_weights, **kwargs)
        if semantic_head is not None:
            if semantic_roi_extractor is None:
                raise ConfigError("HybridTaskCascadeRoIHead: semantic_head needs a semantic_roi_extractor")
            self.semantic_roi_extractor = ROI_EXTRACTORS.build(semantic_roi_extractor)
            self.semantic_head = HEADS.build(semantic_head)
        self.semantic_fusion = tuple(semantic_fusion)
        self.interleaved = interleaved
        self.mask_info_flow = mask_info_flow

    @property
    def with_semantic(self) -> bool:
        return getattr(self, "semantic_head", None) is not None

    # -- forward -------------------------------------------------------------------------
    def _semantic_feat(self, x):
        return self.semantic_head(x)[1] if self.with_semantic else None

    def _bbox_forward(self, stage: int, x, rois: torch.Tensor, semantic_feat=None) -> dict:
        extractor = self.bbox_roi_extractor[stage]
        bbox_feats = extractor(x[: extractor.num_inputs], rois)
        if self.with_semantic and "bbox" in self.semantic_fusion:
            bbox_feats = _add_pooled(bbox_feats, self.semantic_roi_extractor([semantic_feat], rois))
        cls_score, bbox_pred = self.bbox_head[stage](bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred)

    def _mask_feats(self, stage: int, x, rois: torch.Tensor, semantic_feat=None) -> torch.Tensor:
        extractor = self.mask_roi_extractor[stage]
        mask_feats = extractor(x[: extractor.num_inputs], rois)
        if self.with_semantic and "mask" in self.semantic_fusion:
            mask_feats = _add_pooled(mask_feats, self.semantic_roi_extractor([semantic_feat], rois))
        return mask_feats

    def forward_dummy(self, x, proposals: torch.Tensor) -> tuple:
        semantic_feat = self._semantic_feat(x)
        rois = bbox2roi([proposals])
        outs: tuple = ()
        for i in range(self.num_stages):
            bbox_results = self._bbox_forward(i, x, rois, semantic_feat)
            outs += (bbox_results["cls_score"], bbox_results["bbox_pred"])
        if self.with_mask:
            outs += tuple(self._stage_mask_logits(x, rois[:DUMMY_MASK_ROIS], semantic_feat))
        return outs

    # -- training ------------------------------------------------------------------------
    def _mask_forward_train(self, stage, x, sampling_results, gt_masks, rcnn_train_cfg, semantic_feat=None) -> dict:
        pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
        mask_feats = self._mask_feats(stage, x, pos_rois, semantic_feat)
        head = self.mask_head[stage]
        if self.mask_info_flow:
            last_feat = None
            for i in range(stage):
                last_feat = self.mask_head[i](mask_feats, last_feat, return_logits=False)
            mask_pred = head(mask_feats, last_feat, return_feat=False)
        else:
            mask_pred = head(mask_feats, return_feat=False)
        mask_targets = head.get_targets(sampling_results, gt_masks, rcnn_train_cfg)
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        return dict(loss_mask=head.loss(mask_pred, mask_targets, pos_labels))

    def _bbox_forward_train(self, stage, x, sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg,
                            semantic_feat=None) -> dict:
        rois = bbox2roi([res.bboxes for res in sampling_results])
        bbox_results = self._bbox_forward(stage, x, rois, semantic_feat)
        head = self.bbox_head[stage]
        targets = head.get_targets(sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg)
        loss_bbox = head.loss(bbox_results["cls_score"], bbox_results["bbox_pred"], rois, *targets)
        bbox_results.update(loss_bbox=loss_bbox, rois=rois, bbox_targets=targets)
        return bbox_results

    def _regressed(self, stage: int, bbox_results: dict, sampling_results, img_metas) -> list[torch.Tensor]:
        """The sampled RoIs moved by the deltas of their target class (sampled gts dropped)."""
        return self.bbox_head[stage].refine_bboxes(
            bbox_results["rois"], bbox_results["bbox_targets"][0], bbox_results["bbox_pred"],
            [res.pos_is_gt for res in sampling_results], img_metas)

    def forward_train(self, x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore=None,
                      gt_masks=None, gt_semantic_seg=None, **kwargs) -> dict:
        """Per stage ``s{i}.loss_cls/acc/loss_bbox/loss_mask``, plus ``loss_semantic_seg`` with a semantic head."""
        losses: dict = {}
        semantic_feat = None
        if self.with_semantic:
            if gt_semantic_seg is None:
                raise ConfigError("HTC with a semantic head needs gt_semantic_seg in the training data",
                                  hint="LoadAnnotations(with_seg=True) + SegRescale, and 'gt_semantic_seg' "
                                       "in Collect keys (or remove semantic_head)")
            semantic_pred, semantic_feat = self.semantic_head(x)
            losses["loss_semantic_seg"] = self.semantic_head.loss(semantic_pred, gt_semantic_seg)
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        for i in range(self.num_stages):
            self.current_stage = i
            rcnn_train_cfg = self.train_cfg[i]
            weight = self.stage_loss_weights[i]
            sampling_results = self._assign_and_sample(i, x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore)
            bbox_results = self._bbox_forward_train(i, x, sampling_results, gt_bboxes, gt_labels, rcnn_train_cfg,
                                                    semantic_feat)
            losses.update(weighted_stage_losses(bbox_results["loss_bbox"], i, weight))
            if self.with_mask:
                if self.interleaved:  # the mask head learns on this stage's regressed boxes
                    with torch.no_grad():
                        proposal_list = self._regressed(i, bbox_results, sampling_results, img_metas)
                        sampling_results = self._assign_and_sample(i, x, proposal_list, gt_bboxes, gt_labels,
                                                                   gt_bboxes_ignore)
                mask_results = self._mask_forward_train(i, x, sampling_results, gt_masks, rcnn_train_cfg,
                                                        semantic_feat)
                losses.update(weighted_stage_losses(mask_results["loss_mask"], i, weight))
            if i < self.num_stages - 1 and not self.interleaved:
                with torch.no_grad():
                    proposal_list = self._regressed(i, bbox_results, sampling_results, img_metas)
        return losses

    # -- inference -----------------------------------------------------------------------
    def _stage_forward_test(self, stage: int, x, rois: torch.Tensor, semantic_feat=None) -> dict:
        return self._bbox_forward(stage, x, rois, semantic_feat)

    def _stage_mask_logits(self, x, mask_rois: torch.Tensor, semantic_feat=None) -> list[torch.Tensor]:
        """Every stage's mask logits on the last stage's RoI features, features flowing from stage to stage."""
        mask_feats = self._mask_feats(self.num_stages - 1, x, mask_rois, semantic_feat)
        logits, last_feat = [], None
        for head in self.mask_head:
            if self.mask_info_flow:
                mask_pred, last_feat = head(mask_feats, last_feat)
            else:
                mask_pred = head(mask_feats, return_feat=False)
            logits.append(mask_pred)
        return logits

    def _stage_mask_probs(self, x, mask_rois: torch.Tensor, semantic_feat=None) -> list[torch.Tensor]:
        return [logits.sigmoid() for logits in self._stage_mask_logits(x, mask_rois, semantic_feat)]

    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False, **kwargs):
        return super().simple_test(x, proposal_list, img_metas, rescale=rescale, semantic_feat=self._semantic_feat(x))

    def _aug_test_extras(self, features) -> list[dict]:
        return [dict(semantic_feat=self._semantic_feat(x)) for x in features]
