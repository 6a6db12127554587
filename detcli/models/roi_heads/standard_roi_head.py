"""The RoI head of Faster and Mask R-CNN: one box branch and an optional mask branch."""

from __future__ import annotations

import torch

from detcli.registry import BBOX_ASSIGNERS, BBOX_SAMPLERS, HEADS, ROI_EXTRACTORS
from detcli.structures.boxes import bbox2result, bbox2roi

from .base_roi_head import BaseRoIHead
from .test_mixins import BBoxTestMixin, MaskTestMixin

DUMMY_MASK_ROIS = 100  # forward_dummy runs the mask branch on this many of the boxes, as mmdetection 2.x


@HEADS.register_module()
class StandardRoIHead(BaseRoIHead, BBoxTestMixin, MaskTestMixin):
    """Sample RoIs from the proposals, pool their features, classify/regress them, segment positives.

    Override ``_bbox_forward(x, rois)`` or ``_mask_forward`` to change what the branches
    see (``DoubleHeadRoIHead`` does); training and inference then follow.
    """

    # -- construction --------------------------------------------------------------------
    def init_assigner_sampler(self) -> None:
        self.bbox_assigner = None
        self.bbox_sampler = None
        if self.train_cfg:
            self.bbox_assigner = BBOX_ASSIGNERS.build(self.train_cfg["assigner"])
            self.bbox_sampler = BBOX_SAMPLERS.build(self.train_cfg["sampler"], default_args=dict(context=self))

    def init_bbox_head(self, bbox_roi_extractor, bbox_head) -> None:
        self.bbox_roi_extractor = ROI_EXTRACTORS.build(bbox_roi_extractor)
        self.bbox_head = HEADS.build(bbox_head)

    def init_mask_head(self, mask_roi_extractor, mask_head) -> None:
        if mask_roi_extractor is not None:
            self.mask_roi_extractor = ROI_EXTRACTORS.build(mask_roi_extractor)
            self.share_roi_extractor = False
        else:
            # masks pool with the box extractor and reuse the positives' box features in training
            self.share_roi_extractor = True
            self.mask_roi_extractor = self.bbox_roi_extractor
        self.mask_head = HEADS.build(mask_head)

    # -- forward -------------------------------------------------------------------------
    def forward_dummy(self, x, proposals: torch.Tensor) -> tuple:
        """Raw head outputs for ``proposals`` (FLOP counting, export)."""
        outs: tuple = ()
        rois = bbox2roi([proposals])
        if self.with_bbox:
            bbox_results = self._bbox_forward(x, rois)
            outs += (bbox_results["cls_score"], bbox_results["bbox_pred"])
        if self.with_mask:
            outs += (self._mask_forward(x, rois[:DUMMY_MASK_ROIS])["mask_pred"],)
        return outs

    def _bbox_forward(self, x, rois: torch.Tensor) -> dict:
        bbox_feats = self.bbox_roi_extractor(x[: self.bbox_roi_extractor.num_inputs], rois)
        if self.with_shared_head:
            bbox_feats = self.shared_head(bbox_feats)
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def _mask_forward(self, x, rois=None, pos_inds=None, bbox_feats=None) -> dict:
        """Mask logits from fresh RoI features (``rois``) or from box features (``pos_inds``, ``bbox_feats``)."""
        if (rois is not None) == (pos_inds is not None and bbox_feats is not None):
            raise ValueError("_mask_forward needs either rois, or both pos_inds and bbox_feats")
        if rois is not None:
            mask_feats = self.mask_roi_extractor(x[: self.mask_roi_extractor.num_inputs], rois)
            if self.with_shared_head:
                mask_feats = self.shared_head(mask_feats)
        else:
            mask_feats = bbox_feats[pos_inds]
        return dict(mask_pred=self.mask_head(mask_feats), mask_feats=mask_feats)

    # -- training ------------------------------------------------------------------------
    def forward_train(
        self, x, img_metas, proposal_list, gt_bboxes, gt_labels, gt_bboxes_ignore=None, gt_masks=None, **kwargs
    ) -> dict:
        """Losses of the box (``loss_cls``, ``acc``, ``loss_bbox``) and mask (``loss_mask``) branches."""
        sampling_results = []
        if self.with_bbox or self.with_mask:
            if gt_bboxes_ignore is None:
                gt_bboxes_ignore = [None] * len(img_metas)
            for i in range(len(img_metas)):
                assign_result = self.bbox_assigner.assign(
                    proposal_list[i], gt_bboxes[i], gt_bboxes_ignore[i], gt_labels[i]
                )
                sampling_results.append(
                    self.bbox_sampler.sample(
                        assign_result, proposal_list[i], gt_bboxes[i], gt_labels[i],
                        feats=[level[i][None] for level in x],
                    )
                )
        losses: dict = {}
        bbox_results = None
        if self.with_bbox:
            bbox_results = self._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas)
            losses.update(bbox_results["loss_bbox"])
        if self.with_mask:
            bbox_feats = bbox_results["bbox_feats"] if bbox_results is not None else None
            mask_results = self._mask_forward_train(x, sampling_results, bbox_feats, gt_masks, img_metas)
            losses.update(mask_results["loss_mask"])
        return losses

    def _bbox_forward_train(self, x, sampling_results, gt_bboxes, gt_labels, img_metas) -> dict:
        rois = bbox2roi([res.bboxes for res in sampling_results])
        bbox_results = self._bbox_forward(x, rois)
        targets = self.bbox_head.get_targets(sampling_results, gt_bboxes, gt_labels, self.train_cfg)
        loss_bbox = self.bbox_head.loss(bbox_results["cls_score"], bbox_results["bbox_pred"], rois, *targets)
        bbox_results.update(loss_bbox=loss_bbox)
        return bbox_results

    def _mask_forward_train(self, x, sampling_results, bbox_feats, gt_masks, img_metas) -> dict:
        if not self.share_roi_extractor or bbox_feats is None:
            pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
            mask_results = self._mask_forward(x, pos_rois)
        else:
            # sampled RoIs are ordered positives-then-negatives per image
            device = bbox_feats.device
            pos_inds = torch.cat(
                [
                    torch.cat(
                        (
                            torch.ones(res.pos_bboxes.shape[0], device=device, dtype=torch.bool),
                            torch.zeros(res.neg_bboxes.shape[0], device=device, dtype=torch.bool),
                        )
                    )
                    for res in sampling_results
                ]
            )
            mask_results = self._mask_forward(x, pos_inds=pos_inds, bbox_feats=bbox_feats)
        mask_targets = self.mask_head.get_targets(sampling_results, gt_masks, self.train_cfg)
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        loss_mask = self.mask_head.loss(mask_results["mask_pred"], mask_targets, pos_labels)
        mask_results.update(loss_mask=loss_mask, mask_targets=mask_targets)
        return mask_results

    # -- inference -----------------------------------------------------------------------
    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False):
        """Per image: per-class ``(n, 5)`` arrays, or ``(bbox_results, segm_results)`` with a mask head."""
        if not self.with_bbox:
            raise NotImplementedError(f"{type(self).__name__}.simple_test needs a bbox head")
        det_bboxes, det_labels = self.simple_test_bboxes(x, img_metas, proposal_list, self.test_cfg, rescale=rescale)
        num_classes = self.bbox_head.num_classes
        bbox_results = [bbox2result(b, lab, num_classes) for b, lab in zip(det_bboxes, det_labels)]
        if not self.with_mask:
            return bbox_results
        segm_results = self.simple_test_mask(x, img_metas, det_bboxes, det_labels, rescale=rescale)
        return list(zip(bbox_results, segm_results))

    def aug_test(self, x, proposal_list, img_metas, rescale=False):
        """One image under several augmentations; without ``rescale`` boxes fit the first augmentation."""
        det_bboxes, det_labels = self.aug_test_bboxes(x, img_metas, proposal_list, self.test_cfg)
        if rescale:
            out_bboxes = det_bboxes
        else:
            out_bboxes = det_bboxes.clone()
            out_bboxes[:, :4] *= det_bboxes.new_tensor(img_metas[0][0]["scale_factor"])
        bbox_results = bbox2result(out_bboxes, det_labels, self.bbox_head.num_classes)
        if not self.with_mask:
            return [bbox_results]
        # masks are pasted at the original scale, whatever rescale says
        return [(bbox_results, self.aug_test_mask(x, img_metas, det_bboxes, det_labels))]
