"""SCNet's RoI head (https://arxiv.org/abs/2012.10150): a box cascade, one mask head on the final boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from detcli.errors import ConfigError
from detcli.registry import HEADS, ROI_EXTRACTORS
from detcli.structures.boxes import bbox2roi

from .cascade_roi_head import CascadeRoIHead, weighted_stage_losses
from .htc_roi_head import _add_pooled
from .standard_roi_head import DUMMY_MASK_ROIS


@HEADS.register_module()
class SCNetRoIHead(CascadeRoIHead):
    """Cascade R-CNN's box stages plus:

    - a single mask head, trained on the last stage's samples (loss weighted by the sum of the stage
      weights) and run on the final detections;
    - ``feat_relay_head``: the last box head's shared features, relayed into the mask features;
    - ``semantic_head`` / ``semantic_roi_extractor`` (as in HTC) and ``glbctx_head``, a global context
      vector (from a multi-label image classifier) added to every box and mask RoI feature.
    """

    def __init__(self, num_stages: int, stage_loss_weights: Sequence[float],
                 semantic_roi_extractor: Mapping | None = None, semantic_head: Mapping | None = None,
                 feat_relay_head: Mapping | None = None, glbctx_head: Mapping | None = None, **kwargs) -> None:
        super().__init__(num_stages, stage_loss_weights, **kwargs)
        if not (self.with_bbox and self.with_mask):
            raise ConfigError("SCNetRoIHead needs a bbox head and a mask head")
        if semantic_head is not None:
            self.semantic_roi_extractor = ROI_EXTRACTORS.build(semantic_roi_extractor)
            self.semantic_head = HEADS.build(semantic_head)
        if feat_relay_head is not None:
            self.feat_relay_head = HEADS.build(feat_relay_head)
        if glbctx_head is not None:
            self.glbctx_head = HEADS.build(glbctx_head)

    def init_mask_head(self, mask_roi_extractor, mask_head) -> None:
        if mask_roi_extractor is None:
            raise ConfigError("SCNetRoIHead needs a mask_roi_extractor")
        self.mask_roi_extractor = ROI_EXTRACTORS.build(mask_roi_extractor)
        self.mask_head = HEADS.build(mask_head)

    @property
    def with_semantic(self) -> bool:
        return getattr(self, "semantic_head", None) is not None

    @property
    def with_feat_relay(self) -> bool:
        return getattr(self, "feat_relay_head", None) is not None

    @property
    def with_glbctx(self) -> bool:
        return getattr(self, "glbctx_head", None) is not None

    # -- forward -------------------------------------------------------------------------
    def _context(self, x) -> dict:
        """The image-level inputs of the RoI branches: semantic and global context features."""
        return dict(semantic_feat=self.semantic_head(x)[1] if self.with_semantic else None,
                    glbctx_feat=self.glbctx_head(x)[1] if self.with_glbctx else None)

    def _fuse(self, feats: torch.Tensor, rois: torch.Tensor, semantic_feat, glbctx_feat) -> torch.Tensor:
        if self.with_semantic and semantic_feat is not None:
            feats = _add_pooled(feats, self.semantic_roi_extractor([semantic_feat], rois))
        if self.with_glbctx and glbctx_feat is not None:
            feats = feats + glbctx_feat[rois[:, 0].long()]  # each RoI gets its image's context vector
        return feats

    def _bbox_forward(self, stage: int, x, rois: torch.Tensor, semantic_feat=None, glbctx_feat=None) -> dict:
        extractor = self.bbox_roi_extractor[stage]
        feats = self._fuse(extractor(x[: extractor.num_inputs], rois), rois, semantic_feat, glbctx_feat)
        cls_score, bbox_pred, relayed_feat = self.bbox_head[stage](feats, return_shared_feat=True)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, relayed_feat=relayed_feat)

    def _mask_forward(self, x, rois: torch.Tensor, semantic_feat=None, glbctx_feat=None, relayed_feat=None) -> dict:
        feats = self.mask_roi_extractor(x[: self.mask_roi_extractor.num_inputs], rois)
        feats = self._fuse(feats, rois, semantic_feat, glbctx_feat)
        if self.with_feat_relay and relayed_feat is not None:
            feats = feats + relayed_feat
        return dict(mask_pred=self.mask_head(feats))

    def forward_dummy(self, x, proposals: torch.Tensor) -> tuple:
        context = self._context(x)
        rois = bbox2roi([proposals])
        outs: tuple = ()
        bbox_results = None
        for i in range(self.num_stages):
            bbox_results = self._bbox_forward(i, x, rois, **context)
            outs += (bbox_results["cls_score"], bbox_results["bbox_pred"])
        relayed = self.feat_relay_head(bbox_results["relayed_feat"][:DUMMY_MASK_ROIS]) if self.with_feat_relay else None
        outs += (self._mask_forward(x, rois[:DUMMY_MASK_ROIS], relayed_feat=relayed, **context)["mask_pred"],)
        return outs

    # -- training ------------------------------------------------------------------------
    def forward_train(self, x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore=None,
                      gt_masks=None, gt_semantic_seg=None, **kwargs) -> dict:
        """``s{i}.*`` box losses, ``loss_mask``, and ``loss_semantic_seg`` / ``loss_glbctx`` with those heads."""
        losses: dict = {}
        context = dict(semantic_feat=None, glbctx_feat=None)
        if self.with_semantic:
            if gt_semantic_seg is None:
                raise ConfigError("SCNet with a semantic head needs gt_semantic_seg in the training data",
                                  hint="LoadAnnotations(with_seg=True) + SegRescale, and 'gt_semantic_seg' "
                                       "in Collect keys")
            semantic_pred, context["semantic_feat"] = self.semantic_head(x)
            losses["loss_semantic_seg"] = self.semantic_head.loss(semantic_pred, gt_semantic_seg)
        if self.with_glbctx:
            mc_pred, context["glbctx_feat"] = self.glbctx_head(x)
            losses["loss_glbctx"] = self.glbctx_head.loss(mc_pred, gt_labels)
        if gt_bboxes_ignore is None:
            gt_bboxes_ignore = [None] * len(img_metas)
        for i in range(self.num_stages):
            self.current_stage = i
            sampling_results = self._assign_and_sample(i, x, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore)
            rois = bbox2roi([res.bboxes for res in sampling_results])
            bbox_results = self._bbox_forward(i, x, rois, **context)
            head = self.bbox_head[i]
            targets = head.get_targets(sampling_results, gt_bboxes, gt_labels, self.train_cfg[i])
            loss_bbox = head.loss(bbox_results["cls_score"], bbox_results["bbox_pred"], rois, *targets)
            losses.update(weighted_stage_losses(loss_bbox, i, self.stage_loss_weights[i]))
            if i < self.num_stages - 1:
                with torch.no_grad():
                    proposal_list = head.refine_bboxes(rois, targets[0], bbox_results["bbox_pred"],
                                                       [res.pos_is_gt for res in sampling_results], img_metas)
        relayed = None
        if self.with_feat_relay:  # the last stage's positives: they lead each image's sampled RoIs
            is_pos = torch.cat([torch.arange(len(res.bboxes), device=rois.device) < len(res.pos_bboxes)
                                for res in sampling_results])
            relayed = self.feat_relay_head(bbox_results["relayed_feat"][is_pos])
        pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
        mask_pred = self._mask_forward(x, pos_rois, relayed_feat=relayed, **context)["mask_pred"]
        mask_targets = self.mask_head.get_targets(sampling_results, gt_masks, self.train_cfg[-1])
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        loss_mask = self.mask_head.loss(mask_pred, mask_targets, pos_labels)["loss_mask"]
        losses["loss_mask"] = sum(self.stage_loss_weights) * loss_mask
        return losses

    # -- inference -----------------------------------------------------------------------
    def _stage_forward_test(self, stage: int, x, rois: torch.Tensor, semantic_feat=None, glbctx_feat=None) -> dict:
        return self._bbox_forward(stage, x, rois, semantic_feat, glbctx_feat)

    def _stage_mask_probs(self, x, mask_rois: torch.Tensor, semantic_feat=None, glbctx_feat=None) -> list:
        """One mask head, fed with the last box head's relayed features of the same RoIs."""
        relayed = None  # without a relay head the mask head takes no box-head features: skip that forward
        if self.with_feat_relay:
            relayed = self.feat_relay_head(
                self._bbox_forward(-1, x, mask_rois, semantic_feat, glbctx_feat)["relayed_feat"])
        mask_pred = self._mask_forward(x, mask_rois, semantic_feat, glbctx_feat, relayed)["mask_pred"]
        return [mask_pred.sigmoid()]

    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False, **kwargs):
        return super().simple_test(x, proposal_list, img_metas, rescale=rescale, **self._context(x))

    def _aug_test_extras(self, features) -> list[dict]:
        return [self._context(x) for x in features]
